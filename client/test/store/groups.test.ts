/**
 * Group changes in the store (store/groups.ts): a new `system` message changes the summary at once
 * (the chat header's member count, the title, roles), and one that ends our membership keeps the
 * conversation and its timeline, marked with why, through the server's list that leaves it out.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, type Message, type SystemBody, type User } from '@chat/shared'
import { ALICE, BOB, CAROL, conv, msg } from '../fixtures'
import { createChatStore, dropUnlisted, initialState, mergeServerMessages, setConvs, upsertConv } from '../../store/store'
import { convTitle, hasOlder, memberCountOf, systemText, userName } from '../../store/selectors'
import { loadCache, persistCache } from '../../store/persist'
import { ManualTimers, MemoryStorage } from '../../platform/fake'
import { translate } from '../../i18n/i18n'
import type { ChatState } from '../../store/types'

const G = 'g:abcdefghijklmnop'
const DAN = { id: 'dan', name: 'Dan' }
const BOUNDS = { cacheConversations: 50, cacheMessagesPerConversation: 50, cacheSaveDelayMs: 1_000 }

function sys(seq: number, from: string, body: SystemBody): Message {
  return { mid: `s${seq}`, cid: `sys-${String(seq).padStart(12, '0')}`, conv: G, seq, from, ts: 1_800_000_000_000 + seq, kind: 'system', body }
}

const group = conv({ id: G, kind: 'group', title: 'Team', members: [ALICE, BOB, CAROL], owner: BOB.id, admins: [], lastSeq: 2, readSeq: 2, joinedSeq: 0 })
const base: ChatState = { ...initialState, me: ALICE, convs: { [G]: group }, users: { dan: DAN } }
const withHistory = mergeServerMessages(base, G, [msg(1, BOB.id, G), msg(2, CAROL.id, G)], 500)

describe('group changes in the store', () => {
  it('an add or a removal changes the member count at once; rename and roles too', () => {
    let s = mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'add', users: ['dan'] })], 500)
    expect(s.convs[G]!.members.map((u) => u.id)).toEqual(['alice', 'bob', 'carol', 'dan'])
    expect(s.convs[G]!.members[3]).toEqual(DAN)
    s = mergeServerMessages(s, G, [sys(4, BOB.id, { op: 'remove', users: ['carol'] }), sys(5, BOB.id, { op: 'rename', title: 'Crew' })], 500)
    expect(s.convs[G]).toMatchObject({ title: 'Crew', lastSeq: 5 })
    expect(s.convs[G]!.members.map((u) => u.id)).toEqual(['alice', 'bob', 'dan'])
    s = mergeServerMessages(s, G, [sys(6, BOB.id, { op: 'admin', users: ['dan'] }), sys(7, 'dan', { op: 'leave' })], 500)
    expect(s.convs[G]).toMatchObject({ admins: [] })
    expect(s.convs[G]!.members.map((u) => u.id)).toEqual(['alice', 'bob'])
    s = mergeServerMessages(s, G, [sys(8, BOB.id, { op: 'transfer', users: ['alice'] })], 500)
    expect(s.convs[G]).toMatchObject({ owner: 'alice' })
    expect(s.ended).toBeUndefined()
  })

  it('a version-3 list\'s group of 2,000 names nine: its count follows adds, removals and leaves of anyone, once each', () => {
    const everyone: User[] = [ALICE, BOB, CAROL, ...Array.from({ length: 1997 }, (_, i) => ({ id: `u${i}`, name: `U${i}` }))]
    const big = { ...group, members: everyone.slice(0, LIMITS.listMembersMax), memberCount: 2000 }
    let s = setConvs({ ...base, convs: {} }, [big])
    expect(memberCountOf(s.convs[G]!)).toBe(2000)
    const add = sys(3, BOB.id, { op: 'add', users: ['dan'] })
    s = mergeServerMessages(s, G, [add], 500)
    expect(memberCountOf(s.convs[G]!)).toBe(2001)
    // The same change again (a push and its sync) counts once.
    expect(mergeServerMessages(s, G, [add], 500)).toBe(s)
    // Removed: a member the list did not name (u1500), still one fewer.
    const remove = sys(4, BOB.id, { op: 'remove', users: ['u1500'] })
    s = mergeServerMessages(s, G, [remove], 500)
    expect(memberCountOf(s.convs[G]!)).toBe(2000)
    expect(s.convs[G]!.members.map((u) => u.id)).toEqual([...everyone.slice(0, LIMITS.listMembersMax).map((u) => u.id), 'dan'])
    expect(mergeServerMessages(s, G, [remove], 500)).toBe(s)
    // A named one leaves: gone from the members held, and from the count.
    s = mergeServerMessages(s, G, [sys(5, 'carol', { op: 'leave' })], 500)
    expect(memberCountOf(s.convs[G]!)).toBe(1999)
    expect(s.convs[G]!.members.map((u) => u.id)).not.toContain('carol')
    // An old add paged in from history changes nothing.
    expect(mergeServerMessages(s, G, [sys(1, BOB.id, { op: 'add', users: ['erin'] })], 500).convs[G]).toBe(s.convs[G])
    expect(memberCountOf(mergeServerMessages(s, G, [sys(6, BOB.id, { op: 'dissolve' })], 500).convs[G]!)).toBe(0)
    // A `conv` frame names every member and no count: the members held are the count.
    expect(memberCountOf(upsertConv(s, { ...group, lastSeq: 6 }).convs[G]!)).toBe(3)
  })

  it('a title taken back by moderation leaves the group untitled: named by its members again', () => {
    const s = mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'rename', by: 'moderation' })], 500)
    expect(s.convs[G]!.title).toBeUndefined()
    expect(s.convs[G]!.lastSeq).toBe(3)
    expect(convTitle(s.convs[G]!, ALICE.id, (key) => translate('en', key))).toBe('Bob, Carol')
  })

  it('an old change (a history page, the same push again) changes nothing', () => {
    const s = mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'remove', users: ['carol'] })], 500)
    // The same message again, and an older add of carol paged in from history.
    expect(mergeServerMessages(s, G, [sys(3, BOB.id, { op: 'remove', users: ['carol'] })], 500)).toBe(s)
    const paged = mergeServerMessages(s, G, [sys(1, BOB.id, { op: 'add', users: ['carol'] })], 500)
    expect(paged.convs[G]!.members.map((u) => u.id)).toEqual(['alice', 'bob'])
  })

  it('removed: the conversation and its timeline stay, marked removed, through a list that leaves it out', () => {
    let s = mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'remove', users: ['alice'] })], 500)
    expect(s.ended).toEqual({ [G]: { reason: 'removed', seq: 3 } })
    s = setConvs(s, [])
    expect(s.convs[G]).toMatchObject({ id: G, title: 'Team', lastSeq: 3 })
    s = dropUnlisted(s, new Set())
    expect(s.messages[G]!.map((m) => m.seq)).toEqual([1, 2, 3])
    // Added back later: the group is ours again.
    s = upsertConv(s, { ...group, lastSeq: 5, readSeq: 4, joinedSeq: 4 })
    expect(s.ended).toEqual({})
  })

  it('dissolved, and left by us, end it too; a list answered before the change does not undo it', () => {
    const d = mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'dissolve' })], 500)
    expect(d.ended).toEqual({ [G]: { reason: 'dissolved', seq: 3 } })
    expect(d.convs[G]!.members).toEqual([])
    expect(setConvs(d, [{ ...group, lastSeq: 2 }]).ended).toEqual({ [G]: { reason: 'dissolved', seq: 3 } })
    const l = mergeServerMessages(withHistory, G, [sys(3, ALICE.id, { op: 'leave' })], 500)
    expect(l.ended).toEqual({ [G]: { reason: 'left', seq: 3 } })
    // Someone else removed: not us.
    expect(mergeServerMessages(withHistory, G, [sys(3, BOB.id, { op: 'remove', users: ['carol'] })], 500).ended).toBeUndefined()
  })

  it('a member added later has no older messages before joining: nothing to page back to', () => {
    const joined = { ...group, joinedSeq: 2, lastSeq: 3, readSeq: 2 }
    const s = mergeServerMessages({ ...base, convs: { [G]: joined } }, G, [sys(3, BOB.id, { op: 'add', users: ['alice'] })], 500)
    expect(hasOlder(s.messages[G], s.convs[G])).toBe(false)
    expect(hasOlder([], { ...joined, lastSeq: 2 })).toBe(false)
    expect(hasOlder(mergeServerMessages(base, G, [msg(4, BOB.id, G)], 500).messages[G], group)).toBe(true)
  })

  it('away when removed: the list drops the group, then the removal (from sync) brings it back, ended, with its timeline', () => {
    let s = setConvs(withHistory, [])
    expect(s.convs[G]).toBeUndefined()
    expect(s.unlisted?.[G]).toMatchObject({ id: G, title: 'Team' })
    // Anything but the change that ended it does not bring it back.
    expect(mergeServerMessages(s, G, [sys(3, BOB.id, { op: 'rename', title: 'x' })], 500).convs[G]).toBeUndefined()
    s = mergeServerMessages(s, G, [sys(5, BOB.id, { op: 'remove', users: ['alice'] })], 500)
    expect(s.ended).toEqual({ [G]: { reason: 'removed', seq: 5 } })
    expect(s.convs[G]).toMatchObject({ id: G, title: 'Team', lastSeq: 5 })
    expect(s.convs[G]!.members.map((u) => u.id)).toEqual(['bob', 'carol'])
    expect(s.unlisted).toEqual({})
    expect(s.messages[G]!.map((m) => m.seq)).toEqual([1, 2, 5])
    // Its members' names come back with it (no list names them).
    expect(mergeServerMessages(setConvs({ ...withHistory, users: {} }, []), G, [sys(5, BOB.id, { op: 'dissolve' })], 500).users).toMatchObject({ bob: BOB, carol: CAROL })
    // A later list keeps it (ended), and one naming it again (added back) makes it ours.
    s = setConvs(s, [])
    expect(s.convs[G]).toBeDefined()
    s = setConvs(s, [{ ...group, lastSeq: 7, readSeq: 6, joinedSeq: 6 }])
    expect(s.ended).toEqual({})
  })

  it('a group listed again after being set aside is ours, not aside', () => {
    const aside = setConvs(withHistory, [])
    expect(setConvs(aside, [group]).unlisted).toEqual({})
  })

  it('after a restart, the change that ended a group names its people whether the sync or the list answers first', () => {
    // Alice's app had the group (Bob, Carol) in its cache, then restarts with an empty users map.
    const storage = new MemoryStorage()
    const before = createChatStore({ ...initialState, me: ALICE })
    const cacheWriter = persistCache(before, storage, new ManualTimers(), 'alice', BOUNDS)
    before.setState(withHistory)
    cacheWriter.flush()
    cacheWriter.stop()
    const restarted: ChatState = { ...initialState, ...loadCache(storage, 'alice'), me: ALICE }
    expect(restarted.users).toEqual({ alice: ALICE, bob: BOB, carol: CAROL })

    const dissolve = sys(3, BOB.id, { op: 'dissolve' })
    const en = (k: Parameters<typeof translate>[1], p?: Record<string, string | number>) => translate('en', k, p)
    const lineOf = (s: ChatState) => systemText(s.messages[G]!.at(-1)!, en, (id) => userName(s, id), ALICE.id)
    // The sync first (the group still listed from the cache), then the list that leaves it out.
    const syncFirst = setConvs(mergeServerMessages(restarted, G, [dissolve], 500), [])
    // The list first (the group set aside), then the sync.
    const listFirst = mergeServerMessages(setConvs(restarted, []), G, [dissolve], 500)
    for (const s of [syncFirst, listFirst]) {
      expect(s.ended).toEqual({ [G]: { reason: 'dissolved', seq: 3 } })
      expect(lineOf(s)).toBe('Bob dissolved the group')
      expect(userName(s, 'carol')).toBe('Carol')
    }
  })

  it('a cached member known by id alone names no one; the list names them later', () => {
    const storage = new MemoryStorage()
    const byId = { id: 'erin', name: 'erin' }
    const store = createChatStore({ ...initialState, me: ALICE })
    const writer = persistCache(store, storage, new ManualTimers(), 'alice', BOUNDS)
    store.setState({ ...withHistory, convs: { [G]: { ...group, members: [ALICE, BOB, byId] } } })
    writer.flush()
    writer.stop()
    const restarted: ChatState = { ...initialState, ...loadCache(storage, 'alice'), me: ALICE }
    expect(restarted.users.erin).toBeUndefined()
    expect(userName(setConvs(restarted, [{ ...group, members: [ALICE, BOB, { id: 'erin', name: 'Erin' }] }]), 'erin')).toBe('Erin')
  })
})
