/**
 * Mute, pin and delete for me (issue 13), over real servers and sockets, on the memory and the
 * Redis engine: the answer, the push to the user's other devices (never to other members), what
 * `convs`, history and sync return afterwards, and every refusal's stable code. Then two BFF
 * processes on one Redis (the push crosses the bus), a Redis lost entirely over MariaDB
 * (settings and hidden messages come back from the archive), and MariaDB away (lists, syncs and
 * sends answered from Redis' copy; a change refused as temporary).
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { LIMITS, directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import { TestClient, connectUser, newCid, postJson } from './support/client'
import { REDIS_URL, dropPrefix, randomPrefix, startTestServer, useTestServer } from './support/server'
import { createTestDatabase } from './support/mysql'
import { openArchive } from '../src/archive/archive'
import { TcpProxy } from './support/tcp-proxy'
import { waitFor } from './support/wait'

async function send(client: TestClient, conv: string, text: string): Promise<ServerFrameOf<'ack'>> {
  const cid = newCid()
  client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
  return client.nextOf('ack', (f) => f.cid === cid)
}

async function request<T extends 'conv.settings' | 'hide' | 'convs' | 'messages'>(client: TestClient, frame: Record<string, unknown> & { rid: string }, type: T) {
  client.send(frame as never)
  const reply = await client.next((f) => (f.type === type || f.type === 'error') && 'rid' in f && f.rid === frame.rid)
  return reply as ServerFrameOf<T> | ServerFrameOf<'error'>
}

async function convsOf(client: TestClient, rid: string) {
  const reply = await request(client, { type: 'convs', rid }, 'convs')
  if (reply.type !== 'convs') throw new Error(`convs refused: ${reply.code}`)
  return new Map(reply.items.map((c) => [c.id, c]))
}

/** Frames of `type` without `rid` that `client` received so far (pushes). */
function pushes<K extends 'conv.settings' | 'hide'>(client: TestClient, type: K): ServerFrameOf<K>[] {
  return client.all(type).filter((f) => (f as { rid?: string }).rid === undefined)
}

