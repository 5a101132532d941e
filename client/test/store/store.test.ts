import { describe, expect, it } from 'vitest'
import { AB, ALICE, conv, msg } from '../fixtures'
import {
  addPending,
  applyReceipt,
  confirmPending,
  createChatStore,
  expireTyping,
  initialState,
  markReadLocal,
  mergeServerMessages,
  setConvs,
  setTyping,
} from '../../store/store'
import { convOrder, cursorOf, gapsOf, hasOlder, lastMessageOf } from '../../store/selectors'
import type { ChatState } from '../../store/types'

const base: ChatState = { ...initialState, me: ALICE, convs: { [AB]: conv({ lastSeq: 2, readSeq: 2 }) } }

describe('store updates', () => {
  it('merges server messages in seq order, once, and returns the same state for duplicates', () => {
    const s1 = mergeServerMessages(base, AB, [msg(4), msg(3)], 100)
    expect(s1.messages[AB]!.map((m) => m.seq)).toEqual([3, 4])
    expect(mergeServerMessages(s1, AB, [msg(3), msg(4)], 100)).toBe(s1)
  })

  it('counts unread only for new messages of others after the read mark', () => {
    let s = mergeServerMessages(base, AB, [msg(3), msg(4, 'alice'), msg(5)], 100)
    expect(s.convs[AB]).toMatchObject({ lastSeq: 5, unread: 2 })
    s = mergeServerMessages(s, AB, [msg(5)], 100)
    expect(s.convs[AB]!.unread).toBe(2)
    s = markReadLocal(s, AB, 5)
    expect(s.convs[AB]).toMatchObject({ unread: 0, readSeq: 5 })
  })

  it('keeps the newest maxInMemory messages', () => {
    const s = mergeServerMessages(base, AB, Array.from({ length: 10 }, (_, i) => msg(i + 1)), 4)
    expect(s.messages[AB]!.map((m) => m.seq)).toEqual([7, 8, 9, 10])
  })

  it('keeps pending messages after confirmed ones and moves an acked one into seq order', () => {
    let s = addPending(base, { cid: 'pending-0001', from: 'alice', conv: AB, kind: 'text', body: { text: 'p' }, ts: 1, status: 'sending' })
    s = mergeServerMessages(s, AB, [msg(3)], 100)
    expect(s.messages[AB]!.map((m) => m.cid)).toEqual([msg(3).cid, 'pending-0001'])
    s = confirmPending(s, { type: 'ack', cid: 'pending-0001', mid: 'x', conv: AB, seq: 4, ts: 9 }, 100)
    expect(s.messages[AB]!.map((m) => [m.seq, m.status])).toEqual([
      [3, undefined],
      [4, undefined],
    ])
  })

  it('keeps an acked message in view when the server reused a seq we hold (it restarted without its data)', () => {
    // Cached from before the restart: seqs 1..3. The server lost them and numbers again from 1.
    let s = mergeServerMessages(base, AB, [msg(1), msg(2), msg(3)], 100)
    const cids = ['pending-0001', 'pending-0002', 'pending-0003', 'pending-0004', 'pending-0005']
    for (const cid of cids) s = addPending(s, { cid, from: 'alice', conv: AB, kind: 'text', body: { text: cid }, ts: 1, status: 'sending' })
    cids.forEach((cid, i) => {
      s = confirmPending(s, { type: 'ack', cid, mid: `new-${i}`, conv: AB, seq: i + 1, ts: 9 }, 100)
    })
    // All five are shown, confirmed, in seq order; the stale copies of seqs 1..3 are gone.
    expect(s.messages[AB]!.map((m) => [m.seq, m.cid, m.status])).toEqual(cids.map((cid, i) => [i + 1, cid, undefined]))
  })

  it('never moves receipts backwards; reading implies delivery', () => {
    let s = applyReceipt(base, { type: 'receipt', kind: 'read', conv: AB, user: 'bob', seq: 5 })
    expect(s.peers[AB]).toEqual({ delivered: 5, read: 5 })
    s = applyReceipt(s, { type: 'receipt', kind: 'delivered', conv: AB, user: 'bob', seq: 3 })
    expect(s.peers[AB]).toEqual({ delivered: 5, read: 5 })
  })

  it('takes the peer read mark of a 1:1 from the conversation list (a new login shows Read), never backwards', () => {
    let s = setConvs({ ...base, peers: {} }, [conv({ lastSeq: 4, readSeq: 4, peerRead: 3 })])
    expect(s.peers[AB]).toEqual({ delivered: 3, read: 3 })
    s = applyReceipt(s, { type: 'receipt', kind: 'read', conv: AB, user: 'bob', seq: 4 })
    const before = s
    s = setConvs(s, [conv({ lastSeq: 4, readSeq: 4, peerRead: 2 })])
    expect(s.peers[AB]).toEqual({ delivered: 4, read: 4 })
    expect(s.peers).toBe(before.peers)
    // Without the field (a group, or an older server) nothing changes.
    expect(setConvs(s, [conv({ lastSeq: 4, readSeq: 4 })]).peers).toBe(before.peers)
  })

  it('keeps a newer last message than a stale conversation list', () => {
    const s1 = mergeServerMessages(base, AB, [msg(3)], 100)
    const s2 = setConvs(s1, [conv({ lastSeq: 2, readSeq: 2 })])
    expect(s2.convs[AB]!.lastSeq).toBe(3)
  })

  it('expires typing marks', () => {
    let s = setTyping(base, AB, 'bob', 1000)
    expect(expireTyping(s, 999)).toBe(s)
    s = expireTyping(s, 1000)
    expect(s.typing).toEqual({})
  })
})

describe('selectors', () => {
  it('cursor is the highest seq without a hole from the first held; gaps lie between', () => {
    const s = mergeServerMessages(base, AB, [msg(10), msg(11), msg(13)], 100)
    expect(cursorOf(s.messages[AB])).toBe(11)
    expect(gapsOf(s.messages[AB])).toEqual([{ from: 12, to: 12 }])
    expect(hasOlder(s.messages[AB])).toBe(true)
    expect(cursorOf(undefined)).toBe(0)
  })

  it('orders conversations by latest activity', () => {
    const store = createChatStore({ me: ALICE })
    const s = setConvs(store.getState(), [
      conv({ id: 'd:alice:bob', lastSeq: 1, lastMsg: { ...msg(1), ts: 100 } }),
      conv({ id: 'd:alice:carol', lastSeq: 1, lastMsg: { ...msg(1, 'carol', 'd:alice:carol'), ts: 200 } }),
    ])
    expect(convOrder(s)).toEqual(['d:alice:carol', 'd:alice:bob'])
    expect(convOrder(s)).toBe(convOrder(s))
  })

  it('previews our failed message until a newer one arrives, then the newer one', () => {
    let s = setConvs(base, [conv({ lastSeq: 2, readSeq: 2, lastMsg: { ...msg(2), ts: 100 } })])
    s = addPending(s, { cid: 'pending-0001', from: 'alice', conv: AB, kind: 'text', body: { text: 'p' }, ts: 200, status: 'failed' })
    expect(lastMessageOf(s, AB)?.cid).toBe('pending-0001')
    // Bob writes after it: his message is the conversation's latest (its time too, for the order).
    s = mergeServerMessages(s, AB, [{ ...msg(3), ts: 300 }], 100)
    expect(lastMessageOf(s, AB)).toMatchObject({ seq: 3, ts: 300 })
  })
})
