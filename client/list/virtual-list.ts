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
 * Virtual-core does the rest: visible range plus overscan, measurement cache by key, keeping the
 * reader's row in place when rows are prepended (`anchorTo: 'end'`), following appends at the end
 * (`followOnAppend`), and correcting the offset when rows above the viewport change size.
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
  readonly atEnd: boolean
  /** First and last rows intersecting the viewport (-1 when empty). */
  readonly firstVisible: number
  readonly lastVisible: number
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

/** A scroll event this soon after our write is its echo, ms (the platform answers within a frame or two). */
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
  private readonly scheduler: FrameScheduler
  private offsetCb?: (offset: number, isScrolling: boolean) => void
  private rectCb?: (rect: { width: number; height: number }) => void
  private data: ListData = { count: 0, key: String, estimate: () => 40 }
  private shift = 0
  private pool: number
  private view: ListView
  private scroll?: ScrollWrite
  private scrollN = 0
  /** The last write we asked for was "to the end" and no user scroll happened since. */
  private pinnedToEnd = false
  /** Writes the view applied whose scroll event (echo) has not come back yet... */
  private pendingEchoes = 0
  /** ...and until when one is still expected (scheduler ms). */
  private echoUntil = -Infinity
  private idleTimer?: number
  private committing = false
  private readonly listeners = new Set<() => void>()
  private readonly cleanup: () => void

  constructor(viewportPx: number, options: VirtualListOptions) {
    this.overscan = options.overscan ?? 4
    this.minRowPx = options.minRowPx ?? 40
    this.atEndPx = options.atEndPx ?? 24
    this.scrollIdleMs = options.scrollIdleMs ?? 150
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
      // Chat: keep the reader's row in place when rows are prepended, follow appends at the end.
      anchorTo: 'end',
      followOnAppend: true,
      scrollEndThreshold: this.atEndPx,
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
      // Our writes land at once on the stand-in and are reported back synchronously (virtual-core
      // supports a scrollToFn that reports its own write); the view applies them on its next render.
      scrollToFn: (offset, { adjustments }) => this.write(offset + (adjustments ?? 0)),
      onChange: () => {
        if (!this.committing) this.refresh()
      },
    })
    this.cleanup = this.v._didMount()
    this.view = this.compute()
    this.commit()
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

  /** New rows (appended, prepended, or changed). Keys must be stable per row. */
  setData(data: ListData): void {
    const prev = this.data
    if (prev.count > 0 && data.count > 0 && data.key(0) !== prev.key(0)) {
      // Rows prepended (the old first row moved down by i) or dropped at the top (the new first
      // row was at j): shift so every row keeps its position, hence its slot.
      const oldFirst = prev.key(0)
      const newFirst = data.key(0)
      const limit = Math.min(data.count, SHIFT_SEARCH)
      let found = false
      for (let i = 1; i < limit && !found; i++) {
        if (data.key(i) === oldFirst) {
          this.shift += i
          found = true
        }
      }
      for (let j = 1; j < Math.min(prev.count, SHIFT_SEARCH) && !found; j++) {
        if (prev.key(j) === newFirst) {
          this.shift -= j
          found = true
        }
      }
    }
    this.data = data
    this.v.setOptions({ ...this.v.options, count: data.count })
    this.commit()
  }

  /** The viewport's height changed (layout, keyboard). */
  setViewport(heightPx: number, widthPx = this.el.clientWidth): void {
    if (heightPx === this.el.clientHeight && widthPx === this.el.clientWidth) return
    this.el.clientHeight = heightPx
    this.el.clientWidth = widthPx
    this.pool = Math.max(this.pool, this.poolFor(heightPx))
    this.rectCb?.({ width: widthPx, height: heightPx })
    this.commit()
  }

  /** A scroll event from the view (the user or a write landing). */
  onScroll(top: number): void {
    if (!Number.isFinite(top)) return
    if (this.pendingEchoes > 0 && this.scheduler.now() <= this.echoUntil) {
      // The scroll event of a write the view applied. After a write "to the end" the platform
      // clamps it to the real content, which differs from our estimate until the new rows are
      // measured: the view IS at its end, so stay pinned there and keep the model at its end too
      // (measurements then bring the model to the real content). A write that moved nothing has
      // no echo: the expectation lapses after ECHO_WINDOW_MS.
      this.pendingEchoes--
      if (this.pinnedToEnd || Math.abs(top - this.el.scrollTop) < 0.5) return
    }
    if (Math.abs(top - this.el.scrollTop) < 0.5) return
    this.el.scrollTop = top
    this.pinnedToEnd = false
    this.offsetCb?.(top, true)
    if (this.idleTimer !== undefined) this.scheduler.cancelAnimationFrame(this.idleTimer)
    // isScrolling goes back to false once events stop (virtual-core's own observer does the same).
    const at = this.scheduler.now()
    const check = () => {
      if (this.scheduler.now() - at >= this.scrollIdleMs) {
        this.idleTimer = undefined
        this.offsetCb?.(this.el.scrollTop, false)
      } else this.idleTimer = this.scheduler.requestAnimationFrame(check)
    }
    this.idleTimer = this.scheduler.requestAnimationFrame(check)
    this.refresh()
  }

  /** The view applied the scroll write `getView().scroll`: its scroll event will follow. */
  writeApplied(): void {
    this.pendingEchoes++
    this.echoUntil = this.scheduler.now() + ECHO_WINDOW_MS
  }

  /** Heights measured by the view, px. */
  measured(sizes: ReadonlyArray<{ index: number; size: number }>): void {
    this.committing = true
    try {
      for (const { index, size } of sizes) if (size > 0 && index < this.data.count) this.v.resizeItem(index, size)
    } finally {
      this.committing = false
    }
    this.commit()
  }

  scrollToEnd(): void {
    this.v.scrollToEnd()
    this.commit()
  }

  scrollToIndex(index: number, align: 'start' | 'center' | 'end' | 'auto' = 'start'): void {
    this.v.scrollToIndex(index, { align })
    this.commit()
  }

  get atEnd(): boolean {
    return this.view.atEnd
  }

  /** The current offset (last scroll event or write), px. */
  get scrollTop(): number {
    return this.el.scrollTop
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

  private write(top: number): void {
    const max = Math.max(0, this.v.getTotalSize() - this.el.clientHeight)
    const clamped = Math.min(Math.max(0, top), max)
    const toEnd = clamped >= max - 0.5
    this.el.scrollTop = clamped
    this.offsetCb?.(clamped, false)
    // Already pinned at the end and asked to stay there: the view is there, nothing to write.
    if (toEnd && this.pinnedToEnd && this.scroll?.toEnd) {
      this.scroll = { ...this.scroll, top: clamped }
      return
    }
    if (this.scroll && !toEnd && Math.abs(this.scroll.top - clamped) < 0.5 && !this.scroll.toEnd) return
    this.pinnedToEnd = toEnd
    this.scroll = { top: clamped, toEnd, n: ++this.scrollN }
  }

  /** Let virtual-core see the new sizer and run its post-render work, then recompute the view. */
  private commit(): void {
    this.committing = true
    try {
      this.el.scrollHeight = this.v.getTotalSize()
      this.v._willUpdate()
      this.el.scrollHeight = this.v.getTotalSize()
    } finally {
      this.committing = false
    }
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
    const slots: (ListSlot | undefined)[] = new Array(this.pool).fill(undefined)
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
      padTop: first ? first.start : 0,
      padBottom: last ? Math.max(0, total - last.end) : 0,
      total,
      atEnd: this.pinnedToEnd || total - bottom <= this.atEndPx,
      firstVisible,
      lastVisible,
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
