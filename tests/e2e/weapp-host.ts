// Over 400 lines on purpose: one fake host (wx APIs, App/Page/Component, setData, selector queries over one layout model) whose parts share that model.
/**
 * A fake mini-program host: runs the built dist/weapp in Node (TARO.md, "The weapp output can run in
 * Node"). It provides `wx` (storage, a real WebSocket through `ws`, HTTP through fetch, navigation,
 * selector queries answered from a layout model), `App`, `Page`, `Component`, applies every
 * setData to the instance's data and records its size, instantiates CustomWrapper components like
 * the real host does (their updates then go to their own setData), and dispatches events through
 * the pages' `eh` handler.
 *
 * What it cannot do is lay out: selector queries measure rows with `layoutHeight` (a text-wrapping
 * model independent of the client's own estimate). Scroll-views behave like real ones under that
 * model: `scroll-top` acts only when its value changes, is clamped to the content, and is reported
 * with a scroll event only when the position moved; content that grows does not move the position,
 * content that shrinks below it clamps it. `scrollTopOrder` chooses whether a setData's `scroll-top`
 * is applied after its content is laid out (`layout-first`) or before, against the content of the
 * previous setData (`top-first`): a real scroll-view may do either.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import WebSocket from 'ws'
import { FakeAudio, FakeRecorderManager } from './weapp-media'

export interface SetDataRecord {
  /** 'page' or 'wrapper' (a CustomWrapper's own setData). */
  readonly target: 'page' | 'wrapper'
  readonly route: string
  /** UTF-8 bytes of the JSON payload. */
  readonly bytes: number
  readonly keys: number
  /** performance.now() when it was called. */
  readonly at: number
  /** The JSON payload (kept only when `keepPayloads`). */
  readonly json?: string
}

export interface TaroNode {
  nn?: string
  sid?: string
  uid?: string
  cl?: string
  st?: string
  v?: string
  cn?: TaroNode[]
  [attr: string]: unknown
}

interface PageInstance {
  route: string
  __route__: string
  options: Record<string, string>
  data: { root?: TaroNode } & Record<string, unknown>
  setData(data: Record<string, unknown>, cb?: () => void): void
  onLoad?(q: Record<string, string>): void
  onShow?(): void
  onReady?(): void
  onHide?(): void
  onUnload?(): void
  onPullDownRefresh?(): void
  eh(e: unknown): void
}

interface WrapperInstance {
  data: { i: TaroNode; l?: string }
  setData(data: Record<string, unknown>, cb?: () => void): void
  sid: string
  owner: PageInstance
}

export interface HostOptions {
  readonly dist: string
  readonly windowWidth?: number
  readonly windowHeight?: number
  /** Height of every scroll-view viewport the page asks for, px. */
  readonly viewportHeight?: number
  /** Keep each setData's JSON (for "is X in the view yet" checks). */
  readonly keepPayloads?: boolean
  /** When a setData's `scroll-top` is applied relative to laying out its content. Default layout-first. */
  readonly scrollTopOrder?: 'layout-first' | 'top-first'
  /**
   * Scroll events carry the content height, as real ones do, and the user's scrolls are clamped to
   * it. Default true; the benchmark turns it off (laying out its 10,000-row baseline page for every
   * event would dominate its run time).
   */
  readonly scrollEventHeight?: boolean
  /**
   * The WeChat language the app reads (`getAppBaseInfo().language`, `getSystemInfoSync().language`),
   * as WeChat spells it (`zh_CN`, `en`). Default `en`: the tests select elements by their English
   * text; a test of the Chinese UI passes `zh_CN`.
   */
  readonly language?: string
  readonly storage?: Map<string, string>
  /** Rewrites request and socket URLs (host name resolution, as a hosts file would). */
  readonly resolve?: (url: string) => string
  readonly log?: (msg: string) => void
  /** The user's choice in `wx.showActionSheet` (an index of `itemList`); undefined: cancelled (the default). */
  readonly actionSheet?: (itemList: readonly string[]) => number | undefined
  /** Whether the user confirms a `wx.showModal` (default: cancels it). */
  readonly modal?: (shown: ModalShown) => boolean
}

/** What a `wx.showModal` showed. */
export interface ModalShown {
  readonly title?: string
  readonly content?: string
  readonly confirmText?: string
  readonly cancelText?: string
}

type Listener = (...args: unknown[]) => void

/**
 * WeChat's capsule (the "⋯ ⊙" menu button every mini-program page has at the top right) on an
 * iPhone `windowWidth` px wide, as `wx.getMenuButtonBoundingClientRect()` gives it: 87 x 32 px,
 * 7 px from the right edge, under a 20 px status bar.
 */
