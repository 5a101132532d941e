// Over 400 lines on purpose: one browser session per edge case would cost a build and a Chromium start each.
/**
 * The rough edges a user meets in the h5 build, each asserted as it shows in Chromium (pixels,
 * visibility, text), against the built BFF serving the production h5 build. Screenshots at 320 and
 * 390 px go to test-results/h5-edges/.
 */
import path from 'node:path'
import type { Page, Response } from 'playwright-core'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { CLIENT_DEFAULTS } from '../../client/config'
import { loginAs, openChatWith, type BrowserUser as User } from './browser'
import { startBffProcess, type TestBff } from './bff'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-edges')
/** UPLOAD_MAX_BYTES of this BFF: small, so a refused file is small too. */
const MAX_UPLOAD = 256 * 1024

const suite = useH5Suite(SHOTS, { UPLOAD_MAX_BYTES: String(MAX_UPLOAD) })

let n = 0
/** A user id unique to this run of the file. */
const uid = (name: string) => `${name}${Date.now().toString(36)}${++n}`

function login(id: string, name: string, width = 390): Promise<User> {
  return loginAs(suite.browser, suite.bff.url, id, name, width)
}

/** When each user last tapped Send: "+" ignores taps for sendTapGuardMs after it (client/README.md). */
const sentAt = new WeakMap<User, number>()

async function send(u: User, text: string): Promise<void> {
  await u.page.locator('#composer textarea').fill(text)
  await u.page.locator('#send').click()
  sentAt.set(u, Date.now())
  await u.page.locator('.bt', { hasText: text }).first().waitFor()
}

