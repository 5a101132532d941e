import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Batcher, CHECKER_BATCH_FULL, CHECKER_BATCH_MAX, CHECKER_CHECKS_FULL, FrameReader, decodeChecks, decodeVerdicts, encodeChecks, encodeVerdicts, toWire } from '../../src/wechat/checker-wire'
import type { WireCheck } from '../../src/wechat/checker-wire'
import type { TextVerdict } from '../../src/wechat/security'

describe('Batcher: the messages between the BFF and its checker process', () => {
  let sent: number[][]
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] })
    sent = []
  })
  afterEach(() => void vi.useRealTimers())

  it('at a low rate sends the items of a turn at its end, without waiting for the window', async () => {
    const b = new Batcher<number>((items) => sent.push(items), 5)
    b.push(1)
    b.push(2)
    expect(sent).toEqual([])
    await vi.advanceTimersToNextTimerAsync()
    expect(sent).toEqual([[1, 2]])
    // Long after: the next turn's item leaves at the end of its turn too.
    vi.advanceTimersByTime(50)
    b.push(3)
    await vi.advanceTimersToNextTimerAsync()
    expect(sent).toEqual([[1, 2], [3]])
    expect(performance.now()).toBeLessThan(51)
  })

  it('while items keep coming, sends one message a window with every item since the last', () => {
    const b = new Batcher<number>((items) => sent.push(items), 5)
    b.push(0)
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([[0]])
    // Items in the following turns wait until 5 ms after that message, then leave together.
    for (let i = 1; i <= 4; i++) {
      b.push(i)
      vi.advanceTimersByTime(1)
      expect(sent).toHaveLength(1)
    }
    vi.advanceTimersByTime(1)
    expect(sent).toEqual([[0], [1, 2, 3, 4]])
    b.push(5)
    vi.advanceTimersByTime(4)
    expect(sent).toHaveLength(2)
    vi.advanceTimersByTime(1)
    expect(sent).toEqual([[0], [1, 2, 3, 4], [5]])
  })

  it('a message waiting for its window leaves at the end of its turn once it holds CHECKER_BATCH_FULL items', () => {
    const b = new Batcher<number>((items) => sent.push(items), 5)
    b.push(0)
    vi.advanceTimersByTime(0)
    expect(sent).toHaveLength(1)
    for (let i = 1; i < CHECKER_BATCH_FULL; i++) b.push(i)
    vi.advanceTimersByTime(0)
    expect(sent).toHaveLength(1)
    b.push(CHECKER_BATCH_FULL)
    expect(sent).toHaveLength(1)
    // The end of this turn (no time passed).
    vi.advanceTimersByTime(0)
    expect(sent).toHaveLength(2)
    expect(sent[1]).toHaveLength(CHECKER_BATCH_FULL)
    expect(performance.now()).toBe(0)
  })

  it("a frame of checks leaves at the end of its turn once it holds CHECKER_CHECKS_FULL texts, not at the window's end", () => {
    const b = new Batcher<number>((items) => sent.push(items), 5, 1000, CHECKER_CHECKS_FULL)
    b.push(0)
    vi.advanceTimersByTime(0)
    expect(sent).toHaveLength(1)
    // Texts over turns, fewer than the count: they wait for the window.
    for (let i = 1; i < CHECKER_CHECKS_FULL; i++) {
      b.push(i)
      vi.advanceTimersByTime(0)
    }
    expect(sent).toHaveLength(1)
    b.push(CHECKER_CHECKS_FULL)
    expect(sent).toHaveLength(1)
    vi.advanceTimersByTime(0)
    expect(sent[1]).toHaveLength(CHECKER_CHECKS_FULL)
    expect(performance.now()).toBe(0)
    expect(CHECKER_CHECKS_FULL).toBeLessThan(CHECKER_BATCH_FULL)
  })

  it('soon: what waits for the window leaves at the end of the turn, and its timer sends nothing after', () => {
    const b = new Batcher<number>((items) => sent.push(items), 5)
    b.push(0)
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([[0]])
    b.push(1)
    b.push(2)
    vi.advanceTimersByTime(1)
    expect(sent).toHaveLength(1)
    b.soon()
    // The end of this turn (no time passed), long before the window's end.
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([[0], [1, 2]])
    expect(performance.now()).toBe(1)
    // The next window counts from that message: an item now waits for it, not for the old timer.
    b.push(3)
    vi.advanceTimersByTime(4)
    expect(sent).toHaveLength(2)
    vi.advanceTimersByTime(1)
    expect(sent).toEqual([[0], [1, 2], [3]])
    // Nothing held, or already leaving at the end of the turn: soon changes nothing.
    b.soon()
    b.push(4)
    b.soon()
    b.soon()
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([[0], [1, 2], [3], [4]])
    vi.advanceTimersByTime(20)
    expect(sent).toHaveLength(4)
  })

  it('window 0: one message a turn, however fast', () => {
    const b = new Batcher<number>((items) => sent.push(items), 0)
    for (let i = 0; i < 3; i++) {
      b.push(i)
      b.push(i + 10)
      vi.advanceTimersByTime(0)
    }
    expect(sent).toEqual([
      [0, 10],
      [1, 11],
      [2, 12],
    ])
  })

  it('sends at once at CHECKER_BATCH_MAX items, and before an item that would pass the characters bound', () => {
    const b = new Batcher<number>((items) => sent.push(items), 5, 10)
    for (let i = 0; i < CHECKER_BATCH_MAX; i++) b.push(i)
    expect(sent).toHaveLength(1)
    expect(sent[0]).toHaveLength(CHECKER_BATCH_MAX)
    b.push(1, 6)
    b.push(2, 4)
    expect(sent).toHaveLength(1)
    b.push(3, 1)
    expect(sent[1]).toEqual([1, 2])
    // One item over the bound goes alone.
    b.push(4, 50)
    expect(sent[2]).toEqual([3])
    vi.advanceTimersByTime(5)
    expect(sent[3]).toEqual([4])
    expect(sent).toHaveLength(4)
  })

  it('clear drops what was collected: nothing leaves for it', () => {
    const b = new Batcher<number>((items) => sent.push(items), 5)
    b.push(1)
    expect(b.size).toBe(1)
    b.clear()
    expect(b.size).toBe(0)
    vi.advanceTimersByTime(10)
    expect(sent).toEqual([])
  })
})

