/**
 * Mute, pin, delete for me and drafts in the client's store: the pure updates, the list's order and
 * total, and the drafts' storage (kept across a restart, written coalesced, not per keystroke).
 */
import { describe, expect, it } from 'vitest'
import { AB, ALICE, BOB, CAROL, conv, msg } from '../fixtures'
import { applySettings, createChatStore, hideLocal, initialState, mergeServerMessages, setDraft } from '../../store/store'
import { convOrder, gapsOf, previewText, totalUnread } from '../../store/selectors'
import { loadCache, persistCache } from '../../store/persist'
import { ManualTimers, MemoryStorage } from '../../platform/fake'
import type { ChatState } from '../../store/types'
import { translate } from '../../i18n/i18n'

const AC = 'd:alice:carol'
const GRP = 'g:team'
const base: ChatState = {
  ...initialState,
  me: ALICE,
  convs: {
    [AB]: conv({ lastSeq: 3, readSeq: 0, unread: 3, lastMsg: msg(3) }),
    [AC]: conv({ id: AC, members: [ALICE, CAROL], lastSeq: 5, readSeq: 3, unread: 2, lastMsg: msg(5, CAROL.id, AC) }),
    [GRP]: conv({ id: GRP, kind: 'group', title: 'Team', members: [ALICE, BOB, CAROL], lastSeq: 1, readSeq: 0, unread: 1, lastMsg: msg(1, BOB.id, GRP) }),
  },
}

describe('mute and pin in the store', () => {
  it('orders pinned conversations first, latest pin first, then by last activity', () => {
    expect(convOrder(base)).toEqual([AC, AB, GRP])
    let s = applySettings(base, { conv: GRP, muted: false, pinned: 1_000 })
    expect(convOrder(s)).toEqual([GRP, AC, AB])
    s = applySettings(s, { conv: AB, muted: false, pinned: 2_000 })
    expect(convOrder(s)).toEqual([AB, GRP, AC])
    s = applySettings(s, { conv: AB, muted: false })
    expect(s.convs[AB]!.pinned).toBeUndefined()
    expect(convOrder(s)).toEqual([GRP, AC, AB])
  })

  it('leaves muted conversations out of the total unread count', () => {
    expect(totalUnread(base)).toBe(6)
    const s = applySettings(base, { conv: AC, muted: true })
    expect(s.convs[AC]!.muted).toBe(true)
    expect(totalUnread(s)).toBe(4)
    // Their unread is still counted per conversation (the row shows it as a dot).
    expect(s.convs[AC]!.unread).toBe(2)
    expect(totalUnread(applySettings(s, { conv: AC, muted: false }))).toBe(6)
  })

  it('changes nothing for a setting it holds, or an unknown conversation', () => {
    const s = applySettings(base, { conv: AC, muted: true, pinned: 5 })
    expect(applySettings(s, { conv: AC, muted: true, pinned: 5 })).toBe(s)
    expect(applySettings(base, { conv: 'd:alice:zed', muted: true })).toBe(base)
  })
})

describe('delete for me in the store', () => {
  it('turns the message into a hidden tombstone at its place: no gap, nothing to preview, other rows untouched', () => {
    const s1 = mergeServerMessages(base, AB, [msg(1), msg(2), msg(3)], 100)
    const s2 = hideLocal(s1, AB, 2)
    const list = s2.messages[AB]!
    expect(list.map((m) => [m.seq, m.kind])).toEqual([
      [1, 'text'],
      [2, 'hidden'],
      [3, 'text'],
    ])
    expect(list[0]).toBe(s1.messages[AB]![0])
    expect(JSON.stringify(list[1])).not.toContain('m2')
    expect(gapsOf(list)).toEqual([])
    expect(hideLocal(s2, AB, 2)).toBe(s2)
    // The last message hidden: the list shows nothing of it.
    const s3 = hideLocal(s2, AB, 3)
    expect(s3.convs[AB]!.lastMsg).toMatchObject({ seq: 3, kind: 'hidden' })
    expect(previewText(s3.convs[AB]!.lastMsg, (k) => translate('en', k))).toBe('')
    // A message not held here (the push of another device): only the list's last message changes.
    const s4 = hideLocal(base, AC, 5)
    expect(s4.convs[AC]!.lastMsg).toMatchObject({ seq: 5, kind: 'hidden' })
    expect(hideLocal(base, AC, 4)).toBe(base)
  })
})

/** Storage counting the writes of the drafts' key. */
class DraftWrites extends MemoryStorage {
  draftWrites = 0
  override set(key: string, value: unknown): void {
    if (key === 'chat.cache.alice.drafts') this.draftWrites++
    super.set(key, value)
  }
}

describe('drafts', () => {
  const BOUNDS = { cacheConversations: 50, cacheMessagesPerConversation: 50, cacheSaveDelayMs: 1_000 }

  it('keeps the text per conversation; blank is no draft', () => {
    let s = setDraft(base, AB, 'half a thought')
    expect(s.drafts).toEqual({ [AB]: 'half a thought' })
    expect(setDraft(s, AB, 'half a thought')).toBe(s)
    s = setDraft(s, AB, '   ')
    expect(s.drafts).toEqual({})
    expect(setDraft(s, AC, '')).toBe(s)
  })

  it('writes drafts to storage once per save delay however many keystrokes, and a restart reads them back', () => {
    const storage = new DraftWrites()
    const timers = new ManualTimers()
    const store = createChatStore(base)
    const writer = persistCache(store, storage, timers, 'alice', BOUNDS)
    const before = storage.draftWrites
    const typed = '你好，明天下午三点开会'
    for (let i = 1; i <= typed.length; i++) {
      store.setState((s) => setDraft(s, AB, typed.slice(0, i)))
      timers.advance(50)
    }
    // 11 keystrokes within 550 ms: one write, when the delay has run out.
    expect(storage.draftWrites - before).toBe(0)
    timers.advance(BOUNDS.cacheSaveDelayMs)
    expect(storage.draftWrites - before).toBe(1)
    expect(storage.get('chat.cache.alice.drafts')).toEqual({ [AB]: typed })
    // Nothing changed: nothing written.
    timers.advance(10 * BOUNDS.cacheSaveDelayMs)
    expect(storage.draftWrites - before).toBe(1)

    // A restart: the draft is there before any socket.
    expect(loadCache(storage, 'alice').drafts).toEqual({ [AB]: typed })

    // Sent: the draft is cleared, in storage too.
    store.setState((s) => setDraft(s, AB, ''))
    writer.flush()
    expect(storage.get('chat.cache.alice.drafts')).toBeUndefined()
    expect(loadCache(storage, 'alice').drafts).toEqual({})
    writer.stop()
  })

  it('skips malformed stored drafts', () => {
    const storage = new MemoryStorage()
    storage.set('chat.cache.alice.drafts', { 'not a conv': 'x' })
    expect(loadCache(storage, 'alice')).toEqual({})
    storage.set('chat.cache.alice.convs', { v: 2, convs: [], parts: {}, peers: {} })
    expect(loadCache(storage, 'alice').drafts).toEqual({})
    storage.set('chat.cache.alice.drafts', { [AB]: 'kept' })
    expect(loadCache(storage, 'alice').drafts).toEqual({ [AB]: 'kept' })
  })
})
