// Over 400 lines on purpose: the list's three position rules (follow, anchor, hold) act on one shared state and read best together.
/**
 * The chat list's model: `@tanstack/virtual-core` driven through a stand-in scroll element, with no
 * renderer. The Taro adapter (ChatList.tsx) feeds it scroll offsets, the viewport height and
 * measured row heights, renders `getView()` and applies the scroll writes it asks for.
 *
 * Rendering plan (what keeps setData small, TARO.md "Measured trap for chat lists"):
 * - Rows are laid out in normal flow between a top and a bottom spacer (`padTop`, `padBottom`): a
 *   row's measured height needs no re-render, and both spacers are sums over rows that are NOT
 *   rendered, so measuring rendered rows never changes them.
 * - Rows live in a fixed pool of slots. A row keeps its slot while it is rendered:
 *   slot = position mod poolSize, where a row's position (index + number of rows prepended so far)
 *   does not change when history is prepended. Slots are ordered on screen by CSS `order` = position
 *   (flex column), so one row entering and one leaving change one slot's contents and order, and
 *   the children array itself never changes shape.
 *
 * Virtual-core is the layout engine (visible range plus overscan, measurement cache by key). Every
 * scroll position is decided here, from three rules, so that model and view cannot disagree:
 * - **Following the end.** `followEnd` is true while the reader is at the newest row: set by opening,
 *   by `scrollToEnd`, and by any scroll of the reader's that ends within `atEndPx` of the end;
 *   cleared by any scroll of the reader's away from it. While it holds, every change of the content
 *   (rows appended, rows measured, the viewport resized) asks for a new write "to the end" — a
 *   scroll view does not follow growing content by itself (neither the mini-program's nor a browser's).
 * - **Anchoring.** Otherwise the first visible row is the anchor: rows prepended or trimmed above it
 *   move the offset by exactly what changed above it, so it stays at the same screen y.
 * - **Measured heights.** A row measured taller or shorter than its estimate changes the layout once.
 *   Where the view measures before it paints (h5: layout effect and ResizeObserver) it is
 *   compensated in the same frame, for rows above the anchor only (`correctMeasured`). Where it
 *   cannot (the mini-program measures through an asynchronous selector query, after the render layer
 *   has already drawn the row), compensating would move the content a second time: there the model
 *   takes the position the view reports.
 * - **No writes while the reader scrolls.** A write during a drag or a fling cuts it (a mini-program
 *   scroll-view) or is undone by the smooth-scroll animation in progress (a browser's wheel). So
 *   while the reader scrolls, a shift above the anchor (a prepended page, a measured row) goes into
 *   the top spacer instead: `hold` px of the model's content above the first rendered row are not
 *   drawn, the view's offsets are the model's less `hold`, and nothing under the reader moves. When
 *   the scrolling stops, one write gives the spacer its height back and moves the offset by the
 *   same amount, in one frame. (A shift that the spacer cannot absorb, near the top, is written.)
 * The view reports where it really is (`onScroll`); a report that answers our own write is an echo.
 * A write is queued from the moment it is asked for until the view says it applied it
 * (`writeApplied`; the mini-program's setData that carries it is batched, and lands a few ms later):
 * a scroll of the reader's in between that takes the list off its end cancels a queued write "to
 * the end", so it does not land and pull the reader back (the reader wins). A write to an offset
 * stays: it carries a shift (an anchor, a hold given back) that the same render draws.
 * Rows count as seen only at positions the view has reported (`confirmed`), never at ones we asked for.
 */
import { Virtualizer, type VirtualItem } from '@tanstack/virtual-core'

export interface FrameScheduler {
  requestAnimationFrame(cb: () => void): number
  cancelAnimationFrame(id: number): void
  now(): number
}

export interface ListData {
  readonly count: number
  readonly key: (index: number) => string
  /** Estimated row height, px, until the row is measured. */
  readonly estimate: (index: number) => number
}

