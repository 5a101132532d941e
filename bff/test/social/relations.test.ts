/**
 * Relations end to end over the wire (PROTOCOL.md, "Relations"), on the memory engine, the
 * embedded default (memory + SQLite archive: the archive holds relations) and Redis: request with
 * a note, accept, decline, remove, block, unblock, the list with presence, the 1:1 setting, and
 * every refusal with its stable code.
 */
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import type { TestClient } from '../support/client'
import { newCid } from '../support/client'
import { useTestServer } from '../support/server'

const SETUPS = [
  ['memory', 'memory', {}],
  ['embedded (memory + sqlite archive)', 'memory', { ARCHIVE_URL: 'sqlite::memory:' }],
  ['redis', 'redis', {}],
] as const

let rids = 0
async function ask<K extends 'relation' | 'contacts'>(c: TestClient, frame: Record<string, unknown>, type: K): Promise<ServerFrameOf<K> | ServerFrameOf<'error'>> {
  const rid = `r${++rids}`
  c.send({ ...frame, rid } as never)
  return c.next((f) => (f.type === type || f.type === 'error') && (f as { rid?: string }).rid === rid)
}
const relation = (c: TestClient, op: string, user: string, note?: string) => ask(c, { type: 'relation', op, user, ...(note !== undefined ? { note } : {}) }, 'relation')
const contacts = async (c: TestClient) => (await ask(c, { type: 'contacts' }, 'contacts')) as ServerFrameOf<'contacts'>
const codeOf = (f: { type: string; code?: string }) => (f.type === 'error' ? f.code : 'ok')