export function capsuleOf(windowWidth: number): { left: number; right: number; top: number; bottom: number; width: number; height: number } {
  return { left: windowWidth - 94, right: windowWidth - 7, top: 24, bottom: 56, width: 87, height: 32 }
}

/** Apply a Taro setData path (`root.cn.[0].cn.[2].v`) to `data`. */
export function applyPath(data: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.').map((p) => (p.startsWith('[') ? Number(p.slice(1, -1)) : p))
  let o: Record<string | number, unknown> = data
  for (let i = 0; i < parts.length - 1; i++) {
    const p = parts[i]!
    if (o[p] === undefined || o[p] === null) o[p] = typeof parts[i + 1] === 'number' ? [] : {}
    o = o[p] as Record<string | number, unknown>
  }
  o[parts[parts.length - 1]!] = value
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T))

export class MiniHost {
  readonly records: SetDataRecord[] = []
  readonly storage: Map<string, string>
  readonly stack: PageInstance[] = []
  readonly sockets: WebSocket[] = []
  /** Every frame the app sent, as text. */
  readonly sent: string[] = []
  /** Every frame the app received, with the time it was handed to the app (performance.now()). */
  readonly received: Array<{ at: number; data: string }> = []
  readonly toasts: string[] = []
  /** The item lists of every action sheet shown, in order. */
  readonly sheets: string[][] = []
  /** What the user taps in the next action sheets (an index each, in order); none left: the sheet is cancelled. */
  readonly sheetTaps: number[] = []
  /** Every modal shown, in order. */
  readonly modals: ModalShown[] = []
  readonly titles: string[] = []
  /** wx.getRecorderManager() and wx.createInnerAudioContext() (weapp-media.ts). */
  readonly recorder = new FakeRecorderManager()
  readonly audio = new FakeAudio()
  private readonly recorderApi = this.recorder.api()
  private readonly dist: string
  private readonly require: NodeRequire
  private app?: Record<string, (...a: unknown[]) => void>
  private pageDefs = new Map<string, Record<string, unknown>>()
  private loadingRoute?: string
  private wrapperDef?: Record<string, unknown>
  private readonly wrappers = new Map<string, WrapperInstance>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly tags = new Map<string, string>()
  private readonly opts: Required<Omit<HostOptions, 'storage' | 'log' | 'resolve' | 'actionSheet' | 'modal'>> & Pick<HostOptions, 'log' | 'actionSheet' | 'modal'>
  private readonly resolveUrl: (url: string) => string
  private scrollTops = new Map<string, unknown>()
  private queryHooks: Array<() => boolean> = []
  private closed = false

  constructor(options: HostOptions) {
    this.opts = {
      dist: options.dist,
      windowWidth: options.windowWidth ?? 375,
      windowHeight: options.windowHeight ?? 667,
      viewportHeight: options.viewportHeight ?? 560,
      keepPayloads: options.keepPayloads ?? false,
      scrollTopOrder: options.scrollTopOrder ?? 'layout-first',
      scrollEventHeight: options.scrollEventHeight ?? true,
      language: options.language ?? 'en',
      log: options.log,
      actionSheet: options.actionSheet,
      modal: options.modal,
    }
    this.dist = options.dist
    this.resolveUrl = options.resolve ?? ((u) => u)
    this.storage = options.storage ?? new Map<string, string>()
    this.require = createRequire(path.join(this.dist, 'app.js'))
    // nn code -> tag, from the templates Taro generated.
    const wxml = readFileSync(path.join(this.dist, 'base.wxml'), 'utf8')
    for (const m of wxml.matchAll(/<template name="tmpl_0_([\w-]+)">\s*<([\w-]+)/g)) this.tags.set(m[1]!, m[2]!)
  }

  // ------------------------------------------------------------------ lifecycle

  /** Load the app (app.js, comp.js, custom-wrapper.js) and run onLaunch/onShow. */
  launch(): void {
    for (const key of Object.keys(this.require.cache)) if (key.startsWith(this.dist)) delete this.require.cache[key]
    const g = globalThis as Record<string, unknown>
    g.wx = this.wx()
    g.App = (o: Record<string, (...a: unknown[]) => void>) => (this.app = o)
    g.getApp = () => this.app
    g.Page = (o: Record<string, unknown>) => this.pageDefs.set(this.loadingRoute ?? '?', o)
    g.Component = (o: Record<string, unknown>) => {
      if (this.loadingRoute === 'custom-wrapper') this.wrapperDef = o
    }
    g.getCurrentPages = () => [...this.stack]
    g.requirePlugin = () => ({})
    this.require(path.join(this.dist, 'app.js'))
    this.loadingRoute = 'comp'
    this.require(path.join(this.dist, 'comp.js'))
    this.loadingRoute = 'custom-wrapper'
    try {
      this.require(path.join(this.dist, 'custom-wrapper.js'))
    } catch {
      // no CustomWrapper in this build
    }
    this.loadingRoute = undefined
    const launch = { path: 'pages/index/index', query: {}, scene: 1001 }
    this.app?.onLaunch?.call(this.app, launch)
    this.app?.onShow?.call(this.app, launch)
  }

