/**
 * bench:archive. The system of record measured on this machine, each figure beside a baseline
 * measured in the same run:
 *  1. inserts/s into MySQL in batches (the persister's multi-row INSERT IGNORE, BENCH_BATCH rows
 *     per statement) vs one row per statement (autocommit);
 *  2. a 50-message `history` page from a conversation of BENCH_ROWS messages (default 1,000,000):
 *     p50/p99 over random pages vs the same on a conversation of 1,000;
 *  3. Redis memory with the archive on (a window of WINDOW_MESSAGES per conversation) after
 *     BENCH_REDIS_MESSAGES messages over BENCH_CONVS conversations, then after as many again
 *     (flat: the window is bounded) vs the archive off (Redis keeps everything) — every message
 *     still readable through the engine.
 * Own Redis (a redis-server on a free port) and own MySQL database on 127.0.0.1:3306, dropped after.
 * Prints the figures and writes bench/results/archive.json.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { createConnection } from 'mysql2/promise'
import { openArchive } from '../src/archive/archive'
import type { Archive, ArchivedMessage } from '../src/archive/archive'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'
import { startRedis } from '../../tests/ops/support/redis'

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const ROWS = env('BENCH_ROWS', 1_000_000)
const BATCH = env('BENCH_BATCH', 1000)
const SINGLE = env('BENCH_SINGLE_ROWS', 3000)
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

async function withDatabase<T>(work: (url: string) => Promise<T>): Promise<T> {
  const name = `chat_bench_${process.pid}`
  const admin = await createConnection(MYSQL)
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
  try {
    return await work(`${MYSQL.replace(/\/+$/, '')}/${name}`)
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
    await admin.end()
  }
}

async function inserts(archive: Archive) {
  // Baseline: one row per statement, each its own transaction.
  let t = performance.now()
  for (let s = 1; s <= SINGLE; s++) await archive.insertMessages([row('g:single', s)])
  const singlePerSec = SINGLE / ((performance.now() - t) / 1000)
  // Batched as the persister writes: BATCH rows per multi-row INSERT IGNORE, one transaction each.
  t = performance.now()
  for (let s = 1; s <= ROWS; s += BATCH) {
    const rows: ArchivedMessage[] = []
    for (let k = s; k < s + BATCH && k <= ROWS; k++) rows.push(row('g:big', k))
    await archive.db.transaction().execute((tx) => archive.with(tx).insertMessages(rows))
    if ((s - 1) % 100_000 === 0 && s > 1) process.stderr.write(`  ${s - 1} rows\n`)
  }
  const batchedPerSec = ROWS / ((performance.now() - t) / 1000)
  for (let s = 1; s <= 1000; s += BATCH) await archive.insertMessages(Array.from({ length: Math.min(BATCH, 1001 - s) }, (_, i) => row('g:small', s + i)))
  return { singlePerSec: round(singlePerSec, 0), batchedPerSec: round(batchedPerSec, 0), batch: BATCH, rows: ROWS }
}

async function pages(archive: Archive, conv: string, size: number) {
  const times: number[] = []
  for (let i = 0; i < PAGES; i++) {
    const before = 51 + Math.floor(Math.random() * (size - 50))
    const t = performance.now()
    const page = await archive.before(conv, before, 50)
    times.push(performance.now() - t)
    if (page.length !== 50) throw new Error(`page of ${page.length}`)
  }
  return { p50Ms: round(pct(times, 50), 3), p99Ms: round(pct(times, 99), 3) }
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
const result = await withDatabase(async (url) => {
  const archive = await openArchive({ url, poolSize: 4 })
  try {
    process.stderr.write(`inserting ${ROWS} rows...\n`)
    const ins = await inserts(archive)
    console.log(`inserts/s: ${ins.batchedPerSec} batched (${BATCH} rows per INSERT) vs ${ins.singlePerSec} one per statement (baseline)`)
    const big = await pages(archive, 'g:big', ROWS)
    const small = await pages(archive, 'g:small', 1000)
    console.log(`history page of 50: ${ROWS} rows p50 ${big.p50Ms} ms p99 ${big.p99Ms} ms vs 1,000 rows p50 ${small.p50Ms} ms p99 ${small.p99Ms} ms (baseline)`)
    process.stderr.write('redis memory, archive on...\n')
    const on = await redisMemory(true, url)
    process.stderr.write('redis memory, archive off...\n')
    const off = await redisMemory(false, undefined)
    console.log(
      `redis memory after ${REDIS_MESSAGES} then ${2 * REDIS_MESSAGES} messages over ${CONVS} conversations: archive on (window ${WINDOW}) ${on.afterFirstMB} -> ${on.afterSecondMB} MB (+${on.growthMB}); archive off (baseline) ${off.afterFirstMB} -> ${off.afterSecondMB} MB (+${off.growthMB})`,
    )
    return { inserts: ins, historyPage50: { rows: ROWS, ...big, baseline1000Rows: small }, redisMemory: { messagesPerWave: REDIS_MESSAGES, conversations: CONVS, window: WINDOW, archiveOn: on, archiveOffBaseline: off } }
  } finally {
    await archive.close()
  }
})
const out = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '../../bench/results/archive.json')
writeFileSync(out, JSON.stringify({ started, machine: 'this machine, 2 cores shared', ...result }, null, 2) + '\n')
console.log(`written ${out}`)
