/**
 * Redis presence (store/redis-presence.ts): reading any number of users' presence costs one HMGET
 * per bucket, buckets change nothing in the answers, and a dead process's sockets are reaped.
 * Commands are counted with MONITOR on a real Redis, filtered by this test's key prefix.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { RedisPresence, presenceBucket, unpackPresence } from '../../src/store/redis-presence'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'

const guard = <T>(work: () => Promise<T>) => work()
const open: { prefix: string; clients: Redis[] }[] = []

function presence(buckets = 1) {
  const prefix = randomPrefix()
  const client = new Redis(REDIS_URL)
  open.push({ prefix, clients: [client] })
  return { p: new RedisPresence(client, prefix, guard, buckets), prefix, client }
}

afterEach(async () => {
  for (const o of open.splice(0)) {
    for (const c of o.clients) c.disconnect()
    await dropPrefix(o.prefix)
  }
})

/** The commands Redis runs on keys under `prefix` while `work` runs (MONITOR). */
async function commandsDuring(prefix: string, work: () => Promise<unknown>): Promise<string[]> {
  const monitor = await new Redis(REDIS_URL).monitor()
  const seen: string[] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.startsWith(prefix))) seen.push(args[0]!.toLowerCase())
  })
  try {
    await work()
    // The marker comes back through MONITOR after everything before it.
    const marker = new Redis(REDIS_URL)
    const done = new Promise<void>((resolve) => monitor.on('monitor', (_t: string, args: string[]) => args[1] === `${prefix}marker` && resolve()))
    await marker.get(`${prefix}marker`)
    marker.disconnect()
    await done
  } finally {
    monitor.disconnect()
  }
  return seen.filter((c) => c !== 'get')
}

const users = Array.from({ length: 20 }, (_, i) => `peer${i}`)

