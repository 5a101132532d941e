/**
 * The first `convs` of a connection is answered from the summary read at its `welcome`
 * (`Outlet.listing`) only while nothing about a conversation reached or left the connection since:
 * a message, a new conversation, a read mark, a setting or a hidden message coming between
 * `welcome` and `convs` shows in the list, on both engines. Each case makes the change after the
 * welcome (so after the read) and waits for its frame before asking: a list from the kept read
 * would not hold it.
 */
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { Conversation } from '@chat/shared'
import type { TestClient } from './support/client'
import { devLogin, newCid } from './support/client'
import { useTestServer } from './support/server'

describe.each(['memory', 'redis'] as const)('the first convs over the %s engine', (store) => {
  const t = useTestServer(store, { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })

  async function send(c: TestClient, conv: string, text: string): Promise<number> {
    const cid = newCid()
    c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return (await c.nextOf('ack', (f) => f.cid === cid)).seq
  }

  async function convs(c: TestClient, rid: string): Promise<Conversation[]> {
    c.send({ type: 'convs', rid })
    const reply = await c.nextOf('convs', (f) => f.rid === rid)
    expect(c.all('error')).toEqual([])
    return reply.items
  }

  /** `me` with one 1:1 with `peer` holding one message, `me` connected afresh (the summary read at its welcome). */
  async function setUp(tag: string): Promise<{ me: string; peer: string; conv: string; mine: TestClient; theirs: TestClient }> {
    const me = t.uid(`${tag}m`)
    const peer = t.uid(`${tag}p`)
    await devLogin(t.server.url, me)
    const conv = directConvId(me, peer)
    const theirs = (await t.connect(peer)).client
    await send(theirs, conv, 'before')
    const mine = (await t.connect(me)).client
    return { me, peer, conv, mine, theirs }
  }

  it('without any change since welcome lists what the summary held', async () => {
    const { conv, mine } = await setUp('same')
    const items = await convs(mine, 'c')
    expect(items.map((c) => [c.id, c.lastSeq, c.unread])).toEqual([[conv, 1, 1]])
    expect(items[0]!.lastMsg?.body).toEqual({ text: 'before' })
    // A second `convs` reads afresh and agrees.
    expect(await convs(mine, 'c2')).toEqual(items)
  })

  it('shows a message that arrived after welcome', async () => {
    const { conv, mine, theirs } = await setUp('msg')
    const seq = await send(theirs, conv, 'after')
    await mine.nextOf('msg', (f) => f.m.seq === seq)
    const [c] = await convs(mine, 'c')
    expect([c!.lastSeq, c!.unread, c!.lastMsg?.body]).toEqual([2, 2, { text: 'after' }])
  })

  it('shows a conversation created after welcome', async () => {
    const { me, mine } = await setUp('new')
    const other = t.uid('newo')
    const theirs = (await t.connect(other)).client
    theirs.send({ type: 'conv.create', rid: 'g', kind: 'group', title: 'later', members: [me] })
    const created = (await theirs.nextOf('conv', (f) => f.rid === 'g')).conv.id
    await mine.nextOf('conv', (f) => f.conv.id === created)
    const items = await convs(mine, 'c')
    expect(items.map((c) => c.id)).toContain(created)
    expect(items).toHaveLength(2)
  })

  it("shows the connection's own send (no frame comes back for it but the ack)", async () => {
    const { conv, mine } = await setUp('own')
    const seq = await send(mine, conv, 'mine')
    const [c] = await convs(mine, 'c')
    expect([c!.lastSeq, c!.readSeq, c!.unread, c!.lastMsg?.body]).toEqual([seq, seq, 0, { text: 'mine' }])
  })

  it("shows a read mark and a setting made on the user's other device", async () => {
    const { me, conv, mine } = await setUp('dev')
    const other = (await t.connect(me)).client
    other.send({ type: 'read', conv, seq: 1 })
    await mine.nextOf('receipt', (f) => f.kind === 'read' && f.user === me)
    other.send({ type: 'conv.settings', rid: 's', conv, muted: true, pinned: true })
    await mine.nextOf('conv.settings', (f) => f.conv === conv)
    const [c] = await convs(mine, 'c')
    expect([c!.readSeq, c!.unread, c!.muted, (c!.pinned ?? 0) > 0]).toEqual([1, 0, true, true])
  })

  it("shows the last message hidden on the user's other device as its tombstone", async () => {
    const { me, conv, mine } = await setUp('hide')
    const other = (await t.connect(me)).client
    other.send({ type: 'hide', rid: 'h', conv, seq: 1 })
    await mine.nextOf('hide', (f) => f.conv === conv && f.seq === 1)
    const [c] = await convs(mine, 'c')
    expect(c!.lastMsg?.kind).toBe('hidden')
  })

  it('shows a recall after welcome', async () => {
    const { conv, mine, theirs } = await setUp('rec')
    theirs.send({ type: 'recall', rid: 'r', conv, seq: 1 })
    const { event } = await theirs.nextOf('recall', (f) => f.rid === 'r')
    await mine.nextOf('msg', (f) => f.m.seq === event)
    const [c] = await convs(mine, 'c')
    expect(c!.lastSeq).toBe(event)
    // The recalled message's tombstone is unread, the recall event is nothing to read.
    expect(c!.unread).toBe(1)
  })
})