  /** Open a page on top of the stack (navigateTo). */
  open(url: string): PageInstance {
    const { route, query } = parseUrl(url)
    const top = this.top
    if (top) top.onHide?.call(top)
    const page = this.instantiate(route, query)
    this.stack.push(page)
    page.onLoad?.call(page, query)
    page.onShow?.call(page)
    page.onReady?.call(page)
    return page
  }

  get top(): PageInstance | undefined {
    return this.stack[this.stack.length - 1]
  }

  back(): void {
    const page = this.stack.pop()
    page?.onUnload?.call(page)
    const top = this.top
    top?.onShow?.call(top)
  }

  /** The app goes to the background: app onHide listeners, then the page's onHide. */
  hide(): void {
    this.top?.onHide?.call(this.top)
    this.app?.onHide?.call(this.app)
    this.emit('appHide')
  }

  show(): void {
    const info = { path: this.top?.route ?? '', query: {}, scene: 1001 }
    this.app?.onShow?.call(this.app, info)
    this.emit('appShow', info)
    this.top?.onShow?.call(this.top)
  }

  close(): void {
    // The app goes to the background first, so its connection stops trying (its timers outlive us).
    this.emit('appHide')
    this.closed = true
    while (this.stack.length) this.back()
    for (const s of this.sockets) s.terminate()
    const g = globalThis as Record<string, unknown>
    for (const k of ['wx', 'App', 'getApp', 'Page', 'Component', 'getCurrentPages', 'requirePlugin']) delete g[k]
  }

  // ------------------------------------------------------------------ reading the view

  /** The page's node tree, with CustomWrapper subtrees taken from the wrappers' own data. */
  tree(page: PageInstance | undefined = this.top): TaroNode | undefined {
    const root = page?.data.root
    if (!root) return undefined
    const resolve = (n: TaroNode): TaroNode => {
      const w = n.sid ? this.wrappers.get(n.sid) : undefined
      const src = w ? { ...n, ...w.data.i } : n
      return { ...src, cn: (src.cn ?? []).map(resolve) }
    }
    return resolve(root)
  }

  /** Every node of the visible tree, depth first. */
  nodes(page?: PageInstance): TaroNode[] {
    const out: TaroNode[] = []
    const walk = (n: TaroNode) => {
      out.push(n)
      for (const c of n.cn ?? []) walk(c)
    }
    const t = this.tree(page)
    if (t) walk(t)
    return out
  }

  tagOf(n: TaroNode): string {
    return this.tags.get(String(n.nn)) ?? String(n.nn)
  }

  byId(id: string): TaroNode | undefined {
    return this.nodes().find((n) => n.uid === id)
  }

  byClass(cls: string): TaroNode[] {
    return this.nodes().filter((n) => typeof n.cl === 'string' && n.cl.split(/\s+/).includes(cls))
  }

  /** All text under a node (or the page), in document order. */
  text(node: TaroNode | undefined = this.tree()): string {
    if (!node) return ''
    let s = typeof node.v === 'string' ? node.v : ''
    for (const c of node.cn ?? []) s += (s && c.v === undefined ? ' ' : '') + this.text(c)
    return s
  }

  // ------------------------------------------------------------------ events

  /** Dispatch a mini-program event to the node with this uid (or sid); `extra`: more event fields (`touches`). */
  fire(id: string, type: string, detail: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): void {
    let node: TaroNode | undefined
    for (const n of this.top ? this.rawNodes(this.top) : []) {
      if (n.uid === id || n.sid === id) {
        node = n
        break
      }
    }
    if (!node) throw new Error(`no node ${id} on ${this.top?.route}`)
    const target = { id: node.uid ?? node.sid, dataset: { sid: node.sid } }
    const page = this.top!
    page.eh.call(page, { type, timeStamp: Date.now(), target, currentTarget: target, detail, touches: [], changedTouches: [], ...extra })
  }

  tap(id: string): void {
    this.fire(id, 'tap')
  }

  input(id: string, value: string): void {
    this.fire(id, 'input', { value, cursor: value.length })
  }

  /** Height of every scroll-view viewport from now on, px (a composer that grew or shrank): no event, as on a device. */
  setViewportHeight(px: number): void {
    ;(this.opts as { viewportHeight: number }).viewportHeight = px
  }