describe('the frames of the checks pipe', () => {
  const checks: WireCheck[] = [
    [1, 'oAnn', 'hello'],
    [2, 'oBob', '你好，世界 😀 café'],
    [2 ** 40, '', ''],
    [4, 'o\u00e9', 'x'.repeat(70_000)],
  ]
  const readChecks = (chunks: Buffer[]) => {
    const got: WireCheck[] = []
    const reader = new FrameReader((body) => decodeChecks(body, (id, user, text) => got.push([id, user, text])))
    for (const c of chunks) reader.push(c)
    return got
  }

  it('checks come out as they went in: UTF-8 of any width, empty, long, ids past 32 bits', () => {
    const frame = encodeChecks(checks)
    expect(frame.readUInt32LE(0)).toBe(frame.length - 4)
    expect(readChecks([frame])).toEqual(checks)
  })

  it('frames back to back in one read, and frames split anywhere across reads', () => {
    const a = encodeChecks(checks.slice(0, 2))
    const b = encodeChecks(checks.slice(2))
    const stream = Buffer.concat([a, b])
    expect(readChecks([stream])).toEqual(checks)
    // Cut at every byte of the first frame and its head, and in the second's long text.
    for (const cut of [1, 3, 4, 5, a.length - 1, a.length, a.length + 2, a.length + 30_000]) {
      expect(readChecks([stream.subarray(0, cut), stream.subarray(cut)])).toEqual(checks)
    }
    // One byte a read.
    const bytes = Array.from({ length: a.length }, (_, i) => a.subarray(i, i + 1))
    expect(readChecks(bytes)).toEqual(checks.slice(0, 2))
  })

  it('verdicts come out as they went in, with their labels', () => {
    const verdicts: TextVerdict[] = [
      { suggest: 'pass', label: 100 },
      { suggest: 'review', label: 20012 },
      { suggest: 'risky', label: 20001 },
      { suggest: 'unavailable' },
    ]
    const frame = encodeVerdicts(verdicts.map((v, i) => toWire(i + 2 ** 33, v)))
    const got: Array<[number, TextVerdict]> = []
    new FrameReader((body) => decodeVerdicts(body, (id, v) => got.push([id, v]))).push(frame)
    expect(got).toEqual(verdicts.map((v, i) => [i + 2 ** 33, v]))
  })
})
