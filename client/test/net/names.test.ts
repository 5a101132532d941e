/**
 * Naming the people a version-3 list does not (net/names.ts; PROTOCOL.md, Conversation list): a
 * group's list entry names its first nine members, so the client asks `members {conv, users}` for
 * the senders, mentions and changed members it cannot name: one request for a burst, one per
 * conversation at a time, each id once, whether the answer names it or not.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, type Conversation, type Message, type User } from '@chat/shared'
import type { FakeSocket } from '../../platform/fake'
import { userName } from '../../store/selectors'
import { ALICE, authResponse, BOB, conv, msg, welcome } from '../fixtures'
import { settle, signedIn, welcomed, type SignedIn } from './harness'

const G = 'g:bigbigbigbigbig1'
/** The client gathers the ids of a burst for this long before asking (names.ts). */
const SOON_MS = 100

const person = (i: number): User => ({ id: `u${i}`, name: `User ${i}` })
const group: Conversation = conv({
  id: G,
  kind: 'group',
  title: 'Town',
  members: [ALICE, BOB, ...Array.from({ length: LIMITS.listMembersMax - 2 }, (_, i) => person(i))],
  memberCount: 2000,
  owner: BOB.id,
  admins: [],
  joinedSeq: 0,
  lastSeq: 2,
  readSeq: 2,
  lastMsg: msg(2, BOB.id, G),
})

/** Connected, welcomed, and the list (with `items`) answered. */
async function listed(h: SignedIn, items: Conversation[] = [group], previous?: FakeSocket): Promise<FakeSocket> {
  const s = await welcomed(h, previous)
  s.push({ type: 'convs', rid: String(s.framesOf('convs').at(-1)!.rid), items })
  return s
}

const push = (s: FakeSocket, m: Message) => s.push({ type: 'msg', m })
const asked = (s: FakeSocket) => s.framesOf('members').map((f) => f.users)
const answer = (s: FakeSocket, users: User[]) => {
  const f = s.framesOf('members').at(-1)!
  s.push({ type: 'members', rid: String(f.rid), conv: G, items: users.map((user) => ({ user, role: 'member' })) })
}