export interface VirtualListOptions {
  /** Rows rendered beyond each edge of the viewport. Default 4. */
  readonly overscan?: number
  /** Smallest row height expected, px: sizes the slot pool. Default 40. */
  readonly minRowPx?: number
  /** Within this many px of the end the list is "at the bottom". Default 24. */
  readonly atEndPx?: number
  /** After the last scroll event, the user has stopped scrolling after this long, ms. Default 150. */
  readonly scrollIdleMs?: number
  /**
   * The view measures rows before it paints them and applies a write in the same frame (h5), so a
   * measured height above the anchor is compensated by a write. Default false (the mini-program:
   * the row is already drawn when its height is known; see the header).
   */
  readonly correctMeasured?: boolean
  readonly scheduler: FrameScheduler
}

export interface ListSlot {
  readonly slot: number
  readonly index: number
  readonly key: string
  /** Stable position of the row (index + rows prepended so far): its CSS `order`. */
  readonly pos: number
}

/** A scroll the view must apply. `n` grows with every new request. */
export interface ScrollWrite {
  readonly top: number
  /** Land at the very end: a view may write a larger value and let the platform clamp it. */
  readonly toEnd: boolean
  readonly n: number
}

export interface ListView {
  /** One entry per slot of the pool; undefined: the slot is unused (rendered empty). */
  readonly slots: readonly (ListSlot | undefined)[]
  readonly padTop: number
  readonly padBottom: number
  readonly total: number
  /** The reader is at the newest row (and new rows are followed). */
  readonly atEnd: boolean
  /** First and last rows intersecting the viewport (-1 when empty). */
  readonly firstVisible: number
  readonly lastVisible: number
  /**
   * The visible range is where the view reported itself (a scroll event or a confirmed write), not
   * only where a write was asked for: what a person can have seen.
   */
  readonly confirmed: boolean
  readonly scroll?: ScrollWrite
}

interface StandIn {
  scrollTop: number
  scrollLeft: number
  scrollHeight: number
  scrollWidth: number
  clientHeight: number
  clientWidth: number
  window: {
    requestAnimationFrame(cb: () => void): number
    cancelAnimationFrame(id: number): void
    performance: { now(): number }
  }
}

/** A scroll event this soon after our write may be its echo, ms (the platform answers within a frame or two). */
const ECHO_WINDOW_MS = 200

/** How far a prepend or a trim at the top is looked for, in rows (a history page is at most 200). */
const SHIFT_SEARCH = 1000

export class VirtualList {
  private readonly v: Virtualizer<Element, Element>
  private readonly el: StandIn
  private readonly overscan: number
  private readonly minRowPx: number
  private readonly atEndPx: number
  private readonly scrollIdleMs: number
  private readonly correctMeasured: boolean
  private readonly scheduler: FrameScheduler
  private offsetCb?: (offset: number, isScrolling: boolean) => void
  private rectCb?: (rect: { width: number; height: number }) => void
  private data: ListData = { count: 0, key: String, estimate: () => 40 }
  private shift = 0
  private pool: number
  private view: ListView
  private scroll?: ScrollWrite
  /** The last write the view applied (`writeApplied`); `scroll` differs from it while a write is queued. */
  private applied?: ScrollWrite
  private scrollN = 0
  /** The reader is at the end: content changes keep the view there (see the header). */
  private followEnd = true
  /** The last write the view applied, until its echo came back or the window ran out. */
  private echo?: { top: number; toEnd: boolean; until: number }
  /** The offset is one the view reported (not only one we asked for). */
  private confirmed = false
  private scrolling = false
  /** The reader has scrolled since our last write (the view's offset is theirs, not ours). */
  private readerMoved = false
  /** Model px above the first rendered row not drawn while the reader scrolls (see the header). */
  private hold = 0
  private idleTimer?: number
  private readonly listeners = new Set<() => void>()
  private readonly cleanup: () => void

