/** Chromium from the system (playwright-core, no browser download) and a user logged in to the h5 build. */
import { chromium, type Browser, type BrowserContext, type Page, type Request } from 'playwright-core'
import { findChromium } from '../../scripts/test-prereqs.mjs'

/** The launch flags that work on these machines (no sandbox, no GPU, nothing phoning home). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * A fake microphone (a tone) that needs no permission prompt: getUserMedia and MediaRecorder work
 * headless, for the voice tests.
 */
export const FAKE_MICROPHONE_FLAGS = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'] as const

/**
 * Chromium at CHROMIUM_PATH, or the first Chromium on PATH (the same lookup `npm test` checks first).
 * `extraFlags`: added to the launch flags (e.g. FAKE_MICROPHONE_FLAGS).
 */
export function launchChromium(extraFlags: readonly string[] = []): Promise<Browser> {
  const found = findChromium()
  if (!found.path) throw new Error(`${found.error}: install Chromium or set CHROMIUM_PATH`)
  return chromium.launch({ executablePath: found.path, args: [...CHROMIUM_FLAGS, ...extraFlags] })
}

export interface BrowserUser {
  readonly ctx: BrowserContext
  readonly page: Page
  /** Uncaught page errors: a test ends by expecting none. */
  readonly errors: string[]
  /** Every request the page made. */
  readonly requests: Request[]
  /** Content-Security-Policy violations the page reported (console errors and violation events). */
  readonly csp: string[]
}

export interface LoginOptions {
  /** The browser's time zone (IANA), e.g. Asia/Shanghai; the machine's when not given. */
  readonly timezoneId?: string
  /**
   * Playwright's fake clock installed before the app loads, starting at the real time and running
   * with it, so a test can move the page's time ahead (`page.clock.fastForward`).
   */
  readonly clock?: boolean
}

/**
 * A phone-sized page (`width` CSS px wide, default 390) of the h5 build at `url`, logged in with the
 * dev login. `locale` is the browser's language (`navigator.language`), which the app follows:
 * en-US by default, as the tests select elements by their English text; zh-CN for the Chinese UI.
 */
export async function loginAs(
  browser: Browser,
  url: string,
  id: string,
  name: string,
  width = 390,
  locale = 'en-US',
  options: LoginOptions = {},
): Promise<BrowserUser> {
  const ctx = await browser.newContext({ viewport: { width, height: 844 }, deviceScaleFactor: 2, locale, timezoneId: options.timezoneId })
  const page = await ctx.newPage()
  // Before the app loads, so every Date and timer of it is the fake clock's.
  if (options.clock) await page.clock.install()
  const errors: string[] = []
  const requests: Request[] = []
  const csp: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('request', (r) => requests.push(r))
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) csp.push(m.text())
  })
  await page.exposeFunction('__cspViolation', (v: string) => void csp.push(v))
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      ;(window as unknown as { __cspViolation(v: string): void }).__cspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`)
    })
  })
  await page.goto(`${url}/`)
  await page.locator('#login-user input').fill(id)
  await page.locator('#login-name input').fill(name)
  await page.locator('#login-go').click()
  await page.getByText(locale.startsWith('en') ? `Signed in as ${name}` : `账号：${name}`).waitFor()
  return { ctx, page, errors, requests, csp }
}

/**
 * Nothing on the page moves any more: every Taro page is hidden or has finished sliding in (the
 * router's slide is not a Web Animation: its end is the page's `taro_page_stationed` class), no
 * animation runs, and two frames have passed (row heights measured after a change are in).
 */
export async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll('.taro_page')).every((p) => p.classList.contains('taro_page_shade') || p.classList.contains('taro_page_stationed')),
  )
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'))
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
}

/**
 * New chat with `peers` (one: a 1:1; more: a group), each found by searching `query(peer)` (its id
 * unless given), then waits for the chat page's composer.
 */
export async function openChatWith(u: BrowserUser, peers: readonly string[], query: (peer: string) => string = (p) => p): Promise<void> {
  await u.page.locator('#new-chat').click()
  for (const p of peers) {
    await u.page.locator('#search input').fill(query(p))
    await u.page.locator(`[id="user-${p}"]`).click()
  }
  await u.page.locator('#start-chat').click()
  await u.page.locator('#composer').waitFor()
}

/** The composer's text field (a text area inside Taro's host element). */
export const COMPOSER_FIELD = '#composer textarea'

/** Types `text`, taps Send and waits for its bubble. */
export async function sendText(u: BrowserUser, text: string): Promise<void> {
  await u.page.locator(COMPOSER_FIELD).fill(text)
  await u.page.locator('#send').click()
  await u.page.locator('.bt', { hasText: text }).first().waitFor()
}