async function attach(u: User, tool: 'Photo' | 'File', file: { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
  // A tap on "+" right after Send is taken for the second tap of a double tap on Send and ignored:
  // a user's deliberate tap comes later.
  const guard = (sentAt.get(u) ?? 0) + CLIENT_DEFAULTS.sendTapGuardMs - Date.now()
  if (guard > 0) await u.page.waitForTimeout(guard)
  await u.page.locator('#attach').click()
  const chooser = u.page.waitForEvent('filechooser')
  await u.page.locator('.cp-tool', { hasText: tool }).click()
  await (await chooser).setFiles(file)
}

/** The rectangle of an element in CSS px. */
function box(page: Page, selector: string): Promise<{ x: number; y: number; width: number; height: number }> {
  return page.locator(selector).first().evaluate((el) => {
    const r = el.getBoundingClientRect()
    return { x: r.x, y: r.y, width: r.width, height: r.height }
  })
}

function pdf(size: number): Buffer {
  // A real one-page PDF, padded with a comment to `size` bytes.
  const body = [
    '%PDF-1.4',
    '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj',
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj',
    '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] >> endobj',
    'trailer << /Root 1 0 R >>',
    '%%EOF',
  ].join('\n')
  return Buffer.concat([Buffer.from(`${body}\n%`), Buffer.alloc(Math.max(0, size - body.length - 2), 0x41)])
}

describe('h5 rough edges', () => {
  it('serves a favicon, not a 404', async () => {
    const res = await fetch(`${suite.bff.url}/favicon.ico`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^image\/(x-icon|vnd\.microsoft\.icon)/)
    // An .ico of one 32x32 PNG: the PNG follows the 22-byte header and directory.
    const png = await sharp(Buffer.from(await res.arrayBuffer()).subarray(22)).metadata()
    expect([png.format, png.width, png.height]).toEqual(['png', 32, 32])
  })

  it('lays Arabic and Hebrew out right to left (dir="auto"), Latin left to right', async () => {
    const a = uid('rtla')
    const b = uid('rtlb')
    const alice = await login(a, 'Alice')
    await login(b, 'Bob')
    await openChatWith(alice, [b])
    const hebrew = 'שלום לכולם, זו הודעה ארוכה מספיק כדי לעבור לשורה שנייה בתוך הבועה של הצ׳אט'
    const arabic = 'مرحبا بالجميع، هذه رسالة طويلة بما يكفي لتنتقل إلى سطر ثان داخل فقاعة الدردشة'
    const latin = 'Hello everyone, this is a message long enough to wrap. Bye'
    for (const t of [hebrew, arabic, latin]) await send(alice, t)
    await alice.page.screenshot({ path: path.join(SHOTS, 'rtl-390.png') })
    const lines = (text: string) =>
      alice.page.locator('.bt', { hasText: text }).evaluate((el) => {
        // The text's boxes, one per line (a line may hold several runs: take its extent).
        const range = document.createRange()
        range.selectNodeContents(el)
        const byLine = new Map<number, { left: number; right: number }>()
        for (const r of range.getClientRects()) {
          if (r.width === 0) continue
          const top = Math.round(r.top)
          const line = byLine.get(top)
          byLine.set(top, line ? { left: Math.min(line.left, r.left), right: Math.max(line.right, r.right) } : { left: r.left, right: r.right })
        }
        const lines = [...byLine.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l)
        return { dir: el.getAttribute('dir'), direction: getComputedStyle(el).direction, count: lines.length, first: lines[0]!, last: lines[lines.length - 1]! }
      })
    for (const t of [hebrew, arabic]) {
      const l = await lines(t)
      expect(l.dir).toBe('auto')
      expect(l.direction).toBe('rtl')
      expect(l.count).toBeGreaterThan(1)
      // Right to left: the short last line hangs from the right edge, its left side is open.
      expect(Math.abs(l.last.right - l.first.right)).toBeLessThan(2)
      expect(l.last.left).toBeGreaterThan(l.first.left + 20)
    }
    const l = await lines(latin)
    expect(l.direction).toBe('ltr')
    expect(l.count).toBeGreaterThan(1)
    expect(Math.abs(l.last.left - l.first.left)).toBeLessThan(2)
    expect(l.last.right).toBeLessThan(l.first.right - 20)
    expect(alice.errors).toEqual([])
  })

  it('a double tap on Send sends once and does not open the attachment panel', async () => {
    const a = uid('dbla')
    const b = uid('dblb')
    const alice = await login(a, 'Alice')
    await login(b, 'Bob')
    await openChatWith(alice, [b])
    await alice.page.locator('#composer textarea').fill('sent with a double tap')
    await alice.page.locator('#send').dblclick()
    await alice.page.locator('.bt', { hasText: 'sent with a double tap' }).waitFor()
    // The second tap landed on "+", which took Send's place: ignored.
    await expect.poll(() => alice.page.locator('.st-sending').count()).toBe(0)
    expect(await alice.page.locator('.bt', { hasText: 'sent with a double tap' }).count()).toBe(1)
    expect(await alice.page.locator('.cp-panel').count()).toBe(0)
    // A deliberate tap later opens it: the guard is the double tap's span, not a dead button.
    await alice.page.waitForTimeout(CLIENT_DEFAULTS.sendTapGuardMs)
    await alice.page.locator('#attach').click()
    await alice.page.locator('.cp-panel').waitFor()
    expect(await alice.page.locator('.cp-tool', { hasText: 'Photo' }).isVisible()).toBe(true)
    expect(alice.errors).toEqual([])
  })

  it('truncates a long name in the chat header before the back arrow; the 320 px home header shows the account name whole, clear of its buttons', async () => {
    const a = uid('hdra')
    const b = uid('hdrb')
    const longName = 'Maximilian Alexander Montgomery-Featherstonehaugh the Third'
    const alice = await login(a, 'Alice Wonderland-Longname', 320)
    await login(b, longName)
    const top = await box(alice.page, '.tb-me')
    const actions = await box(alice.page, '.tb-a')
    // The whole name is shown (not cut to an ellipsis), and the buttons are beside it with a gap or
    // on a row of their own below it, inside the page.
    expect(await alice.page.locator('.tb-me').evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true)
    expect(await alice.page.locator('.tb-me').innerText()).toContain('Alice Wonderland-Longname')
    const beside = actions.x - (top.x + top.width) >= 8
    const below = actions.y >= top.y + top.height
    expect(beside || below).toBe(true)
    expect(actions.x + actions.width).toBeLessThanOrEqual(320)
    await alice.page.screenshot({ path: path.join(SHOTS, 'home-320.png') })

    await openChatWith(alice, [b])
    await alice.page.locator('.ch-title', { hasText: 'Maximilian' }).waitFor()
    for (const width of [320, 390]) {
      await alice.page.setViewportSize({ width, height: 700 })
      // The page slides in: measure once it is in place (the arrow at the left edge).
      await expect.poll(async () => (await box(alice.page, '.ch-back:visible')).x).toBeLessThan(40)
      await alice.page.screenshot({ path: path.join(SHOTS, `chat-header-${width}.png`) })
      const title = alice.page.locator('.ch-title:visible')
      const t = await title.evaluate((el) => ({
        overflow: getComputedStyle(el).textOverflow,
        cut: el.scrollWidth > el.clientWidth,
        whiteSpace: getComputedStyle(el).whiteSpace,
      }))
      expect(t).toEqual({ overflow: 'ellipsis', cut: true, whiteSpace: 'nowrap' })
      const back = await box(alice.page, '.ch-back:visible')
      const tb = await box(alice.page, '.ch-title:visible')
      // Clear of the arrow, on one line, inside the window.
      expect(tb.x).toBeGreaterThanOrEqual(back.x + back.width)
      expect(tb.x + tb.width).toBeLessThanOrEqual(width)
      expect(tb.height).toBeLessThan(30)
    }
    expect(alice.errors).toEqual([])
  })

  it('the back arrow goes to the conversation list after a reload and from a chat URL opened directly', async () => {
    const a = uid('baka')
    const b = uid('bakb')
    const alice = await login(a, 'Alice')
    await login(b, 'Bob')
    await openChatWith(alice, [b])
    await send(alice, 'before the reload')
    const chatUrl = alice.page.url()
    expect(chatUrl).toContain('/pages/chat/index')

    await alice.page.reload()
    await alice.page.locator('.bt', { hasText: 'before the reload' }).waitFor()
    await alice.page.locator('.ch-back').click()
    await alice.page.locator('#new-chat').waitFor()
    await alice.page.locator('.cr', { hasText: 'before the reload' }).waitFor()

    // The same chat opened from its URL in a new tab (the session is in the browser's storage).
    const tab = await alice.ctx.newPage()
    await tab.goto(chatUrl)
    await tab.locator('.bt', { hasText: 'before the reload' }).waitFor()
    await tab.locator('.ch-back').click()
    await tab.locator('#new-chat').waitFor()
    expect(tab.url()).not.toContain('/pages/chat/index')
    expect(alice.errors).toEqual([])
  })

  it('shows Read on a fresh login: the peer read marks come with the conversations', async () => {
    const a = uid('rra')
    const b = uid('rrb')
    const alice = await login(a, 'Alice')
    const bob = await login(b, 'Bob')
    await openChatWith(alice, [b])
    await send(alice, 'read me on another device')
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    await bob.page.locator('.bt', { hasText: 'read me on another device' }).waitFor()
    await alice.page.locator('.st-read').waitFor()

    // Alice on a new device: nothing cached, the receipt was pushed long ago.
    const fresh = await login(a, 'Alice')
    await fresh.page.locator('.cr', { hasText: 'read me on another device' }).click()
    await fresh.page.locator('.bt', { hasText: 'read me on another device' }).waitFor()
    await fresh.page.locator('.st-read').waitFor()
    expect(await fresh.page.locator('.st-read').first().textContent()).toBe('Read')
    expect(fresh.errors).toEqual([])
  })

  it('keeps the aspect ratio of an image from the start, shows a small one at its real size, and closes the preview with a button and Escape', async () => {
    const a = uid('ima')
    const b = uid('imb')
    const alice = await login(a, 'Alice')
    const bob = await login(b, 'Bob')
    await openChatWith(alice, [b])
    await send(alice, 'pictures')
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    await bob.page.locator('.bt', { hasText: 'pictures' }).waitFor()

    // Appends wait until the placeholder was measured: "before the upload" is a fact of the test.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    await alice.page.route('**/uploads/**', async (route) => {
      if (route.request().headers()['x-http-method-override'] === 'PATCH') await held
      await route.continue()
    })
    const small = await sharp({ create: { width: 120, height: 80, channels: 3, background: '#3070c0' } }).png().toBuffer()
    await attach(alice, 'Photo', { name: 'small.png', mimeType: 'image/png', buffer: small })
    await alice.page.locator('.im').first().waitFor()
    const pending = await box(alice.page, '.im')
    expect([Math.round(pending.width), Math.round(pending.height)]).toEqual([120, 80])
    release()
    await bob.page.locator('.im').first().waitFor()
    const theirs = await box(bob.page, '.im')
    expect([Math.round(theirs.width), Math.round(theirs.height)]).toEqual([120, 80])

    // A large one is scaled down, its aspect ratio kept, on both sides.
    const wide = await sharp({ create: { width: 1600, height: 900, channels: 3, background: '#c07030' } }).jpeg().toBuffer()
    await attach(alice, 'Photo', { name: 'wide.jpg', mimeType: 'image/jpeg', buffer: wide })
    await expect.poll(() => bob.page.locator('.im').count(), { timeout: 30_000 }).toBe(2)
    for (const page of [alice.page, bob.page]) {
      const r = await page.locator('.im').nth(1).evaluate((el) => el.getBoundingClientRect().width / el.getBoundingClientRect().height)
      expect(r).toBeCloseTo(16 / 9, 1)
    }
    await bob.page.screenshot({ path: path.join(SHOTS, 'images-390.png') })

    // The full-screen preview: a visible close button, and Escape.
    await bob.page.locator('.im').first().click()
    const layer = bob.page.locator('.preview-image')
    await layer.waitFor()
    const close = bob.page.locator('.preview-close')
    expect(await close.isVisible()).toBe(true)
    const cb = await box(bob.page, '.preview-close')
    expect(cb.width).toBeGreaterThanOrEqual(40)
    await bob.page.screenshot({ path: path.join(SHOTS, 'preview-390.png') })
    await close.click()
    await layer.waitFor({ state: 'detached' })
    await bob.page.locator('.im').first().click()
    await layer.waitFor()
    await bob.page.keyboard.press('Escape')
    await layer.waitFor({ state: 'detached' })
    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
  })

  it('opens a PDF in the browser viewer in a new tab, served inline with its type', async () => {
    const a = uid('pdfa')
    const b = uid('pdfb')
    const alice = await login(a, 'Alice')
    const bob = await login(b, 'Bob')
    await openChatWith(alice, [b])
    await attach(alice, 'File', { name: 'minutes.pdf', mimeType: 'application/pdf', buffer: pdf(20_000) })
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    const card = bob.page.locator('.fc', { hasText: 'minutes.pdf' })
    await card.waitFor({ timeout: 30_000 })
    const documents: Response[] = []
    bob.ctx.on('response', (r) => {
      if (r.url().includes('/files/') && r.request().resourceType() === 'document') documents.push(r)
    })
    const [popup] = await Promise.all([bob.ctx.waitForEvent('page'), card.click()])
    await popup.waitForLoadState()
    await expect.poll(() => documents.length).toBeGreaterThan(0)
    const headers = await documents[0]!.allHeaders()
    expect(documents[0]!.status()).toBe(200)
    expect(headers['content-type']).toBe('application/pdf')
    expect(headers['content-disposition']).toMatch(/^inline; filename="minutes.pdf"/)
    expect(popup.url()).toMatch(/\/files\/[^/?]+/)
    // What the tab shows: Chromium's viewer (its dark frame) with the white page drawn in it, not a
    // blank tab (all white) while the file goes to downloads.
    await expect
      .poll(
        async () => {
          const { data, info } = await sharp(await popup.screenshot()).removeAlpha().raw().toBuffer({ resolveWithObject: true })
          let dark = 0
          let white = 0
          for (let i = 0; i < data.length; i += info.channels) {
            const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!]
            if (r < 80 && g < 80 && b < 80) dark++
            else if (r > 245 && g > 245 && b > 245) white++
          }
          const total = data.length / info.channels
          return dark / total > 0.3 && white / total > 0.02
        },
        { timeout: 15_000 },
      )
      .toBe(true)
    await popup.screenshot({ path: path.join(SHOTS, 'pdf-tab.png') })
    expect(bob.errors).toEqual([])
  })

  it('shows why an upload was refused, with the limit, and does not send it again on a tap', async () => {
    const a = uid('refa')
    const b = uid('refb')
    const alice = await login(a, 'Alice')
    await login(b, 'Bob')
    await openChatWith(alice, [b])
    const uploads = () => alice.requests.filter((r) => r.url().includes('/uploads')).length

    await attach(alice, 'File', { name: 'big.pdf', mimeType: 'application/pdf', buffer: pdf(MAX_UPLOAD + 1) })
    const tooBig = alice.page.locator('.rf', { hasText: 'Not sent: The file exceeds the upload limit of 256 KB. Choose a smaller one.' })
    await tooBig.waitFor()
    const elf = Buffer.alloc(40_000)
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01]).copy(elf)
    await attach(alice, 'File', { name: 'report.pdf', mimeType: 'application/pdf', buffer: elf })
    await alice.page.locator('.rf', { hasText: /^Not sent: This file type is not accepted\. You can send JPEG, PNG, GIF or WebP images, PDF/ }).waitFor()
    expect(await tooBig.isVisible()).toBe(true)
    // Refused: no retry mark, and tapping the bubble or its card sends nothing.
    expect(await alice.page.locator('.st-failed').count()).toBe(0)
    const before = uploads()
    for (const name of ['big.pdf', 'report.pdf']) await alice.page.locator('.fc', { hasText: name }).click()
    await alice.page.locator('#composer textarea').fill('still here')
    await alice.page.locator('#send').click()
    await alice.page.locator('.bt', { hasText: 'still here' }).waitFor()
    expect(uploads()).toBe(before)
    await alice.page.screenshot({ path: path.join(SHOTS, 'refused-390.png') })
    // "Remove" takes a refused message away, and sends nothing either.
    await tooBig.locator('.rf-x').click()
    await alice.page.locator('.fc', { hasText: 'big.pdf' }).waitFor({ state: 'detached' })
    expect(await alice.page.locator('.fc', { hasText: 'report.pdf' }).count()).toBe(1)
    expect(uploads()).toBe(before)
    expect(alice.errors).toEqual([])
  })

  it('reloads while offline into the app, from the offline shell', async () => {
    const alice = await login(uid('offa'), 'Alice')
    await alice.page.evaluate(async () => {
      await navigator.serviceWorker.ready
    })
    // The worker takes over the page it was installed from (clients.claim).
    await expect.poll(() => alice.page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true)
    await alice.ctx.setOffline(true)
    await alice.page.reload()
    await alice.page.getByText('Signed in as Alice').waitFor()
    // And it knows it is offline (not "retrying" against a network that is not there).
    await alice.page.getByText('No network connection').waitFor()
    await alice.page.screenshot({ path: path.join(SHOTS, 'offline-reload-390.png') })
    await alice.ctx.setOffline(false)
    expect(alice.errors).toEqual([])
  })
})

