/**
 * What the suites that look at the h5 build as a Chinese-speaking phone user does (h5-zh-*) share:
 * the phones, the smallest touch target, a login with a Chinese browser, each phone in turn, and
 * measures of what is on screen (boxes, where a tap lands, inked pixels).
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
import { expect } from 'vitest'
import { loginAs, settled, type BrowserUser, type LoginOptions } from './browser'
import type { H5Suite } from './suite'

export interface Phone {
  readonly width: number
  readonly height: number
}

/** The two small phones: an iPhone SE (1st generation) and an iPhone 8 (CSS px). */
export const SMALL_PHONES: readonly [Phone, Phone] = [
  { width: 320, height: 568 },
  { width: 375, height: 667 },
]

/** The smallest touch target an action may have, CSS px (Apple's HIG). */
export const TOUCH = 44

/** A Chinese browser in China's time zone. */
export const CHINESE = { locale: 'zh-CN', timezoneId: 'Asia/Shanghai' } as const

let n = 0
/** A user id unique to this run of the suites. */
export const uid = (name: string): string => `${name}${Date.now().toString(36)}${++n}`

/** Logged in with a Chinese browser in China's time zone, on `phone`. */
export async function loginChinese(suite: H5Suite, phone: Phone, id: string, name: string, options: Omit<LoginOptions, 'timezoneId'> = {}): Promise<BrowserUser> {
  const u = await loginAs(suite.browser, suite.bff.url, id, name, phone.width, CHINESE.locale, { timezoneId: CHINESE.timezoneId, ...options })
  await u.page.setViewportSize(phone)
  return u
}

/**
 * Each phone in turn: resized and laid out again (resizeTo: a screenshot taken before Taro's rem
 * follows has the old phone's sizes), screenshot to `<shots>/<shot>-<width>.png`, then `check`.
 */
export async function onEachPhone(page: Page, phones: readonly Phone[], shots: string, shot: string, check: (width: number) => Promise<void>): Promise<void> {
  for (const phone of phones) {
    await resizeTo(page, phone)
    await page.screenshot({ path: path.join(shots, `${shot}-${phone.width}.png`) })
    await check(phone.width)
  }
}

/**
 * The page resized to `phone` and laid out again: Taro's h5 sizes its rem in its own `resize`
 * listener, so this waits for the page's `resize` event (ours runs after Taro's) and a frame.
 */
export async function resizeTo(page: Page, phone: Phone): Promise<void> {
  const now = page.viewportSize()
  if (now?.width !== phone.width || now.height !== phone.height) {
    await page.evaluate(() => {
      const w = window as unknown as { __resized?: Promise<void> }
      w.__resized = new Promise((resolve) => addEventListener('resize', () => requestAnimationFrame(() => resolve()), { once: true }))
    })
    await page.setViewportSize(phone)
    await page.evaluate(() => (window as unknown as { __resized?: Promise<void> }).__resized)
  }
  await settled(page)
}

export interface Rect {
  readonly left: number
  readonly top: number
  readonly right: number
  readonly bottom: number
  readonly width: number
  readonly height: number
}

/** `selector`'s box (its first match), CSS px. */
export function box(page: Page, selector: string): Promise<Rect> {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect()
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height }
  })
}

/**
 * Where a finger lands on `selector` down the vertical line through its centre (40 px above and
 * below its box included): how many points hit it (the element or anything inside it, its
 * pseudo-elements too), and the first and last of them, CSS px.
 */
export function tapRun(page: Page, selector: string): Promise<{ tall: number; top: number; bottom: number }> {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect()
    const x = r.left + r.width / 2
    let tall = 0
    let top = Infinity
    let bottom = -Infinity
    for (let y = Math.floor(r.top - 40); y <= Math.ceil(r.bottom + 40); y++) {
      const hit = document.elementFromPoint(x, y)
      if (hit && (hit === el || el.contains(hit))) {
        tall++
        top = Math.min(top, y)
        bottom = Math.max(bottom, y + 1)
      }
    }
    return { tall, top, bottom }
  })
}