for (const store of ['memory', 'redis'] as const) {
  describe(`conversation settings and delete for me (${store})`, () => {
    const t = useTestServer(store, { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' })

    it('mutes and pins for the user alone: the answer, a push to their other device only, and `convs` on every device', async () => {
      const [ann, bob] = [t.uid('ann'), t.uid('bob')]
      const phone = await t.connect(ann)
      const pad = await t.connect(ann)
      const b = await t.connect(bob)
      const conv = directConvId(ann, bob)
      await send(b.client, conv, 'hello')

      const muted = await request(phone.client, { type: 'conv.settings', rid: 'm1', conv, muted: true }, 'conv.settings')
      expect(muted).toEqual({ type: 'conv.settings', rid: 'm1', conv, muted: true })
      await pad.client.nextOf('conv.settings', (f) => f.conv === conv && f.muted)

      const before = Date.now()
      const pinned = await request(pad.client, { type: 'conv.settings', rid: 'p1', conv, pinned: true }, 'conv.settings')
      expect(pinned).toMatchObject({ type: 'conv.settings', rid: 'p1', conv, muted: true })
      const at = (pinned as ServerFrameOf<'conv.settings'>).pinned!
      expect(at).toBeGreaterThanOrEqual(before)
      expect(await phone.client.nextOf('conv.settings', (f) => f.pinned !== undefined)).toEqual({ type: 'conv.settings', conv, muted: true, pinned: at })
      // The asking device gets its answer, not a push as well.
      expect(pushes(pad.client, 'conv.settings').filter((f) => f.pinned !== undefined)).toEqual([])

      // Pinning again keeps the first pin time (the list's order does not jump).
      const again = await request(phone.client, { type: 'conv.settings', rid: 'p2', conv, pinned: true }, 'conv.settings')
      expect(again).toMatchObject({ pinned: at })

      expect((await convsOf(pad.client, 'l1')).get(conv)).toMatchObject({ muted: true, pinned: at, unread: 1 })
      // The other member sees none of it.
      const theirs = (await convsOf(b.client, 'l2')).get(conv)!
      expect(theirs.muted).toBeUndefined()
      expect(theirs.pinned).toBeUndefined()
      expect(b.client.all('conv.settings')).toEqual([])

      // Unmute and unpin: back to the defaults, fields absent.
      await request(phone.client, { type: 'conv.settings', rid: 'u1', conv, muted: false, pinned: false }, 'conv.settings')
      const plain = (await convsOf(phone.client, 'l3')).get(conv)!
      expect(plain.muted).toBeUndefined()
      expect(plain.pinned).toBeUndefined()
      await pad.client.nextOf('conv.settings', (f) => !f.muted && f.pinned === undefined)
    })

    it('refuses a non-member (NOT_MEMBER), an unknown 1:1 (CONV_NOT_FOUND), malformed frames (INVALID_FRAME) and the pin past MAX_PINNED (PINNED_FULL)', async () => {
      const [ann, bob, cat] = [t.uid('ann'), t.uid('bob'), t.uid('cat')]
      const a = await t.connect(ann)
      const b = await t.connect(bob)
      const c = await t.connect(cat)
      const conv = directConvId(ann, bob)
      await send(a.client, conv, 'hi')
      const code = async (client: TestClient, frame: Record<string, unknown> & { rid: string }) => {
        const r = await request(client, frame, frame.type as 'conv.settings')
        return r.type === 'error' ? r.code : 'ok'
      }
      expect(await code(c.client, { type: 'conv.settings', rid: 'x1', conv, muted: true })).toBe('NOT_MEMBER')
      expect(await code(c.client, { type: 'hide', rid: 'x2', conv, seq: 1 })).toBe('NOT_MEMBER')
      expect(await code(c.client, { type: 'conv.settings', rid: 'x3', conv: directConvId(cat, `${cat}x`), muted: true })).toBe('CONV_NOT_FOUND')
      expect(await code(a.client, { type: 'conv.settings', rid: 'x4', conv, muted: 'yes' })).toBe('INVALID_FRAME')
      expect(await code(a.client, { type: 'conv.settings', rid: 'x5', conv: 'nope', pinned: true })).toBe('INVALID_FRAME')
      expect(await code(a.client, { type: 'hide', rid: 'x6', conv, seq: 0 })).toBe('INVALID_FRAME')
      expect(await code(a.client, { type: 'hide', rid: 'x7', conv, seq: 1.5 })).toBe('INVALID_FRAME')
      expect(await code(a.client, { type: 'hide', rid: 'x8', conv, seq: 2 })).toBe('SEQ_RANGE_INVALID')
      // Nothing of it was stored or pushed.
      expect((await convsOf(a.client, 'l')).get(conv)!.muted).toBeUndefined()
      expect(b.client.all('conv.settings')).toEqual([])

      // MAX_PINNED: the one past it is refused, a pinned one pinned again is not.
      const others = Array.from({ length: LIMITS.maxPinned }, (_, i) => `${ann}p${i}`)
      for (const o of others) await connectUser(t.server.url, o).then((r) => r.client.close())
      for (const o of others) {
        a.client.send({ type: 'conv.create', rid: `c${o}`, kind: 'direct', members: [o] })
        const made = await a.client.nextOf('conv', (f) => f.rid === `c${o}`)
        expect(await code(a.client, { type: 'conv.settings', rid: `p${o}`, conv: made.conv.id, pinned: true })).toBe('ok')
      }
      expect(await code(a.client, { type: 'conv.settings', rid: 'full', conv, pinned: true })).toBe('PINNED_FULL')
      expect(await code(a.client, { type: 'conv.settings', rid: 'same', conv: directConvId(ann, others[0]!), pinned: true })).toBe('ok')
      // Muting is not bounded by pins.
      expect(await code(a.client, { type: 'conv.settings', rid: 'mute', conv, muted: true })).toBe('ok')
      const listed = await convsOf(a.client, 'l2')
      expect([...listed.values()].filter((x) => x.pinned !== undefined)).toHaveLength(LIMITS.maxPinned)
      expect(listed.get(conv)).toMatchObject({ muted: true })
      expect(listed.get(conv)!.pinned).toBeUndefined()
    })

    it('deletes a message for the user alone: both of their devices lose it, history and sync return its tombstone, the other user keeps it', async () => {
      const [ann, bob] = [t.uid('ann'), t.uid('bob')]
      const phone = await t.connect(ann)
      const pad = await t.connect(ann)
      const b = await t.connect(bob)
      const conv = directConvId(ann, bob)
      for (const text of ['one', 'two', 'three']) await send(b.client, conv, text)

      const reply = await request(phone.client, { type: 'hide', rid: 'h1', conv, seq: 2 }, 'hide')
      expect(reply).toEqual({ type: 'hide', rid: 'h1', conv, seq: 2 })
      expect(await pad.client.nextOf('hide')).toEqual({ type: 'hide', conv, seq: 2 })
      expect(pushes(phone.client, 'hide')).toEqual([])
      expect(b.client.all('hide')).toEqual([])
      // Hiding it again answers the same and pushes nothing more.
      expect(await request(pad.client, { type: 'hide', rid: 'h2', conv, seq: 2 }, 'hide')).toMatchObject({ seq: 2 })

      const history = await request(pad.client, { type: 'history', rid: 'hist', conv }, 'messages')
      expect(history.type).toBe('messages')
      const mine = (history as ServerFrameOf<'messages'>).msgs
      expect(mine.map((m) => [m.seq, m.kind])).toEqual([
        [1, 'text'],
        [2, 'hidden'],
        [3, 'text'],
      ])
      expect(mine[1]).toEqual({ mid: mine[1]!.mid, cid: mine[1]!.cid, conv, seq: 2, from: bob, ts: mine[1]!.ts, kind: 'hidden', body: {} })
      expect(JSON.stringify(mine)).not.toContain('"two"')

      // A new device of the user, syncing from nothing and from a cursor: the tombstone, never the text.
      const laptop = await t.connect(ann)
      const fresh = await laptop.client.sync('s1', [])
      expect(fresh.batches.flatMap((x) => x.msgs.map((m) => m.kind))).toEqual(['text', 'hidden', 'text'])
      const later = await t.connect(ann)
      const cursor = await later.client.sync('s2', [{ conv, seq: 1 }])
      expect(cursor.batches.flatMap((x) => x.msgs.map((m) => [m.seq, m.kind]))).toEqual([
        [2, 'hidden'],
        [3, 'text'],
      ])

      // The other member's view is unchanged.
      b.client.send({ type: 'history', rid: 'bh', conv })
      const theirs = await b.client.nextOf('messages', (f) => f.rid === 'bh')
      expect(theirs.msgs.map((m) => (m.kind === 'text' ? m.body.text : m.kind))).toEqual(['one', 'two', 'three'])

      // A hidden last message is shown in the user's list as its tombstone only.
      await request(phone.client, { type: 'hide', rid: 'h3', conv, seq: 3 }, 'hide')
      expect((await convsOf(phone.client, 'l')).get(conv)!.lastMsg).toMatchObject({ seq: 3, kind: 'hidden', body: {} })
      expect((await convsOf(b.client, 'lb')).get(conv)!.lastMsg).toMatchObject({ seq: 3, kind: 'text' })
    })

    it('refuses hiding a message a member who joined later never had (SEQ_RANGE_INVALID)', async () => {
      const [ann, bob, cat] = [t.uid('ann'), t.uid('bob'), t.uid('cat')]
      const a = await t.connect(ann)
      await t.connect(bob)
      const c = await t.connect(cat)
      a.client.send({ type: 'conv.create', rid: 'g', kind: 'group', title: 'G', members: [bob] })
      const group = (await a.client.nextOf('conv', (f) => f.rid === 'g')).conv.id
      await send(a.client, group, 'before cat')
      a.client.send({ type: 'group', rid: 'add', conv: group, op: 'add', users: [cat] })
      await a.client.nextOf('group', (f) => f.rid === 'add')
      const refused = await request(c.client, { type: 'hide', rid: 'h', conv: group, seq: 1 }, 'hide')
      expect(refused).toMatchObject({ type: 'error', code: 'SEQ_RANGE_INVALID' })
      expect(await request(c.client, { type: 'hide', rid: 'h2', conv: group, seq: 2 }, 'hide')).toMatchObject({ type: 'hide', seq: 2 })
    })

    it('every `conv` frame a user gets carries their settings: a 1:1 opened again, a group they are added back to', async () => {
      const [ann, bob] = [t.uid('ann'), t.uid('bob')]
      const a = await t.connect(ann)
      const b = await t.connect(bob)
      const direct = directConvId(ann, bob)
      await send(a.client, direct, 'hi')
      await request(b.client, { type: 'conv.settings', rid: 's1', conv: direct, muted: true, pinned: true }, 'conv.settings')
      b.client.send({ type: 'conv.create', rid: 'again', kind: 'direct', members: [ann] })
      const reopened = (await b.client.nextOf('conv', (f) => f.rid === 'again')).conv
      expect(reopened).toMatchObject({ id: direct, muted: true })
      expect(reopened.pinned).toBeGreaterThan(0)
      // The other member's answer has none of Bob's settings.
      a.client.send({ type: 'conv.create', rid: 'mine', kind: 'direct', members: [bob] })
      const theirs = (await a.client.nextOf('conv', (f) => f.rid === 'mine')).conv
      expect([theirs.muted, theirs.pinned]).toEqual([undefined, undefined])

      a.client.send({ type: 'conv.create', rid: 'g', kind: 'group', title: 'G', members: [bob] })
      const group = (await a.client.nextOf('conv', (f) => f.rid === 'g')).conv.id
      await request(b.client, { type: 'conv.settings', rid: 's2', conv: group, muted: true }, 'conv.settings')
      a.client.send({ type: 'group', rid: 'rm', conv: group, op: 'remove', users: [bob] })
      await a.client.nextOf('group', (f) => f.rid === 'rm')
      const from = b.client.frames.length
      a.client.send({ type: 'group', rid: 'back', conv: group, op: 'add', users: [bob] })
      await a.client.nextOf('group', (f) => f.rid === 'back')
      const pushed = await b.client.next((f) => f.type === 'conv' && f.conv.id === group && b.client.frames.indexOf(f) >= from)
      expect(pushed).toMatchObject({ type: 'conv', conv: { id: group, muted: true } })
    })
  })
}

describe('conversation settings over two processes on one Redis', () => {
  const prefix = randomPrefix()
  afterAll(() => dropPrefix(prefix))

  it('a pin and a hide on one process reach the user’s device on the other', async () => {
    const env = { STORE: 'redis', REDIS_PREFIX: prefix }
    const [n1, n2] = await Promise.all([startTestServer(env), startTestServer(env)])
    try {
      const phone = await connectUser(n1.url, 'xpann')
      const pad = await connectUser(n2.url, 'xpann')
      const bob = await connectUser(n2.url, 'xpbob')
      const conv = directConvId('xpann', 'xpbob')
      await send(bob.client, conv, 'hi')
      await request(phone.client, { type: 'conv.settings', rid: 'p', conv, pinned: true, muted: true }, 'conv.settings')
      const pushed = await pad.client.nextOf('conv.settings')
      expect(pushed).toMatchObject({ conv, muted: true })
      expect(pushed.pinned).toBeGreaterThan(0)
      await request(phone.client, { type: 'hide', rid: 'h', conv, seq: 1 }, 'hide')
      expect(await pad.client.nextOf('hide')).toEqual({ type: 'hide', conv, seq: 1 })
      expect(bob.client.all('conv.settings')).toEqual([])
      expect(bob.client.all('hide')).toEqual([])
      await Promise.all([phone.client.close(), pad.client.close(), bob.client.close()])
    } finally {
      await Promise.all([n1.close(), n2.close()])
    }
  })
})

describe('Redis lost entirely, with an archive', () => {
  const prefix = randomPrefix()
  afterAll(() => dropPrefix(prefix))

  it('mutes, pins and hidden messages come back from MariaDB', async () => {
    const db = await createTestDatabase()
    const r = new Redis(REDIS_URL)
    const env = { STORE: 'redis', REDIS_PREFIX: prefix, ARCHIVE_URL: db.url }
    const conv = directConvId('rsann', 'rsbob')
    try {
      const first = await startTestServer(env)
      let pinnedAt = 0
      try {
        const ann = await connectUser(first.url, 'rsann')
        const bob = await connectUser(first.url, 'rsbob')
        await send(bob.client, conv, 'keep')
        await send(bob.client, conv, 'hide me')
        const p = await request(ann.client, { type: 'conv.settings', rid: 'p', conv, pinned: true, muted: true }, 'conv.settings')
        pinnedAt = (p as ServerFrameOf<'conv.settings'>).pinned!
        await request(ann.client, { type: 'hide', rid: 'h', conv, seq: 2 }, 'hide')
        await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0, 10_000)
        await Promise.all([ann.client.close(), bob.client.close()])
      } finally {
        await first.close()
      }
      await dropPrefix(prefix)
      expect(await r.keys(`${prefix}*`)).toEqual([])

      const second = await startTestServer(env)
      try {
        const ann = await connectUser(second.url, 'rsann')
        expect((await convsOf(ann.client, 'l')).get(conv)).toMatchObject({ muted: true, pinned: pinnedAt, lastMsg: { seq: 2, kind: 'hidden' } })
        const history = await request(ann.client, { type: 'history', rid: 'hist', conv }, 'messages')
        expect((history as ServerFrameOf<'messages'>).msgs.map((m) => m.kind)).toEqual(['text', 'hidden'])
        await ann.client.close()
      } finally {
        await second.close()
      }
    } finally {
      r.disconnect()
      await db.drop()
    }
  })
})

describe('MariaDB away, with the Redis engine', () => {
  const prefix = randomPrefix()
  afterAll(() => dropPrefix(prefix))

  it('answers convs and sync from Redis\' copy of the settings, acks sends, refuses a change as temporary, and says degraded', async () => {
    const db = await createTestDatabase()
    const proxy = new TcpProxy('127.0.0.1', 3306)
    await proxy.start()
    const env = { STORE: 'redis', REDIS_PREFIX: prefix, ARCHIVE_URL: db.url.replace('127.0.0.1:3306', `127.0.0.1:${proxy.port}`), RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' }
    const server = await startTestServer(env)
    try {
      const ann = await connectUser(server.url, 'mdann')
      const bob = await connectUser(server.url, 'mdbob')
      const carl = await connectUser(server.url, 'mdcarl')
      const conv = directConvId('mdann', 'mdbob')
      const other = directConvId('mdann', 'mdcarl')
      await send(bob.client, conv, 'hello')
      await send(carl.client, other, 'hi')
      const p = await request(ann.client, { type: 'conv.settings', rid: 'p', conv, pinned: true, muted: true }, 'conv.settings')
      const pinnedAt = (p as ServerFrameOf<'conv.settings'>).pinned!
      // Each user's copy is filled from MariaDB by their first list (a client lists on connecting).
      expect((await convsOf(ann.client, 'l0')).get(conv)).toMatchObject({ muted: true, pinned: pinnedAt })
      expect((await convsOf(bob.client, 'b0')).get(conv)).not.toHaveProperty('muted')

      await proxy.cut()
      const ready = async () => (await (await fetch(`${server.url}/readyz`)).json()) as { ok: boolean; degraded?: boolean; archive: { ok: boolean } }
      await waitFor(async () => (await ready()).archive.ok === false)
      expect(await ready()).toMatchObject({ ok: true, degraded: true, archive: { ok: false } })

      const list = await convsOf(ann.client, 'l1')
      expect(list.get(conv)).toMatchObject({ muted: true, pinned: pinnedAt, lastMsg: { seq: 1 } })
      expect(list.get(other)).not.toHaveProperty('muted')
      expect(list.get(other)).not.toHaveProperty('pinned')
      expect((await convsOf(bob.client, 'b1')).get(conv)).not.toHaveProperty('pinned')
      // Sends are acked (buffered in Redis for the archive) and delivered; a sync reads them from Redis.
      const ack = await send(bob.client, conv, 'while away')
      expect(ack.seq).toBe(2)
      await ann.client.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 2)
      // Read receipts too: the mark goes to the archive through the persister's stream.
      ann.client.send({ type: 'read', conv, seq: 2 })
      await bob.client.nextOf('receipt', (f) => f.kind === 'read' && f.conv === conv && f.seq === 2)
      // Another device of ann's (her session's token), connecting now: list and sync from Redis.
      const pad = { client: await TestClient.connect(server.url, ann.auth.token) }
      await pad.client.nextOf('welcome')
      expect((await convsOf(pad.client, 'l1b')).get(conv)).toMatchObject({ muted: true, pinned: pinnedAt, lastMsg: { seq: 2 } })
      const { batches } = await pad.client.sync('s1', [{ conv, seq: 0 }])
      expect(batches.flatMap((b) => b.msgs.filter((m) => m.conv === conv).map((m) => m.seq))).toEqual([1, 2])

      // A known user logs in again from Redis' copy of the profile; a new one needs the system of record.
      expect((await postJson(server.url, '/auth/dev-login', { user: 'mdcarl' })).status).toBe(200)
      expect(await postJson(server.url, '/auth/dev-login', { user: 'mdnew' })).toMatchObject({ status: 503, body: { error: { code: 'STORE_UNAVAILABLE' } } })

      // A change cannot reach the system of record: refused as temporary, the copy left as it was.
      const refused = await request(ann.client, { type: 'conv.settings', rid: 'u', conv, muted: false }, 'conv.settings')
      expect(refused).toMatchObject({ type: 'error', rid: 'u', code: 'STORE_UNAVAILABLE', temporary: true })
      expect((await convsOf(ann.client, 'l2')).get(conv)).toMatchObject({ muted: true, pinned: pinnedAt })

      await proxy.restore()
      await waitFor(async () => (await ready()).archive.ok, 15_000)
      expect(await ready()).not.toHaveProperty('degraded')
      const done = await request(ann.client, { type: 'conv.settings', rid: 'u2', conv, muted: false }, 'conv.settings')
      expect(done).toEqual({ type: 'conv.settings', rid: 'u2', conv, muted: false, pinned: pinnedAt })
      expect((await convsOf(ann.client, 'l3')).get(conv)).toMatchObject({ pinned: pinnedAt })
      expect((await convsOf(ann.client, 'l3b')).get(conv)).not.toHaveProperty('muted')
      // What was acked while MariaDB was away reached it: the message and the read mark.
      const direct = await openArchive({ url: db.url, poolSize: 1 })
      try {
        // Batches are written side by side and a failed one is retried every 0.5 s: done when the stream is empty.
        const r = new Redis(REDIS_URL)
        try {
          await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0, 15_000)
        } finally {
          r.disconnect()
        }
        expect((await direct.convState(conv)).reads.get('mdann')).toBe(2)
        expect((await direct.after(conv, 0, 10)).map((j) => (JSON.parse(j) as { seq: number }).seq)).toEqual([1, 2])
      } finally {
        await direct.close()
      }
      await Promise.all([ann.client.close(), pad.client.close(), bob.client.close(), carl.client.close()])
    } finally {
      await server.close()
      await proxy.cut()
      await db.drop()
    }
  })
})
