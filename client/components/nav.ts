/**
 * Navigation helpers shared by pages: one navigation at a time.
 *
 * Taro's h5 router slides a new page in and, when the slide ends, hides the page below it with a
 * timer. A back tap before that timer fired (a quick "open, then back", or a slow phone) shows the
 * page below again, then the timer hides it: a blank screen. A second tap on a row during the slide
 * pushes the same page twice. So a navigation waits for the one before it to end (the page on top
 * "stationed"); the same one asked again meanwhile is dropped, another one waits its turn.
 */
import Taro from '@tarojs/taro'

const HOME = '/pages/index/index'
/** Longest wait for a page to settle: past it, go on (a router without animation never marks it). */
const SETTLE_MAX_MS = 2000

/** The navigation in progress (what it does, as a key) and the one asked for meanwhile. */
let current: string | undefined
let queued: { readonly key: string; readonly go: () => Promise<unknown> } | undefined

/** h5: the page on top (Taro's page containers: the last one not hidden). */
function topPage(): Element | undefined {
  if (process.env.TARO_ENV !== 'h5' || typeof document === 'undefined') return undefined
  const pages = document.querySelectorAll('.taro_page:not(.taro_page_shade)')
  return pages[pages.length - 1]
}

/**
 * h5: resolves once the page on top is another than `from` (when given: the navigation took effect)
 * and has finished sliding in. Elsewhere at once (the mini-program's own navigation resolves when done).
 */
function settled(from?: Element): Promise<void> {
  if (process.env.TARO_ENV !== 'h5' || typeof document === 'undefined') return Promise.resolve()
  const start = Date.now()
  return new Promise((resolve) => {
    const check = () => {
      const top = topPage()
      const done = top !== undefined && top !== from && top.classList.contains('taro_page_stationed')
      if (done || Date.now() - start > SETTLE_MAX_MS) return resolve()
      setTimeout(check, 16)
    }
    check()
  })
}

/**
 * Runs `go` once the navigation in progress and its slide have ended. Asked again for the same
 * thing meanwhile (a double tap): dropped. Asked for something else: the latest waits its turn.
 */
function serialized(key: string, go: () => Promise<unknown>): void {
  if (current !== undefined) {
    if (current !== key) queued = { key, go }
    return
  }
  current = key
  void settled()
    .then(async () => {
      const from = topPage()
      await go()
      await settled(from)
    })
    .catch(() => undefined)
    .finally(() => {
      current = undefined
      const next = queued
      queued = undefined
      if (next) serialized(next.key, next.go)
    })
}

/** Open `url` on top of this page. */
export function goTo(url: string): void {
  serialized(`to ${url}`, () => Taro.navigateTo({ url }))
}

/** Replace this page by `url`. */
export function replaceWith(url: string): void {
  serialized(`replace ${url}`, () => Taro.redirectTo({ url }))
}

/**
 * Back to the previous page, or to the conversation list when there is none: after a reload or when
 * a chat URL is opened directly (h5), the page stack holds only this page, and `navigateBack` then
 * resolves without going anywhere (Taro h5 calls history.back(), which leaves the app or does
 * nothing), so asking it first and catching its failure is not enough.
 */
export function goBack(): void {
  serialized('back', () => {
    if (Taro.getCurrentPages().length > 1) return Taro.navigateBack().catch(() => Taro.reLaunch({ url: HOME }))
    return Taro.reLaunch({ url: HOME })
  })
}
