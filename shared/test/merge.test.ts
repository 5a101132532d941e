import { describe, expect, it } from 'vitest'
import { mergeMessages, type MergeItem } from '../src'

interface Item extends MergeItem {
  text: string
}
const c = (seq: number, from = 'bob', cid = `c-${from}-${seq}`): Item => ({ seq, mid: `m${seq}`, cid, from, text: `#${seq}` })
const p = (cid: string, text = cid): Item => ({ cid, from: 'me', text })
const seqs = (list: readonly Item[]) => list.map((m) => m.seq ?? m.cid)

describe('mergeMessages', () => {
  it('appends newer messages in order', () => {
    expect(seqs(mergeMessages([c(1), c(2)], [c(3), c(4)]))).toEqual([1, 2, 3, 4])
  })

  it('returns the same array when nothing is new', () => {
    const list = [c(1), c(2)]
    expect(mergeMessages(list, [c(2), c(1)])).toBe(list)
    expect(mergeMessages(list, [])).toBe(list)
  })

  it('orders out-of-order arrivals by seq and drops duplicates', () => {
    const out = mergeMessages([c(1)], [c(5), c(3), c(5), c(2), c(3)])
    expect(seqs(out)).toEqual([1, 2, 3, 5])
  })

  it('prepends an older history page', () => {
    expect(seqs(mergeMessages([c(51), c(52)], [c(49), c(50)]))).toEqual([49, 50, 51, 52])
  })

  it('keeps pending sends after confirmed messages, in writing order', () => {
    const out = mergeMessages([c(1), p('a'), p('b')], [c(2)])
    expect(seqs(out)).toEqual([1, 2, 'a', 'b'])
  })

  it('replaces a pending send by its confirmed copy (ack or echo), once', () => {
    const list = [c(1), p('a'), p('b')]
    const confirmedA: Item = { seq: 2, mid: 'm2', cid: 'a', from: 'me', text: 'a' }
    const out = mergeMessages(list, [confirmedA])
    expect(seqs(out)).toEqual([1, 2, 'b'])
    // The push of the same message arriving after the ack changes nothing.
    expect(mergeMessages(out, [{ ...confirmedA }])).toBe(out)
  })

  it('does not add a retried pending send twice', () => {
    const list = [p('a')]
    const again = mergeMessages(list, [p('a', 'changed')])
    expect(again).toHaveLength(1)
    expect(again[0]!.text).toBe('changed')
    expect(mergeMessages([], [p('x'), p('x')])).toHaveLength(1)
  })

  it('keeps the first copy when a seq is already held', () => {
    const first = c(2)
    const out = mergeMessages([c(1), first, c(3)], [{ ...c(2), text: 'other' }])
    expect(out[1]).toBe(first)
  })

  it('replaces a held message when the same seq comes with another mid (the server lost its data and numbered again)', () => {
    const stale = [c(1), c(2), c(3)]
    const fresh = { seq: 2, mid: 'n2', cid: 'c-alice-new', from: 'alice', text: 'new #2' }
    const out = mergeMessages(stale, [fresh])
    expect(out.map((m) => m.text)).toEqual(['#1', 'new #2', '#3'])
    // Our own pending message acked at a seq held by a stale copy: shown, once, in place.
    const mine = p('mine')
    const acked = mergeMessages([...stale, mine], [{ ...mine, seq: 1, mid: 'n1' }])
    expect(acked.map((m) => [m.seq, m.cid])).toEqual([
      [1, 'mine'],
      [2, 'c-bob-2'],
      [3, 'c-bob-3'],
    ])
    // The same message again (same mid) is still a duplicate.
    expect(mergeMessages(out, [fresh])).toBe(out)
  })

  it('drops a confirmed message whose id or (from, cid) is already held under another seq', () => {
    const list = [c(1), c(2), p('a')]
    expect(seqs(mergeMessages(list, [{ ...c(1), seq: 9 }]))).toEqual([1, 2, 'a'])
  })

  it('treats equal cids from different senders as different messages', () => {
    const a: Item = { seq: 1, mid: 'x1', cid: 'same', from: 'ann', text: '' }
    const b: Item = { seq: 2, mid: 'x2', cid: 'same', from: 'bob', text: '' }
    expect(mergeMessages([a], [b])).toHaveLength(2)
  })
})
