/**
 * End to end over real sockets, on both engines: login, welcome, send/ack/push, second devices,
 * dedup, history, sync, offline queue, conversations, receipts, typing, presence.
 */
import { describe, expect, it } from 'vitest'
import { PROTOCOL_VERSION, directConvId } from '@chat/shared'
import { TestClient, connectUser, devLogin, newCid } from './support/client'
import { REDIS_URL, useTestServer } from './support/server'
import { Redis } from 'ioredis'
import { waitFor } from './support/wait'

describe.each(['memory', 'redis'] as const)('chat over the %s engine', (store) => {
  // Generous rate limits: these tests send hundreds of frames at once (limits have their own tests).
  const t = useTestServer(store, { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
  /** A user id unique to the test. */
  const uid = t.uid
  const user = (name: string) => t.connect(name)


  it('welcomes a socket with the user, heartbeat and limits, and answers ping', async () => {
    const { client, welcome, auth } = await user(uid('wel'))
    expect(welcome.user).toEqual(auth.user)
    expect(welcome.v).toBe(PROTOCOL_VERSION)
    expect(welcome.heartbeatMs).toBe(30_000)
    expect(welcome.limits).toEqual({ maxFrameBytes: 65536, maxTextChars: 5000, maxPageSize: 200, recallWindowMs: 120_000 })
    client.send({ type: 'ping', ts: 42 })
    const pong = await client.nextOf('pong')
    expect(pong.ts).toBe(42)
    expect(pong.serverTime).toBeGreaterThan(0)
  })

  it('acks a send after storing it and pushes it to the peer and to the sender’s other device', async () => {
    const a = uid('alice')
    const b = uid('bob')
    const alice = await user(a)
    const alice2 = await user(a)
    const bob = await user(b)
    const conv = directConvId(a, b)
    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'hello' } })
    const ack = await alice.client.nextOf('ack', (f) => f.cid === cid)
    expect(ack).toMatchObject({ conv, seq: 1 })
    expect(ack.dup).toBeUndefined()
    const atBob = await bob.client.nextOf('msg')
    expect(atBob.m).toEqual({ mid: ack.mid, cid, conv, seq: 1, from: a, ts: ack.ts, kind: 'text', body: { text: 'hello' } })
    const atAlice2 = await alice2.client.nextOf('msg')
    expect(atAlice2.m.mid).toBe(ack.mid)
    // The sending connection has the ack and gets no push of its own message; the 1:1 conversation
    // was created by the first message and both members were told.
    expect(alice.client.all('msg')).toHaveLength(0)
    expect((await bob.client.nextOf('conv')).conv.id).toBe(conv)
    // Stored: history has it.
    bob.client.send({ type: 'history', rid: 'h1', conv })
    const page = await bob.client.nextOf('messages', (f) => f.rid === 'h1')
    expect(page.msgs.map((m) => m.seq)).toEqual([1])
    expect(page.more).toBe(false)
  })

  it('answers a repeated cid with the original ack and stores and delivers nothing twice', async () => {
    const a = uid('dup')
    const b = uid('dupb')
    const alice = await user(a)
    const bob = await user(b)
    const conv = directConvId(a, b)
    const cid = newCid()
    const frame = { type: 'send', cid, conv, kind: 'text', body: { text: 'once' } } as const
    alice.client.send(frame)
    const first = await alice.client.nextOf('ack', (f) => f.cid === cid)
    alice.client.send(frame)
    const second = await alice.client.nextOf('ack', (f) => f.cid === cid)
    expect(second).toEqual({ ...first, dup: true })
    // A later message proves the duplicate was never pushed: bob's pushes are seq 1 then 2.
    const cid2 = newCid()
    alice.client.send({ type: 'send', cid: cid2, conv, kind: 'text', body: { text: 'next' } })
    await alice.client.nextOf('ack', (f) => f.cid === cid2)
    await bob.client.nextOf('msg', (f) => f.m.seq === 2)
    expect(bob.client.all('msg').map((f) => f.m.seq)).toEqual([1, 2])
    bob.client.send({ type: 'history', rid: 'h', conv })
    const page = await bob.client.nextOf('messages')
    expect(page.msgs.map((m) => m.body)).toEqual([{ text: 'once' }, { text: 'next' }])
  })

  it('queues messages for an offline user, syncs them in order once, and drops them on recv.q', async () => {
    const a = uid('q')
    const b = uid('qb')
    const alice = await user(a)
    const bobAuth = await connectUser(t.server.url, b)
    await bobAuth.client.close()
    const conv = directConvId(a, b)
    for (let i = 1; i <= 5; i++) {
      const cid = newCid()
      alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: `m${i}` } })
      await alice.client.nextOf('ack', (f) => f.cid === cid)
    }
    await waitFor(async () => (await t.server.engine.queue.length(b)) === 5)
    const bob = await user(b)
    const { batches, done } = await bob.client.sync('s1', [{ conv, seq: 2 }])
    expect(batches.flatMap((f) => f.msgs.map((m) => m.seq))).toEqual([3, 4, 5])
    expect(batches.at(-1)!.more).toBe(false)
    expect(done.q).toMatch(/^\d+-\d+$/)
    bob.client.send({ type: 'recv', acks: [{ conv, seq: 5 }], q: done.q })
    await waitFor(async () => (await t.server.engine.queue.length(b)) === 0)
    // The peer learns it was delivered.
    const receipt = await alice.client.nextOf('receipt', (f) => f.kind === 'delivered')
    expect(receipt).toMatchObject({ conv, user: b, seq: 5 })
  })

  it('queues a reference per offline member, never a copy of the body (a 15 KB message to a group stored once)', async () => {
    const a = uid('fan')
    const members = Array.from({ length: 12 }, (_, i) => uid(`fanm${i}x`))
    const alice = await user(a)
    for (const m of members) await (await connectUser(t.server.url, m)).client.close()
    alice.client.send({ type: 'conv.create', rid: 'fan1', kind: 'group', title: 'Fan', members })
    const conv = (await alice.client.nextOf('conv', (f) => f.rid === 'fan1')).conv.id
    // 4,999 CJK characters: 15 KB of UTF-8, near the largest text a message may carry.
    const big = '表'.repeat(4999)
    for (let i = 1; i <= 3; i++) {
      const cid = newCid()
      alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: `${i}${big}` } })
      await alice.client.nextOf('ack', (f) => f.cid === cid)
    }
    await waitFor(async () => (await Promise.all(members.map((m) => t.server.engine.queue.length(m)))).every((n) => n === 3))
    for (const m of members) {
      const entries = await t.server.engine.queue.read(m, 10)
      // Exactly the place of each message, nothing else (no body).
      expect(entries.map(({ id: _id, ...rest }) => rest)).toEqual([1, 2, 3].map((seq) => ({ conv, seq })))
    }
    if (store === 'redis') {
      const r = new Redis(REDIS_URL)
      try {
        // Three references (and the stream's own ~4 KB node) cost less than one body; copies would be 45 KB.
        for (const m of members) expect(await r.memory('USAGE', `${t.prefix}{u:${m}}:q`)).toBeLessThan(Buffer.byteLength(big))
      } finally {
        r.disconnect()
      }
    }
    // The bodies come from the conversation when a member syncs.
    const back = await user(members[0]!)
    const { batches } = await back.client.sync('fs', [{ conv, seq: 0 }])
    expect(batches.flatMap((f) => f.msgs.map((m) => (m.body as { text: string }).text.slice(0, 1)))).toEqual(['1', '2', '3'])
    expect(batches.flatMap((f) => f.msgs.map((m) => (m.body as { text: string }).text.length))).toEqual([5000, 5000, 5000])
  })

  it('gives a conversation without a cursor its newest page, with more when older messages exist', async () => {
    const a = uid('pg')
    const b = uid('pgb')
    const alice = await user(a)
    await connectUser(t.server.url, b).then((r) => r.client.close())
    const conv = directConvId(a, b)
    for (let i = 1; i <= 55; i++) alice.client.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: `m${i}` } })
    await alice.client.nextOf('ack', (f) => f.seq === 55)
    const bob = await user(b)
    const { batches } = await bob.client.sync('s', [])
    const seqs = batches.flatMap((f) => f.msgs.map((m) => m.seq))
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 6))
    expect(batches.at(-1)!.more).toBe(true)
    bob.client.send({ type: 'history', rid: 'older', conv, before: 6, limit: 10 })
    const older = await bob.client.nextOf('messages', (f) => f.rid === 'older')
    expect(older.msgs.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
    expect(older.more).toBe(false)
  })

  it('creates groups, fans out to every member, lists conversations with unread counts and read receipts', async () => {
    const [a, b, c] = [uid('ga'), uid('gb'), uid('gc')]
    const alice = await user(a)
    const bob = await user(b)
    const carol = await user(c)
    alice.client.send({ type: 'conv.create', rid: 'c1', kind: 'group', members: [b, c], title: 'trio' })
    const created = await alice.client.nextOf('conv', (f) => f.rid === 'c1')
    expect(created.conv).toMatchObject({ kind: 'group', title: 'trio', lastSeq: 0, unread: 0 })
    expect(created.conv.members.map((m) => m.id)).toEqual([a, b, c])
    const conv = created.conv.id
    expect((await bob.client.nextOf('conv')).conv.id).toBe(conv)
    expect((await carol.client.nextOf('conv')).conv.id).toBe(conv)

    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'hi all' } })
    await alice.client.nextOf('ack', (f) => f.cid === cid)
    const [mb, mc] = await Promise.all([bob.client.nextOf('msg'), carol.client.nextOf('msg')])
    expect(mb.m.cid).toBe(cid)
    expect(mc.m.cid).toBe(cid)

    bob.client.send({ type: 'convs', rid: 'l1' })
    const list = await bob.client.nextOf('convs', (f) => f.rid === 'l1')
    const item = list.items.find((i) => i.id === conv)!
    expect(item).toMatchObject({ lastSeq: 1, readSeq: 0, unread: 1 })
    expect(item.lastMsg?.cid).toBe(cid)

    bob.client.send({ type: 'read', conv, seq: 1 })
    const receipt = await alice.client.nextOf('receipt', (f) => f.kind === 'read')
    expect(receipt).toEqual({ type: 'receipt', kind: 'read', conv, user: b, seq: 1 })
    bob.client.send({ type: 'convs', rid: 'l2' })
    const after = await bob.client.nextOf('convs', (f) => f.rid === 'l2')
    expect(after.items.find((i) => i.id === conv)).toMatchObject({ readSeq: 1, unread: 0 })
    // The sender's own message never counts as unread for the sender.
    alice.client.send({ type: 'convs', rid: 'l3' })
    const mine = await alice.client.nextOf('convs', (f) => f.rid === 'l3')
    expect(mine.items.find((i) => i.id === conv)).toMatchObject({ readSeq: 1, unread: 0 })

    carol.client.send({ type: 'typing', conv })
    const typing = await bob.client.nextOf('typing')
    expect(typing).toEqual({ type: 'typing', conv, user: c })
  })

  it('keeps the order of sends racing the first message of a 1:1 (an outbox resent at once)', async () => {
    const [a, b] = [uid('ora'), uid('orb')]
    const alice = await user(a)
    const bob = await user(b)
    const conv = directConvId(a, b)
    const cids = Array.from({ length: 5 }, () => newCid())
    cids.forEach((cid, i) => alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: `q${i + 1}` } }))
    const acks = await Promise.all(cids.map((cid) => alice.client.nextOf('ack', (f) => f.cid === cid)))
    expect(acks.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5])
    await waitFor(() => bob.client.all('msg').length === 5)
    expect(bob.client.all('msg').map((f) => f.m.body)).toEqual([1, 2, 3, 4, 5].map((i) => ({ text: `q${i}` })))
  })

  it('lists the peer read mark of a 1:1, so a device that connects later shows what was read', async () => {
    const [a, b] = [uid('pra'), uid('prb')]
    const alice = await user(a)
    const bob = await user(b)
    const conv = directConvId(a, b)
    for (const text of ['one', 'two', 'three']) {
      const cid = newCid()
      alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
      await alice.client.nextOf('ack', (f) => f.cid === cid)
    }
    alice.client.send({ type: 'convs', rid: 'p0' })
    expect((await alice.client.nextOf('convs', (f) => f.rid === 'p0')).items.find((i) => i.id === conv)).toMatchObject({ lastSeq: 3, peerRead: 0 })
    bob.client.send({ type: 'read', conv, seq: 2 })
    await alice.client.nextOf('receipt', (f) => f.kind === 'read')
    // Alice's new device missed that receipt: the list carries Bob's mark, and Bob's carries hers.
    const alice2 = await user(a)
    alice2.client.send({ type: 'convs', rid: 'p1' })
    const item = (await alice2.client.nextOf('convs', (f) => f.rid === 'p1')).items.find((i) => i.id === conv)
    expect(item).toMatchObject({ lastSeq: 3, readSeq: 3, unread: 0, peerRead: 2 })
    bob.client.send({ type: 'convs', rid: 'p2' })
    const bobs = (await bob.client.nextOf('convs', (f) => f.rid === 'p2')).items.find((i) => i.id === conv)
    expect(bobs).toMatchObject({ readSeq: 2, unread: 1, peerRead: 3 })
    // Groups have no single peer: no field.
    alice.client.send({ type: 'conv.create', rid: 'pg', kind: 'group', members: [b], title: 'g' })
    expect((await alice.client.nextOf('conv', (f) => f.rid === 'pg')).conv.peerRead).toBeUndefined()
  })

  it('refuses a group with an unknown member, and finds users by id or name prefix', async () => {
    const a = uid('srch')
    const tag = t.uid('')
    const alice = await user(a)
    alice.client.send({ type: 'conv.create', rid: 'x', kind: 'group', members: ['nobody-here-' + tag] })
    const err = await alice.client.nextOf('error', (f) => f.rid === 'x')
    expect(err.code).toBe('USER_NOT_FOUND')
    await connectUser(t.server.url, uid('zed'), { name: `Zoë Named${tag}` }).then((r) => r.client.close())
    alice.client.send({ type: 'users', rid: 'u', q: `zoë named${tag}` })
    const found = await alice.client.nextOf('users', (f) => f.rid === 'u')
    expect(found.items.map((u) => u.name)).toEqual([`Zoë Named${tag}`])
    alice.client.send({ type: 'users', rid: 'u2', q: a })
    expect((await alice.client.nextOf('users', (f) => f.rid === 'u2')).items.map((u) => u.id)).toEqual([a])
  })

  it('tells 1:1 peers when a user comes online and goes offline', async () => {
    const a = uid('pa')
    const b = uid('pb')
    const alice = await user(a)
    const bob1 = await user(b)
    const conv = directConvId(a, b)
    alice.client.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'x' } })
    await bob1.client.nextOf('msg')
    await bob1.client.close()
    const offline = await alice.client.nextOf('presence', (f) => f.user === b && !f.online)
    expect(offline.lastSeen).toBeGreaterThan(0)
    const bob2 = await user(b)
    await alice.client.nextOf('presence', (f) => f.user === b && f.online)
    // The new device learns the peer's state on connect, in one frame for all its peers.
    const peers = await bob2.client.nextOf('presences')
    expect(peers.items).toEqual([{ user: a, online: true }])
  })

  it('gives a version-1 client (a mini-program not updated yet) its peers\' presence one frame each', async () => {
    const a = uid('va')
    const b = uid('vb')
    const alice = await user(a)
    const bob = await user(b)
    const conv = directConvId(a, b)
    alice.client.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'x' } })
    await bob.client.nextOf('msg')
    const old = await TestClient.connect(t.server.url, bob.auth.token, { version: 1 })
    expect((await old.nextOf('welcome')).v).toBe(1)
    expect(await old.nextOf('presence', (f) => f.user === a)).toMatchObject({ online: true })
    old.send({ type: 'ping', ts: 7 })
    await old.nextOf('pong', (f) => f.ts === 7)
    expect(old.all('presences')).toEqual([])
    await old.close()
    // The current version: one `presences` frame, and welcome says 2.
    const now = await user(b)
    expect(now.welcome.v).toBe(PROTOCOL_VERSION)
    expect((await now.client.nextOf('presences')).items).toEqual([{ user: a, online: true }])
  })

  it('tells both users of a new 1:1 the other one is online, though they met after connecting', async () => {
    const a = uid('ma')
    const b = uid('mb')
    const alice = await user(a)
    const bob = await user(b)
    alice.client.send({ type: 'conv.create', rid: 'c', kind: 'direct', members: [b] })
    await alice.client.nextOf('conv', (f) => f.rid === 'c')
    const toAlice = await alice.client.nextOf('presence', (f) => f.user === b)
    const toBob = await bob.client.nextOf('presence', (f) => f.user === a)
    expect([toAlice.online, toBob.online]).toEqual([true, true])
  })

  it('syncs live pushes racing a sync exactly once per connection', async () => {
    const a = uid('race')
    const b = uid('raceb')
    const alice = await user(a)
    await connectUser(t.server.url, b).then((r) => r.client.close())
    const conv = directConvId(a, b)
    for (let i = 0; i < 300; i++) alice.client.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: `old ${i}` } })
    await alice.client.nextOf('ack', (f) => f.seq === 300)
    const bob = await user(b)
    bob.client.send({ type: 'sync', rid: 'r', cursors: [{ conv, seq: 0 }] })
    for (let i = 0; i < 50; i++) alice.client.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: `new ${i}` } })
    await bob.client.nextOf('sync.done', (f) => f.rid === 'r')
    await waitFor(async () => seen(bob.client).length >= 350)
    const seqs = seen(bob.client)
    expect(new Set(seqs).size).toBe(seqs.length)
    expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 350 }, (_, i) => i + 1))
  })

  it('a first sync whose cursors are past the summary read at welcome (a message got live, a conversation new since) is answered in full', async () => {
    const a = uid('wsa')
    const b = uid('wsb')
    const c = uid('wsc')
    const alice = (await user(a)).client
    const carol = (await user(c)).client
    const ab = directConvId(a, b)
    const cb = directConvId(c, b)
    await devLogin(t.server.url, b)
    alice.send({ type: 'send', cid: newCid(), conv: ab, kind: 'text', body: { text: 'before' } })
    await alice.nextOf('ack', (f) => f.seq === 1)
    const bob = (await user(b)).client
    // After bob's welcome: one more message in a conversation the summary knew, one in a new one.
    alice.send({ type: 'send', cid: newCid(), conv: ab, kind: 'text', body: { text: 'live' } })
    carol.send({ type: 'send', cid: newCid(), conv: cb, kind: 'text', body: { text: 'new' } })
    await bob.nextOf('msg', (f) => f.m.conv === ab && f.m.seq === 2)
    await bob.nextOf('msg', (f) => f.m.conv === cb && f.m.seq === 1)
    const { batches } = await bob.sync('ws', [
      { conv: ab, seq: 2 },
      { conv: cb, seq: 1 },
    ])
    expect(bob.all('error')).toEqual([])
    expect(batches).toEqual([])
    expect(seen(bob).sort()).toEqual([1, 2])
  })
})

function seen(c: TestClient): number[] {
  return [...c.all('msg').map((f) => f.m.seq), ...c.all('messages').flatMap((f) => f.msgs.map((m) => m.seq))]
}

describe('the recall window in welcome', () => {
  const t = useTestServer('memory', { RECALL_WINDOW_MS: '7000' })

  it('is the server\'s RECALL_WINDOW_MS, so the client offers Recall exactly as long as the server allows it', async () => {
    const { welcome } = await t.connect(t.uid('win'))
    expect(welcome.limits.recallWindowMs).toBe(7000)
  })
})
