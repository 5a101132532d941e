/**
 * The offline grace (gateway/offline-grace.ts, PRESENCE_OFFLINE_GRACE_MS) against real Redis: a
 * device back within the grace announces nothing, neither offline nor online, on the same process
 * or another one; with none back the peers see offline exactly once, after the grace, last seen
 * at the real close. A reconnecting device gets its peers' presence in one `presences` frame.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { connectUser, newCid } from './support/client'
import type { TestClient } from './support/client'
import { REDIS_URL, startTestServer, useTestServer } from './support/server'
import { waitFor } from './support/wait'

const GRACE = 1500

describe('offline grace', () => {
  const t = useTestServer('redis', { PRESENCE_OFFLINE_GRACE_MS: String(GRACE), RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
  let r: Redis
  let other: RunningServer | undefined
  beforeAll(() => {
    r = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    await other?.close()
    r.disconnect()
  })

  /** The socket fields counted for `user` (bucket 0: PRESENCE_BUCKETS 1). */
  const fields = (user: string) => r.hkeys(`${t.prefix}{pr:0}:d:${user}`)

  /** Two users in a 1:1, each told the other is online. */
  async function pair(tag: string) {
    const a = t.uid(`${tag}a`)
    const b = t.uid(`${tag}b`)
    const alice = (await t.connect(a)).client
    const bob = (await t.connect(b)).client
    const cid = newCid()
    alice.send({ type: 'send', cid, conv: directConvId(a, b), kind: 'text', body: { text: 'hi' } })
    await bob.nextOf('msg', (f) => f.m.cid === cid)
    await alice.nextOf('presence', (f) => f.user === b && f.online)
    return { a, b, alice, bob }
  }

  /** Presence frames about `user` that `c` got from frame `from` on, after a round trip (anything sent before the pong is in). */
  async function presenceSince(c: TestClient, from: number, user: string) {
    const ts = Math.floor(Math.random() * 1e9)
    c.send({ type: 'ping', ts })
    await c.nextOf('pong', (f) => f.ts === ts)
    return c.frames.slice(from).filter((f) => f.type === 'presence' && f.user === user)
  }

  it('a device back within the grace takes the closed socket\'s place: nothing announced, one presence field, peers\' presence in one frame', async () => {
    const { a, b, alice, bob } = await pair('q')
    const mark = alice.frames.length
    const [before] = await fields(b)
    await bob.close()
    const bob2 = (await t.connect(b)).client
    expect((await bob2.nextOf('presences')).items).toEqual([{ user: a, online: true }])
    // The new socket counts under the closed one's field: no presence script ran for it.
    expect(await fields(b)).toEqual([before])
    expect(await presenceSince(alice, mark, b)).toEqual([])
    expect(bob2.all('presence')).toEqual([])
    // Gone for good: offline once, after the grace, last seen when the socket closed.
    const closing = Date.now()
    await bob2.close()
    const closed = Date.now()
    const off = await alice.nextOf('presence', (f) => f.user === b, GRACE + 5000)
    expect(Date.now() - closing).toBeGreaterThanOrEqual(GRACE - 50)
    expect(off).toMatchObject({ user: b, online: false })
    expect(off.lastSeen).toBeGreaterThanOrEqual(closing - 5)
    expect(off.lastSeen).toBeLessThanOrEqual(closed + 5)
    expect(await presenceSince(alice, mark, b)).toEqual([off])
    expect(await fields(b)).toEqual([])
  })

  it('a device that does not come back is announced offline exactly once, after the grace', async () => {
    const { b, alice, bob } = await pair('g')
    const mark = alice.frames.length
    const closing = Date.now()
    await bob.close()
    // Still counted during the grace.
    expect(await fields(b)).toHaveLength(1)
    const off = await alice.nextOf('presence', (f) => f.user === b, GRACE + 5000)
    expect(Date.now() - closing).toBeGreaterThanOrEqual(GRACE - 50)
    expect(off.online).toBe(false)
    expect(await presenceSince(alice, mark, b)).toEqual([off])
  })

  it('a device back on another process within the grace: neither process announces anything, the closed socket is counted out after it', async () => {
    other = await startTestServer({ STORE: 'redis', REDIS_PREFIX: t.prefix, PRESENCE_OFFLINE_GRACE_MS: String(GRACE) })
    const { a, b, alice, bob } = await pair('n')
    const mark = alice.frames.length
    const [first] = await fields(b)
    await bob.close()
    const bob2 = (await connectUser(other.url, b)).client
    try {
      expect((await bob2.nextOf('presences')).items).toEqual([{ user: a, online: true }])
      expect(await fields(b)).toHaveLength(2)
      // The first process's grace ends: its field goes, the other's stays; the user never looked offline.
      await waitFor(async () => {
        const now = await fields(b)
        return now.length === 1 && now[0] !== first
      }, GRACE + 5000)
      expect(await presenceSince(alice, mark, b)).toEqual([])
      await bob2.close()
      const off = await alice.nextOf('presence', (f) => f.user === b, GRACE + 5000)
      expect(off.online).toBe(false)
      expect(await presenceSince(alice, mark, b)).toEqual([off])
    } finally {
      await bob2.close()
    }
  })
})
