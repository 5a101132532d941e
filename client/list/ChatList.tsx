/**
 * The thin Taro adapter of VirtualList: a ScrollView whose content is a top spacer, a fixed pool of
 * row slots ordered by CSS `order`, and a bottom spacer (see virtual-list.ts for why and for how
 * positions are decided). It feeds the model with scroll offsets, the viewport size and measured row
 * heights, and applies the model's scroll writes:
 * - h5: measured and written synchronously before paint (layout effect, ResizeObserver), straight
 *   to the element; there is no `scrollTop` prop (Taro's h5 wrapper would assign it on every render).
 * - weapp: rows measured by selector query; writes through the `scroll-top` prop, which acts only
 *   when its value changes ("to the end" writes a changing value past the end, which the scroll-view
 *   clamps); each write is confirmed by a `scrollOffset` query and asked again if it did not land.
 *   A write is applied when the setData that carries it reaches the page, not when it renders (Taro
 *   batches the setData): a reader's scroll in between cancels it, and its value is taken back out
 *   of the batch (`takeBackWeapp`).
 */
import { ScrollView, View } from '@tarojs/components'
import Taro, { useDidHide, useDidShow } from '@tarojs/taro'
import type { TaroElement } from '@tarojs/runtime'
import {
  forwardRef,
  useEffect,
  useImperativeHandle,
  useLayoutEffect,
  useReducer,
  useRef,
  useState,
  type ReactNode,
} from 'react'
import { onViewportChange } from './viewport-signal'
import { VirtualList, type FrameScheduler, type ListView, type ScrollWrite } from './virtual-list'
import './chat-list.css'

const isH5 = process.env.TARO_ENV === 'h5'