describe('names the list does not give', () => {
  it('asks once for the unknown senders of a burst, names them from the answer, and never asks for an id again', async () => {
    const h = signedIn()
    const s = await listed(h)
    // The list's nine are named: their messages ask nothing.
    push(s, msg(3, 'u0', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([])

    push(s, msg(4, 'u700', G))
    push(s, msg(5, 'u701', G))
    push(s, msg(6, 'u700', G))
    h.p.timers.advance(SOON_MS)
    const sent = s.framesOf('members')
    expect(sent).toEqual([{ type: 'members', rid: sent[0]!.rid, conv: G, users: ['u700', 'u701'] }])
    expect(userName(h.store.getState(), 'u700')).toBe('u700')

    // u701 left the group since: the answer names u700 only, in one store update.
    let updates = 0
    const off = h.store.subscribe(() => updates++)
    answer(s, [person(700)])
    await settle()
    off()
    expect(updates).toBe(1)
    expect(userName(h.store.getState(), 'u700')).toBe('User 700')

    // Neither is asked again: named, or left out by the server.
    push(s, msg(7, 'u700', G))
    push(s, msg(8, 'u701', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([['u700', 'u701']])
  })

  it('asks for mentions, quoted senders and a change\'s members too, from pushes, sync batches and the list', async () => {
    const h = signedIn()
    const last: Message = { ...msg(2, 'u900', G), kind: 'text', body: { text: 'hi', mentions: ['u901'] } }
    const s = await listed(h, [{ ...group, lastMsg: last }])
    h.p.timers.advance(SOON_MS)
    // The list's "Name: text" of the group.
    expect(asked(s)).toEqual([['u900', 'u901']])
    answer(s, [person(900), person(901)])
    await settle()

    const reply: Message = { ...msg(3, BOB.id, G), kind: 'text', body: { text: 'yes', reply: { seq: 1, from: 'u902', kind: 'text', snippet: 'q' } } }
    const added: Message = { ...msg(4, BOB.id, G), kind: 'system', body: { op: 'add', users: ['u903', 'u904'] } }
    const sync = s.framesOf('sync').at(-1)!
    s.push({ type: 'messages', rid: String(sync.rid), conv: G, msgs: [reply, added], more: false })
    push(s, msg(5, 'u905', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s).at(-1)).toEqual(['u902', 'u903', 'u904', 'u905'])
  })

  it('asks, once connected, for the senders of the timelines opened from the cache', async () => {
    const h = signedIn()
    // As persist.ts wrote it: the group's members in a key of their own.
    h.p.storage.set('chat.cache.alice.convs', { v: 2, convs: [{ ...group, members: [] }], parts: { [G]: 1 }, peers: {} })
    h.p.storage.set(`chat.cache.alice.u.${G}.0`, group.members)
    h.p.storage.set(`chat.cache.alice.m.${G}`, [msg(1, 'u800', G), msg(2, BOB.id, G)])
    h.client.start()
    // Not connected yet: nothing can be asked.
    h.p.timers.advance(SOON_MS)
    const s = await listed(h)
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([['u800']])
  })

  it('a sync batch of a group the list has not named yet is asked for once the list says it is one', async () => {
    const h = signedIn()
    h.client.start()
    await settle()
    const s = h.p.transport.last
    s.open()
    s.push(welcome())
    const sync = s.framesOf('sync').at(-1)!
    s.push({ type: 'messages', rid: String(sync.rid), conv: G, msgs: [msg(3, 'u800', G)], more: false })
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([])
    s.push({ type: 'convs', rid: String(s.framesOf('convs').at(-1)!.rid), items: [group] })
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([['u800']])
  })

  it('keeps one request per conversation on its way, at most 200 ids each; the rest follow its answer', async () => {
    const h = signedIn()
    const s = await listed(h)
    for (let i = 0; i < 250; i++) push(s, msg(3 + i, `u${1000 + i}`, G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s).map((ids) => (ids as string[]).length)).toEqual([LIMITS.maxPageSize])
    // More while it is on its way: they wait for its answer.
    push(s, msg(300, 'u2000', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toHaveLength(1)
    answer(s, [])
    await settle()
    expect(asked(s).map((ids) => (ids as string[]).length)).toEqual([200, 51])
    expect(asked(s)[1]).toContain('u2000')
  })

  it('a request that failed is asked again on the next connection, once; logout forgets what was asked', async () => {
    const h = signedIn()
    const s1 = await listed(h)
    push(s1, msg(3, 'u700', G))
    h.p.timers.advance(SOON_MS)
    const f = s1.framesOf('members')[0]!
    s1.push({ type: 'error', rid: String(f.rid), code: 'STORE_UNAVAILABLE', message: 'busy', temporary: true })
    await settle()
    // Not on this connection...
    push(s1, msg(4, 'u700', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s1)).toEqual([['u700']])
    // ...on the next one.
    const s2 = await listed(h, [group], s1)
    h.p.timers.advance(SOON_MS)
    expect(asked(s2)).toEqual([['u700']])
    answer(s2, [])
    await settle()
    const s3 = await listed(h, [group], s2)
    h.p.timers.advance(SOON_MS)
    expect(asked(s3)).toEqual([])

    h.client.logout()
    h.p.http.handler = () => ({ status: 200, data: authResponse(ALICE, h.p.timers.now()) })
    await h.auth.loginDev(ALICE.id)
    const s4 = await listed(h)
    push(s4, msg(5, 'u700', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s4)).toEqual([['u700']])
  })

  it('asks nothing for a 1:1 or a group we are no longer in', async () => {
    const h = signedIn()
    const s = await listed(h, [group, conv({ lastSeq: 1, lastMsg: msg(1) })])
    push(s, msg(2, 'stranger'))
    push(s, { ...msg(3, BOB.id, G), kind: 'system', body: { op: 'remove', users: [ALICE.id] } })
    push(s, msg(4, 'u700', G))
    h.p.timers.advance(SOON_MS)
    expect(asked(s)).toEqual([])
  })
})
