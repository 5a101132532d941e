/**
 * The system of record under faults: kill -9 of a persister process in the middle of a batch, of a
 * BFF process (whose persister child then exits), of Redis (AOF, everysec) and of MariaDB (its
 * own server: InnoDB crash recovery), all under load. Counted at the end: every message acked is
 * in MySQL exactly once under its acked seq, nothing else is, and both members hold exactly the
 * acked messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BffProcess, alive, spawnBff, spawnBffs } from '../../bff/test/support/spawn'
import { openArchive } from '../../bff/src/archive/archive'
import type { Archive } from '../../bff/src/archive/archive'
import { startMariaDb, type MariaDbServer } from './support/mariadb'
import { createPairs, expectExactlyOnce, startLoad, storeViolations, usersOf, stopAll, type Pair } from './support/pairs'
import { until } from './support/proc'
import { startRedis, type RedisServer } from './support/redis'

const PAIRS = 12
const SEND_EVERY_MS = 100 // 24 users -> ~240 messages/s
const BACKOFF = { minDelayMs: 100, maxDelayMs: 1000 }
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The persister processes a BFF started (ARCHIVE_PERSISTER=process), newest last: from their `persisting` log lines. */
function persistersOf(node: BffProcess): { pid: number; consumer: string }[] {
  return node.logs.flatMap((line) => {
    if (!line.includes('"msg":"persisting"')) return []
    const { pid, consumer } = JSON.parse(line) as { pid: number; consumer: string }
    return [{ pid, consumer }]
  })
}

/** Entries `consumer` has read and not acked (XPENDING): a batch being written. */
async function pendingOf(r: ReturnType<RedisServer['client']>, consumer: string): Promise<number> {
  return (await r.xpending('chat:archive', 'archivers', '-', '+', 1000, consumer)).length
}

