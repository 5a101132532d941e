/**
 * The per-connection record behind "the server does not send a connection the same seq twice"
 * (PROTOCOL.md, Catch-up): live pushes out of order, a sync cursor, a sync range, and the bound for
 * a client that never syncs, which may repeat a seq but never withholds one it was not sent.
 */
import { describe, expect, it } from 'vitest'
import { SENT_FLAT_MAX, SentSeqs } from '../src/chat/sent-seqs'

describe('SentSeqs', () => {
  it('knows nothing of a conversation it never sent', () => {
    const s = new SentSeqs()
    expect(s.has('c', 1)).toBe(false)
  })

  it('records live pushes arriving out of order, per conversation', () => {
    const s = new SentSeqs()
    s.add('c', 11)
    s.add('c', 13)
    expect(s.has('c', 11)).toBe(true)
    expect(s.has('c', 12)).toBe(false)
    expect(s.has('c', 13)).toBe(true)
    expect(s.has('d', 11)).toBe(false)
  })

  it('a sync cursor covers what the client holds and joins the pushes sent above it', () => {
    const s = new SentSeqs()
    s.add('c', 6) // pushed between welcome and the sync
    s.add('c', 8)
    s.raise('c', 5) // the sync's cursor
    expect(s.has('c', 3)).toBe(true)
    expect(s.has('c', 6)).toBe(true)
    expect(s.has('c', 7)).toBe(false) // still owed: the sync sends it
    s.raise('c', 7) // the sync's range went out
    expect(s.has('c', 7)).toBe(true)
    expect(s.has('c', 8)).toBe(true)
    expect(s.has('c', 9)).toBe(false)
    s.add('c', 9)
    expect(s.has('c', 9)).toBe(true)
  })

  it('a lower cursor later never lowers what was sent', () => {
    const s = new SentSeqs()
    s.raise('c', 20)
    s.raise('c', 4)
    expect(s.has('c', 20)).toBe(true)
    expect(s.has('c', 21)).toBe(false)
  })

  it('past its bound it forgets the lowest seqs (may repeat them), never claims one it did not send', () => {
    const s = new SentSeqs()
    // A client that never syncs, receiving every other seq: nothing joins up with the floor.
    for (let seq = 2; seq <= 4000; seq += 2) s.add('c', seq)
    for (let seq = 1; seq <= 4001; seq += 2) expect(s.has('c', seq)).toBe(false)
    expect(s.has('c', 4000)).toBe(true)
    expect(s.has('c', 2)).toBe(false)
  })

  it('keeps every conversation apart, past the count it holds in one array as below it', () => {
    const s = new SentSeqs()
    const n = SENT_FLAT_MAX * 3
    // Each conversation: a cursor, and one push above it with a gap (so some hold more than a floor).
    for (let i = 0; i < n; i++) {
      s.raise(`c${i}`, i + 1)
      if (i % 2 === 0) s.add(`c${i}`, i + 3)
      if (i === SENT_FLAT_MAX - 1) {
        // The array full: every one answers as recorded (after the loop, past it, they still do).
        for (let j = 0; j <= i; j++) expect([s.has(`c${j}`, j + 1), s.has(`c${j}`, j + 2), s.has(`c${j}`, j + 3)]).toEqual([true, false, j % 2 === 0])
      }
    }
    for (let i = 0; i < n; i++) {
      expect([s.has(`c${i}`, i + 1), s.has(`c${i}`, i + 2), s.has(`c${i}`, i + 3)]).toEqual([true, false, i % 2 === 0])
      s.add(`c${i}`, i + 2)
      expect(s.has(`c${i}`, i + 2)).toBe(true)
    }
    expect(s.has(`c${n}`, 1)).toBe(false)
  })
})
