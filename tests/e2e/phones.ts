/**
 * What the suites that look at the h5 build as a Chinese-speaking phone user does (h5-zh-*) share:
 * the phones, the smallest touch target, a login with a Chinese browser, each phone in turn, and
 * measures of what is on screen (boxes, where a tap lands, inked pixels).
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
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
