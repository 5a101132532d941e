/**
 * Recall on the client: a `recall` event turns the message it names into a `recalled` tombstone in
 * place, replacing that row's object alone (the list's other rows keep their identity, so only the
 * changed row re-renders), and through the view gate one flush carries it.
 */
import { describe, expect, it } from 'vitest'
import type { Message } from '@chat/shared'
import { AB, ALICE, BOB, conv, msg } from '../fixtures'
import { applyRecalls, initialState, markReadLocal, mergeServerMessages, createChatStore } from '../../store/store'
import { previewText, recallNotice } from '../../store/selectors'
import { createViewGate } from '../../store/view-gate'
import type { ChatState } from '../../store/types'
import { translate } from '../../i18n/i18n'

const base: ChatState = { ...initialState, me: ALICE, convs: { [AB]: conv({ lastSeq: 0, readSeq: 0 }) } }

function recall(seq: number, target: number, from = BOB.id, by: 'sender' | 'moderation' = 'sender'): Message {
  return { mid: `e${seq}`, cid: `recall-${seq}xxxxx`, conv: AB, seq, from, ts: 1_800_000_000_000 + seq, kind: 'recall', body: { seq: target, by, at: 1_800_000_000_000 + seq } }
}

const zh = (key: string, params?: Record<string, string | number>) => translate('zh-CN', key as never, params)
const en = (key: string, params?: Record<string, string | number>) => translate('en', key as never, params)

describe('recall in the store', () => {
  it('replaces the named message by a tombstone in place; every other row keeps its object', () => {
    const s1 = mergeServerMessages(base, AB, Array.from({ length: 50 }, (_, i) => msg(i + 1)), 500)
    const before = s1.messages[AB]!
    const s2 = mergeServerMessages(s1, AB, [recall(51, 20)], 500)
    const after = s2.messages[AB]!
    expect(after).toHaveLength(51)
    expect(after[19]).toMatchObject({ seq: 20, from: 'bob', kind: 'recalled', body: { by: 'sender' } })
    expect(JSON.stringify(after[19])).not.toContain('m20')
    const changed = after.slice(0, 50).filter((m, i) => m !== before[i])
    expect(changed).toEqual([after[19]])
    // The event is held (cursors and gaps count it) and is the conversation's last message.
    expect(after[50]).toMatchObject({ seq: 51, kind: 'recall' })
    expect(s2.convs[AB]!.lastMsg).toMatchObject({ seq: 51, kind: 'recall' })
    // The same event again (sync after a push) changes nothing.
    expect(mergeServerMessages(s2, AB, [recall(51, 20)], 500)).toBe(s2)
    expect(applyRecalls(after, [recall(51, 20)])).toBe(after)
  })

  it('a recall event never counts as unread, nor does a group change of our own', () => {
    const s1 = mergeServerMessages(base, AB, [msg(1), msg(2)], 500)
    expect(s1.convs[AB]!.unread).toBe(2)
    const s2 = mergeServerMessages(s1, AB, [recall(3, 2)], 500)
    expect(s2.convs[AB]).toMatchObject({ lastSeq: 3, unread: 2 })
    const own: Message = { mid: 'e4', cid: 'sys-4xxxxxxx', conv: AB, seq: 4, from: ALICE.id, ts: 1_800_000_000_004, kind: 'system', body: { op: 'rename', title: 't' } }
    const s3 = mergeServerMessages(s2, AB, [own, recall(5, 1)], 500)
    expect(s3.convs[AB]).toMatchObject({ lastSeq: 5, unread: 2 })
    // Reading part of the way takes off the messages read, not the events.
    const s4 = markReadLocal(s3, AB, 3)
    expect(s4.convs[AB]).toMatchObject({ readSeq: 3, unread: 0 })
  })

  it('leaves the list as it is when the message is not held (a page brings the tombstone later)', () => {
    const s1 = mergeServerMessages(base, AB, [msg(10), msg(11)], 500)
    const list = s1.messages[AB]!
    expect(applyRecalls(list, [recall(12, 3)])).toBe(list)
  })

  it('a view gate flush carries the change in one update, and only the recalled row differs', () => {
    const store = createChatStore(base)
    store.setState((s) => mergeServerMessages(s, AB, Array.from({ length: 30 }, (_, i) => msg(i + 1)), 500))
    const pending: Array<() => void> = []
    const gate = createViewGate(store, { windowMs: 50, timers: { setTimeout: (fn: () => void) => (pending.push(fn), pending.length) as never, clearTimeout: () => undefined } })
    const shown = gate.getState().messages[AB]!
    store.setState((s) => mergeServerMessages(s, AB, [recall(31, 7)], 500))
    expect(gate.getState().messages[AB]).toBe(shown)
    pending.splice(0).forEach((fn) => fn())
    const flushed = gate.getState().messages[AB]!
    expect(gate.flushes).toBe(1)
    expect(flushed.slice(0, 30).filter((m, i) => m !== shown[i]).map((m) => m.seq)).toEqual([7])
    gate.dispose()
  })

  it('says who recalled it, in zh-CN and English, and moderation\'s withdrawal', () => {
    const mine = { ...msg(3, 'alice'), kind: 'recalled' as const, body: { by: 'sender' as const, at: 1 } }
    const theirs = { ...msg(4, 'bob'), kind: 'recalled' as const, body: { by: 'sender' as const, at: 1 } }
    const withdrawn = { ...msg(5, 'bob'), kind: 'recalled' as const, body: { by: 'moderation' as const, at: 1 } }
    expect(recallNotice(mine, zh, 'alice')).toBe('你撤回了一条消息')
    // No space between the name and the phrase in Chinese ("小红撤回了一条消息"), as WeChat writes it.
    expect(recallNotice(theirs, zh, 'alice', () => '小红')).toBe('小红撤回了一条消息')
    expect(recallNotice(theirs, en, 'alice', () => 'Bob')).toBe('Bob recalled a message')
    expect(recallNotice(mine, en, 'alice')).toBe('You recalled a message')
    expect(recallNotice(withdrawn, zh, 'alice')).toBe('一条消息因违反内容规范已被撤回')
    expect(previewText(recall(6, 4), zh, 'alice', () => '小红')).toBe('小红撤回了一条消息')
  })
})