describe.each(SETUPS)('relations over %s', (_name, store, env) => {
  const t = useTestServer(store, env)
  const pair = async () => {
    const a = t.uid('ra')
    const b = t.uid('rb')
    const ca = (await t.connect(a)).client
    const cb = (await t.connect(b)).client
    return { a, b, ca, cb }
  }

  it('a request with a note reaches the other, who accepts: both are contacts, listed with presence', async () => {
    const { a, b, ca, cb } = await pair()
    const sent = (await relation(ca, 'request', b, ' 我是设计部的小李 ')) as ServerFrameOf<'relation'>
    expect(sent.entry).toMatchObject({ user: { id: b }, state: 'outgoing', note: '我是设计部的小李' })
    const arrived = await cb.nextOf('relation', (f) => f.rid === undefined)
    expect(arrived.entry).toMatchObject({ user: { id: a }, state: 'incoming', note: '我是设计部的小李' })
    expect((await contacts(cb)).items).toEqual([expect.objectContaining({ user: expect.objectContaining({ id: a }) as unknown, state: 'incoming' }) as unknown])

    const accepted = (await relation(cb, 'accept', a)) as ServerFrameOf<'relation'>
    expect(accepted.entry).toMatchObject({ user: { id: a }, state: 'contact', online: true })
    const told = await ca.nextOf('relation', (f) => f.rid === undefined && f.entry.state === 'contact')
    expect(told.entry).toMatchObject({ user: { id: b }, online: true })

    const list = await contacts(ca)
    expect(list.policy).toBe('anyone')
    expect(list.items).toEqual([expect.objectContaining({ user: expect.objectContaining({ id: b }) as unknown, state: 'contact', online: true }) as unknown])
    await cb.close()
    // Once b is gone, the list says so (with when b was last seen).
    let entry: ServerFrameOf<'contacts'>['items'][number] | undefined
    for (let i = 0; i < 50 && entry?.online !== false; i++) entry = (await contacts(ca)).items[0]
    expect(entry).toMatchObject({ state: 'contact', online: false, lastSeen: expect.any(Number) as unknown })
  })

  it('refuses with stable codes: self, unknown or malformed users, duplicates, accept or decline without a request, remove of a non-contact, unblock of a non-blocked', async () => {
    const { a, b, ca, cb } = await pair()
    expect(codeOf(await relation(ca, 'request', a))).toBe('SELF_RELATION')
    expect(codeOf(await relation(ca, 'block', a))).toBe('SELF_RELATION')
    expect(codeOf(await relation(ca, 'request', 'nobody-here-xyz'))).toBe('USER_NOT_FOUND')
    expect(codeOf(await relation(ca, 'request', 'bad id!'))).toBe('INVALID_FRAME')
    expect(codeOf(await relation(ca, 'request', b, 'x'.repeat(65)))).toBe('INVALID_FRAME')
    expect(codeOf(await relation(ca, 'frobnicate', b))).toBe('INVALID_FRAME')
    expect(codeOf(await ask(ca, { type: 'contacts.policy', policy: 'friends' }, 'contacts'))).toBe('INVALID_FRAME')
    expect(codeOf(await relation(cb, 'accept', a))).toBe('NO_REQUEST')
    expect(codeOf(await relation(cb, 'decline', a))).toBe('NO_REQUEST')
    expect(codeOf(await relation(ca, 'remove', b))).toBe('NOT_CONTACT')
    expect(codeOf(await relation(ca, 'unblock', b))).toBe('NOT_BLOCKED')
    expect(codeOf(await relation(ca, 'request', b))).toBe('ok')
    expect(codeOf(await relation(ca, 'request', b))).toBe('REQUEST_EXISTS')
    // The requester cannot accept its own request.
    expect(codeOf(await relation(ca, 'accept', b))).toBe('NO_REQUEST')
    expect(codeOf(await relation(cb, 'accept', a))).toBe('ok')
    expect(codeOf(await relation(ca, 'request', b))).toBe('ALREADY_CONTACT')
    expect(codeOf(await relation(cb, 'accept', a))).toBe('ALREADY_CONTACT')
    // Nothing of the refusals changed anything.
    expect((await contacts(ca)).items.map((e) => [e.user.id, e.state])).toEqual([[b, 'contact']])
  })

  it('decline drops the request for both; requests both ways make contacts; remove ends it for both', async () => {
    const { a, b, ca, cb } = await pair()
    await relation(ca, 'request', b, 'hi')
    expect(codeOf(await relation(cb, 'decline', a))).toBe('ok')
    await ca.nextOf('relation', (f) => f.rid === undefined && f.entry.state === 'none')
    expect((await contacts(ca)).items).toEqual([])
    expect((await contacts(cb)).items).toEqual([])
    await relation(ca, 'request', b)
    const crossed = (await relation(cb, 'request', a)) as ServerFrameOf<'relation'>
    expect(crossed.entry.state).toBe('contact')
    expect(codeOf(await relation(cb, 'remove', a))).toBe('ok')
    await ca.nextOf('relation', (f) => f.rid === undefined && f.entry.state === 'none')
    expect((await contacts(ca)).items).toEqual([])
    expect((await contacts(cb)).items).toEqual([])
  })

  it('a block refuses the blocked sender’s 1:1 sends and requests, hides the blocker from its search, leaves the blocker’s other chats alone; unblock undoes it', async () => {
    const { a, b, ca, cb } = await pair()
    const c = t.uid('rc')
    const cc = (await t.connect(c)).client
    await relation(ca, 'request', b)
    await relation(cb, 'accept', a)
    const conv = directConvId(a, b)
    ca.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'before' } })
    await ca.nextOf('ack')

    const blocked = (await relation(cb, 'block', a)) as ServerFrameOf<'relation'>
    expect(blocked.entry).toMatchObject({ user: { id: a }, state: 'blocked' })
    // The contact ended for both; a is not told of the block.
    expect((await contacts(cb)).items.map((e) => [e.user.id, e.state])).toEqual([[a, 'blocked']])
    expect((await contacts(ca)).items).toEqual([])

    const cid = newCid()
    ca.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'after' } })
    const refused = await ca.nextOf('error', (f) => f.cid === cid)
    expect(refused).toMatchObject({ code: 'BLOCKED', temporary: false })
    expect(codeOf(await relation(ca, 'request', b))).toBe('BLOCKED')
    // b still sends to a (the block is b's), and to others.
    cb.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'from b' } })
    await cb.nextOf('ack')
    cb.send({ type: 'send', cid: newCid(), conv: directConvId(b, c), kind: 'text', body: { text: 'to c' } })
    await cb.nextOf('ack')
    await cc.nextOf('msg')
    // The blocked user's search does not find b; someone else's does.
    ca.send({ type: 'users', rid: 's1', q: b })
    expect((await ca.nextOf('users', (f) => f.rid === 's1')).items).toEqual([])
    cc.send({ type: 'users', rid: 's2', q: b })
    expect((await cc.nextOf('users', (f) => f.rid === 's2')).items.map((u) => u.id)).toEqual([b])
    // History is not taken away: only what a sends now is refused. Nothing was stored for the refused send.
    ca.send({ type: 'history', rid: 'h1', conv })
    expect((await ca.nextOf('messages', (f) => f.rid === 'h1')).msgs.map((m) => (m.body as { text: string }).text)).toEqual(['before', 'from b'])

    expect(codeOf(await relation(cb, 'unblock', a))).toBe('ok')
    expect((await contacts(cb)).items).toEqual([])
    ca.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'again' } })
    await ca.nextOf('ack', (f) => f.conv === conv)
  })

  it('a blocked user cannot open a 1:1 with the blocker, by conv.create or a first send', async () => {
    const { a, b, ca, cb } = await pair()
    await relation(cb, 'block', a)
    const created = await ask(ca, { type: 'conv.create', kind: 'direct', members: [b] }, 'conv' as 'contacts')
    expect(codeOf(created)).toBe('BLOCKED')
    const cid = newCid()
    ca.send({ type: 'send', cid, conv: directConvId(a, b), kind: 'text', body: { text: 'hello?' } })
    expect(await ca.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'BLOCKED' })
    ca.send({ type: 'convs', rid: 'cv' })
    expect((await ca.nextOf('convs', (f) => f.rid === 'cv')).items).toEqual([])
  })

  it('contacts only: strangers get NOT_CONTACT opening a 1:1, contacts open it, and a 1:1 that exists stays open', async () => {
    const { a, b, ca, cb } = await pair()
    const old = t.uid('rold')
    const cold = (await t.connect(old)).client
    cold.send({ type: 'send', cid: newCid(), conv: directConvId(old, b), kind: 'text', body: { text: 'we met before' } })
    await cold.nextOf('ack')
    const set = (await ask(cb, { type: 'contacts.policy', policy: 'contacts' }, 'contacts')) as ServerFrameOf<'contacts'>
    expect(set.policy).toBe('contacts')

    expect(codeOf(await ask(ca, { type: 'conv.create', kind: 'direct', members: [b] }, 'conv' as 'contacts'))).toBe('NOT_CONTACT')
    const cid = newCid()
    ca.send({ type: 'send', cid, conv: directConvId(a, b), kind: 'text', body: { text: 'hi' } })
    expect(await ca.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'NOT_CONTACT' })
    // A 1:1 that exists is not taken away by the setting.
    cold.send({ type: 'send', cid: newCid(), conv: directConvId(old, b), kind: 'text', body: { text: 'still here' } })
    await cold.nextOf('ack', (f) => f.seq === 2)
    // Groups are not 1:1s.
    expect(codeOf(await ask(ca, { type: 'conv.create', kind: 'group', title: 'g', members: [b] }, 'conv' as 'contacts'))).toBe('ok')

    await relation(ca, 'request', b, 'may I?')
    await relation(cb, 'accept', a)
    ca.send({ type: 'send', cid: newCid(), conv: directConvId(a, b), kind: 'text', body: { text: 'hi, contact' } })
    await ca.nextOf('ack', (f) => f.conv === directConvId(a, b))
    expect((await contacts(cb)).policy).toBe('contacts')
  })

  it('contacts get each other\'s presence live without sharing a conversation: pushes both ways and at a new device\'s connect', async () => {
    const { a, b, ca, cb } = await pair()
    await relation(ca, 'request', b)
    await relation(cb, 'accept', a)
    await ca.nextOf('relation', (f) => f.rid === undefined && f.entry.state === 'contact')
    // No conversation between them: presence comes from the relation alone.
    ca.send({ type: 'convs', rid: 'cv0' })
    expect((await ca.nextOf('convs', (f) => f.rid === 'cv0')).items).toEqual([])
    await cb.close()
    expect(await ca.nextOf('presence', (p) => p.user === b)).toMatchObject({ user: b, online: false, lastSeen: expect.any(Number) as unknown })
    const cb2 = (await t.connect(b)).client
    expect(await ca.nextOf('presence', (p) => p.user === b)).toMatchObject({ user: b, online: true })
    // b's new device was given a's presence at connect.
    expect((await cb2.nextOf('presences')).items.find((p) => p.user === a)).toMatchObject({ user: a, online: true })
    // Contacts no more: no presence either way.
    await relation(ca, 'remove', b)
    const before = ca.all('presence').length
    const c = t.uid('rc')
    const cc = (await t.connect(c)).client
    // c shares a 1:1 with b: its presence push is the fan-out a would have been in.
    cc.send({ type: 'send', cid: newCid(), conv: directConvId(b, c), kind: 'text', body: { text: 'hi' } })
    await cc.nextOf('ack')
    await cb2.close()
    await cc.nextOf('presence', (p) => p.user === b && !p.online)
    ca.send({ type: 'ping', ts: 11 })
    await ca.nextOf('pong', (f) => f.ts === 11)
    expect(ca.all('presence').slice(before)).toEqual([])
  })

  it('a user one blocked never gets one\'s presence: no pushes, none at connect, even sharing a 1:1 and a group', async () => {
    const { a, b, ca, cb } = await pair()
    const c = t.uid('rc')
    const cc = (await t.connect(c)).client
    ca.send({ type: 'send', cid: newCid(), conv: directConvId(a, b), kind: 'text', body: { text: 'hi b' } })
    await ca.nextOf('ack')
    ca.send({ type: 'conv.create', rid: 'g1', kind: 'group', title: 'three', members: [b, c] })
    await ca.nextOf('conv', (f) => f.rid === 'g1')
    // Shared: a sees b come and go.
    await cb.close()
    await ca.nextOf('presence', (p) => p.user === b && !p.online)
    let cb2 = (await t.connect(b)).client
    await ca.nextOf('presence', (p) => p.user === b && p.online)
    await relation(cb2, 'block', a)
    const before = ca.all('presence').length
    // b goes and comes back: c (same group) is told, a is not.
    await cb2.close()
    await cc.nextOf('presence', (p) => p.user === b && !p.online)
    cb2 = (await t.connect(b)).client
    await cc.nextOf('presence', (p) => p.user === b && p.online)
    ca.send({ type: 'ping', ts: 12 })
    await ca.nextOf('pong', (f) => f.ts === 12)
    expect(ca.all('presence').slice(before)).toEqual([])
    // A new device of a is not given b's presence at connect (it is given c's: no block there).
    const ca2 = (await t.connect(a)).client
    ca2.send({ type: 'ping', ts: 13 })
    await ca2.nextOf('pong', (f) => f.ts === 13)
    expect(ca2.all('presences').flatMap((f) => f.items.map((p) => p.user))).not.toContain(b)
    // b, who blocked, still sees a (the block is b's).
    const cb3 = (await t.connect(b)).client
    expect((await cb3.nextOf('presences')).items.find((p) => p.user === a)).toMatchObject({ online: true })
    // Unblocked: a is told again.
    await relation(cb2, 'unblock', a)
    await cb3.close()
    await cb2.close()
    await ca.nextOf('presence', (p) => p.user === b && !p.online)
  })
})
