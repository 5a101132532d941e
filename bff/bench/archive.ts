/**
 * bench:archive. The system of record measured on this machine, each figure beside a baseline
 * measured in the same run:
 *  1. inserts/s into MySQL in batches of BENCH_BATCH as the persister writes them (ArchiveWriter:
 *     one transaction, prepared multi-row INSERT IGNOREs) vs, interleaved segment by segment so
 *     both meet the same table size and the same neighbours on the machine, the previous write
 *     path (the same rows as text-protocol multi-row INSERTs) and one row per statement
 *     (autocommit). Only the writes are timed: building the rows is the bench's own cost;
 *  2. a 50-message `history` page from a conversation of BENCH_ROWS messages (default 1,000,000):
 *     p50/p99 over random pages vs the same on a conversation of 1,000, with the query's plan
 *     (EXPLAIN), the table's size beside the server's buffer pool, and the pages InnoDB read from
 *     disk per history page (a page past the buffer pool costs a disk read: that is the p99);
 *  3. Redis memory with the archive on (a window of WINDOW_MESSAGES per conversation) after
 *     BENCH_REDIS_MESSAGES messages over BENCH_CONVS conversations, then after as many again
 *     (flat: the window is bounded) vs the archive off (Redis keeps everything) — every message
 *     still readable through the engine.
 * Own Redis (a redis-server on a free port) and own MySQL database on 127.0.0.1:3306, dropped after.
 * Prints the figures and writes bench/results/archive.json.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createConnection } from 'mysql2/promise'
import type { Connection } from 'mysql2/promise'
import { openArchive } from '../src/archive/archive'
import { insertChunks } from '../src/archive/archive'
import type { Archive, ArchivedMessage } from '../src/archive/archive'
import { ArchiveWriter } from '../src/archive/writer'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'
import { startRedis } from '../../tests/ops/support/redis'

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const ROWS = env('BENCH_ROWS', 1_000_000)
const BATCH = env('BENCH_BATCH', 1000)
const SINGLE = env('BENCH_SINGLE_ROWS', 3000)
/** Rows of the text-protocol baseline: one segment of it after every SEGMENT rows of the main run. */
const TEXT_ROWS = env('BENCH_TEXT_ROWS', 200_000)
const SEGMENT = 50_000
const PAGES = env('BENCH_PAGES', 2000)
const REDIS_MESSAGES = env('BENCH_REDIS_MESSAGES', 200_000)
const CONVS = env('BENCH_CONVS', 2000)
const WINDOW = env('WINDOW_MESSAGES', 50)
const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'