  constructor(viewportPx: number, options: VirtualListOptions) {
    this.overscan = options.overscan ?? 4
    this.minRowPx = options.minRowPx ?? 40
    this.atEndPx = options.atEndPx ?? 24
    this.scrollIdleMs = options.scrollIdleMs ?? 150
    this.correctMeasured = options.correctMeasured ?? false
    this.scheduler = options.scheduler
    this.pool = this.poolFor(viewportPx)
    const scheduler = options.scheduler
    this.el = {
      scrollTop: 0,
      scrollLeft: 0,
      scrollHeight: 0,
      scrollWidth: 0,
      clientHeight: viewportPx,
      clientWidth: 0,
      window: {
        requestAnimationFrame: (cb) => scheduler.requestAnimationFrame(cb),
        cancelAnimationFrame: (id) => scheduler.cancelAnimationFrame(id),
        performance: { now: () => scheduler.now() },
      },
    }
    this.v = new Virtualizer<Element, Element>({
      count: 0,
      getScrollElement: () => this.el as unknown as Element,
      estimateSize: (i) => this.data.estimate(i),
      getItemKey: (i) => this.data.key(i),
      overscan: this.overscan,
      // Layout only: every scroll decision is this model's (see the header), so virtual-core's own
      // anchoring, following and size-change corrections are off.
      anchorTo: 'start',
      followOnAppend: false,
      initialRect: { width: 0, height: viewportPx },
      observeElementRect: (_inst, cb) => {
        this.rectCb = cb
        cb({ width: this.el.clientWidth, height: this.el.clientHeight })
        return () => {
          this.rectCb = undefined
        }
      },
      observeElementOffset: (_inst, cb) => {
        this.offsetCb = cb
        cb(this.el.scrollTop, false)
        return () => {
          this.offsetCb = undefined
        }
      },
      scrollToFn: () => undefined,
      onChange: () => this.refresh(),
    })
    this.v.shouldAdjustScrollPositionOnItemSizeChange = () => false
    this.cleanup = this.v._didMount()
    this.v._willUpdate()
    this.view = this.compute()
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  getView(): ListView {
    return this.view
  }

  get poolSize(): number {
    return this.pool
  }

  get count(): number {
    return this.data.count
  }

  get atEnd(): boolean {
    return this.view.atEnd
  }

  /** A view at `top` whose largest offset is `max` is at the end (within `atEndPx`). */
  isAtEnd(top: number, max: number): boolean {
    return max - top <= this.atEndPx
  }

  /** The viewport height the model lays rows out for (the last one the view measured), px. */
  get viewportPx(): number {
    return this.el.clientHeight
  }

  /** The view's current offset (last scroll report or write), px. */
  get scrollTop(): number {
    return this.el.scrollTop - this.hold
  }

  /** The reader is scrolling (a drag or a fling: scroll events less than `scrollIdleMs` apart). */
  get isScrolling(): boolean {
    return this.scrolling
  }

  /** New rows (appended, prepended, or changed). Keys must be stable per row. */
  setData(data: ListData): void {
    // The previous rows' keys as laid out (not `this.data.key`: a caller's key function may already
    // read the new rows, as the adapter's does).
    const prevItems = this.measurements()
    const prevKey = (i: number) => String(prevItems[i]?.key)
    const prevCount = prevItems.length
    const anchor = this.followEnd ? undefined : this.anchor()
    let moved = 0
    if (prevCount > 0 && data.count > 0 && data.key(0) !== prevKey(0)) {
      // Rows prepended (the old first row moved down by i) or dropped at the top (the new first
      // row was at j): shift so every row keeps its position, hence its slot.
      const oldFirst = prevKey(0)
      const newFirst = data.key(0)
      const limit = Math.min(data.count, SHIFT_SEARCH)
      let found = false
      for (let i = 1; i < limit && !found; i++) {
        if (data.key(i) === oldFirst) {
          moved = i
          found = true
        }
      }
      for (let j = 1; j < Math.min(prevCount, SHIFT_SEARCH) && !found; j++) {
        if (prevKey(j) === newFirst) {
          moved = -j
          found = true
        }
      }
      this.shift += moved
    }
    this.data = data
    this.v.setOptions({ ...this.v.options, count: data.count })
    this.layoutChanged(anchor && { ...anchor, index: anchor.index + moved })
  }

  /**
   * The viewport's size changed (the composer grew or shrank, the window turned, the keyboard).
   * `wasAtEnd`: the view was within `atEndPx` of its end just before, by its own geometry. A reader
   * at the end stays there; anyone else keeps the first visible row where it was. The view's word
   * counts beside the model's: the scroll event of a clamp (a viewport that grew) can reach the model
   * before the new size does, and judged against the old size it looked like the reader leaving the end.
   */
  setViewport(heightPx: number, widthPx = this.el.clientWidth, wasAtEnd = false): void {
    if (heightPx === this.el.clientHeight && widthPx === this.el.clientWidth) return
    if (wasAtEnd) this.followEnd = true
    const anchor = this.followEnd ? undefined : this.anchor()
    this.el.clientHeight = heightPx
    this.el.clientWidth = widthPx
    this.pool = Math.max(this.pool, this.poolFor(heightPx))
    this.rectCb?.({ width: widthPx, height: heightPx })
    this.layoutChanged(anchor)
  }

  /**
   * A scroll event at `top`, of a view whose content was `contentPx` tall, took the list off its end,
   * judged against a viewport `judgedPx` tall; measured after it, the viewport is `heightPx` tall. A
   * viewport that grew (the composer lost a line, its panel closed) clamps the offset to its new end,
   * and a mini-program scroll-view reports that clamp before what grew it reaches the list: judged
   * against the old height it looked like the reader leaving the end. A taller viewport at whose end
   * the event was, by the event's own numbers, was that clamp, unless something moved the list since
   * (the reader, scrolling on): the list follows the end again, at the new size. A reader who wheeled
   * or dragged away leaves the height as it was. True when the list follows the end again.
   */
  clampedAtEnd(judgedPx: number, heightPx: number, top: number, contentPx: number, widthPx = this.el.clientWidth): boolean {
    if (this.followEnd || !(heightPx > judgedPx + 0.5)) return false
    if (!this.isAtEnd(top, contentPx - heightPx) || Math.abs(this.scrollTop - top) >= 1) return false
    this.followEnd = true
    if (heightPx !== this.el.clientHeight || widthPx !== this.el.clientWidth) this.setViewport(heightPx, widthPx, true)
    else this.write(Infinity)
    return true
  }

  /** Heights measured by the view, px. Rows whose height is already known are ignored. */
  measured(sizes: ReadonlyArray<{ index: number; size: number }>): void {
    const anchor = this.followEnd || !this.correctMeasured ? undefined : this.anchor()
    const before = this.v.getTotalSize()
    let changed = false
    for (const { index, size } of sizes) {
      if (!(size > 0) || index >= this.data.count) continue
      const item = this.item(index)
      if (item && Math.abs(item.size - size) < 0.5) continue
      this.v.resizeItem(index, size)
      changed = true
    }
    if (!changed) return
    if (this.followEnd && this.v.getTotalSize() === before) {
      this.refresh()
      return
    }
    this.layoutChanged(anchor)
  }

  /**
   * A scroll event from the view: the reader, or the echo of a write the view applied.
   * `contentPx`: the view's own content height where the event carries it (both platforms' scroll
   * events do): "at the end" is judged against it, not against estimates of rows not measured yet.
   */
  onScroll(top: number, contentPx?: number): void {
    if (!Number.isFinite(top)) return
    const echo = this.echo
    if (echo) {
      this.echo = undefined
      if (this.scheduler.now() <= echo.until && (echo.toEnd || Math.abs(top - echo.top) < 1)) {
        // Where our write landed. "To the end" lands at the view's real end, which differs from the
        // model's until the newest rows are measured: the reader is at the end either way.
        this.place(top + this.hold, false)
        return
      }
    }
    if (this.followEnd && this.confirmed && Math.abs(top - this.scrollTop) < 1) {
      // Not a move: the offset the list already holds, reported again (the echo of a write that
      // reportPosition already answered, or one later than the window). Judged as the reader's, rows
      // laid out since the write landed would make it look away from the end, and end the following.
      if (contentPx !== undefined && contentPx - this.el.clientHeight - top > 1) this.write(Infinity)
      return
    }
    // The reader moved.
    this.readerMoved = true
    const content = contentPx !== undefined && contentPx > 0 ? contentPx : this.v.getTotalSize() - this.hold
    const max = Math.max(0, content - this.el.clientHeight)
    this.followEnd = max - top <= this.atEndPx
    // A write to the end not applied yet (the view still has its content of before: an arrival, a new
    // size) would land after this and pull the reader back to the end: it is cancelled. The view keeps
    // the last write it applied; a reader who stays at the end keeps it, as if it had landed first.
    if (!this.followEnd && this.scroll?.toEnd && this.scroll !== this.applied) this.scroll = this.applied
    this.scrolling = true
    if (this.idleTimer !== undefined) this.scheduler.cancelAnimationFrame(this.idleTimer)
    const at = this.scheduler.now()
    const check = () => {
      if (this.scheduler.now() - at >= this.scrollIdleMs) {
        this.idleTimer = undefined
        this.scrolling = false
        this.offsetCb?.(this.el.scrollTop, false)
        // At rest: what was held goes back into the spacer, with the offset, in one write.
        if (this.hold !== 0) this.write(this.el.scrollTop)
      } else this.idleTimer = this.scheduler.requestAnimationFrame(check)
    }
    this.idleTimer = this.scheduler.requestAnimationFrame(check)
    this.place(top + this.hold, true)
  }

  /**
   * The view applied the write `w` (default `getView().scroll`): a scroll event may follow (none if
   * nothing moved). Until this call the write is queued, and a reader's scroll can cancel it
   * (`onScroll`); a view that hands writes on later than it renders them (the mini-program's batched
   * setData) calls this when the write reached the page, with the write it rendered.
   */
  writeApplied(w: ScrollWrite | undefined = this.scroll): void {
    if (!w) return
    if (!this.applied || w.n > this.applied.n) this.applied = w
    this.echo = { top: w.top, toEnd: w.toEnd, until: this.scheduler.now() + ECHO_WINDOW_MS }
  }

  /**
   * The view read where it is (h5 after applying a write, a mini-program selector query): `top` is
   * its offset and `max` its own largest offset. Returns true when the last write did not land
   * (applied before the content it needed was laid out) and has been asked for again.
   */
  reportPosition(top: number, max: number): boolean {
    if (!Number.isFinite(top)) return false
    const w = this.scroll
    const missed = w !== undefined && (w.toEnd ? this.followEnd && max - top > 1 : Math.abs(top - w.top) > 1 && top < max - 1)
    this.echo = undefined
    if (missed) {
      this.write(w.toEnd ? Infinity : w.top + this.hold)
      return true
    }
    this.place(top + this.hold, false)
    return false
  }

  /**
   * The view's offset and its own largest offset, read after it laid out new content (h5: every
   * render and resize). While the list follows the end and the reader has not scrolled since our
   * last write, a view short of its end is asked to go there again: a write to the end lands at the
   * end of the content laid out at that moment, and rows laid out after it (a render that was still
   * to come, a late measurement) are below it. True when a write was asked.
   */
  keepEnd(top: number, max: number): boolean {
    if (!Number.isFinite(top) || !Number.isFinite(max) || max - top <= 1) return false
    if (!this.followEnd || this.readerMoved || this.scroll?.toEnd !== true) return false
    this.write(Infinity)
    return true
  }

  scrollToEnd(): void {
    this.followEnd = true
    this.write(Infinity)
  }

  scrollToIndex(index: number, align: 'start' | 'center' | 'end' | 'auto' = 'start'): void {
    if (this.data.count === 0) return
    const to = this.v.getOffsetForIndex(index, align)
    if (!to) return
    this.followEnd = false
    this.write(to[0])
  }

  dispose(): void {
    if (this.idleTimer !== undefined) this.scheduler.cancelAnimationFrame(this.idleTimer)
    this.cleanup()
    this.listeners.clear()
  }

  // ------------------------------------------------------------------ internals

  private poolFor(viewportPx: number): number {
    return Math.ceil(viewportPx / this.minRowPx) + 2 * this.overscan + 2
  }

  private item(index: number): VirtualItem | undefined {
    return this.measurements()[index]
  }

  /** Every row as laid out (getVirtualItems() has only the rendered ones); private and untyped in virtual-core's typings. */
  private measurements(): VirtualItem[] {
    return (this.v as unknown as { getMeasurements(): VirtualItem[] }).getMeasurements()
  }

  /** The first row intersecting the viewport and how far above the viewport's top it starts (model px). */
  private anchor(): { index: number; key: string; delta: number } | undefined {
    if (this.data.count === 0) return undefined
    const it = this.v.getVirtualItemForOffset(this.el.scrollTop)
    if (!it) return undefined
    return { index: it.index, key: String(it.key), delta: this.el.scrollTop - it.start }
  }

  /** The layout changed: keep the reader at the end, or the anchor row where it was. */
  private layoutChanged(anchor?: { index: number; key: string; delta: number }): void {
    this.el.scrollHeight = this.v.getTotalSize()
    if (this.followEnd) {
      if (this.data.count > 0) this.write(Infinity)
      else this.refresh()
      return
    }
    if (anchor && anchor.index >= 0 && anchor.index < this.data.count && this.data.key(anchor.index) === anchor.key) {
      const it = this.item(anchor.index)
      if (it) {
        const top = it.start + anchor.delta
        const shift = top - this.el.scrollTop
        if (Math.abs(shift) >= 0.5) {
          if (!this.scrolling || !this.holdShift(top, shift)) this.write(top)
          return
        }
      }
    }
    this.refresh()
  }

  /**
   * While the reader scrolls: keep a shift of `shift` px above the anchor out of the drawn spacer
   * (the view does not move). False when the spacer is too small to absorb it.
   */
  private holdShift(top: number, shift: number): boolean {
    const hold = this.hold + shift
    this.el.scrollTop = top
    const first = this.v.getVirtualItems()[0]
    this.el.scrollTop = top - shift
    if (!first || first.start - hold < 0) return false
    this.hold = hold
    this.setOffset(top, true)
    return true
  }

  /** Ask the view to scroll to model offset `top` (Infinity: to the end); releases any hold. */
  private write(top: number): void {
    this.hold = 0
    this.readerMoved = false
    const max = Math.max(0, this.v.getTotalSize() - this.el.clientHeight)
    const toEnd = top >= max - 0.5
    const clamped = Math.min(Math.max(0, top), max)
    this.scroll = { top: clamped, toEnd, n: ++this.scrollN }
    this.confirmed = false
    // The echo of a write already applied stays expected: its scroll event can still be on its way
    // while this one is queued, and is not the reader's.
    this.setOffset(clamped, false)
  }

  private place(top: number, isScrolling: boolean): void {
    this.confirmed = true
    this.setOffset(top, isScrolling)
  }

  private setOffset(top: number, isScrolling: boolean): void {
    this.el.scrollTop = top
    this.el.scrollHeight = this.v.getTotalSize()
    this.offsetCb?.(top, isScrolling)
    this.refresh()
  }

  private refresh(): void {
    const next = this.compute()
    if (sameView(this.view, next)) return
    this.view = next
    for (const l of [...this.listeners]) l()
  }

  private compute(): ListView {
    const items: VirtualItem[] = this.v.getVirtualItems()
    if (items.length > this.pool) this.pool = items.length + this.overscan
    const slots = new Array<ListSlot | undefined>(this.pool).fill(undefined)
    for (const it of items) {
      const pos = it.index - this.shift
      const slot = ((pos % this.pool) + this.pool) % this.pool
      slots[slot] = { slot, index: it.index, key: String(it.key), pos }
    }
    const total = this.v.getTotalSize()
    const first = items[0]
    const last = items[items.length - 1]
    const top = this.el.scrollTop
    const bottom = top + this.el.clientHeight
    let firstVisible = -1
    let lastVisible = -1
    for (const it of items) {
      if (it.end > top && it.start < bottom) {
        if (firstVisible < 0) firstVisible = it.index
        lastVisible = it.index
      }
    }
    return {
      slots,
      padTop: first ? Math.max(0, first.start - this.hold) : 0,
      padBottom: last ? Math.max(0, total - last.end) : 0,
      total: total - this.hold,
      atEnd: this.followEnd,
      firstVisible,
      lastVisible,
      confirmed: this.confirmed,
      scroll: this.scroll,
    }
  }
}

function sameView(a: ListView, b: ListView): boolean {
  if (
    a.padTop !== b.padTop ||
    a.padBottom !== b.padBottom ||
    a.total !== b.total ||
    a.atEnd !== b.atEnd ||
    a.firstVisible !== b.firstVisible ||
    a.lastVisible !== b.lastVisible ||
    a.confirmed !== b.confirmed ||
    a.scroll !== b.scroll ||
    a.slots.length !== b.slots.length
  ) {
    return false
  }
  for (let i = 0; i < a.slots.length; i++) {
    const x = a.slots[i]
    const y = b.slots[i]
    if (x === y) continue
    if (!x || !y || x.key !== y.key || x.index !== y.index || x.pos !== y.pos) return false
  }
  return true
}