describe('h5 after the server restarted and no longer accepts the session', () => {
  let own: TestBff | undefined

  afterAll(async () => {
    await own?.close()
  })

  it('tells the user why, and keeps what was typed and queued for after the new login', async () => {
    own = await startBffProcess()
    const port = new URL(own.url).port
    const a = uid('rsa')
    const b = uid('rsb')
    const alice = await loginAs(suite.browser, own.url, a, 'Alice')
    const bob = await loginAs(suite.browser, own.url, b, 'Bob')
    await openChatWith(alice, [b])
    await send(alice, 'before the restart')
    await bob.page.locator('.cr', { hasText: 'before the restart' }).waitFor()

    // The server goes away; Alice writes five messages (queued) and starts a sixth.
    await own.close()
    own = undefined
    await alice.page.locator('.cb').waitFor()
    const queued = [1, 2, 3, 4, 5].map((i) => `queued while down ${i}`)
    for (const t of queued) await send(alice, t)
    expect(await alice.page.locator('.st-sending').count()).toBe(5)
    await alice.page.locator('#composer textarea').fill('a half-typed draft')

    // It comes back on the same address with another signing key: the old session is refused.
    own = await startBffProcess({ PORT: port, JWT_SECRET: 'another-signing-key-after-the-restart-0123456789' })
    for (const u of [alice, bob]) {
      const note = u.page.locator('#session-ended')
      await note.waitFor({ timeout: 30_000 })
      expect(await note.textContent()).toMatch(/^Your session has ended: the server no longer accepts it/)
    }
    await alice.page.screenshot({ path: path.join(SHOTS, 'session-ended-390.png') })
    // The same user is offered again.
    expect(await alice.page.locator('#login-user input').inputValue()).toBe(a)

    for (const [u, name] of [[bob, 'Bob'], [alice, 'Alice']] as const) {
      await u.page.locator('#login-name input').fill(name)
      await u.page.locator('#login-go').click()
      await u.page.getByText(`Signed in as ${name}`).waitFor()
    }
    // Every queued message reaches Bob once, and stays in Alice's own view, confirmed.
    await bob.page.locator('.cr', { hasText: 'queued while down 5' }).waitFor({ timeout: 30_000 })
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    for (const t of queued) await bob.page.locator('.bt', { hasText: t }).waitFor()
    for (const t of queued) expect(await bob.page.locator('.bt', { hasText: t }).count()).toBe(1)
    // Her list shows the draft in place of the last message (as WeChat does), kept across the new login.
    await alice.page.locator('.cr', { hasText: '[Draft] a half-typed draft' }).click()
    for (const t of queued) await alice.page.locator('.bt', { hasText: t }).waitFor()
    await expect.poll(() => alice.page.locator('.st-sending').count(), { timeout: 20_000 }).toBe(0)
    for (const t of queued) expect(await alice.page.locator('.bt', { hasText: t }).count()).toBe(1)
    // And the draft is back in the composer.
    expect(await alice.page.locator('#composer textarea').inputValue()).toBe('a half-typed draft')
    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
  })
})