/** The part of a screenshot's pixels farther than a faint tint from white, 0..1. */
export async function inkedShare(png: Buffer): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  let count = 0
  for (let i = 0; i < data.length; i += info.channels) {
    if (Math.max(255 - data[i]!, 255 - data[i + 1]!, 255 - data[i + 2]!) > 8) count++
  }
  return count / (info.width * info.height)
}

/** What the open chat's header (h5) shows of its title, CSS px. */
export interface ChatHeader {
  /** The title as it reads, between the back arrow and the right-hand button ("周末爬山(4)"). */
  readonly title: string
  /** The header's box, its bottom border left out. */
  readonly header: Rect
  /** The title's box (all of its parts). */
  readonly titleBox: Rect
  /** The first and last row of the header with ink in it (the buttons' columns left out); none: blank. */
  readonly ink?: { readonly top: number; readonly bottom: number }
  /** The box of the title's last `tail.length` characters, when the title ends with `tail`. */
  readonly tailBox?: Rect
  /** A tap at the tail's centre lands on the title: nothing covers it. */
  readonly tailOnTop: boolean
  /** The box of the header's right-hand button ("⋯"), when it has one. */
  readonly button?: Rect
  /** The name does not fit and is cut with an ellipsis, drawn by CSS (text-overflow) or in its text. */
  readonly ellipsized: boolean
  /**
   * The blank columns between the last ink left of the tail and the tail's box, px, as drawn (read
   * from a screenshot of the title's rows): what a reader sees between a cut name's "…" and "(3)".
   */
  readonly gapBeforeTail?: number
}

/** The open chat's title as its header (h5) reads, between the back arrow and the right-hand button. */
export function headerTitle(page: Page): Promise<string> {
  return page
    .locator('.ch-h5:visible .ch-row')
    .first()
    .evaluate((row) => Array.from(row.children, (c) => (c.getAttribute('role') === 'button' ? '' : (c.textContent ?? ''))).join(''))
}

/**
 * The header of the open chat page (h5): its title and where it is drawn. Ink is a pixel of a
 * screenshot farther than a faint tint from the header's background (#ededed).
 */
