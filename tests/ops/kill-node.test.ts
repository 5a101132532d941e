/**
 * kill -9 of one of three BFF processes under load. Users send continuously to their peers; one
 * process is killed without warning; its users reconnect (full-jitter backoff) to the others, sync,
 * and resend what was not acked with the same cids. Counted at the end: every message acked to its
 * sender is held by both members exactly once, under the seq of its ack; nothing is stored twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BffProcess, spawnBffs } from '../../bff/test/support/spawn'
import { createPairs, expectExactlyOnce, startLoad, storedCids, storeViolations, usersOf, wireRepeats, stopAll, type Pair } from './support/pairs'
import { until } from './support/proc'
import { startRedis, type RedisServer } from './support/redis'

const PAIRS = 30
const SEND_EVERY_MS = 200 // per user: 60 users -> ~300 messages/s in total
const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }
// Short backoff windows keep the test quick; the spread (full jitter) is the client's.
const BACKOFF = { minDelayMs: 100, maxDelayMs: 2000 }

describe('kill -9 of one of three BFF processes under load', () => {
  let redis: RedisServer
  let nodes: BffProcess[] = []
  let pairs: Pair[] = []
  let load: ReturnType<typeof startLoad> | undefined

  beforeAll(async () => {
    redis = await startRedis()
    nodes = await spawnBffs(3, { STORE: 'redis', REDIS_URL: redis.url, ...LIMITS })
  })
  afterAll(() => stopAll({ load, pairs, nodes, redis }))

  it('loses nothing and duplicates nothing: acked messages are held once by both members', async () => {
    const urls = nodes.map((n) => n.url)
    // Candidates include the dead process: its refusals are retried with backoff, as with stale DNS.
    pairs = await createPairs(() => urls, PAIRS, 'k9', BACKOFF)
    const users = usersOf(pairs)
    load = startLoad(pairs, SEND_EVERY_MS)
    await new Promise((r) => setTimeout(r, 2000))

    // Kill the process holding the most users.
    const count = (url: string) => users.filter((u) => u.server === url).length
    const victim = nodes.reduce((best, n) => (count(n.url) > count(best.url) ? n : best))
    const victims = users.filter((u) => u.server === victim.url)
    const killedAt = Date.now()
    victim.kill('SIGKILL')
    await victim.exited
    await until('the killed process’s users back on the others', () => victims.every((u) => u.online && u.server !== undefined && u.server !== victim.url), 30_000, 20)
    const backMs = Date.now() - killedAt
    await new Promise((r) => setTimeout(r, 2000))

    load.stop()
    await until('every send acked', () => users.every((u) => u.outbox.size === 0), 30_000, 20)
    // As on a return to the foreground: one more sync from the cursors held.
    const before = new Map(users.map((u) => [u, u.stats.live + u.stats.synced + u.stats.filled]))
    await Promise.all(users.map((u) => u.resync()))
    const late = users.reduce((s, u) => s + u.stats.live + u.stats.synced + u.stats.filled - before.get(u)!, 0)

    const { acked, dupAcks } = expectExactlyOnce(pairs)
    expect(storeViolations(users)).toEqual([])
    // And the store, read back from seq 0 on a surviving process, holds exactly the acked messages.
    const survivor = nodes.find((n) => n !== victim)!.url
    for (const p of pairs.slice(0, 5)) {
      const stored = await storedCids(survivor, p.a.id, p.conv)
      expect(stored).toEqual(new Map([...p.a.held.get(p.conv)!].map(([seq, h]) => [seq, h.cid])))
    }
    const reconnects = victims.reduce((s, u) => s + u.stats.connects - 1, 0)
    const attempts = victims.reduce((s, u) => s + u.stats.attempts - 1, 0)
    console.log(
      `[kill -9] ${acked} messages (${load.sent()} sends) acked and held exactly once by both members; ${dupAcks} acks answered resends of stored cids; ` +
        `${victims.length} users of the killed process back on the others in ${backMs} ms (${reconnects} reconnects, ${attempts} attempts); ` +
        `${late} messages reached a member only in the final sync`,
    )
    expect(victims.length).toBeGreaterThan(0)
    expect(acked).toBeGreaterThan(PAIRS * 2 * 20)
  })

  // PROTOCOL.md ("Catch-up"): live pushes racing a sync are merged by the client, "and the server
  // does not send a connection the same seq twice". Counted over the run above, reconnects included.
  it('never sends one connection the same seq twice, even when pushes race the sync after a reconnect', () => {
    expect(pairs.length).toBe(PAIRS)
    expect(wireRepeats(usersOf(pairs))).toEqual([])
  })
})