describe('archive under kill -9 of a BFF, of Redis and of MariaDB', () => {
  let redis: RedisServer
  let mariadb: MariaDbServer
  let archive: Archive
  let nodes: BffProcess[] = []
  let pairs: Pair[] = []
  let load: ReturnType<typeof startLoad> | undefined
  let env: Record<string, string>

  beforeAll(async () => {
    redis = await startRedis({ aof: true, fsync: 'everysec' })
    mariadb = await startMariaDb()
    const { createConnection } = await import('mysql2/promise')
    const admin = await createConnection(mariadb.url)
    await admin.query('CREATE DATABASE chat CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
    await admin.end()
    env = {
      STORE: 'redis',
      REDIS_URL: redis.url,
      ARCHIVE_URL: `${mariadb.url}/chat`,
      WINDOW_MESSAGES: '10',
      ARCHIVE_BATCH_MAX: '50',
      ARCHIVE_CLAIM_IDLE_MS: '1000',
      RATE_LIMIT_PER_SEC: '100000',
      RATE_LIMIT_BURST: '100000',
    }
    nodes = await spawnBffs(2, env)
    archive = await openArchive({ url: `${mariadb.url}/chat` })
  })
  afterAll(async () => {
    await stopAll({ load, pairs, nodes, redis })
    await archive?.close()
    await mariadb?.dispose()
  })

  it('stores every acked message in MySQL exactly once', async () => {
    const urls = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.url)
    pairs = await createPairs(urls, PAIRS, 'sor', BACKOFF)
    const users = usersOf(pairs)
    load = startLoad(pairs, SEND_EVERY_MS)
    await pause(1500)

    // 0. A persister process (not its BFF) is killed -9 while it holds a batch read and not acked;
    // its BFF starts another, and a persister takes the dead one's batch over (XAUTOCLAIM).
    const r0 = redis.client()
    let midBatch = 0
    let victim: { pid: number; consumer: string } | undefined
    try {
      for (let attempt = 0; attempt < 20 && midBatch === 0; attempt++) {
        await until('node 1 runs a persister', () => persistersOf(nodes[1]!).some((p) => alive(p.pid)), 20_000, 20)
        victim = persistersOf(nodes[1]!).at(-1)!
        // Without a pause between the look and the kill: the batch seen pending is the one cut.
        const deadline = Date.now() + 10_000
        while (Date.now() < deadline && (await pendingOf(r0, victim.consumer)) === 0);
        process.kill(victim.pid, 'SIGKILL')
        await until('the persister is dead', () => !alive(victim!.pid), 5000, 5)
        // Still pending after its death: it died holding that batch (else it acked first: again).
        midBatch = await pendingOf(r0, victim.consumer)
      }
      expect(midBatch, 'a persister killed while it held a batch').toBeGreaterThan(0)
      await until('the BFF started another persister', () => persistersOf(nodes[1]!).some((p) => p.pid !== victim!.pid && alive(p.pid)), 20_000, 20)
      await until("the dead persister's batch taken over", async () => (await pendingOf(r0, victim!.consumer)) === 0, 20_000, 50)
    } finally {
      r0.disconnect()
    }
    expect(nodes[1]!.child.exitCode, 'the BFF outlives its persister').toBeNull()

    // 1. A BFF process dies (kill -9): its persister child sees the IPC channel close and exits;
    // another process takes over its pending batch.
    const orphans = persistersOf(nodes[0]!).map((p) => p.pid)
    nodes[0]!.kill('SIGKILL')
    await nodes[0]!.exited
    await until("the killed BFF's persister exits", () => orphans.every((pid) => !alive(pid)), 15_000, 20)
    nodes.push(await spawnBff(env))
    await pause(1000)

    // 2. Redis dies without a shutdown and comes back from its AOF.
    await redis.kill9()
    await pause(500)
    await redis.start()
    await pause(1000)

    // 3. MariaDB dies (kill -9) and is down a while: sends keep being acked, the stream holds them;
    // it comes back through InnoDB's crash recovery.
    await mariadb.kill9()
    const r = redis.client()
    try {
      await pause(1500)
      const backlogDuringCut = await r.xlen('chat:archive')
      await mariadb.start()
      await pause(1000)

      load.stop()
      await until('every send acked', () => users.every((u) => u.outbox.size === 0), 30_000, 20)
      await Promise.all(users.map((u) => u.resync()))
      const drainMs = await until('the persister stream drained', async () => (await r.xlen('chat:archive')) === 0, 30_000, 50)

      const { acked, dupAcks } = expectExactlyOnce(pairs)
      expect(storeViolations(users)).toEqual([])
      let missing = 0
      let extra = 0
      let rows = 0
      for (const { conv, a, b } of pairs) {
        const expected = new Map<number, string>()
        for (const u of [a, b]) for (const [cid, ack] of u.acks) expected.set(ack.seq, cid)
        const stored = await archive.db.selectFrom('messages').select(['seq', 'cid']).where('conv', '=', conv).orderBy('seq').execute()
        rows += stored.length
        const got = new Map(stored.map((s) => [Number(s.seq), s.cid]))
        for (const [seq, cid] of expected) if (got.get(seq) !== cid) missing++
        for (const seq of got.keys()) if (!expected.has(seq)) extra++
        expect(new Set(stored.map((s) => s.cid)).size, `${conv}: a cid stored twice`).toBe(stored.length)
      }
      expect({ missing, extra }).toEqual({ missing: 0, extra: 0 })
      expect(rows).toBe(acked)
      expect(acked).toBeGreaterThan(PAIRS * 2 * 20)
      expect(backlogDuringCut).toBeGreaterThan(0)
      const unavailable = users.reduce((s, u) => s + (u.stats.errors.get('STORE_UNAVAILABLE') ?? 0), 0)
      console.log(
        `[archive faults] ${acked} messages acked, ${rows} rows in MySQL: 0 missing, 0 extra, 0 doubled; a persister killed holding ${midBatch} entries; ${dupAcks} dup acks of resends, ` +
          `${unavailable} sends refused STORE_UNAVAILABLE while Redis was down; ${backlogDuringCut} messages buffered in the stream while MariaDB was down, drained ${drainMs} ms after the load stopped`,
      )
    } finally {
      r.disconnect()
    }
  })
})