/** Frames for virtual-core's scroll reconciliation; the mini-program logic layer has no rAF. */
const scheduler: FrameScheduler = {
  requestAnimationFrame: (cb) => setTimeout(cb, 16) as unknown as number,
  cancelAnimationFrame: (id) => clearTimeout(id as unknown as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
}

export interface ChatListHandle {
  scrollToEnd(): void
  scrollToIndex(index: number): void
  readonly view: ListView
}

export interface ChatListProps {
  /** DOM id of the scroll view (also prefixes row ids). */
  readonly id: string
  readonly count: number
  /** Stable key of row `index`. */
  readonly keyOf: (index: number) => string
  readonly estimate: (index: number) => number
  /** Identity changes when rows changed (the message array). */
  readonly version: unknown
  readonly renderRow: (index: number) => ReactNode
  /** The view changed (visible range, at the end or not). */
  readonly onView?: (view: ListView) => void
  /** Initial viewport height guess, px (replaced by the measured one). */
  readonly viewportGuess?: number
  readonly className?: string
}

const ORDER_TOP = -2_000_000_000
const ORDER_BOTTOM = 2_000_000_000

export const ChatList = forwardRef<ChatListHandle, ChatListProps>(function ChatList(props, ref) {
  const { id, count, keyOf, estimate, version, renderRow, onView } = props
  const [list] = useState(() => new VirtualList(props.viewportGuess ?? 600, { scheduler, correctMeasured: isH5 }))
  const [, rerender] = useReducer((x: number) => x + 1, 0)
  const rendering = useRef(false)
  const dataVersion = useRef<unknown>(undefined)
  const fns = useRef({ keyOf, estimate })
  fns.current = { keyOf, estimate }

  // A page in the background gets no setData (PLATFORM.md, Rendering): the list's own changes
  // (late measurements, their writes) wait for the page to show again, like the store's view gate.
  const hidden = useRef(false)
  const held = useRef(false)
  const lastOut = useRef<JSX.Element | null>(null)
  useDidHide(() => {
    hidden.current = true
  })
  useDidShow(() => {
    hidden.current = false
    if (held.current) {
      held.current = false
      rerender()
    }
  })
  useEffect(() => {
    const off = list.subscribe(() => {
      if (rendering.current) return
      if (hidden.current) held.current = true
      else rerender()
    })
    return () => {
      off()
      list.dispose()
    }
  }, [list])

  // New rows go into the model during render, so the render shows them and the scroll position
  // that goes with them (follow at the end, anchor on prepend) in ONE commit, hence one setData.
  rendering.current = true
  if (dataVersion.current !== version) {
    dataVersion.current = version
    list.setData({ count, key: (i) => fns.current.keyOf(i), estimate: (i) => fns.current.estimate(i) })
  }
  const view = list.getView()
  rendering.current = false

  useImperativeHandle(
    ref,
    () => ({
      scrollToEnd: () => list.scrollToEnd(),
      scrollToIndex: (index: number) => list.scrollToIndex(index, 'start'),
      get view() {
        return list.getView()
      },
    }),
    [list],
  )

  // ---- scroll writes
  const applied = useRef<{ n: number; value: number }>({ n: 0, value: -1 })
  /** weapp: the `scroll-top` the page has (its setData landed); `applied` is the one last rendered. */
  const landed = useRef<{ n: number; value: number }>({ n: 0, value: -1 })
  const taken = useRef<ScrollWrite | undefined>(undefined)
  const scrollView = useRef<TaroElement | null>(null)
  const seen = useRef<SeenH5>({ top: 0, max: 0, height: 0, width: 0, retries: 0 })
  /** h5: when the reader last touched, wheeled, clicked or keyed in the list (scheduler ms). */
  const readerInputAt = useRef(-Infinity)
  const w = view.scroll
  let weappTop: number | undefined
  if (!isH5) {
    // Only a newer write: one the reader cancelled gives back the model's older one (takeBackWeapp).
    if (w && w.n > applied.current.n && hidden.current) held.current = true
    else if (w && w.n > applied.current.n) {
      // A scroll-view acts on `scroll-top` only when the value changes: "to the end" writes a value
      // past the end that changes with every request (the view clamps it), a repeated offset is nudged.
      let value = w.toEnd ? view.total + 10_000 + (w.n % 2) : w.top
      if (value === applied.current.value) value += 0.01
      applied.current = { n: w.n, value }
      taken.current = w
    }
    weappTop = applied.current.value >= 0 ? applied.current.value : undefined
  }

  // weapp: the write rendered is applied once the setData that carries it has reached the page (the
  // callbacks Taro runs after its next setData; this commit queued it).
  useLayoutEffect(() => {
    if (isH5) return
    const sent = taken.current
    taken.current = undefined
    const root = scrollView.current?._root
    if (!sent) return
    const value = applied.current.value
    const land = () => {
      // Taken back meanwhile (a reader's scroll): the setData carried the old value.
      if (applied.current.n !== sent.n) return
      landed.current = { n: sent.n, value }
      // Cancelled too late to be taken back (the setData had left): it lands, and its scroll event is
      // the reader's news, not an echo.
      if ((list.getView().scroll?.n ?? 0) >= sent.n) list.writeApplied(sent)
    }
    if (root?.pendingUpdate) root.enqueueUpdateCallback(land)
    else land()
  })

  // h5: measure, then apply the write, before the browser paints (a layout effect, and a
  // ResizeObserver, whose callbacks also run between layout and paint): a row measured taller than
  // its estimate is compensated in the frame that shows it, so content never moves without input.
  useLayoutEffect(() => {
    if (isH5) syncH5(id, list, applied.current, seen.current)
  })
  useEffect(() => {
    if (!isH5 || typeof ResizeObserver === 'undefined') return
    const el = scrollElement(id)
    if (!el) return
    const ro = new ResizeObserver(() => syncH5(id, list, applied.current, seen.current))
    ro.observe(el)
    const inner = el.querySelector('.vl-in')
    if (inner) ro.observe(inner)
    const input = () => {
      readerInputAt.current = scheduler.now()
    }
    for (const type of READER_INPUT) el.addEventListener(type, input, { capture: true, passive: true })
    const state = seen.current
    return () => {
      ro.disconnect()
      for (const type of READER_INPUT) el.removeEventListener(type, input, { capture: true })
      if (state.nextFrame !== undefined) cancelAnimationFrame(state.nextFrame)
      state.nextFrame = undefined
    }
  }, [id, list])

  // weapp: measure rows (and the viewport, however late it gets its size) through a selector query
  // whenever the rendered rows change; after a write, confirm where the scroll-view really is: it
  // may have applied `scroll-top` before laying out the content of the same setData, and clamped it.
  const measuredFor = useRef('')
  const confirm = useRef({ n: 0, tries: 0 })
  useEffect(() => {
    if (isH5 || hidden.current) return
    const signature = view.slots.map((s) => s?.key ?? '').join('|')
    if (signature !== measuredFor.current || view.total === 0) {
      measuredFor.current = signature
      measureWeapp(id, view, list)
    }
    if (w && w.n !== confirm.current.n) {
      confirm.current.n = w.n
      confirmWeapp(id, w.n, list, confirm.current)
    }
  })

  // weapp: a composer that grew or shrank changes the scroll-view's height without rendering the
  // list: measured again, the model keeps a reader at the end there (or the first visible row where
  // it was), as a ResizeObserver does on h5.
  useEffect(() => {
    if (isH5) return undefined
    return onViewportChange(() => {
      // At the end now, before a viewport that grew clamps the offset (its scroll event, judged
      // against the old height, would look like the reader leaving the end).
      if (!hidden.current) measureWeapp(id, list.getView(), list, 0, list.atEnd)
    })
  }, [id, list])

  useEffect(() => {
    onView?.(view)
  }, [view, onView])

  const onScroll = (e: { detail?: { scrollTop?: unknown; scrollHeight?: unknown } }) => {
    const top = e.detail?.scrollTop
    const height = e.detail?.scrollHeight
    // Events without a numeric scrollTop exist (TARO.md: miniprogram-simulate sends each twice,
    // the second with an empty detail): ignore them.
    if (typeof top !== 'number') return
    // h5: a viewport that grew (the composer lost a line) clamps the offset at once, and the scroll
    // event of that clamp comes before the ResizeObserver's callback: judged against the old height,
    // it looked like the reader leaving the end, and the list stopped following it (a line typed
    // again then hid the last message behind the composer). The model takes the new size first,
    // judged by where the view was before it (syncH5).
    // The event is the size change's (the clamp), not the reader's: the offset it reports is already
    // out of date once the model has put the reader back (at the end, or at the anchor row).
    const el = isH5 ? scrollElement(id) : null
    if (el && (el.clientHeight !== seen.current.height || el.clientWidth !== seen.current.width)) {
      syncH5(id, list, applied.current, seen.current)
      return
    }
    // A small move off the end that no input of the reader's made (Chromium moved the list up by
    // the composer's new line a frame after the list had gone to its end) is put back: judged as the
    // reader's, it was close enough to count as "at the end" yet was never corrected.
    if (el && list.atEnd && scheduler.now() - readerInputAt.current > READER_INPUT_MS) {
      const short = el.scrollHeight - el.clientHeight - el.scrollTop
      if (short > 1 && list.isAtEnd(el.scrollTop, el.scrollHeight - el.clientHeight)) {
        list.scrollToEnd()
        syncH5(id, list, applied.current, seen.current)
        return
      }
    }
    // weapp: a viewport that grew clamps the offset too, and its scroll event comes before the
    // composer's linechange (viewportChanged) reaches the list; a scroll event carries no viewport height (its detail: scrollTop, scrollHeight and
    // the deltas), so an event that took the list off its end is judged again, by its own numbers,
    // once the scroll-view's height is measured. Only those: the echoes of the list's own writes
    // pass as before, and a reader who wheels or drags away is measured at the height the event was
    // judged against.
    const following = list.atEnd
    const judgedPx = list.viewportPx
    list.onScroll(top, typeof height === 'number' ? height : undefined)
    if (!isH5) takeBackWeapp(scrollView.current, list, applied.current, landed.current)
    if (el) see(el, seen.current)
    else if (!isH5 && following && !list.atEnd && typeof height === 'number') judgeLeaveWeapp(id, list, judgedPx, top, height)
  }

  // h5: no `scrollTop` prop at all. Taro's h5 wrapper assigns every prop to the element on every
  // render, and `el.scrollTop = undefined` is a scroll to 0 (TARO.md, "The h5 build in Chromium").
  const weappProps = isH5 ? {} : { scrollTop: weappTop }
  // Hidden: a render already under way when the page went away (a late measurement's, scheduled
  // before the hide) gives back the tree of the last one, which React does not reconcile again, so
  // no setData leaves; the held change renders on show.
  if (hidden.current && lastOut.current) {
    held.current = true
    return lastOut.current
  }
  lastOut.current = (
    <ScrollView
      id={id}
      ref={scrollView}
      className={`vl ${props.className ?? ''}`}
      scrollY
      {...weappProps}
      onScroll={onScroll}
    >
      <View className='vl-in'>
        <View className='vl-pad' style={`height:${view.padTop}px;order:${ORDER_TOP}`} />
        {view.slots.map((s, slot) => (
          <View
            key={slot}
            id={`${id}-${slot}`}
            className='vl-row'
            style={s ? `order:${s.pos}` : 'display:none'}
          >
            {s ? renderRow(s.index) : null}
          </View>
        ))}
        <View className='vl-pad' style={`height:${view.padBottom}px;order:${ORDER_BOTTOM}`} />
      </View>
    </ScrollView>
  )
  return lastOut.current
})

/**
 * weapp: a write rendered but not applied (its setData is still in Taro's batch) that the model has
 * cancelled (a reader's scroll, VirtualList.onScroll) is taken back out of that batch: the scroll-view
 * gets the `scroll-top` it has again, which a scroll-view ignores (it acts on changes only), in the
 * same setData (Taro sends the last value set). The render the cancellation causes sets the same
 * value. A setData already sent cannot be taken back: its write lands, and its scroll event is judged
 * as the reader's.
 */
function takeBackWeapp(el: TaroElement | null, list: VirtualList, applied: { n: number; value: number }, landed: { n: number; value: number }): void {
  if (applied.n === landed.n || (list.getView().scroll?.n ?? 0) >= applied.n) return
  const root = el?._root
  if (!el || !root?.pendingUpdate || landed.value < 0) return
  applied.n = landed.n
  applied.value = landed.value
  el.setAttribute('scrollTop', landed.value)
}

/** h5: the element that scrolls (Taro's scroll-view host element). */
function scrollElement(id: string): HTMLElement | null {
  if (!isH5 || typeof document === 'undefined') return null
  return document.getElementById(id)
}

/** h5: the reader's own ways of scrolling the list (a scrollbar drag starts with a pointerdown). */
const READER_INPUT = ['wheel', 'touchstart', 'touchmove', 'pointerdown', 'keydown'] as const
/** A scroll event this long after the reader's last input may still be theirs (a fling's momentum), ms. */
const READER_INPUT_MS = 1000

/** h5: the scroll element as the list last saw it (after a sync or a scroll event), px. */
interface SeenH5 {
  top: number
  /** Its largest offset then. */
  max: number
  height: number
  width: number
  /** Writes asked again this frame because the element did not take the one before (applyH5). */
  retries: number
  /** The frame that resets `retries` and syncs again, when one is due. */
  nextFrame?: number
}

/**
 * h5: a write the element did not take is asked again at most this many times in one frame; the
 * next frame tries again. An element that cannot scroll yet (Taro's scroll-view gets its overflow
 * style from its first render, which can come after the list's first layout effect) never takes
 * one: asked again on every render, the list would render itself in a loop until React gives up
 * (its "maximum update depth") and the chat page stays blank.
 */
const RETRIES_PER_FRAME = 3

function see(el: HTMLElement, seen: SeenH5): void {
  seen.top = el.scrollTop
  seen.max = el.scrollHeight - el.clientHeight
  seen.height = el.clientHeight
  seen.width = el.clientWidth
}

/**
 * h5: the scroll element's size into the model (not before it is laid out as a viewport: syncH5).
 * Whether the reader was at the end is judged from where the element was before the size changed
 * (`seen`), whatever the model concluded from scroll events in between.
 */
function syncViewportH5(el: HTMLElement, list: VirtualList, seen: SeenH5): void {
  if (el.clientHeight === 0 || el.clientHeight > window.innerHeight) return
  if (el.clientHeight === seen.height && el.clientWidth === seen.width) return
  const wasAtEnd = seen.height > 0 && list.isAtEnd(seen.top, seen.max)
  list.setViewport(el.clientHeight, el.clientWidth, wasAtEnd)
}

/**
 * h5, synchronously: the viewport's size, the rendered rows' heights, then the model's pending
 * write, read back at once (the browser clamps a write beyond its content). Ends by noting where
 * the element is, for the next change of its size.
 */
function syncH5(id: string, list: VirtualList, applied: { n: number; value: number }, seen: SeenH5): void {
  const el = scrollElement(id)
  if (!el) return
  applyH5(el, id, list, applied, seen)
  if (el.clientHeight > 0 && el.clientHeight <= window.innerHeight) see(el, seen)
}

function applyH5(el: HTMLElement, id: string, list: VirtualList, applied: { n: number; value: number }, seen: SeenH5): void {
  // Not a viewport yet: on the first render the scroll-view's element can be laid out before its
  // component styles apply (Chromium 156: height auto, as tall as all the content, 265,000 px for
  // 3,000 rows). Taken as the viewport, it would size the slot pool for it for good (thousands of
  // empty slots) and render every row once. A chat list is never taller than the window.
  if (el.clientHeight > window.innerHeight) return
  syncViewportH5(el, list, seen)
  const sizes: Array<{ index: number; size: number }> = []
  list.getView().slots.forEach((s, slot) => {
    if (!s) return
    const row = document.getElementById(`${id}-${slot}`)
    const size = row?.getBoundingClientRect().height
    if (size) sizes.push({ index: s.index, size })
  })
  if (sizes.length) list.measured(sizes)
  // Called from a ResizeObserver, React renders the new spacer only after this frame: set it now,
  // unless it shrinks. A smaller spacer goes with rows above that React has not rendered yet (a
  // viewport that grew takes in more rows): set alone, it made the content shorter, the browser
  // clamped the offset up from the end, and the list stayed there once the rows came (1-3 lines short).
  const pad = el.querySelector<HTMLElement>('.vl-pad')
  const padTop = list.getView().padTop
  if (pad && padTop > pad.getBoundingClientRect().height) pad.style.height = `${padTop}px`
  // A write may ask for another (the read-back found it short), at most a few times a frame: each
  // one asked renders the list again, and that render's layout effect comes back here.
  while (seen.retries <= RETRIES_PER_FRAME) {
    if (el.clientHeight === 0) return
    const w = list.getView().scroll
    // Not newer than the last one applied: nothing to do (a write cancelled by the reader gives back an older one).
    if (!w || w.n <= applied.n) {
      // Nothing pending: still following, the DOM may have grown below where "to the end" landed
      // (it was applied to a render that the next one replaced): go to the DOM's real end.
      if (!list.keepEnd(el.scrollTop, el.scrollHeight - el.clientHeight)) return
      retryNextFrame(id, list, applied, seen)
      continue
    }
    applied.n = w.n
    applied.value = w.top
    el.scrollTop = w.toEnd ? el.scrollHeight : w.top
    list.writeApplied()
    if (list.reportPosition(el.scrollTop, el.scrollHeight - el.clientHeight)) retryNextFrame(id, list, applied, seen)
  }
}

/** Counts a write asked again; the next frame resets the count and applies what is still pending. */
function retryNextFrame(id: string, list: VirtualList, applied: { n: number; value: number }, seen: SeenH5): void {
  seen.retries++
  seen.nextFrame ??= requestAnimationFrame(() => {
    seen.nextFrame = undefined
    seen.retries = 0
    syncH5(id, list, applied, seen)
  })
}

type Rect = { id?: string; height?: number; width?: number } | null

/**
 * weapp: the viewport and the rendered rows in one selector query. Rows are found by element id
 * (`<list id>-<slot>`): the mini-program reports no custom data-* attributes of Taro's elements (its
 * templates render only `data-sid`). A render may happen between the query and its answer; a slot
 * whose row changed meanwhile is skipped (its height may belong to either row). A viewport not laid
 * out yet (height 0) is asked again a little later. `wasAtEnd`: the reader was at the end before the
 * viewport changed (VirtualList.setViewport).
 */
function measureWeapp(id: string, view: ListView, list: VirtualList, attempt = 0, wasAtEnd = false): void {
  const asked = view.slots.map((s) => s?.key)
  const prefix = `${id}-`
  Taro.createSelectorQuery()
    .select(`#${id}`)
    .boundingClientRect()
    .selectAll(`#${id} .vl-row`)
    .fields({ id: true, size: true })
    .exec((res: unknown[]) => {
      const box = (Array.isArray(res?.[0]) ? res[0][0] : res?.[0]) as Rect
      if (box?.height && box.height > 0) list.setViewport(box.height, box.width, wasAtEnd)
      else if (attempt < VIEWPORT_TRIES) setTimeout(() => measureWeapp(id, list.getView(), list, attempt + 1, wasAtEnd), VIEWPORT_RETRY_MS)
      const rows = (Array.isArray(res?.[1]) ? res[1] : []) as Rect[]
      const now = list.getView().slots
      const sizes: Array<{ index: number; size: number }> = []
      for (const r of rows) {
        if (!r?.id?.startsWith(prefix) || !r.height) continue
        const slot = Number(r.id.slice(prefix.length))
        const current = now[slot]
        if (!current || current.key !== asked[slot]) continue
        sizes.push({ index: current.index, size: r.height })
      }
      if (sizes.length) list.measured(sizes)
    })
}

/** A viewport with no height yet is measured again this often, this many times. */
const VIEWPORT_RETRY_MS = 50
const VIEWPORT_TRIES = 40
/** A write the scroll-view did not carry out (it clamped it) is asked again at most this often in a row. */
const CONFIRM_TRIES = 3

/**
 * weapp: a scroll event at `top` (content `contentPx` tall), judged against a viewport `judgedPx`
 * tall, took the list off its end; the scroll-view's height, measured now, tells the clamp of a
 * taller viewport from the reader (VirtualList.clampedAtEnd). The event's own numbers, not the
 * offset now: rows rendered above for the taller view may already have moved the end (their real
 * heights against the estimates).
 */
function judgeLeaveWeapp(id: string, list: VirtualList, judgedPx: number, top: number, contentPx: number): void {
  Taro.createSelectorQuery()
    .select(`#${id}`)
    .boundingClientRect()
    .exec((res: unknown[]) => {
      const box = (Array.isArray(res?.[0]) ? res[0][0] : res?.[0]) as Rect
      if (box?.height) list.clampedAtEnd(judgedPx, box.height, top, contentPx, box.width)
    })
}

/** weapp: where the scroll-view is after write `n`; ask again if it did not land. */
function confirmWeapp(id: string, n: number, list: VirtualList, state: { n: number; tries: number }): void {
  Taro.createSelectorQuery()
    .select(`#${id}`)
    .scrollOffset()
    .select(`#${id}`)
    .boundingClientRect()
    .exec((res: unknown[]) => {
      const off = res?.[0] as { scrollTop?: number; scrollHeight?: number } | null
      const box = res?.[1] as Rect
      if (list.getView().scroll?.n !== n || typeof off?.scrollTop !== 'number') return
      const height = box?.height && box.height > 0 ? box.height : undefined
      if (!height || typeof off.scrollHeight !== 'number') return
      const max = off.scrollHeight - height
      if (state.tries >= CONFIRM_TRIES) {
        list.onScroll(off.scrollTop, off.scrollHeight)
        return
      }
      // Misses in a row are counted (a retry is itself a new write), a landed write starts afresh.
      if (list.reportPosition(off.scrollTop, max)) state.tries++
      else state.tries = 0
    })
}
