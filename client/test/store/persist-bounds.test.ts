/**
 * The cache within wx storage's limits (store/persist.ts; platform/types.ts: a key holds at most
 * 1 MB, a mini-program 10 MB). A group lists every member (up to LIMITS.maxGroupMembers), so a user
 * in a few large groups would make the conversations' index larger than a key may hold: wx refuses
 * the write and the app opens with no cached list at all. And the index is written whenever any
 * conversation changes (every message): its members, which rarely change, must not be written with
 * it each time.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, type Conversation, type Message, type User } from '@chat/shared'
import { ALICE, BOB, conv, msg } from '../fixtures'
import { createChatStore, initialState, mergeServerMessages } from '../../store/store'
import { loadCache, persistCache, clearCache } from '../../store/persist'
import { ManualTimers, MemoryStorage } from '../../platform/fake'
import { STORAGE_KEY_MAX_BYTES } from '../../platform/types'
import type { ChatState } from '../../store/types'

const BOUNDS = { cacheConversations: 50, cacheMessagesPerConversation: 50, cacheSaveDelayMs: 1_000 }
const GROUPS = 5

/** A member as WeChat users look: a Chinese name and an avatar URL of the usual length. */
function member(g: number, i: number): User {
  return { id: `u${g}x${String(i).padStart(5, '0')}`, name: `群成员${g}号${i}`, avatar: `https://thirdwx.qlogo.cn/mmopen/vi_32/${'Q3auHgzwzM4'.repeat(8)}${g}${i}/132` }
}

function groupOf(g: number, size: number): Conversation {
  const members = [ALICE, ...Array.from({ length: size - 1 }, (_, i) => member(g, i))]
  return conv({ id: `g:group${g}abcdefgh`, kind: 'group', title: `大群 ${g}`, members, owner: ALICE.id, admins: [], joinedSeq: 0, lastSeq: 1, readSeq: 1, lastMsg: msg(1, members[1]!.id, `g:group${g}abcdefgh`) })
}

function state(): ChatState {
  const convs: Record<string, Conversation> = {}
  for (let g = 0; g < GROUPS; g++) convs[`g:group${g}abcdefgh`] = groupOf(g, LIMITS.maxGroupMembers)
  const direct = conv({ lastSeq: 1, readSeq: 1, lastMsg: msg(1) })
  convs[direct.id] = direct
  let s: ChatState = { ...initialState, me: ALICE, convs, users: { bob: BOB } }
  for (const c of Object.values(convs)) s = mergeServerMessages(s, c.id, [c.lastMsg!], 500)
  return s
}

function setup() {
  const storage = new MemoryStorage()
  const timers = new ManualTimers()
  // The cache starts empty: the first write is a full one.
  const store = createChatStore({ ...initialState, me: ALICE })
  const writer = persistCache(store, storage, timers, 'alice', BOUNDS)
  store.setState(state())
  writer.flush()
  return { storage, timers, store, writer }
}

describe('the cache within wx storage limits', () => {
  it(`${GROUPS} groups of ${LIMITS.maxGroupMembers}: every key fits, and the app opens on all of them, members and names included`, () => {
    const { storage, store } = setup()
    expect(storage.refused).toBe(0)
    for (const [key, raw] of storage.map) expect(new TextEncoder().encode(key + raw).length, key).toBeLessThanOrEqual(STORAGE_KEY_MAX_BYTES)
    const loaded = loadCache(storage, 'alice')
    const s = store.getState()
    expect(Object.keys(loaded.convs!).sort()).toEqual(Object.keys(s.convs).sort())
    for (const [id, c] of Object.entries(s.convs)) {
      expect(loaded.convs![id]!.members).toEqual(c.members)
      expect(loaded.messages![id]!.map((m) => m.seq)).toEqual([1])
    }
    // A cached timeline names its senders before the server's list comes.
    expect(loaded.users![member(3, 1234).id]).toEqual(member(3, 1234))
  })

  it('a message in a large group rewrites the index and that timeline, not the members', () => {
    const { storage, store, timers } = setup()
    const before = new Map(storage.written)
    const g = 'g:group2abcdefgh'
    const m: Message = msg(2, member(2, 7).id, g)
    store.setState((s) => mergeServerMessages(s, g, [m], 500))
    store.setState((s) => ({ convs: { ...s.convs, [g]: { ...s.convs[g]!, lastSeq: 2, lastMsg: m } } }))
    timers.advance(BOUNDS.cacheSaveDelayMs)
    const grown = [...storage.written].filter(([k, n]) => n !== before.get(k)).map(([k, n]) => [k, n - (before.get(k) ?? 0)] as const)
    expect(grown.map(([k]) => k).sort()).toEqual(['chat.cache.alice.convs', `chat.cache.alice.m.${g}`])
    // What crossed to storage for one message: a few KB, not the groups' 10,000 members.
    const bytes = grown.reduce((n, [, b]) => n + b, 0)
    expect(bytes).toBeLessThan(16 * 1024)
    expect(loadCache(storage, 'alice').convs![g]!.lastSeq).toBe(2)
  })

  it('a member change rewrites that group\'s members; a group leaving the cache takes its members with it', () => {
    const { storage, store, timers } = setup()
    const g = 'g:group1abcdefgh'
    const added = { id: 'newcomer', name: '新人' }
    const parts = (): string[] => [...storage.map.keys()].filter((key) => key.startsWith(`chat.cache.alice.u.${g}.`)).sort()
    expect(parts()).toEqual([`chat.cache.alice.u.${g}.0`, `chat.cache.alice.u.${g}.1`])
    store.setState((s) => ({ convs: { ...s.convs, [g]: { ...s.convs[g]!, members: [...s.convs[g]!.members.slice(0, 100), added] } } }))
    timers.advance(BOUNDS.cacheSaveDelayMs)
    // Fewer members, fewer keys: the part no longer named is gone.
    expect(parts()).toEqual([`chat.cache.alice.u.${g}.0`])
    expect(loadCache(storage, 'alice').convs![g]!.members.map((u) => u.id)).toEqual([...store.getState().convs[g]!.members.map((u) => u.id)])
    expect(loadCache(storage, 'alice').users!.newcomer).toEqual(added)
    // As a version-3 list has it: the first members and how many there are, both read back.
    store.setState((s) => ({ convs: { ...s.convs, [g]: { ...s.convs[g]!, members: s.convs[g]!.members.slice(0, LIMITS.listMembersMax), memberCount: LIMITS.maxGroupMembers } } }))
    timers.advance(BOUNDS.cacheSaveDelayMs)
    expect(loadCache(storage, 'alice').convs![g]).toEqual(store.getState().convs[g])
    expect(loadCache(storage, 'alice').convs![g]!.memberCount).toBe(LIMITS.maxGroupMembers)
    // Out of the cache's newest conversations: nothing of it stays in storage.
    const small = persistCache(store, storage, timers, 'alice', { ...BOUNDS, cacheConversations: 1 })
    store.setState((s) => ({ convs: { ...s.convs } }))
    small.flush()
    const kept = Object.keys(loadCache(storage, 'alice').convs!)
    expect(kept).toHaveLength(1)
    for (const key of storage.map.keys()) expect(key.includes('group') && !kept.some((id) => key.endsWith(id) || key.includes(`${id}.`)), key).toBe(false)
    clearCache(storage, 'alice', Object.keys(store.getState().convs))
    expect([...storage.map.keys()]).toEqual([])
  })
})