describe('redis presence', () => {
  it('reads the presence of 20 users in one HMGET, whatever they are', async () => {
    const { p, prefix } = presence(1)
    for (const u of users.slice(0, 10)) await p.connected(u, `n1/${u}`)
    await p.disconnected('peer3', 'n1/peer3', 777)
    const cmds = await commandsDuring(prefix, async () => {
      const got = await p.get(users)
      expect(got.filter((x) => x.online).map((x) => x.user)).toEqual(users.slice(0, 10).filter((u) => u !== 'peer3'))
      expect(got[3]).toEqual({ user: 'peer3', online: false, lastSeen: 777 })
      expect(got[15]).toEqual({ user: 'peer15', online: false })
    })
    expect(cmds).toEqual(['hmget'])
  })

  it('reads with at most one HMGET per bucket, the same answers as one bucket', async () => {
    const one = presence(1)
    const four = presence(4)
    for (const { p } of [one, four]) {
      for (const u of users.slice(5)) await p.connected(u, `n1/${u}`)
      await p.connected('peer6', 'n2/x')
      await p.disconnected('peer6', 'n1/peer6', 1000)
      await p.disconnected('peer7', 'n1/peer7', 2000)
    }
    const buckets = new Set(users.map((u) => presenceBucket(u, 4)))
    expect(buckets.size).toBeGreaterThan(1)
    const cmds = await commandsDuring(four.prefix, async () => expect(await four.p.get(users)).toEqual(await one.p.get(users)))
    expect(cmds).toEqual(Array.from(buckets, () => 'hmget'))
    expect((await four.p.get(['peer6', 'peer7']))).toEqual([
      { user: 'peer6', online: true, lastSeen: 1000 },
      { user: 'peer7', online: false, lastSeen: 2000 },
    ])
  })

  it('counts one field per socket: a retried disconnect takes nothing more away', async () => {
    const { p } = presence(3)
    expect(await p.connected('ann', 'n1/a')).toBe(1)
    expect(await p.connected('ann', 'n2/b')).toBe(2)
    expect(await p.disconnected('ann', 'n1/a', 10)).toBe(1)
    expect(await p.disconnected('ann', 'n1/a', 11)).toBe(1)
    expect(await p.get(['ann'])).toEqual([{ user: 'ann', online: true, lastSeen: 11 }])
    expect(await p.disconnected('ann', 'n2/b', 12)).toBe(0)
    expect(await p.get(['ann'])).toEqual([{ user: 'ann', online: false, lastSeen: 12 }])
    // Back online: the last seen stays until the next disconnect.
    expect(await p.connected('ann', 'n1/c')).toBe(1)
    expect(await p.get(['ann'])).toEqual([{ user: 'ann', online: true, lastSeen: 12 }])
  })

  it('reaps a dead node: its users with no other device go offline, last seen at its last beat', async () => {
    const { p, prefix, client } = presence(2)
    await p.beat('n1', 1000)
    await p.beat('n2', 1000)
    await p.connected('ann', 'n1/s1')
    await p.connected('ann', 'n1/s2')
    await p.connected('ann', 'n2/s3')
    await p.connected('bob', 'n1/s4')
    await p.connected('cat', 'n2/s5')
    // n2 goes on beating; n1 stopped at 1000.
    await p.beat('n2', 40_000)
    expect(await p.reap(40_000 - 30_000)).toEqual([{ user: 'bob', online: false, lastSeen: 1000 }])
    expect(await p.get(['ann', 'bob', 'cat'])).toEqual([
      { user: 'ann', online: true },
      { user: 'bob', online: false, lastSeen: 1000 },
      { user: 'cat', online: true },
    ])
    // Forgotten: nothing left to reap, no key of n1 left.
    expect(await p.reap(40_000 - 30_000)).toEqual([])
    expect((await client.keys(`${prefix}*n1*`)).length).toBe(0)
    expect(await client.zrange(`${prefix}{pr}:nodes`, 0, -1)).toEqual(['n2'])
    // The last device of ann, on the living node, goes as usual.
    expect(await p.disconnected('ann', 'n2/s3', 41_000)).toBe(0)
  })

  it('tells a node reaped while alive, on its next beat, so it counts its sockets again', async () => {
    const { p } = presence(1)
    expect(await p.beat('n1', 1000)).toBe(false)
    expect(await p.beat('n1', 2000)).toBe(false)
    await p.connected('ann', 'n1/s1')
    expect(await p.reap(50_000)).toEqual([{ user: 'ann', online: false, lastSeen: 2000 }])
    expect(await p.beat('n1', 51_000)).toBe(true)
    expect(await p.connected('ann', 'n1/s1')).toBe(1)
    expect(await p.beat('n1', 52_000)).toBe(false)
  })

  it('reaps thousands of users in bounded batches, once each even with two reapers at once', async () => {
    const { p, prefix } = presence(1)
    const second = new Redis(REDIS_URL)
    open[0]!.clients.push(second)
    const other = new RedisPresence(second, prefix, guard, 1)
    await p.beat('dead', 1)
    const many = Array.from({ length: 1200 }, (_, i) => `u${i}`)
    await Promise.all(many.map((u) => p.connected(u, `dead/${u}`)))
    const cmds = await commandsDuring(prefix, async () => {
      const [a, b] = await Promise.all([p.reap(10), other.reap(10)])
      expect([...a, ...b].map((x) => x.user).sort()).toEqual([...many].sort())
    })
    // 1,200 users in batches of 500: a few script calls, not one per user.
    expect(cmds.filter((c) => c === 'evalsha' || c === 'eval').length).toBeLessThanOrEqual(10)
    expect((await p.get(many)).every((x) => !x.online && x.lastSeen === 1)).toBe(true)
  })
})

describe('packed presence', () => {
  it('unpacks devices and last seen', () => {
    expect(unpackPresence('a', null)).toEqual({ user: 'a', online: false })
    expect(unpackPresence('a', '2')).toEqual({ user: 'a', online: true })
    expect(unpackPresence('a', '0:5')).toEqual({ user: 'a', online: false, lastSeen: 5 })
    expect(unpackPresence('a', '1:5')).toEqual({ user: 'a', online: true, lastSeen: 5 })
  })
})
