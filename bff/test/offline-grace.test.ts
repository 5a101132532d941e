/**
 * The offline grace (gateway/offline-grace.ts, PRESENCE_OFFLINE_GRACE_MS) against real Redis: a
 * device back within the grace announces nothing, neither offline nor online, on the same process
 * or another one; with none back the peers see offline exactly once, after the grace, last seen
 * at the real close. A reconnecting device gets its peers' presence in one `presences` frame.
 * The routing stays for the grace too (chat/delivery.ts `keep`): what is sent to a user with no
 * device meanwhile is queued and synced on return exactly once, on the same process or another,
 * and the grace ending with no device back unsubscribes.
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
  /** Processes subscribed to `user`'s channel. */
  const subscribers = async (user: string) => Number(((await r.call('PUBSUB', 'SHARDNUMSUB', `${t.prefix}{u:${user}}`)) as [string, number])[1])
  /** Entries in `user`'s offline queue. */
  const queued = (user: string) => r.xlen(`${t.prefix}{u:${user}}:q`)
  const otherProcess = async () => (other ??= await startTestServer({ STORE: 'redis', REDIS_PREFIX: t.prefix, PRESENCE_OFFLINE_GRACE_MS: String(GRACE) }))

  async function send(c: TestClient, conv: string, text: string): Promise<number> {
    const cid = newCid()
    c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return (await c.nextOf('ack', (f) => f.cid === cid)).seq
  }

  /** Every seq of `conv` that `c` got, live or in a sync batch, after a round trip. */
  async function seqsOf(c: TestClient, conv: string): Promise<number[]> {
    const ts = Math.floor(Math.random() * 1e9)
    c.send({ type: 'ping', ts })
    await c.nextOf('pong', (f) => f.ts === ts)
    return c.frames.flatMap((f) => (f.type === 'msg' && f.m.conv === conv ? [f.m.seq] : f.type === 'messages' && f.conv === conv ? f.msgs.map((m) => m.seq) : []))
  }

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

  it('a device back within the grace is told the presence of its peers as they are now: a peer met since the close too', async () => {
    const { a, b, alice, bob } = await pair('n')
    await bob.close()
    // Bob's closed socket was told of Alice (kept for the grace); Carol opens a 1:1 with Bob meanwhile.
    const c = t.uid('nc')
    const carol = (await t.connect(c)).client
    const cid = newCid()
    carol.send({ type: 'send', cid, conv: directConvId(c, b), kind: 'text', body: { text: 'hello' } })
    await carol.nextOf('ack', (f) => f.cid === cid)
    const bob2 = (await t.connect(b)).client
    const items = (await bob2.nextOf('presences')).items
    expect([...items].sort((x, y) => x.user.localeCompare(y.user))).toEqual([{ user: a, online: true }, { user: c, online: true }].sort((x, y) => x.user.localeCompare(y.user)))
    // Back again within the grace: the same two, read beside the summary this time.
    await bob2.close()
    const bob3 = (await t.connect(b)).client
    expect((await bob3.nextOf('presences')).items).toEqual(items)
    await Promise.all([alice.close(), carol.close(), bob3.close()])
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

  it('a message to a user in its grace with no device is queued once and synced on return exactly once; the grace ending unsubscribes', async () => {
    const { a, b, alice, bob } = await pair('m')
    const conv = directConvId(a, b)
    await bob.close()
    await waitFor(() => t.server.connections() === 1)
    // The routing stays: still subscribed, nothing queued yet.
    expect(await subscribers(b)).toBe(1)
    expect(await queued(b)).toBe(0)
    const seq = await send(alice, conv, 'while away')
    await waitFor(async () => (await queued(b)) === 1)
    const bob2 = (await t.connect(b)).client
    const { batches } = await bob2.sync('s', [{ conv, seq: seq - 1 }])
    expect(batches.flatMap((x) => x.msgs.map((m) => m.seq))).toEqual([seq])
    // Live after the return, and nothing twice.
    const next = await send(alice, conv, 'back')
    await bob2.nextOf('msg', (f) => f.m.seq === next)
    expect(await seqsOf(bob2, conv)).toEqual([seq, next])
    expect(await queued(b)).toBe(1)
    expect(await subscribers(b)).toBe(1)
    // Gone for good: the grace ends, the routing with it.
    await bob2.close()
    await waitFor(async () => (await subscribers(b)) === 0, GRACE + 5000)
    // Sent now, nobody subscribed: the sender's process queues it.
    await send(alice, conv, 'gone')
    await waitFor(async () => (await queued(b)) === 2)
  })

  it('another process sees the routing kept: its message is queued by the process in grace, synced once on return there, and after the grace it reaches the user alone', async () => {
    const second = await otherProcess()
    const a = t.uid('xa')
    const b = t.uid('xb')
    const conv = directConvId(a, b)
    const alice = (await connectUser(second.url, a)).client
    const bob = (await t.connect(b)).client
    try {
      const hi = await send(alice, conv, 'hi')
      await bob.nextOf('msg', (f) => f.m.seq === hi)
      await bob.close()
      await waitFor(() => t.server.connections() === 0)
      expect(await subscribers(b)).toBe(1)
      // From the other process: the publish reaches the process holding the routing, which queues it.
      const seq = await send(alice, conv, 'while away')
      await waitFor(async () => (await queued(b)) === 1)
      // Back on the other process, within the grace.
      const bob2 = (await connectUser(second.url, b)).client
      try {
        const { batches } = await bob2.sync('s', [{ conv, seq: seq - 1 }])
        expect(batches.flatMap((x) => x.msgs.map((m) => m.seq))).toEqual([seq])
        expect(await subscribers(b)).toBe(2)
        // The first process's grace ends: it leaves and unsubscribes; the other process then
        // delivers alone, nothing queued.
        await waitFor(async () => (await subscribers(b)) === 1, GRACE + 5000)
        const depth = await queued(b)
        const next = await send(alice, conv, 'after')
        await bob2.nextOf('msg', (f) => f.m.seq === next)
        expect(await seqsOf(bob2, conv)).toEqual([seq, next])
        expect(await queued(b)).toBe(depth)
      } finally {
        await bob2.close()
      }
    } finally {
      await alice.close()
    }
  })

  it('a device back on another process within the grace: neither process announces anything, the closed socket is counted out after it', async () => {
    other = await otherProcess()
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