const text = 'A message of ordinary length, about as long as people type in a chat. 你好'
const row = (conv: string, seq: number): ArchivedMessage => {
  const cid = `cid-bench-${seq}`
  return { conv, seq, sender: 'ann', cid, ts: 1_700_000_000_000 + seq, json: `{"mid":"b${seq}","cid":"${cid}","conv":"${conv}","seq":${seq},"from":"ann","ts":${1_700_000_000_000 + seq},"kind":"text","body":{"text":"${text}"}}` }
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

async function withDatabase<T>(work: (url: string, admin: Connection, name: string) => Promise<T>): Promise<T> {
  const name = `chat_bench_${process.pid}`
  const admin = await createConnection(MYSQL)
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
  try {
    return await work(`${MYSQL.replace(/\/+$/, '')}/${name}`, admin, name)
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
    await admin.end()
  }
}

/** The write path before prepared statements: the same multi-row INSERT IGNOREs as text, one transaction per batch. */
async function writeAsText(archive: Archive, rows: readonly ArchivedMessage[]): Promise<void> {
  await archive.db.transaction().execute(async (tx) => {
    let at = 0
    for (const size of insertChunks(rows.length)) await tx.insertInto('messages').orIgnore().values(rows.slice(at, (at += size))).execute()
  })
}

async function inserts(archive: Archive) {
  const writer = new ArchiveWriter(archive)
  const batchOf = (conv: string, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => row(conv, from + i))
  const timed = { writer: 0, text: 0, single: 0 }
  const done = { writer: 0, text: 0, single: 0 }
  const time = async (k: keyof typeof timed, rows: number, work: () => Promise<unknown>) => {
    const t = performance.now()
    await work()
    timed[k] += performance.now() - t
    done[k] += rows
  }
  const textEvery = Math.max(1, Math.round((TEXT_ROWS * SEGMENT) / ROWS))
  const singleEvery = Math.max(1, Math.round((SINGLE * SEGMENT) / ROWS))
  for (let s = 1; s <= ROWS; s += BATCH) {
    const rows = batchOf('g:big', s, Math.min(ROWS, s + BATCH - 1))
    await time('writer', rows.length, () => writer.write(rows))
    // After each segment of the main run, the baselines' share at the same table size.
    if ((s + BATCH - 1) % SEGMENT === 0 || s + BATCH > ROWS) {
      for (let t = 0; t < textEvery; t += BATCH) {
        const text = batchOf('g:text', done.text + 1, done.text + Math.min(BATCH, textEvery - t))
        await time('text', text.length, () => writeAsText(archive, text))
      }
      for (let k = 0; k < singleEvery; k++) await time('single', 1, () => archive.insertMessages([row('g:single', done.single + 1)]))
      process.stderr.write(`  ${Math.min(ROWS, s + BATCH - 1)} rows\n`)
    }
  }
  await writer.write(batchOf('g:small', 1, 1000))
  const perSec = (k: keyof typeof timed) => round(done[k] / (timed[k] / 1000), 0)
  return {
    batchedPerSec: perSec('writer'),
    textBatchedPerSec: perSec('text'),
    singlePerSec: perSec('single'),
    batch: BATCH,
    rows: ROWS,
    textRows: done.text,
    singleRows: done.single,
  }
}

async function pages(archive: Archive, admin: Connection, conv: string, size: number) {
  const diskReads = async () => Number(((await admin.query("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_reads'")) as [{ Value: string }[], unknown])[0][0]!.Value)
  const times: number[] = []
  const reads0 = await diskReads()
  for (let i = 0; i < PAGES; i++) {
    const before = 51 + Math.floor(Math.random() * (size - 50))
    const t = performance.now()
    const page = await archive.before(conv, before, 50)
    times.push(performance.now() - t)
    if (page.length !== 50) throw new Error(`page of ${page.length}`)
  }
  // Server-wide: other users of this MariaDB add to it, never take from it.
  const diskReadsPerPage = round(((await diskReads()) - reads0) / PAGES, 2)
  return { p50Ms: round(pct(times, 50), 3), p99Ms: round(pct(times, 99), 3), diskReadsPerPage }
}

/** The history query's plan, the table's size and the buffer pool it has to fit in. */
async function plan(archive: Archive, admin: Connection, name: string) {
  const q = archive.db.selectFrom('messages').select('json').where('conv', '=', 'g:big').where('seq', '<', Math.floor(ROWS / 2)).orderBy('seq', 'desc').limit(50).compile()
  const [explain] = (await admin.query(`USE \`${name}\``).then(() => admin.query(`EXPLAIN ${q.sql}`, q.parameters as string[]))) as [Record<string, unknown>[], unknown]
  // information_schema's sizes are the statistics' estimate: brought up to date first.
  await admin.query('ANALYZE TABLE messages')
  const [[sizes]] = (await admin.query(
    `SELECT data_length + index_length AS bytes, (SELECT @@innodb_buffer_pool_size) AS pool FROM information_schema.tables WHERE table_schema = ? AND table_name = 'messages'`,
    [name],
  )) as [{ bytes: number; pool: number }[], unknown]
  const e = explain[0]!
  return {
    explain: { type: e.type, key: e.key, extra: e.Extra },
    tableMB: round(Number(sizes!.bytes) / 2 ** 20, 1),
    bufferPoolMB: round(Number(sizes!.pool) / 2 ** 20, 1),
  }
}

async function redisMemory(archived: boolean, url: string | undefined) {
  const redis = await startRedis()
  const r = redis.client()
  let engine: Engine | undefined
  try {
    engine = await createRedisEngine({
      queueMaxLength: 100,
      queueRetentionMs: 60_000,
      url: redis.url,
      clusterNodes: [],
      prefix: 'chat:',
      commandTimeoutMs: 10_000,
      connectTimeoutMs: 5000,
      node: 'bench',
      ...(archived && url ? { archive: { archive: await openArchive({ url, poolSize: 4 }), windowMessages: WINDOW, backlogMax: 10_000_000, batchMax: 1000, claimIdleMs: 30_000 } } : {}),
    })
    const e = engine
    for (let c = 0; c < CONVS; c++) await e.convs.create({ id: `g:c${c}`, kind: 'group', members: ['ann', 'bob'], createdAt: c })
    let sent = 0
    const wave = async () => {
      for (let i = 0; i < REDIS_MESSAGES; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, REDIS_MESSAGES - i) }, (_, k) =>
            e.messages.append({ conv: `g:c${(i + k) % CONVS}`, from: 'ann', cid: `cid-m-${++sent}`, mid: `m${sent}`, ts: Date.now(), kind: 'text', body: { text }, dedupWindowMs: 1000 }),
          ),
        )
      }
      if (archived) while ((await r.xlen('chat:archive')) > 0) await new Promise((res) => setTimeout(res, 200))
      // Dedup keys expire after 1 s here (24 h in production, where they are a bounded cost of their own).
      await new Promise((res) => setTimeout(res, 1200))
      while (Number(await r.dbsize()) > CONVS * 3 + 10) {
        const [, keys] = await r.scan('0', 'MATCH', 'chat:*:d:*', 'COUNT', 10_000)
        if (keys.length === 0) break
        await new Promise((res) => setTimeout(res, 200))
      }
      const info = await r.info('memory')
      return Number(/used_memory:(\d+)/.exec(info)![1])
    }
    const before = Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1])
    const first = await wave()
    const second = await wave()
    // Readable: one conversation read back whole, across the window.
    const all = await e.messages.after('g:c7', 0, 1_000_000)
    const expected = Math.floor((2 * REDIS_MESSAGES) / CONVS)
    if (all.length !== expected) throw new Error(`g:c7 reads ${all.length} of ${expected}`)
    return { emptyMB: round(before / 2 ** 20), afterFirstMB: round(first / 2 ** 20), afterSecondMB: round(second / 2 ** 20), growthMB: round((second - first) / 2 ** 20) }
  } finally {
    await engine?.close()
    r.disconnect()
    await redis.dispose()
  }
}

