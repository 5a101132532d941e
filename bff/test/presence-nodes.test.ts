/**
 * Presence when a process dies or is taken for dead (gateway/liveness.ts, store/redis-presence.ts):
 * a BFF killed -9 leaves its sockets counted in Redis; the surviving process reaps them once the
 * dead one has missed PRESENCE_NODE_DEAD_MS of beats and tells the peers. A process reaped while
 * alive counts its sockets again on its next beat.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import { RedisPresence } from '../src/store/redis-presence'
import { TestClient, connectUser, newCid } from './support/client'
import { REDIS_URL, dropPrefix, randomPrefix, useTestServer } from './support/server'
import { dropBundle, spawnBff } from './support/spawn'
import type { BffProcess } from './support/spawn'
import { waitFor } from './support/wait'

const FAST = { PRESENCE_BEAT_MS: '200', PRESENCE_NODE_DEAD_MS: '1000', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }
const guard = <T>(work: () => Promise<T>) => work()

afterAll(async () => {
  await dropBundle()
})

describe('a BFF process killed -9', () => {
  const prefix = randomPrefix()
  const nodes: BffProcess[] = []
  const clients: TestClient[] = []
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    for (const n of nodes) n.kill('SIGKILL')
    await Promise.all(nodes.map((n) => n.exited))
    await dropPrefix(prefix)
  })

  it('has its users shown offline to peers on the other process, last seen at its last beat', async () => {
    nodes.push(...(await Promise.all([0, 1].map(() => spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, ...FAST })))))
    const ann = (await connectUser(nodes[0]!.url, 'kd-ann')).client
    const bob = (await connectUser(nodes[1]!.url, 'kd-bob')).client
    clients.push(ann, bob)
    const cid = newCid()
    ann.send({ type: 'send', cid, conv: directConvId('kd-ann', 'kd-bob'), kind: 'text', body: { text: 'hi' } })
    await bob.nextOf('msg', (f) => f.m.cid === cid)
    const r = new Redis(REDIS_URL)
    const presence = new RedisPresence(r, prefix, guard)
    try {
      expect((await presence.get(['kd-ann']))[0]!.online).toBe(true)
      const killedAt = Date.now()
      nodes[0]!.kill('SIGKILL')
      await nodes[0]!.exited
      const offline = await bob.nextOf('presence', (f) => f.user === 'kd-ann' && !f.online, 10_000)
      // Announced after the bound (the dead node's last beat + PRESENCE_NODE_DEAD_MS), not before.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1000 - 200)
      expect(offline.lastSeen).toBeLessThanOrEqual(killedAt)
      expect(offline.lastSeen).toBeGreaterThan(killedAt - 1000)
      expect(await presence.get(['kd-ann', 'kd-bob'])).toEqual([
        { user: 'kd-ann', online: false, lastSeen: offline.lastSeen },
        { user: 'kd-bob', online: true },
      ])
    } finally {
      r.disconnect()
    }
  })
})

describe('a BFF process reaped while alive', () => {
  // A grace longer than the test: only the recount can end the one below.
  const t = useTestServer('redis', { ...FAST, PRESENCE_OFFLINE_GRACE_MS: '60000' })

  it('counts its sockets again on its next beat and tells the peers they are online; a closed socket in its grace is forgotten, its routing ended', async () => {
    const a = t.uid('ra')
    const b = t.uid('rb')
    const c = t.uid('rc')
    const ann = (await t.connect(a)).client
    const bob = (await t.connect(b)).client
    await (await t.connect(c)).client.close()
    await waitFor(() => t.server.connections() === 2)
    const cid = newCid()
    ann.send({ type: 'send', cid, conv: directConvId(a, b), kind: 'text', body: { text: 'hi' } })
    await bob.nextOf('msg', (f) => f.m.cid === cid)
    // The new 1:1 told each the other is online: taken, so the frames awaited below are new ones.
    await ann.nextOf('presence', (f) => f.user === b && f.online)
    await bob.nextOf('presence', (f) => f.user === a && f.online)
    const r = new Redis(REDIS_URL)
    const presence = new RedisPresence(r, t.prefix, guard)
    const subscribers = async (user: string) => Number(((await r.call('PUBSUB', 'SHARDNUMSUB', `${t.prefix}{u:${user}}`)) as [string, number])[1])
    try {
      // Within its grace: still counted and routed.
      expect(await subscribers(c)).toBe(1)
      await waitFor(async () => (await presence.get([a, b])).every((p) => p.online))
      // Another process takes this one for dead (as after a long stall): every node beaten before
      // a minute from now is reaped.
      const reaped = await presence.reap(Date.now() + 60_000)
      expect(reaped.map((p) => p.user).sort()).toEqual([a, b, c].sort())
      expect((await presence.get([a, b])).some((p) => p.online)).toBe(false)
      // Its next beat finds it reaped: both counted again, each announced to the other.
      await ann.nextOf('presence', (f) => f.user === b && f.online, 5000)
      await bob.nextOf('presence', (f) => f.user === a && f.online, 5000)
      expect((await presence.get([a, b])).map((p) => p.online)).toEqual([true, true])
      // The reaper counted the closed socket out: the process forgets its grace and ends its routing.
      await waitFor(async () => (await subscribers(c)) === 0)
      expect((await presence.get([c]))[0]!.online).toBe(false)
    } finally {
      r.disconnect()
    }
  })
})
