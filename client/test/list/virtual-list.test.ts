import { describe, expect, it } from 'vitest'
import { ManualTimers } from '../../platform/fake'
import { VirtualList, type FrameScheduler, type ListView } from '../../list/virtual-list'

function scheduler(timers: ManualTimers): FrameScheduler {
  return {
    requestAnimationFrame: (cb) => timers.setTimeout(cb, 16) as unknown as number,
    cancelAnimationFrame: (id) => timers.clearTimeout(id as unknown as ReturnType<typeof setTimeout>),
    now: () => timers.now(),
  }
}

const keys = (first: number) => (i: number) => `k${first + i}`

function setup(count = 1000, viewport = 500, correctMeasured = true) {
  const timers = new ManualTimers()
  const list = new VirtualList(viewport, { scheduler: scheduler(timers), overscan: 4, minRowPx: 40, correctMeasured })
  let first = 0
  let n = count
  const sizes = new Map<string, number>()
  const set = (f: number, c: number) => {
    first = f
    n = c
    list.setData({ count: n, key: keys(first), estimate: () => 50 })
  }
  set(0, count)
  /** Rows currently rendered. */
  const rendered = (v: ListView = list.getView()) => v.slots.filter((s) => s !== undefined).map((s) => s.index).sort((a, b) => a - b)
  /** Where row `index` is drawn relative to the viewport's top, from the view's own numbers. */
  const screenY = (index: number) => {
    const v = list.getView()
    const idx = rendered(v)
    let y = v.padTop
    for (const i of idx) {
      if (i === index) return y - list.scrollTop
      y += sizes.get(`k${first + i}`) ?? 50
    }
    throw new Error(`row ${index} not rendered`)
  }
  /** The view applies our last write and the platform reports it (it lands where we wrote). */
  const echo = () => {
    const w = list.getView().scroll
    if (!w) return
    list.writeApplied()
    list.onScroll(w.top)
  }
  /** Measure every rendered row with its "real" height. */
  const measureAll = () => list.measured(rendered().map((i) => ({ index: i, size: sizes.get(`k${first + i}`) ?? 50 })))
  return { timers, list, set, rendered, sizes, screenY, measureAll, echo, get first() { return first }, get n() { return n } }
}

