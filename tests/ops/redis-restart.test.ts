/**
 * Redis killed (-9, no shutdown) and restarted with its AOF under load: no acked message is lost.
 * The Redis runs with appendonly yes / appendfsync everysec, as docker-compose.yml configures it:
 * each write reaches the kernel (write(2)) before Redis answers, so a crash of the Redis process
 * loses nothing that was acknowledged (only a power loss or kernel crash could lose up to ~1 s).
 * While it is down, sends get STORE_UNAVAILABLE (temporary) and are resent with the same cids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BffProcess, spawnBffs } from '../../bff/test/support/spawn'
import { createPairs, expectExactlyOnce, startLoad, storedCids, storeViolations, usersOf, stopAll, type Pair } from './support/pairs'
import { httpStatus, until } from './support/proc'
import { startRedis, type RedisServer } from './support/redis'

const PAIRS = 20
const SEND_EVERY_MS = 100 // 40 users -> ~400 messages/s
const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }
const BACKOFF = { minDelayMs: 100, maxDelayMs: 1000 }

describe('Redis restarted with AOF under load', () => {
  let redis: RedisServer
  let nodes: BffProcess[] = []
  let pairs: Pair[] = []
  let load: ReturnType<typeof startLoad> | undefined

  beforeAll(async () => {
    redis = await startRedis({ aof: true, fsync: 'everysec' })
    nodes = await spawnBffs(2, { STORE: 'redis', REDIS_URL: redis.url, ...LIMITS })
  })
  afterAll(() => stopAll({ load, pairs, nodes, redis }))

  it('loses no acked message: everything acked before the crash is in the replayed AOF', async () => {
    const urls = nodes.map((n) => n.url)
    pairs = await createPairs(() => urls, PAIRS, 'aof', BACKOFF)
    const users = usersOf(pairs)
    load = startLoad(pairs, SEND_EVERY_MS)
    await new Promise((r) => setTimeout(r, 1500))

    // The acks the senders hold at the moment of the crash: all must survive it.
    const ackedBeforeCrash = new Map(pairs.map((p) => [p.conv, new Map([...p.a.acks, ...p.b.acks].map(([cid, a]) => [a.seq, cid]))]))
    const ackCountAtCrash = [...ackedBeforeCrash.values()].reduce((s, m) => s + m.size, 0)
    const crashAt = Date.now()
    await redis.kill9()
    await until('readyz failing on both processes', async () => (await Promise.all(urls.map((u) => httpStatus(`${u}/readyz`)))).every((s) => s === 503), 10_000, 20)
    await new Promise((r) => setTimeout(r, 1000))
    await redis.start()
    const restartedAt = Date.now()
    const readyMs = await until('readyz ok again on both', async () => (await Promise.all(urls.map((u) => httpStatus(`${u}/readyz`)))).every((s) => s === 200), 30_000, 20)
    // Routing is back too (the processes subscribed again): pushes arrive live, not only by sync.
    const liveAtReady = users.reduce((s, u) => s + u.stats.live, 0)
    await new Promise((r) => setTimeout(r, 1500))
    const liveAfter = users.reduce((s, u) => s + u.stats.live, 0) - liveAtReady
    expect(liveAfter).toBeGreaterThan(PAIRS)

    load.stop()
    await until('every send acked', () => users.every((u) => u.outbox.size === 0), 30_000, 20)
    await Promise.all(users.map((u) => u.resync()))

    // Nothing acked before the crash is missing from what the restarted Redis holds.
    let lost = 0
    for (const p of pairs) {
      const stored = await storedCids(urls[0]!, p.a.id, p.conv)
      for (const [seq, cid] of ackedBeforeCrash.get(p.conv)!) if (stored.get(seq) !== cid) lost++
    }
    expect(lost).toBe(0)
    const { acked, dupAcks } = expectExactlyOnce(pairs)
    expect(storeViolations(users)).toEqual([])
    const unavailable = users.reduce((s, u) => s + (u.stats.errors.get('STORE_UNAVAILABLE') ?? 0), 0)
    console.log(
      `[redis restart] ${ackCountAtCrash} messages acked before the kill -9, 0 lost after the AOF replay; ${acked} acked in all (${load.sent()} sends, ${dupAcks} dup acks of resends); ` +
        `${unavailable} sends refused STORE_UNAVAILABLE (temporary) while Redis was down, then resent; ` +
        `Redis down ${restartedAt - crashAt} ms, both processes ready ${readyMs} ms after the restart, ${liveAfter} live pushes in the next 1.5 s`,
    )
    expect(ackCountAtCrash).toBeGreaterThan(PAIRS * 2 * 5)
  })
})
