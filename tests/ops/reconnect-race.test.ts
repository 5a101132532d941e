/**
 * The sync after a reconnect racing live pushes, provoked on purpose: a sender on one process sends
 * a steady stream to a recipient on another (pushes cross Redis Pub/Sub, so they arrive at the
 * recipient's process at any moment), and the recipient drops its socket and reconnects again and
 * again. PROTOCOL.md ("Catch-up after (re)connect"): live pushes during a sync are never lost, and
 * "the server does not send a connection the same seq twice". Counted: every message held once, and
 * no connection ever receiving one seq twice (live then in the sync, or in the sync then live).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BffProcess, spawnBffs } from '../../bff/test/support/spawn'
import { ChatUser } from '../kit/chat-user'
import { createPairs, expectExactlyOnce, wireRepeats, stopAll, type Pair } from './support/pairs'
import { until } from './support/proc'
import { startRedis, type RedisServer } from './support/redis'

const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }
const RECONNECTS = 40

describe('sync after reconnect racing live pushes', () => {
  let redis: RedisServer
  let nodes: BffProcess[] = []
  let pairs: Pair[] = []

  beforeAll(async () => {
    redis = await startRedis()
    nodes = await spawnBffs(2, { STORE: 'redis', REDIS_URL: redis.url, ...LIMITS })
  })
  afterAll(() => stopAll({ pairs, nodes, redis }))

  it('holds every message once and never gets one seq twice on a connection', async () => {
    // Sender on process 0, recipient on process 1 (their URL lists pin them).
    const [pair] = await createPairs(() => [nodes[0]!.url], 1, 'race', { minDelayMs: 0, maxDelayMs: 20 })
    await pair!.b.stop()
    const b = new ChatUser(pair!.b.id, { urls: () => [nodes[1]!.url], backoff: { minDelayMs: 0, maxDelayMs: 20 } })
    await b.start()
    pairs = [{ ...pair!, b }]
    const { a, conv } = pairs[0]!

    let sending = true
    let sent = 0
    const pump = setInterval(() => {
      // Small bursts every few ms: pushes keep arriving while the recipient reconnects.
      for (let i = 0; i < 5 && sending; i++) {
        a.send(conv, `m${sent++}`)
      }
    }, 5)
    try {
      for (let i = 0; i < RECONNECTS; i++) {
        const before = b.stats.connects
        await until('some pushes in between', () => a.acks.size > (i + 1) * 20, 10_000, 2)
        b.drop()
        await until('recipient back', () => b.stats.connects > before && b.online, 10_000, 2)
        await b.ready()
      }
    } finally {
      sending = false
      clearInterval(pump)
    }
    await until('every send acked', () => a.outbox.size === 0, 20_000, 10)
    await b.resync()
    const { acked } = expectExactlyOnce(pairs)
    const repeats = wireRepeats([b])
    const liveThenSync = repeats.filter((r) => r.includes('(live, then sync')).length
    console.log(
      `[race] ${acked} messages, ${b.stats.connects} connections of the recipient, ${b.stats.live} live / ${b.stats.synced} by sync / ${b.stats.filled} by history; ` +
        `${repeats.length} seqs sent twice on one connection (${liveThenSync} pushed live then again in the sync, ${repeats.length - liveThenSync} in the sync then pushed live)`,
    )
    expect(b.stats.connects).toBeGreaterThan(RECONNECTS)
    expect(repeats).toEqual([])
  })
})