const started = new Date().toISOString()
// The machine is shared: how busy it was says how far the absolute figures can be read.
const loadStart = loadavg()[0]!
const result = await withDatabase(async (url, admin, name) => {
  const archive = await openArchive({ url, poolSize: 4 })
  try {
    process.stderr.write(`inserting ${ROWS} rows...\n`)
    const ins = await inserts(archive)
    console.log(
      `inserts/s: ${ins.batchedPerSec} batched (batches of ${BATCH}, prepared INSERTs) vs ${ins.textBatchedPerSec} the same as text INSERTs (baseline, x${round(ins.batchedPerSec / ins.textBatchedPerSec)}) vs ${ins.singlePerSec} one per statement (baseline)`,
    )
    const where = await plan(archive, admin, name)
    console.log(`history query plan: ${String(where.explain.type)} on ${String(where.explain.key)} (${String(where.explain.extra)}); messages table ${where.tableMB} MB, buffer pool ${where.bufferPoolMB} MB`)
    const big = await pages(archive, admin, 'g:big', ROWS)
    const small = await pages(archive, admin, 'g:small', 1000)
    console.log(
      `history page of 50: ${ROWS} rows p50 ${big.p50Ms} ms p99 ${big.p99Ms} ms (${big.diskReadsPerPage} disk reads a page) vs 1,000 rows p50 ${small.p50Ms} ms p99 ${small.p99Ms} ms (${small.diskReadsPerPage}) (baseline)`,
    )
    process.stderr.write('redis memory, archive on...\n')
    const on = await redisMemory(true, url)
    process.stderr.write('redis memory, archive off...\n')
    const off = await redisMemory(false, undefined)
    console.log(
      `redis memory after ${REDIS_MESSAGES} then ${2 * REDIS_MESSAGES} messages over ${CONVS} conversations: archive on (window ${WINDOW}) ${on.afterFirstMB} -> ${on.afterSecondMB} MB (+${on.growthMB}); archive off (baseline) ${off.afterFirstMB} -> ${off.afterSecondMB} MB (+${off.growthMB})`,
    )
    return { inserts: ins, historyPage50: { rows: ROWS, ...big, ...where, baseline1000Rows: small }, redisMemory: { messagesPerWave: REDIS_MESSAGES, conversations: CONVS, window: WINDOW, archiveOn: on, archiveOffBaseline: off } }
  } finally {
    await archive.close()
  }
})
const out = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../bench/results/archive.json')
const machine = { note: 'this machine, 2 cores shared', loadAverage1m: { start: round(loadStart), end: round(loadavg()[0]!) } }
console.log(`load average (1 min) ${machine.loadAverage1m.start} at start, ${machine.loadAverage1m.end} at end`)
writeFileSync(out, JSON.stringify({ started, machine, ...result }, null, 2) + '\n')
console.log(`written ${out}`)