export async function chatHeader(page: Page, tail = ''): Promise<ChatHeader> {
  // Measured where the page comes to rest, not while it slides in.
  await settled(page)
  const m = await page
    .locator('.ch-h5:visible')
    .first()
    .evaluate((el, tail) => {
      const rect = (r: DOMRect | { left: number; top: number; right: number; bottom: number }) => ({
        left: r.left,
        top: r.top,
        right: r.right,
        bottom: r.bottom,
        width: r.right - r.left,
        height: r.bottom - r.top,
      })
      const h = el.getBoundingClientRect()
      const header = rect({ left: h.left + el.clientLeft, top: h.top + el.clientTop, right: h.left + el.clientLeft + el.clientWidth, bottom: h.top + el.clientTop + el.clientHeight })
      const row = el.querySelector('.ch-row')!
      const rowBox = row.getBoundingClientRect()
      const rowStyle = getComputedStyle(row)
      const parts = Array.from(row.children).filter((c) => c.getAttribute('role') !== 'button')
      const boxes = parts.map((p) => p.getBoundingClientRect())
      const titleBox = rect({
        left: Math.min(...boxes.map((b) => b.left)),
        top: Math.min(...boxes.map((b) => b.top)),
        right: Math.max(...boxes.map((b) => b.right)),
        bottom: Math.max(...boxes.map((b) => b.bottom)),
      })
      const text = parts.map((p) => p.textContent ?? '').join('')
      let tailBox: ReturnType<typeof rect> | undefined
      let tailOnTop = false
      if (tail && text.endsWith(tail)) {
        // A range over the tail, in the last text node of the title (the tail is one node's end).
        const nodes: Text[] = []
        for (const p of parts) {
          const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT)
          for (let n = walker.nextNode(); n; n = walker.nextNode()) if ((n as Text).data) nodes.push(n as Text)
        }
        const last = nodes.at(-1)!
        const range = document.createRange()
        range.setStart(last, Math.max(0, last.data.length - tail.length))
        range.setEnd(last, last.data.length)
        tailBox = rect(range.getBoundingClientRect())
        const hit = document.elementFromPoint((tailBox.left + tailBox.right) / 2, (tailBox.top + tailBox.bottom) / 2)
        tailOnTop = !!hit && parts.some((p) => p.contains(hit))
      }
      const name = parts[0] as HTMLElement
      const nameStyle = getComputedStyle(name)
      const more = row.querySelector('[role="button"]:last-child')
      return {
        title: text,
        header,
        titleBox,
        columns: { left: rowBox.left + parseFloat(rowStyle.paddingLeft), right: rowBox.right - parseFloat(rowStyle.paddingRight) },
        tailBox,
        tailOnTop,
        button: more && more !== row.firstElementChild ? rect(more.getBoundingClientRect()) : undefined,
        ellipsized:
          (nameStyle.textOverflow === 'ellipsis' && nameStyle.overflow === 'hidden' && name.scrollWidth > name.clientWidth) ||
          (parts.length > 1 && (name.textContent ?? '').endsWith('…')),
      }
    }, tail)
  const clip = { x: m.columns.left, y: m.header.top, width: m.columns.right - m.columns.left, height: m.header.height }
  const { data, info } = await sharp(await page.screenshot({ clip })).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const scale = info.height / clip.height
  let top = -1
  let bottom = -1
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const i = (y * info.width + x) * info.channels
      if (Math.max(Math.abs(data[i]! - 0xed), Math.abs(data[i + 1]! - 0xed), Math.abs(data[i + 2]! - 0xed)) > 24) {
        if (top < 0) top = y
        bottom = y + 1
        break
      }
    }
  }
  const { columns: _columns, ...seen } = m
  let gapBeforeTail: number | undefined
  if (m.tailBox) {
    // Column by column leftwards from the tail's left edge, over the title's rows: the first with ink.
    const inked = (x: number) => {
      for (let y = Math.floor((m.titleBox.top - clip.y) * scale); y < Math.ceil((m.titleBox.bottom - clip.y) * scale) && y < info.height; y++) {
        const i = (y * info.width + x) * info.channels
        if (Math.max(Math.abs(data[i]! - 0xed), Math.abs(data[i + 1]! - 0xed), Math.abs(data[i + 2]! - 0xed)) > 24) return true
      }
      return false
    }
    const from = Math.floor((m.tailBox.left - clip.x) * scale) - 1
    let x = from
    while (x >= 0 && !inked(x)) x--
    gapBeforeTail = (from - x) / scale
  }
  return { ...seen, ink: top < 0 ? undefined : { top: clip.y + top / scale, bottom: clip.y + bottom / scale }, ...(gapBeforeTail !== undefined ? { gapBeforeTail } : {}) }
}

/**
 * A group's header as WeChat's reads: the title `title` ("周末爬山(4)", or a test of the title as it
 * reads) alone on the header, nothing
 * under it: its box is centred in the header (within 1 px) and every inked row of the header lies
 * within it.
 */
export async function expectTitleAlone(page: Page, title: string | ((shown: string) => boolean)): Promise<ChatHeader> {
  if (typeof title === 'string') await expect.poll(() => headerTitle(page), { timeout: 15_000 }).toBe(title)
  else await expect.poll(() => headerTitle(page), { timeout: 15_000 }).toSatisfy(title)
  const h = await chatHeader(page)
  expect(Math.abs((h.titleBox.top + h.titleBox.bottom) / 2 - (h.header.top + h.header.bottom) / 2), 'the title centred in the header').toBeLessThanOrEqual(1)
  expect(h.ink, 'the title drawn').toBeDefined()
  expect(h.ink!.top, 'no ink above the title').toBeGreaterThanOrEqual(h.titleBox.top - 0.5)
  expect(h.ink!.bottom, 'no line under the title').toBeLessThanOrEqual(h.titleBox.bottom + 0.5)
  return h
}