describe('VirtualList', () => {
  it('renders only the visible window plus overscan, in a fixed pool of slots', () => {
    const t = setup(10_000)
    t.list.scrollToEnd()
    const v = t.list.getView()
    expect(v.atEnd).toBe(true)
    const rows = t.rendered()
    expect(rows.at(-1)).toBe(9_999)
    // 500 px / 50 px = 10 visible rows + 4 overscan above (none below the last).
    expect(rows.length).toBeLessThanOrEqual(10 + 4 + 1)
    expect(v.slots.length).toBe(t.list.poolSize)
    expect(v.padTop + rows.length * 50 + v.padBottom).toBe(v.total)
    expect(v.scroll).toMatchObject({ toEnd: true })
  })

  it('keeps a row in its slot while scrolling: one step changes at most two slots', () => {
    const t = setup(1000)
    t.list.scrollToEnd()
    t.echo()
    let prev = t.list.getView()
    let top = prev.scroll!.top
    let maxChanged = 0
    for (let step = 0; step < 100; step++) {
      top -= 50
      t.list.onScroll(top)
      const next = t.list.getView()
      let changed = 0
      for (let i = 0; i < next.slots.length; i++) if (next.slots[i]?.key !== prev.slots[i]?.key) changed++
      maxChanged = Math.max(maxChanged, changed)
      prev = next
    }
    expect(maxChanged).toBeLessThanOrEqual(2)
    expect(prev.firstVisible).toBeLessThan(1000 - 100)
  })

  it('follows appended rows at the bottom', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.set(0, 101)
    const v = t.list.getView()
    expect(v.atEnd).toBe(true)
    expect(t.rendered().at(-1)).toBe(100)
    expect(v.scroll?.toEnd).toBe(true)
  })

  it('a viewport that changed size keeps a reader the view saw at its end there, whatever a clamp\'s scroll event made the model think', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    const end = t.list.getView().scroll!.top
    // The viewport grew by 60 px: the view clamped its offset, and the scroll event of the clamp
    // arrived before the new size, judged against the old one (60 px from the end: the reader left).
    t.list.onScroll(end - 60, 100 * 50)
    expect(t.list.atEnd).toBe(false)
    // The view was at its end just before the size changed.
    t.list.setViewport(560, 0, true)
    const v = t.list.getView()
    expect(v.atEnd).toBe(true)
    expect(v.scroll?.toEnd).toBe(true)
    expect(v.scroll?.top).toBe(100 * 50 - 560)
    // A new row is followed again.
    t.echo()
    t.set(0, 101)
    expect(t.list.getView().scroll?.toEnd).toBe(true)
  })

  it('follows the end again when a scroll event that left it was the clamp of a taller viewport (the mini-program reports it before the new size)', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    const end = t.list.getView().scroll!.top
    // The viewport grew by 60 px: the view clamped its offset to its new end, and the scroll event
    // came first, judged against the old height (60 px from the end: the reader left).
    const judged = t.list.viewportPx
    t.list.onScroll(end - 60, 100 * 50)
    expect(t.list.atEnd).toBe(false)
    // Measured afterwards: taller, and the event was at the end of the taller view.
    expect(t.list.clampedAtEnd(judged, 560, end - 60, 100 * 50)).toBe(true)
    const v = t.list.getView()
    expect(v.atEnd).toBe(true)
    expect(v.scroll).toMatchObject({ toEnd: true, top: 100 * 50 - 560 })
    expect(t.list.viewportPx).toBe(560)
    // A new row is followed.
    t.echo()
    t.set(0, 101)
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true, top: 101 * 50 - 560 })
    // Measured after the new size reached the model by another way (the composer's line change
    // answered first): still the clamp.
    const u = setup(100)
    u.list.scrollToEnd()
    u.echo()
    u.list.onScroll(end - 60, 100 * 50)
    u.list.setViewport(560, 0, false)
    expect(u.list.atEnd).toBe(false)
    expect(u.list.clampedAtEnd(judged, 560, end - 60, 100 * 50)).toBe(true)
    expect(u.list.getView().scroll).toMatchObject({ toEnd: true, top: 100 * 50 - 560 })
  })

  it('leaves a reader who scrolled off the end there, whatever the viewport measured after it', () => {
    const run = (heightPx: number, move: (t: ReturnType<typeof setup>, end: number) => number, after?: (t: ReturnType<typeof setup>) => void) => {
      const t = setup(100)
      t.list.scrollToEnd()
      t.echo()
      const end = t.list.getView().scroll!.top
      const judged = t.list.viewportPx
      const top = move(t, end)
      expect(t.list.atEnd).toBe(false)
      after?.(t)
      const n = t.list.getView().scroll?.n
      expect(t.list.clampedAtEnd(judged, heightPx, top, 100 * 50)).toBe(false)
      expect(t.list.atEnd).toBe(false)
      expect(t.list.getView().scroll?.n).toBe(n)
    }
    const wheel = (dy: number) => (t: ReturnType<typeof setup>, end: number) => {
      t.list.onScroll(end - dy, 100 * 50)
      return end - dy
    }
    // A wheel step up, the viewport as it was.
    run(500, wheel(60))
    // A wheel step up while the viewport grew: the event was not at the taller view's end.
    run(560, wheel(200))
    // The clamp, then the reader wheeled on before the view was measured.
    run(560, wheel(60), (t) => t.list.onScroll(t.list.scrollTop - 30, 100 * 50))
  })

  it('a viewport that changed size keeps the first visible row of a reader above the end where it was', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    const top = t.list.getView().scroll!.top - 1000
    t.list.onScroll(top)
    const first = t.list.getView().firstVisible
    // Rows above it do not change: the same offset is the same screen y for it.
    t.list.setViewport(420, 0, false)
    expect(t.list.atEnd).toBe(false)
    expect(t.list.getView().firstVisible).toBe(first)
    expect(t.list.scrollTop).toBe(top)
    t.list.setViewport(560, 0, false)
    expect(t.list.getView().firstVisible).toBe(first)
    expect(t.list.scrollTop).toBe(top)
  })

  it('does not move when rows are appended while the user reads above', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    const top = t.list.getView().scroll!.top - 1000
    t.list.onScroll(top)
    const before = t.list.getView()
    t.set(0, 103)
    const after = t.list.getView()
    expect(after.atEnd).toBe(false)
    expect(after.firstVisible).toBe(before.firstVisible)
    expect(after.scroll).toBe(before.scroll)
  })

  it('keeps the row being read in place when older rows are prepended', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    t.list.onScroll(t.list.getView().scroll!.top - 1500)
    const reading = t.list.getView().firstVisible
    const key = `k${reading}`
    const yBefore = t.screenY(reading)
    // 50 older rows arrive at the top while the reader is still scrolling; our row is now at index
    // reading + 50. Nothing is written during the gesture: the shift is held out of the top spacer.
    const w = t.list.getView().scroll
    t.set(-50, 150)
    const idx = reading + 50
    expect(`k${t.first + idx}`).toBe(key)
    expect(t.list.getView().scroll).toBe(w)
    expect(t.screenY(idx)).toBeCloseTo(yBefore, 5)
    // At rest, one write gives the spacer its height back: the offset moved down by exactly the 50
    // rows added above (50 x 50 px), and the row is still where it was.
    t.timers.advance(300)
    const v = t.list.getView()
    expect(v.scroll!.top).toBe(3000 + 2500)
    expect(v.padTop).toBe(t.rendered(v)[0]! * 50)
    expect(t.screenY(idx)).toBeCloseTo(yBefore, 5)
  })

  it('writes a prepend\'s shift at once when the reader is not scrolling', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.echo()
    t.list.onScroll(t.list.getView().scroll!.top - 1500)
    t.timers.advance(300)
    const reading = t.list.getView().firstVisible
    const yBefore = t.screenY(reading)
    t.set(-50, 150)
    expect(t.list.getView().scroll!.top).toBe(3000 + 2500)
    expect(t.screenY(reading + 50)).toBeCloseTo(yBefore, 5)
  })

  it('keeps slots of rendered rows when older rows are prepended', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    const before = new Map(t.list.getView().slots.filter(Boolean).map((s) => [s!.key, s!.slot]))
    t.set(-50, 150)
    const after = t.list.getView().slots.filter(Boolean)
    for (const s of after) if (before.has(s!.key)) expect(s!.slot).toBe(before.get(s!.key))
  })

  it('measuring rendered rows never changes the spacers', () => {
    const t = setup(1000)
    t.list.scrollToEnd()
    t.echo()
    t.list.onScroll(t.list.getView().scroll!.top - 20_000)
    t.timers.advance(300)
    const before = t.list.getView()
    for (const i of t.rendered()) t.sizes.set(`k${i}`, 50 + (i % 3) * 20)
    t.measureAll()
    const after = t.list.getView()
    const firstRow = t.rendered(after)[0]!
    // The spacer above is the sum of (unmeasured) rows above the first rendered one.
    expect(after.padTop).toBe(firstRow * 50)
    expect(before.padTop).toBe(t.rendered(before)[0]! * 50)
  })

  it('compensates the offset when a row above the viewport turns out taller', () => {
    const t = setup(1000)
    t.list.scrollToEnd()
    t.echo()
    t.list.onScroll(t.list.getView().scroll!.top - 20_000)
    const v = t.list.getView()
    const reading = v.firstVisible
    const yBefore = t.screenY(reading)
    const above = t.rendered()[0]!
    expect(above).toBeLessThan(reading)
    t.sizes.set(`k${above}`, 130)
    const w = t.list.getView().scroll
    t.list.measured([{ index: above, size: 130 }])
    expect(t.screenY(reading)).toBeCloseTo(yBefore, 5)
    // The reader is scrolling: held in the spacer, not written...
    expect(t.list.getView().scroll).toBe(w)
    // ...until the scrolling stops.
    t.timers.advance(300)
    expect(t.list.getView().scroll).not.toBe(w)
    expect(t.screenY(reading)).toBeCloseTo(yBefore, 5)
  })

  it('stays pinned at the end when the echo of a write to the end lands short (rows not measured yet)', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    const written = t.list.getView().scroll!.top
    // The view applies it; the platform clamped it to its real content, 120 px shorter than estimated.
    t.list.writeApplied()
    t.list.onScroll(written - 120)
    expect(t.list.getView().atEnd).toBe(true)
    // New rows keep being followed.
    t.set(0, 101)
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
    expect(t.rendered().at(-1)).toBe(100)
    // A real scroll by the user afterwards unpins it.
    t.list.onScroll(written - 1200)
    expect(t.list.getView().atEnd).toBe(false)
  })

  it('keeps following when "to the end" landed on content that a later render made taller', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    const end = t.list.getView().scroll!.top
    // The view applied the write to a render that the next one replaced: it sat at the end of that
    // render's content, 191 px short of the content the next render laid out.
    t.list.writeApplied()
    expect(t.list.reportPosition(end - 191, end - 191)).toBe(false)
    const landed = t.list.getView().scroll!.n
    // The write's scroll event comes late, carrying the new content's height: not the reader's.
    t.list.onScroll(end - 191, end + 500)
    expect(t.list.atEnd).toBe(true)
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
    expect(t.list.getView().scroll!.n).toBeGreaterThan(landed)
    t.list.writeApplied()
    expect(t.list.reportPosition(end, end)).toBe(false)
    // Read after the render, the view is short of its own end: asked to go there again.
    const next = t.list.getView().scroll!.n
    expect(t.list.keepEnd(end - 191, end)).toBe(true)
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
    expect(t.list.getView().scroll!.n).toBeGreaterThan(next)
    t.list.writeApplied()
    t.list.reportPosition(end, end)
    expect(t.list.keepEnd(end, end)).toBe(false)
    // Once the reader scrolled (even within the end's margin), their offset is left alone.
    t.list.onScroll(end - 10, end + 500)
    expect(t.list.atEnd).toBe(true)
    expect(t.list.keepEnd(end - 10, end)).toBe(false)
  })

  it('honours the user\'s scroll when a write had no echo (it moved nothing)', () => {
    const t = setup(100)
    t.list.scrollToEnd()
    t.list.writeApplied()
    t.timers.advance(250) // the write moved nothing: no scroll event came back
    t.list.onScroll(t.list.getView().scroll!.top - 600)
    expect(t.list.getView().atEnd).toBe(false)
  })

  it('a reader who scrolls off the end before a queued write to the end is applied cancels it (the view keeps the last write it applied)', () => {
    const t = setup(100, 500, false)
    t.list.scrollToEnd()
    t.echo()
    const applied = t.list.getView().scroll!
    // A row arrives: the list asks to follow it to the end; the view has not applied that yet (the
    // mini-program's setData that carries it is batched) and still shows the content of before.
    t.set(0, 101)
    const queued = t.list.getView().scroll!
    expect(queued).toMatchObject({ toEnd: true })
    expect(queued.n).toBeGreaterThan(applied.n)
    // The reader wheels 60 px up in the view as it is (100 rows of 50 px, a 500 px viewport).
    t.list.onScroll(applied.top - 60, 5_000)
    expect(t.list.getView().scroll).toBe(applied)
    expect(t.list.atEnd).toBe(false)
    expect(t.list.scrollTop).toBe(applied.top - 60)
    // Later changes leave the reader there: no write.
    t.set(0, 102)
    expect(t.list.getView().scroll).toBe(applied)
    expect(t.list.scrollTop).toBe(applied.top - 60)
    // Back at the end by the pill: followed again.
    t.list.scrollToEnd()
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
    expect(t.list.getView().scroll!.n).toBeGreaterThan(queued.n)
  })

  it('a reader who scrolls within the end\'s margin keeps a queued write to the end, and one already applied is not cancelled', () => {
    const t = setup(100, 500, false)
    t.list.scrollToEnd()
    t.echo()
    const applied = t.list.getView().scroll!
    t.set(0, 101)
    const queued = t.list.getView().scroll!
    // 10 px up: still at the end (atEndPx 24), and the row arriving is followed.
    t.list.onScroll(applied.top - 10, 5_000)
    expect(t.list.getView().scroll).toBe(queued)
    expect(t.list.atEnd).toBe(true)
    // Applied, the write is no longer the list's to cancel: its scroll event is its echo, and a
    // reader's scroll after that is judged as before.
    t.list.writeApplied()
    t.list.onScroll(queued.top)
    expect(t.list.getView().scroll).toBe(queued)
    t.list.onScroll(queued.top - 300)
    expect(t.list.getView().scroll).toBe(queued)
    expect(t.list.atEnd).toBe(false)
  })

  it('takes the scroll event of an applied write to the end as its echo while a newer write is queued (not as the reader leaving the end)', () => {
    const t = setup(100, 500, false)
    t.list.scrollToEnd()
    const first = t.list.getView().scroll!
    // Applied to the content of the setData before (the mini-program may apply scroll-top first):
    // it lands 150 px short of the end of the content the same setData lays out.
    t.list.writeApplied(first)
    // Meanwhile the rows are measured taller: a newer write to the end is queued.
    t.list.measured(t.rendered().map((index) => ({ index, size: 65 })))
    const second = t.list.getView().scroll!
    expect(second.n).toBeGreaterThan(first.n)
    // The first write's scroll event: short of the end by the event's own numbers, not the reader's.
    t.list.onScroll(first.top - 150, first.top + 500)
    expect(t.list.atEnd).toBe(true)
    expect(t.list.getView().scroll).toBe(second)
  })

  it('jumps to an index', () => {
    const t = setup(1000)
    t.list.scrollToEnd()
    t.list.scrollToIndex(200, 'start')
    const v = t.list.getView()
    expect(v.scroll!.top).toBe(200 * 50)
    expect(v.firstVisible).toBe(200)
    expect(v.atEnd).toBe(false)
  })

  it('keeps the reader\'s row when the key function already reads the new rows (as the adapter\'s does)', () => {
    const timers = new ManualTimers()
    const list = new VirtualList(500, { scheduler: scheduler(timers) })
    let rows = Array.from({ length: 100 }, (_, i) => `k${i}`)
    const data = () => ({ count: rows.length, key: (i: number) => rows[i]!, estimate: () => 50 })
    list.setData(data())
    list.writeApplied()
    list.onScroll(list.getView().scroll!.top)
    list.onScroll(3000 - 1500)
    const reading = list.getView().firstVisible
    rows = [...Array.from({ length: 50 }, (_, i) => `old${i}`), ...rows]
    list.setData(data())
    expect(list.getView().scroll).toMatchObject({ top: 1500 + 2500, toEnd: false })
    expect(list.getView().firstVisible).toBe(reading + 50)
  })

  it('follows the end through measurements and through a drag back to the real end (the view\'s own height)', () => {
    const t = setup(100, 500, false)
    t.echo()
    const first = t.list.getView().scroll!.n
    // The newest rows turn out taller: still at the end, a new write follows them.
    for (const i of t.rendered()) t.sizes.set(`k${i}`, 70)
    t.measureAll()
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
    expect(t.list.getView().scroll!.n).toBeGreaterThan(first)
    t.echo()
    // The reader drags up: no longer following; arrivals do not move the view.
    const end = t.list.scrollTop
    t.list.onScroll(end - 400, end + 500)
    expect(t.list.atEnd).toBe(false)
    const w = t.list.getView().scroll
    t.set(0, 101)
    expect(t.list.getView().scroll).toBe(w)
    // Dragged back to the view's real end (which the view reports): following again.
    t.list.onScroll(end + 50, end + 550)
    expect(t.list.atEnd).toBe(true)
    t.set(0, 102)
    expect(t.list.getView().scroll).toMatchObject({ toEnd: true })
  })

  it('without same-frame correction (the mini-program), a row measured above the reader writes nothing', () => {
    const t = setup(1000, 500, false)
    t.echo()
    t.list.onScroll(t.list.scrollTop - 20_000)
    const w = t.list.getView().scroll
    const above = t.rendered()[0]!
    t.list.measured([{ index: above, size: 130 }])
    expect(t.list.getView().scroll).toBe(w)
  })

  it('asks again for a write the view did not carry out, and counts only reported positions as seen', () => {
    const t = setup(100, 500, false)
    const w = t.list.getView().scroll!
    expect(t.list.getView().confirmed).toBe(false)
    t.list.writeApplied()
    // The view applied it before laying out the content: it sits at 0 of a real max of 4500.
    expect(t.list.reportPosition(0, 4500)).toBe(true)
    const again = t.list.getView().scroll!
    expect(again).toMatchObject({ toEnd: true })
    expect(again.n).toBeGreaterThan(w.n)
    t.list.writeApplied()
    expect(t.list.reportPosition(4500, 4500)).toBe(false)
    expect(t.list.getView()).toMatchObject({ confirmed: true, atEnd: true, lastVisible: 99 })
  })

  it('ends at the newest row however late the viewport gets its size', () => {
    const timers = new ManualTimers()
    // Opened before layout: a viewport of 0 px.
    const list = new VirtualList(0, { scheduler: scheduler(timers) })
    list.setData({ count: 100, key: keys(0), estimate: () => 50 })
    list.writeApplied()
    // The write landed at 0 (nothing to scroll yet)...
    list.reportPosition(0, 0)
    // ...then the view gets its height: the list asks for the end again.
    list.setViewport(500)
    const w = list.getView().scroll!
    expect(w).toMatchObject({ toEnd: true, top: 100 * 50 - 500 })
    list.writeApplied()
    expect(list.reportPosition(4500, 4500)).toBe(false)
    expect(list.getView()).toMatchObject({ atEnd: true, lastVisible: 99, confirmed: true })
  })
})