  get viewportHeight(): number {
    return this.opts.viewportHeight
  }

  /**
   * A scroll-view whose viewport grew (setViewportHeight) past what its position allows clamps the
   * position to its new end and reports that with a scroll event, as a real one does, and at once:
   * before whatever told the page about the new size (the composer's linechange) reaches it.
   */
  clampScroll(id: string): void {
    const max = Math.max(0, this.contentHeight(id) - this.opts.viewportHeight)
    if ((this.scrollPos.get(id) ?? 0) > max) this.moveTo(id, max)
  }

  /**
   * Runs `fn` right after each selector query's answer has been handed to the page, in the same task,
   * until it returns true: what the page decided from the answer (a write to its scroll-view) is
   * queued then, neither rendered nor sent.
   */
  whenAnswered(fn: () => boolean): void {
    this.queryHooks.push(fn)
  }

  /** Last scroll position reported to each scroll view, px. */
  readonly scrollPos = new Map<string, number>()

  /**
   * The user scrolls `id` to `top` (clamped to its content, as a finger cannot go further; not with
   * `scrollEventHeight` off, where the caller keeps within the content itself).
   */
  scroll(id: string, top: number): void {
    const max = this.opts.scrollEventHeight ? Math.max(0, this.contentHeight(id) - this.opts.viewportHeight) : Infinity
    this.moveTo(id, Math.min(Math.max(0, top), max))
  }

  /** Every scroll-top value the pages wrote, with the time (performance.now()). */
  readonly scrollTopWrites: Array<{ id: string; value: number; at: number }> = []

  private moveTo(id: string, top: number): void {
    const prev = this.scrollPos.get(id) ?? 0
    this.scrollPos.set(id, top)
    if (Math.abs(prev - top) < 0.01) return
    const detail: Record<string, number> = { scrollTop: top, scrollLeft: 0, deltaX: 0, deltaY: prev - top }
    if (this.opts.scrollEventHeight) detail.scrollHeight = this.contentHeight(id)
    this.fire(id, 'scroll', detail)
  }

  /**
   * Where row `text` is drawn relative to the top of scroll view `id`'s viewport, px, under the
   * layout model (undefined when not rendered).
   */
  rowY(id: string, text: string): number | undefined {
    const top = this.scrollPos.get(id) ?? 0
    for (const r of this.rowsInOrder(id)) if (r.text.includes(text)) return r.y - top
    return undefined
  }

  /** Texts of the rows of scroll view `id` that intersect its viewport, top to bottom. */
  visibleRows(id: string): string[] {
    const top = this.scrollPos.get(id) ?? 0
    const bottom = top + this.opts.viewportHeight
    return this.rowsInOrder(id)
      .filter((r) => r.h > 0 && r.y + r.h > top + 0.5 && r.y < bottom - 0.5 && r.text !== '')
      .map((r) => r.text)
  }

  private rowsInOrder(id: string): Array<{ y: number; h: number; text: string }> {
    const inner = this.byId(id)?.cn?.[0]
    if (!inner) return []
    const order = (n: TaroNode) => Number(/order:\s*(-?\d+)/.exec(String(n.st ?? ''))?.[1] ?? 0)
    const out: Array<{ y: number; h: number; text: string }> = []
    let y = 0
    for (const c of [...(inner.cn ?? [])].sort((a, b) => order(a) - order(b))) {
      const h = this.layout(c)
      out.push({ y, h, text: this.text(c) })
      y += h
    }
    return out
  }

  /** Content height of a scroll view under the layout model, px. */
  contentHeight(id: string): number {
    const sv = this.byId(id)
    if (!sv) return 0
    return this.layout(sv, true)
  }

  /**
   * Text of the list row at the top of a scroll view's viewport, under the layout model: the
   * content's children in CSS `order` (the chat list orders its slots that way), summed down to
   * the scroll position.
   */
  rowAtTop(id: string): string {
    const sv = this.byId(id)
    const inner = sv?.cn?.[0]
    if (!inner) return ''
    const top = this.scrollPos.get(id) ?? 0
    const order = (n: TaroNode) => Number(/order:\s*(-?\d+)/.exec(String(n.st ?? ''))?.[1] ?? 0)
    let y = 0
    for (const c of [...(inner.cn ?? [])].sort((a, b) => order(a) - order(b))) {
      const h = this.layout(c)
      if (h > 0 && y + h > top) return this.text(c)
      y += h
    }
    return ''
  }

  // ------------------------------------------------------------------ measurement

  bytes(from = 0): number {
    return this.records.slice(from).reduce((n, r) => n + r.bytes, 0)
  }

