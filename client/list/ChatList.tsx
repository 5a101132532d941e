/**
 * The thin Taro adapter of VirtualList: a ScrollView whose content is a top spacer, a fixed pool of
 * row slots ordered by CSS `order`, and a bottom spacer (see virtual-list.ts for why). It feeds the
 * model with scroll offsets, the viewport size and measured row heights, and applies the model's
 * scroll writes:
 * - h5: Taro re-applies every prop on each render, so a `scrollTop` prop (even undefined) would snap
 *   the list to 0; the write goes to the element directly (TARO.md, "The h5 build in Chromium").
 * - weapp: through the `scrollTop` prop; a repeated equal value does not scroll again, so it is
 *   nudged (TARO.md). "To the end" writes a value past the end and lets scroll-view clamp it, so
 *   the list lands at the real bottom even before the newest row is measured.
 */
import { ScrollView, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
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
import { VirtualList, type FrameScheduler, type ListView } from './virtual-list'
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
  const [list] = useState(() => new VirtualList(props.viewportGuess ?? 600, { scheduler }))
  const [, rerender] = useReducer((x: number) => x + 1, 0)
  const rendering = useRef(false)
  const dataVersion = useRef<unknown>(undefined)
  const fns = useRef({ keyOf, estimate })
  fns.current = { keyOf, estimate }

  useEffect(() => {
    const off = list.subscribe(() => {
      if (!rendering.current) rerender()
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
  const lastWrite = useRef<{ n: number; value: number }>({ n: 0, value: -1 })
  let weappTop: number | undefined
  const w = view.scroll
  if (!isH5 && w) {
    if (w.n !== lastWrite.current.n) {
      let value = w.toEnd ? view.total + 10_000 + (w.n % 2) : w.top
      if (value === lastWrite.current.value) value += 0.01
      lastWrite.current = { n: w.n, value }
      list.writeApplied()
    }
    weappTop = lastWrite.current.value
  }
  useLayoutEffect(() => {
    if (!isH5 || !w || w.n === lastWrite.current.n) return
    lastWrite.current = { n: w.n, value: w.top }
    const el = scrollElement(id)
    if (!el) return
    list.writeApplied()
    el.scrollTop = w.toEnd ? el.scrollHeight : w.top
  }, [w, id, list])

  // ---- viewport and row measurement
  useEffect(() => {
    measureViewport(id, (h, width) => list.setViewport(h, width))
    if (!isH5) return
    const onResize = () => measureViewport(id, (h, width) => list.setViewport(h, width))
    window.addEventListener('resize', onResize)
    return () => window.removeEventListener('resize', onResize)
  }, [id, list])

  const measuredFor = useRef('')
  useEffect(() => {
    const signature = view.slots.map((s) => s?.key ?? '').join('|')
    if (signature === measuredFor.current) return
    measuredFor.current = signature
    measureRows(id, view, list)
  })

  useEffect(() => {
    onView?.(view)
  }, [view, onView])

  const onScroll = (e: { detail?: { scrollTop?: unknown } }) => {
    const top = e.detail?.scrollTop
    // Events without a numeric scrollTop exist (TARO.md: miniprogram-simulate sends each twice,
    // the second with an empty detail): ignore them.
    if (typeof top === 'number') list.onScroll(top)
  }

  return (
    <ScrollView
      id={id}
      className={`vl ${props.className ?? ''}`}
      scrollY
      scrollTop={weappTop}
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
})

/** h5: the element that scrolls (Taro's scroll-view host element). */
function scrollElement(id: string): HTMLElement | null {
  if (!isH5 || typeof document === 'undefined') return null
  return document.getElementById(id)
}

function measureViewport(id: string, cb: (height: number, width: number) => void): void {
  Taro.createSelectorQuery()
    .select(`#${id}`)
    .boundingClientRect((rect) => {
      const r = Array.isArray(rect) ? rect[0] : rect
      if (r && r.height > 0) cb(r.height, r.width)
    })
    .exec()
}

/**
 * Measure the rendered rows. Rows are found by element id (`<list id>-<slot>`): the mini-program
 * reports no custom data-* attributes of Taro's elements (its templates render only `data-sid`).
 * A render may happen between the query and its answer; a slot whose row changed meanwhile is
 * skipped (its height may belong to either row).
 */
function measureRows(id: string, view: ListView, list: VirtualList): void {
  const asked = view.slots.map((s) => s?.key)
  if (!asked.some(Boolean)) return
  const prefix = `${id}-`
  Taro.createSelectorQuery()
    .selectAll(`#${id} .vl-row`)
    .fields({ id: true, size: true }, (res) => {
      const rows = (Array.isArray(res) ? res : [res]) as Array<{ id?: string; height?: number } | null>
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
    .exec()
}
