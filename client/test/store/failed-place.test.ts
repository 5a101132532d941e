/**
 * A message that failed for good keeps its place in the chat (selectors.inPlace, the place set by
 * store.patchPending): newer messages arrive below it, own messages sent before it stay above it
 * once confirmed, and one still under way keeps it where it was, at the end.
 */
import { describe, expect, it } from 'vitest'
import { AB, ALICE, conv, msg } from '../fixtures'
import { addPending, confirmPending, initialState, mergeServerMessages, patchPending } from '../../store/store'
import { inPlace } from '../../store/selectors'
import type { ChatMessage, ChatState } from '../../store/types'

const base: ChatState = { ...initialState, me: ALICE, convs: { [AB]: conv({ lastSeq: 0, readSeq: 0 }) } }

const mine = (cid: string): ChatMessage => ({ cid, from: ALICE.id, conv: AB, kind: 'text', body: { text: cid }, ts: 1_800_000_000_000, status: 'sending' })
const fail = (s: ChatState, cid: string) => patchPending(s, AB, cid, (m) => ({ ...m, status: 'failed', error: 'CONTENT_RISKY' }))
const ack = (s: ChatState, cid: string, seq: number) =>
  confirmPending(s, { type: 'ack', cid, conv: AB, seq, mid: `mid-${seq}`, ts: 1_800_000_000_000 + seq * 1000 }, 100)
/** What the chat shows, top to bottom: seqs as numbers, own pending ones by cid. */
const shown = (s: ChatState) => inPlace(s.messages[AB]!).map((m) => m.seq ?? m.cid)

describe('a message that failed for good', () => {
  it('stays where it was sent while newer messages arrive below it', () => {
    let s = mergeServerMessages(base, AB, [msg(1), msg(2)], 100)
    s = fail(addPending(s, mine('x')), 'x')
    expect(shown(s)).toEqual([1, 2, 'x'])
    s = mergeServerMessages(s, AB, [msg(3), msg(4)], 100)
    expect(shown(s)).toEqual([1, 2, 'x', 3, 4])
    // The list held keeps its order for everything else (confirmed by seq, then own pending).
    expect(s.messages[AB]!.map((m) => m.seq ?? m.cid)).toEqual([1, 2, 3, 4, 'x'])
    // Sent again: under way, at the end, as WeChat moves a resent message down.
    s = patchPending(s, AB, 'x', (m) => ({ ...m, status: 'sending', error: undefined }))
    expect(shown(s)).toEqual([1, 2, 3, 4, 'x'])
    // Failing again takes the place it has then.
    s = mergeServerMessages(fail(s, 'x'), AB, [msg(5)], 100)
    expect(shown(s)).toEqual([1, 2, 3, 4, 'x', 5])
  })

  it('stays below my messages sent before it: above it while they are under way, then by their seq', () => {
    let s = mergeServerMessages(base, AB, [msg(1)], 100)
    s = addPending(addPending(s, mine('a')), mine('b'))
    s = fail(s, 'b')
    // 'a' still under way: 'b' stays below it, at the end; an arrival goes above both.
    s = mergeServerMessages(s, AB, [msg(2)], 100)
    expect(shown(s)).toEqual([1, 2, 'a', 'b'])
    // 'a' is stored as 3: 'b' follows it, and what arrives next goes below 'b'.
    s = ack(s, 'a', 3)
    expect(shown(s)).toEqual([1, 2, 3, 'b'])
    s = mergeServerMessages(s, AB, [msg(4)], 100)
    expect(shown(s)).toEqual([1, 2, 3, 'b', 4])
  })

  it('keeps the order of several failed ones, whichever failed first', () => {
    let s = mergeServerMessages(base, AB, [msg(1)], 100)
    s = addPending(addPending(s, mine('a')), mine('b'))
    s = fail(s, 'b')
    s = mergeServerMessages(s, AB, [msg(2)], 100)
    s = fail(s, 'a')
    s = mergeServerMessages(s, AB, [msg(3)], 100)
    // 'a' failed after 2 arrived; 'b', sent after 'a', stays below it.
    expect(shown(s)).toEqual([1, 2, 'a', 'b', 3])
  })

  it('a failed upload keeps its place too, and a list with none failed is shown as held', () => {
    let s = mergeServerMessages(base, AB, [msg(1)], 100)
    expect(inPlace(s.messages[AB]!)).toBe(s.messages[AB])
    const file: ChatMessage = { ...mine('f'), kind: 'file', body: { name: 'a.pdf', size: 10 }, upload: { localPath: '/a.pdf', sentBytes: 0, totalBytes: 10, done: false } }
    s = addPending(s, file)
    s = patchPending(s, AB, 'f', (m) => ({ ...m, upload: { ...m.upload!, failure: { code: 'FILE_TOO_LARGE', message: 'too large' } } }))
    s = mergeServerMessages(s, AB, [msg(2)], 100)
    expect(shown(s)).toEqual([1, 'f', 2])
  })
})