  // ------------------------------------------------------------------ internals

  private instantiate(route: string, query: Record<string, string>): PageInstance {
    if (!this.pageDefs.has(route)) {
      this.loadingRoute = route
      this.require(path.join(this.dist, `${route}.js`))
      this.loadingRoute = undefined
    }
    const def = this.pageDefs.get(route)
    if (!def) throw new Error(`page ${route} did not register`)
    const page = Object.create(def) as PageInstance
    page.data = clone((def.data as PageInstance['data']) ?? {})
    page.route = route
    page.__route__ = route
    page.options = query
    page.setData = (data, cb) => {
      if (this.closed) return
      const at = performance.now()
      const json = JSON.stringify(data)
      this.records.push({
        target: 'page',
        route,
        bytes: Buffer.byteLength(json),
        keys: Object.keys(data).length,
        at,
        ...(this.opts.keepPayloads ? { json } : {}),
      })
      const before = this.opts.scrollTopOrder === 'top-first' ? this.contentHeights(page) : undefined
      for (const [k, v] of Object.entries(data)) applyPath(page.data, k, clone(v))
      this.attachWrappers(page)
      this.reportScrollWrites(page, before)
      cb?.()
    }
    return page
  }

  /** The real host creates a custom-wrapper component for each such node; its attached() registers it. */
  private attachWrappers(page: PageInstance): void {
    const def = this.wrapperDef
    if (!def || !page.data.root) return
    const walk = (n: TaroNode) => {
      if (this.tags.get(String(n.nn)) === 'custom-wrapper' && n.sid && !this.wrappers.has(n.sid)) {
        const sid = n.sid
        const inst: WrapperInstance = {
          data: { i: clone(n) },
          sid,
          owner: page,
          setData: (data, cb) => {
            if (this.closed) return
            const at = performance.now()
            const json = JSON.stringify(data)
            this.records.push({
              target: 'wrapper',
              route: page.route,
              bytes: Buffer.byteLength(json),
              keys: Object.keys(data).length,
              at,
              ...(this.opts.keepPayloads ? { json } : {}),
            })
            for (const [k, v] of Object.entries(data)) applyPath(inst.data, k, clone(v))
            this.reportScrollWrites(page)
            cb?.()
          },
        }
        const self: unknown = Object.assign(Object.create((def.methods as object) ?? {}) as object, inst, { props: {} })
        Object.defineProperty(inst, 'self', { value: self })
        this.wrappers.set(sid, self as WrapperInstance)
        const lifetimes = (def.lifetimes ?? {}) as Record<string, () => void>
        const attached = lifetimes.attached ?? (def.attached as (() => void) | undefined)
        attached?.call(self)
        return
      }
      for (const c of n.cn ?? []) walk(c)
    }
    walk(page.data.root)
  }

  /**
   * A scroll-view whose `scroll-top` changed scrolls, and reports it with a scroll event, like the
   * real one (clamped to its content under the layout model).
   */
  /** Raw nodes of a page and of its wrappers, without copying (hot path: runs after every setData). */
  private *rawNodes(page: PageInstance): Generator<TaroNode> {
    const stack: TaroNode[] = page.data.root ? [page.data.root] : []
    while (stack.length) {
      const n = stack.pop()!
      yield n
      const w = n.sid ? this.wrappers.get(n.sid) : undefined
      const children = w ? w.data.i.cn : n.cn
      if (children) for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
    }
  }

  private contentHeights(page: PageInstance): Map<string, number> {
    const out = new Map<string, number>()
    for (const n of this.rawNodes(page)) if (this.tagOf(n) === 'scroll-view' && n.uid) out.set(n.uid, this.layout(n, true))
    return out
  }

  /**
   * After a setData: a scroll-view whose `scroll-top` value changed scrolls to it, clamped to its
   * content (the content before this setData when `top-first`); one whose content shrank below its
   * position is clamped. Either reports a scroll event if the position moved.
   */
  private reportScrollWrites(page: PageInstance, before?: Map<string, number>): void {
    for (const n of this.rawNodes(page)) {
      if (this.tagOf(n) !== 'scroll-view' || !n.uid) continue
      const id = n.uid
      const top = n.p32
      if (top !== undefined && this.scrollTops.get(id) !== top) {
        this.scrollTops.set(id, top)
        this.scrollTopWrites.push({ id, value: Number(top), at: performance.now() })
        const content = before?.get(id) ?? this.contentHeight(id)
        const target = Math.min(Math.max(0, Number(top)), Math.max(0, content - this.opts.viewportHeight))
        if (!this.scrollPos.has(id)) this.scrollPos.set(id, 0)
        setTimeout(() => {
          if (this.closed || this.top !== page || !this.byId(id)) return
          this.moveTo(id, target)
        }, 0)
        continue
      }
      if (!this.scrollPos.has(id)) continue
      setTimeout(() => {
        if (this.closed || this.top !== page || !this.byId(id)) return
        const max = Math.max(0, this.contentHeight(id) - this.opts.viewportHeight)
        const pos = this.scrollPos.get(id) ?? 0
        if (pos > max) this.moveTo(id, max)
      }, 0)
    }
  }

  /**
   * Height of a node under a crude layout model, px: spacer heights from their style, message rows
   * from their text (wrapping at a width independent of the client's estimate), containers as the
   * sum of their children. Good enough to exercise measurement and scroll clamping.
   */
  layout(n: TaroNode, content = false): number {
    const scale = this.opts.windowWidth / 750
    const st = typeof n.st === 'string' ? n.st : ''
    if (/display:\s*none/.test(st)) return 0
    const h = /(?:^|;)\s*height:\s*([\d.]+)px/.exec(st)
    if (h && !content) return Number(h[1])
    const cls = typeof n.cl === 'string' ? n.cl.split(/\s+/) : []
    if (cls.includes('r')) return rowHeight(n, this, scale)
    if (this.tagOf(n) === 'scroll-view' && !content) return this.opts.viewportHeight
    let sum = 0
    for (const c of n.cn ?? []) sum += this.layout(c)
    return sum
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) l(...args)
  }

  private on(event: string, l: Listener): void {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set())
    this.listeners.get(event)!.add(l)
  }

  private off(event: string, l: Listener): void {
    this.listeners.get(event)?.delete(l)
  }

  /** The `wx` object: only what the runtime and the app use, each doing the real thing or a faithful fake. */
  private wx(): Record<string, unknown> {
    const ok = (o: { success?: (r: unknown) => void; complete?: (r: unknown) => void; [k: string]: unknown } | undefined, res: Record<string, unknown> = {}) => {
      setTimeout(() => {
        o?.success?.({ errMsg: 'ok', ...res })
        o?.complete?.({ errMsg: 'ok', ...res })
      }, 0)
    }
    const navigate = (kind: 'navigateTo' | 'redirectTo' | 'reLaunch') => (o: { url: string; success?: () => void }) => {
      setTimeout(() => {
        if (this.closed) return
        if (kind === 'redirectTo') {
          const p = this.stack.pop()
          p?.onUnload?.call(p)
        }
        if (kind === 'reLaunch') {
          while (this.stack.length) {
            const p = this.stack.pop()
            p?.onUnload?.call(p)
          }
        }
        this.open(o.url.replace(/^\//, ''))
        o.success?.()
      }, 0)
    }
    return {
      env: { USER_DATA_PATH: 'wxfile://usr' },
      cloud: undefined,
      canIUse: () => true,
      getSystemInfoSync: () => ({
        windowWidth: this.opts.windowWidth,
        windowHeight: this.opts.windowHeight,
        screenWidth: this.opts.windowWidth,
        screenHeight: this.opts.windowHeight,
        pixelRatio: 2,
        platform: 'devtools',
        system: 'harness',
        version: '8.0.50',
        SDKVersion: '3.4.0',
        language: this.opts.language,
      }),
      getMenuButtonBoundingClientRect: () => capsuleOf(this.opts.windowWidth),
      getAppBaseInfo: () => ({ SDKVersion: '3.4.0', language: this.opts.language, version: '8.0.50', theme: 'light' }),
      getStorageSync: (k: string) => {
        const v = this.storage.get(k)
        return v === undefined ? '' : (JSON.parse(v) as unknown)
      },
      setStorageSync: (k: string, v: unknown) => void this.storage.set(k, JSON.stringify(v)),
      removeStorageSync: (k: string) => void this.storage.delete(k),
      onAppShow: (l: Listener) => this.on('appShow', l),
      offAppShow: (l: Listener) => this.off('appShow', l),
      onAppHide: (l: Listener) => this.on('appHide', l),
      offAppHide: (l: Listener) => this.off('appHide', l),
      onNetworkStatusChange: (l: Listener) => this.on('network', l),
      offNetworkStatusChange: (l: Listener) => this.off('network', l),
      connectSocket: (o: { url: string; success?: (r: unknown) => void; fail?: (r: unknown) => void }) => this.connectSocket(o),
      request: (o: { url: string; method?: string; data?: unknown; header?: Record<string, string>; success?: (r: unknown) => void; fail?: (r: unknown) => void }) => {
        if (this.closed) {
          setTimeout(() => o.fail?.({ errMsg: 'request:fail this closed' }), 0)
          return { abort: () => undefined }
        }
        fetch(this.resolveUrl(o.url), { method: o.method ?? 'GET', headers: o.header, body: o.data === undefined ? undefined : JSON.stringify(o.data) })
          .then(async (res) => {
            const text = await res.text()
            let data: unknown = text
            try {
              data = JSON.parse(text)
            } catch {
              // not JSON
            }
            o.success?.({ statusCode: res.status, data, header: {} })
          })
          .catch((err: Error) => o.fail?.({ errMsg: `request:fail ${err.message}` }))
        return { abort: () => undefined }
      },
      navigateTo: navigate('navigateTo'),
      redirectTo: navigate('redirectTo'),
      reLaunch: navigate('reLaunch'),
      navigateBack: (o?: { success?: () => void }) => {
        setTimeout(() => {
          this.back()
          o?.success?.()
        }, 0)
      },
      setNavigationBarTitle: (o: { title: string }) => {
        this.titles.push(o.title)
        ok(o)
      },
      showToast: (o: { title: string }) => {
        this.toasts.push(o.title)
        ok(o)
      },
      showActionSheet: (o: { itemList: string[]; fail?: (r: unknown) => void; complete?: (r: unknown) => void }) => {
        this.sheets.push([...o.itemList])
        // Taps scripted in order first (sheetTaps), then the host's chooser (opts.actionSheet).
        const tapIndex = this.sheetTaps.shift() ?? this.opts.actionSheet?.(o.itemList)
        if (tapIndex !== undefined) return ok(o, { tapIndex })
        setTimeout(() => {
          o.fail?.({ errMsg: 'showActionSheet:fail cancel' })
          o.complete?.({ errMsg: 'showActionSheet:fail cancel' })
        }, 0)
      },
      showModal: (o: ModalShown & { [k: string]: unknown; success?: (r: unknown) => void; complete?: (r: unknown) => void }) => {
        const shown: ModalShown = { title: o.title, content: o.content, confirmText: o.confirmText, cancelText: o.cancelText }
        this.modals.push(shown)
        const confirm = this.opts.modal?.(shown) ?? false
        ok(o, { confirm, cancel: !confirm })
      },
      hideKeyboard: (o: unknown) => ok(o as never),
      showLoading: (o: unknown) => ok(o as never),
      hideLoading: (o: unknown) => ok(o as never),
      stopPullDownRefresh: (o: unknown) => ok(o as never),
      login: (o: unknown) => ok(o as never, { code: 'harness-code' }),
      previewImage: (o: unknown) => ok(o as never),
      createSelectorQuery: () => this.selectorQuery(),
      getRecorderManager: () => this.recorderApi,
      createInnerAudioContext: () => this.audio.createContext(),
      setInnerAudioOption: (o: Record<string, unknown>) => {
        this.audio.options.push(o)
        ok(o)
      },
    }
  }

  private connectSocket(o: { url: string; success?: (r: unknown) => void; fail?: (r: unknown) => void }) {
    if (this.closed) {
      // An app of a closed this (its timers still run) gets nothing any more.
      setTimeout(() => o.fail?.({ errMsg: 'connectSocket:fail this closed' }), 0)
      return { onOpen() {}, onMessage() {}, onClose() {}, onError() {}, send() {}, close() {} }
    }
    const ws = new WebSocket(this.resolveUrl(o.url))
    ws.on('error', () => undefined) // reported through onError/onClose to the app
    this.sockets.push(ws)
    const task = {
      onOpen: (cb: Listener) => ws.on('open', () => cb({ header: {} })),
      onMessage: (cb: Listener) =>
        ws.on('message', (data, isBinary) => {
          const text = isBinary ? data : (data as Buffer).toString() // a Buffer: ws's default binaryType
          if (typeof text === 'string') this.received.push({ at: performance.now(), data: text })
          cb({ data: text })
        }),
      onClose: (cb: Listener) => ws.on('close', (code, reason) => cb({ code, reason: reason.toString() })),
      onError: (cb: Listener) => ws.on('error', (err) => cb({ errMsg: String(err) })),
      send: (s: { data: string; success?: Listener; fail?: Listener }) => {
        if (ws.readyState !== WebSocket.OPEN) return s.fail?.({ errMsg: 'sendSocketMessage:fail' })
        ws.send(s.data)
        this.sent.push(s.data)
        s.success?.({ errMsg: 'sendSocketMessage:ok' })
      },
      close: (c: { code?: number; reason?: string; fail?: Listener } = {}) => {
        if (ws.readyState === WebSocket.CLOSED) return c.fail?.({ errMsg: 'closeSocket:fail task not found' })
        ws.close(c.code ?? 1000, c.reason)
      },
    }
    setTimeout(() => o.success?.({ errMsg: 'connectSocket:ok' }), 0)
    return task
  }

  private selectorQuery() {
    type Req = { selector: string; all: boolean; kind: 'rect' | 'fields' | 'scroll'; cb?: (r: unknown) => void }
    const reqs: Req[] = []
    const q = {
      in: () => q,
      select: (selector: string) => node(selector, false),
      selectAll: (selector: string) => node(selector, true),
      selectViewport: () => node('viewport', false),
      exec: (cb?: (r: unknown[]) => void) => {
        setTimeout(() => {
          if (this.closed) return
          const results = reqs.map((r) => {
            const res = r.kind === 'scroll' ? this.scrollOffsetOf(r.selector) : this.query(r.selector, r.all)
            r.cb?.(res)
            return res
          })
          cb?.(results)
          if (this.queryHooks.length) this.queryHooks = this.queryHooks.filter((f) => !f())
        }, 0)
        return q
      },
    }
    function node(selector: string, all: boolean) {
      return {
        boundingClientRect: (cb?: (r: unknown) => void) => {
          reqs.push({ selector, all, kind: 'rect', cb })
          return q
        },
        fields: (_f: unknown, cb?: (r: unknown) => void) => {
          reqs.push({ selector, all, kind: 'fields', cb })
          return q
        },
        scrollOffset: (cb?: (r: unknown) => void) => {
          reqs.push({ selector, all, kind: 'scroll', cb })
          return q
        },
      }
    }
    return q
  }

  /** A scroll-view's `scrollOffset` answer: its position and content height under the model. */
  private scrollOffsetOf(selector: string): unknown {
    const id = selector.trim().replace(/^#/, '')
    const n = this.nodes().find((x) => x.uid === id)
    if (!n) return null
    return { id, dataset: {}, scrollLeft: 0, scrollTop: this.scrollPos.get(id) ?? 0, scrollWidth: this.opts.windowWidth, scrollHeight: this.contentHeight(id) }
  }

  /** Answer `#id` and `[#scope ]\.class` selectors from the current page. */
  private query(selector: string, all: boolean): unknown {
    const last = selector.trim().split(/\s+/).pop() ?? ''
    let found: TaroNode[] = []
    if (last.startsWith('#')) found = this.nodes().filter((n) => n.uid === last.slice(1))
    else if (last.startsWith('.')) found = this.byClass(last.slice(1))
    const rect = (n: TaroNode) => {
      const height = this.layout(n)
      return { id: n.uid ?? n.sid, dataset: { sid: n.sid }, left: 0, top: 0, width: this.opts.windowWidth, height, right: this.opts.windowWidth, bottom: height }
    }
    const visible = found.filter((n) => !/display:\s*none/.test(String(n.st ?? '')))
    return all ? visible.map(rect) : visible[0] ? rect(visible[0]) : null
  }
}

/** Height of a message row (`.r`) under the model. */
function rowHeight(row: TaroNode, host: MiniHost, scale: number): number {
  let h = 28 // row padding
  const walk = (n: TaroNode, f: (n: TaroNode) => void) => {
    f(n)
    for (const c of n.cn ?? []) walk(c, f)
  }
  let time = false
  let name = false
  let content = 0
  walk(row, (n) => {
    const cls = typeof n.cl === 'string' ? n.cl.split(/\s+/) : []
    if (cls.includes('tm')) time = true
    if (cls.includes('nm')) name = true
    if (cls.includes('bt')) {
      const text = host.text(n)
      // 15 CJK or 28 Latin characters per line of a full-width bubble.
      let units = 0
      for (const ch of text) units += ch.charCodeAt(0) > 0x2e7f ? 1 : 0.53
      const lines = Math.max(1, Math.ceil(units / 15))
      content = Math.max(content, lines * 44 + 36)
    }
    if (cls.includes('im')) {
      const m = /height:\s*([\d.]+)rpx/.exec(String(n.st ?? ''))
      content = Math.max(content, m ? Number(m[1]) : 300)
    }
    if (cls.includes('fc')) content = Math.max(content, 150)
  })
  h += Math.max(content, 76)
  if (time) h += 64
  if (name) h += 34
  return Math.round(h * scale)
}

function parseUrl(url: string): { route: string; query: Record<string, string> } {
  const [p, q = ''] = url.replace(/^\//, '').split('?')
  const query: Record<string, string> = {}
  for (const part of q.split('&')) {
    if (!part) continue
    const [k, v = ''] = part.split('=')
    query[decodeURIComponent(k!)] = decodeURIComponent(v)
  }
  return { route: p!, query }
}
