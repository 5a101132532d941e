/**
 * What a Chinese-speaking user sees on a phone (375x667 and 414x896, deviceScaleFactor 2) in the h5
 * build, against the built BFF: each case asserts what a person would see (boxes in CSS px, lines,
 * text) for a flaw found by using the app in Chinese. Screenshots go to test-results/h5-zh-phone/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { COMPOSER_FIELD, openChatWith, sendText as send, settled, type BrowserUser as User, type LoginOptions } from './browser'
import { ROOT } from './build'
import { box, headerTitle, loginChinese, onEachPhone as eachPhone, uid } from './phones'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-zh-phone')

/** UPLOAD_MAX_BYTES of this BFF: small, so a refused file is small too. */
const MAX_UPLOAD = 64 * 1024

const suite = useH5Suite(SHOTS, { UPLOAD_MAX_BYTES: String(MAX_UPLOAD) })

/** The two phones: an iPhone 8 and an iPhone 11 (CSS px). */
const PHONES = [
  { width: 375, height: 667 },
  { width: 414, height: 896 },
] as const

/** Logged in with a Chinese browser in China's time zone, on the first phone. */
const login = (id: string, name: string, options: Omit<LoginOptions, 'timezoneId'> = {}): Promise<User> => loginChinese(suite, PHONES[0], id, name, options)

/** 小明, on the first phone, in his 1:1 with 小红 (both logged in); `tag` starts their ids. */
async function inOneToOne(tag: string): Promise<{ me: User; her: User; meId: string }> {
  const meId = uid(`${tag}a`)
  const herId = uid(`${tag}b`)
  const me = await login(meId, '小明')
  const her = await login(herId, '小红')
  await openChatWith(me, [herId])
  return { me, her, meId }
}

/** Each phone in turn: resized, laid out, screenshot, then `check`. */
const onEachPhone = (u: User, shot: string, check: (width: number) => Promise<void>) => eachPhone(u.page, PHONES, SHOTS, shot, check)

/**
 * The number of lines of the text of `selector` a person sees: one client rect per line of its runs,
 * counting only the lines inside the element's box (a clamped text lays out the rest, hidden).
 */
function lineCount(page: Page, selector: string): Promise<number> {
  return page.locator(selector).first().evaluate((el) => {
    const box = el.getBoundingClientRect()
    const range = document.createRange()
    range.selectNodeContents(el)
    const shown = [...range.getClientRects()].filter((r) => r.width > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1)
    return new Set(shown.map((r) => Math.round(r.top))).size
  })
}

/** The bottom of the lowest message bubble on screen (rows are slots in CSS order, not DOM order). */
function lastBubbleBottom(page: Page): Promise<number> {
  return page.evaluate(() => Math.max(...[...document.querySelectorAll('#msgs .b')].map((b) => b.getBoundingClientRect().bottom)))
}

/** Where the chat's end and the composer are: the gap between the last bubble and the composer's top. */
async function composerLayout(page: Page): Promise<{ height: number; gap: number; lastBottom: number; listTop: number; scrolls: boolean; lineHeight: number }> {
  await settled(page)
  const composer = await box(page, '#composer')
  const list = await box(page, '#msgs')
  const lastBottom = await lastBubbleBottom(page)
  const field = await page.locator(COMPOSER_FIELD).evaluate((el) => ({
    scrolls: el.scrollHeight > el.clientHeight + 1,
    lineHeight: parseFloat(getComputedStyle(el).lineHeight),
  }))
  return { height: composer.height, gap: composer.top - lastBottom, lastBottom, listTop: list.top, ...field }
}

/** ms from the page's clock to one minute past its next local midnight. */
function toNextMidnight(page: Page): Promise<number> {
  return page.evaluate(() => {
    const now = new Date()
    return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 1).getTime() - now.getTime()
  })
}

/**
 * 小明 makes an untitled group with 司马相如 and 王五 (ids from `prefix`), sees it named "司马相如、王五"
 * in its header (with its count, "司马相如、王五(3)"), says `text` in it and goes back to the conversation list.
 */
async function inUntitledGroup(prefix: string, text: string): Promise<User> {
  const me = await login(uid(`${prefix}a`), '小明')
  const b = uid(`${prefix}b`)
  const c = uid(`${prefix}c`)
  await login(b, '司马相如')
  await login(c, '王五')
  await openChatWith(me, [b, c])
  await expect.poll(() => headerTitle(me.page)).toBe('司马相如、王五(3)')
  await send(me, text)
  await me.page.goBack()
  return me
}

describe('a Chinese user on a phone', () => {
  it('a long URL wraps inside its bubble, clear of the avatar and inside the screen', async () => {
    const { me } = await inOneToOne('url')
    const url = `https://example.com/share/${'a1b2c3d4e5'.repeat(10)}?from=timeline`
    await send(me, url)
    await onEachPhone(me, 'long-url', async (width) => {
      const row = `.ln:has(.bt:text("${url.slice(0, 30)}"))`
      const bubble = await box(me.page, `${row} .b`)
      const avatar = await box(me.page, `${row} .av`)
      // The whole text is inside the bubble (no run sticks out of it)...
      expect(await me.page.locator(`${row} .bt`).evaluate((el) => el.scrollWidth <= el.clientWidth)).toBe(true)
      const text = await box(me.page, `${row} .bt`)
      expect(text.right).toBeLessThanOrEqual(bubble.right)
      // ...the bubble is left of my avatar, with the gap the other bubbles have, inside the screen...
      expect(bubble.right).toBeLessThan(avatar.left)
      expect(bubble.left).toBeGreaterThan(0)
      expect(avatar.right).toBeLessThanOrEqual(width)
      // ...and the URL is broken over lines rather than cut.
      expect(await lineCount(me.page, `${row} .bt`)).toBeGreaterThan(2)
    })
    expect(me.errors).toEqual([])
  })

  it('an untitled group is named with "、" between the members, in its header and in the list', async () => {
    const me = await inUntitledGroup('grp', '周六爬山？')
    await me.page.locator('.cr .cr-n').first().waitFor()
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'group-list-375.png') })
    expect(await me.page.locator('.cr .cr-n').first().innerText()).toBe('司马相如、王五')
    expect(me.errors).toEqual([])
  })

  it("a group's avatar in the list shows its members' faces as WeChat does: one on top, two below", async () => {
    const me = await inUntitledGroup('face', '人齐了吗')
    const row = `.cr:has(.cr-n:text("司马相如、王五"))`
    await me.page.locator(`${row} .avg`).waitFor()
    await onEachPhone(me, 'group-avatar', async () => {
      const square = await box(me.page, `${row} .avg`)
      const tiles = await me.page.locator(`${row} .avg-f`).evaluateAll((els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect()
          return { text: (el.textContent ?? '').trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width }
        }),
      )
      // One character of each member, in the group's order: 小明 (who made it), 司马相如, 王五...
      expect(tiles.map((t) => t.text)).toEqual(['明', '如', '五'])
      const [top, left, right] = tiles as [(typeof tiles)[0], (typeof tiles)[0], (typeof tiles)[0]]
      // ...each inside the square, the first alone and centred above the other two, side by side.
      for (const t of tiles) {
        expect(t.left).toBeGreaterThanOrEqual(square.left)
        expect(t.right).toBeLessThanOrEqual(square.right)
        expect(t.top).toBeGreaterThanOrEqual(square.top)
        expect(t.bottom).toBeLessThanOrEqual(square.bottom)
        expect(t.width).toBeGreaterThan(square.width / 3)
      }
      expect(Math.abs((top.left + top.right) / 2 - (square.left + square.right) / 2)).toBeLessThanOrEqual(1)
      expect(left.top).toBeGreaterThanOrEqual(top.bottom)
      expect(right.top).toBe(left.top)
      expect(right.left).toBeGreaterThanOrEqual(left.right)
      // A 1:1 keeps its one avatar: no group square in a row that is not a group's.
      expect(await me.page.locator('.cr:not(:has(.avg)) .av-l').count()).toBe(await me.page.locator('.cr').count() - 1)
    })
    expect(me.errors).toEqual([])
  })

  it('a long press on a text offers 复制 first, and it copies the text as sent', async () => {
    const { me, her, meId } = await inOneToOne('cp')
    const text = '明天上午十点，在公司楼下见 👋'
    await send(me, text)
    await her.page.context().grantPermissions(['clipboard-read', 'clipboard-write'])
    await openChatWith(her, [meId])
    const bubble = her.page.locator('#msgs .bt', { hasText: '明天上午十点' })
    await bubble.waitFor()
    await bubble.click({ button: 'right' })
    const items = her.page.locator('.taro-actionsheet__cell:visible')
    await items.first().waitFor()
    expect((await items.allInnerTexts()).map((s) => s.trim())).toEqual(['复制', '转发', '回复', '删除', '投诉'])
    await items.first().click()
    await her.page.getByText('内容已复制').waitFor()
    expect(await her.page.evaluate(() => navigator.clipboard.readText())).toBe(text)
    expect(her.errors).toEqual([])
  })

  it('a long file name shows on two lines of the card, above its size, not cut to one', async () => {
    const { me } = await inOneToOne('fil')
    const name = '2026年第三季度财务报告最终版本（修订稿）请在周五之前审阅.pdf'
    await me.page.locator('#attach').click()
    const chooser = me.page.waitForEvent('filechooser')
    await me.page.locator('.cp-tool', { hasText: '文件' }).click()
    await (await chooser).setFiles({ name, mimeType: 'application/pdf', buffer: Buffer.alloc(123_456, 0x41) })
    await me.page.locator('.fc .fc-s', { hasText: '120.6 KB' }).waitFor()
    await onEachPhone(me, 'file-card', async (width) => {
      const card = await box(me.page, '.fc')
      const title = await box(me.page, '.fc-n')
      const size = await box(me.page, '.fc-s')
      // Two whole lines of the name are drawn (the rest ends in an ellipsis), inside the card and
      // above the size.
      expect(await lineCount(me.page, '.fc-n')).toBe(2)
      expect(title.top).toBeGreaterThanOrEqual(card.top)
      expect(title.bottom).toBeLessThanOrEqual(size.top)
      expect(size.bottom).toBeLessThanOrEqual(card.bottom)
      // The card keeps the height the list estimates for it (150 design px).
      expect(Math.abs(card.height - (150 * width) / 750)).toBeLessThan(1)
    })
    expect(me.errors).toEqual([])
  })
  it('the list marks a refused file "[发送失败]" in red, not "发送中：" forever', async () => {
    const { me } = await inOneToOne('ref')
    await me.page.locator('#attach').click()
    const chooser = me.page.waitForEvent('filechooser')
    await me.page.locator('.cp-tool', { hasText: '文件' }).click()
    await (await chooser).setFiles({ name: 'big.zip', mimeType: 'application/zip', buffer: Buffer.alloc(MAX_UPLOAD * 3, 1) })
    // The chat says why it was not sent...
    await me.page.locator('.rf', { hasText: '未发送' }).waitFor()
    await me.page.goBack()
    await me.page.locator('.cr').first().waitFor()
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'list-refused-375.png') })
    // ...and so does the list: the preview is marked failed, in red, and nothing says it is on its way.
    const preview = me.page.locator('.cr .cr-p').first()
    expect(await preview.innerText()).toBe('[发送失败] [文件] big.zip')
    expect(await preview.locator('.cr-fail').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(250, 81, 81)')
    expect(me.errors).toEqual([])
  })
  it('a tall, narrow photo is a bubble a finger can hit (44 CSS px wide at least), not a strip', async () => {
    const { me } = await inOneToOne('tal')
    // A long screenshot: 200x1600 px, eight times as tall as it is wide.
    const tall = await sharp({ create: { width: 200, height: 1600, channels: 3, background: '#c06030' } }).png().toBuffer()
    await me.page.locator('#attach').click()
    const chooser = me.page.waitForEvent('filechooser')
    await me.page.locator('.cp-tool', { hasText: '照片' }).click()
    await (await chooser).setFiles({ name: 'long-screenshot.png', mimeType: 'image/png', buffer: tall })
    await me.page.locator('.im').waitFor()
    await onEachPhone(me, 'tall-image', async (width) => {
      const bubble = await box(me.page, '.im')
      // At least the smallest tap target iOS allows, still taller than wide, inside the screen.
      expect(bubble.width).toBeGreaterThanOrEqual(44)
      expect(bubble.height).toBeGreaterThan(bubble.width * 2)
      expect(bubble.right).toBeLessThanOrEqual(width)
      expect(bubble.left).toBeGreaterThan(0)
    })
    expect(me.errors).toEqual([])
  })
  it('in a group, one member reading a message does not mark it "已读" for the whole group', async () => {
    const a = uid('gra')
    const b = uid('grb')
    const c = uid('grc')
    const me = await login(a, '小明')
    // The read receipts the page's socket receives (frames listened to from a fresh socket).
    const reads: string[] = []
    me.page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      const text = String(f.payload)
      if (text.includes('"type":"receipt"') && text.includes('"kind":"read"')) reads.push(text)
    }))
    await me.page.reload()
    await me.page.getByText('账号：小明').waitFor()
    const reader = await login(b, '小红')
    await login(c, '小刚')
    await openChatWith(me, [b, c])
    await send(me, '周六几点集合？')
    await send(me, '收到请回复')
    // Only 小红 opens the group and reads it; 小刚 stays on his list.
    await reader.page.locator('.cr', { hasText: '收到请回复' }).click()
    await reader.page.locator('.bt', { hasText: '收到请回复' }).waitFor()
    // Her read mark reaches the sender (a 1:1 chat would now say "已读")...
    await expect.poll(() => reads.length, { timeout: 10_000 }).toBeGreaterThan(0)
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'group-read-375.png') })
    // ...but the group shows its messages sent, not read: 小刚 has read nothing.
    expect(await me.page.locator('.st-sent').count()).toBe(2)
    expect(await me.page.locator('.st-read, .st-delivered').count()).toBe(0)
    expect(await me.page.getByText('已读').count()).toBe(0)
    expect(me.errors).toEqual([])
  })

  it('the list shows 昨天 without a time once midnight passes, then the weekday; the chat keeps 昨天 HH:mm', async () => {
    const a = uid('daya')
    const b = uid('dayb')
    const me = await login(a, '小明', { clock: true })
    await login(b, '小红')
    await openChatWith(me, [b])
    await send(me, '明天见')
    const at = (await me.page.locator('.tm').first().innerText()).trim()
    expect(at).toMatch(/^\d\d:\d\d$/)
    await me.page.goBack()
    const time = me.page.locator('.cr .cr-ts').first()
    await expect.poll(() => time.innerText()).toBe(at)
    // The phone stays on the list past midnight: the row turns to 昨天 by itself, with no time.
    await me.page.clock.fastForward(await toNextMidnight(me.page))
    await expect.poll(() => time.innerText()).toBe('昨天')
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'list-yesterday-375.png') })
    // In the chat the separator keeps the time.
    await me.page.locator('.cr').first().click()
    await expect.poll(() => me.page.locator('.tm').first().innerText()).toBe(`昨天 ${at}`)
    await me.page.goBack()
    // A day later: the weekday it was sent on.
    await me.page.clock.fastForward(24 * 3_600_000)
    const weekday = await me.page.evaluate(() => '日一二三四五六'[new Date(Date.now() - 2 * 86_400_000).getDay()])
    await expect.poll(() => time.innerText()).toBe(`星期${weekday}`)
    expect(me.errors).toEqual([])
  })

  it('the composer grows with the text to four lines, then scrolls, and the last message stays just above it', async () => {
    const { me } = await inOneToOne('cmp')
    // More than a screen of messages on either phone: the list is scrolled to its end.
    for (let i = 1; i <= 12; i++) await send(me, `第${i}条：今天的会议改到下午三点，请大家准时参加。`)
    const field = me.page.locator(COMPOSER_FIELD)
    await onEachPhone(me, 'composer-grow', async () => {
      // The list kept its end over the resize to this phone (no message needed to take it there).
      const one = await composerLayout(me.page)
      expect(await me.page.locator('#msgs').evaluate((el) => el.scrollHeight > el.clientHeight + 100)).toBe(true)
      expect(one.lastBottom).toBeGreaterThan(one.listTop)
      expect(one.gap).toBeGreaterThanOrEqual(0)
      // Three lines: two lines taller, no scrolling inside, the last bubble where it was above it.
      await field.fill('第一行\n第二行\n第三行')
      const three = await composerLayout(me.page)
      expect(Math.abs(three.height - (one.height + 2 * one.lineHeight))).toBeLessThan(2)
      expect(three.scrolls).toBe(false)
      expect(Math.abs(three.gap - one.gap)).toBeLessThan(2)
      // Eight lines: four shown, the rest scrolled; the list still ends just above the composer.
      await field.fill('1\n2\n3\n4\n5\n6\n7\n8')
      const eight = await composerLayout(me.page)
      expect(Math.abs(eight.height - (one.height + 3 * one.lineHeight))).toBeLessThan(2)
      expect(eight.scrolls).toBe(true)
      expect(Math.abs(eight.gap - one.gap)).toBeLessThan(2)
      expect(eight.lastBottom).toBeGreaterThan(eight.listTop)
      await me.page.screenshot({ path: path.join(SHOTS, `composer-capped-${me.page.viewportSize()!.width}.png`) })
      // Emptied, it is one line again.
      await field.fill('')
      const empty = await composerLayout(me.page)
      expect(Math.abs(empty.height - one.height)).toBeLessThan(1)
    })
    // Shift+Enter breaks the line; Enter sends the lines as one message and the composer shrinks back.
    const before = await composerLayout(me.page)
    await field.click()
    await me.page.keyboard.type('早上好')
    await me.page.keyboard.press('Shift+Enter')
    await me.page.keyboard.type('晚上见')
    await me.page.keyboard.press('Enter')
    await expect.poll(() => me.page.locator('.bt', { hasText: '晚上见' }).first().innerText()).toBe('早上好\n晚上见')
    expect(await field.inputValue()).toBe('')
    const after = await composerLayout(me.page)
    expect(Math.abs(after.height - before.height)).toBeLessThan(1)
    // The sent message is in view, just above the composer.
    expect(after.gap).toBeGreaterThanOrEqual(0)
    expect(after.gap).toBeLessThan(40)
    expect(me.errors).toEqual([])
  })

  it('at the end, the list keeps its end over every change of its size: lines typed and deleted, the window resized', async () => {
    const { me } = await inOneToOne('endl')
    for (let i = 1; i <= 14; i++) await send(me, `第${i}条：今天的会议改到下午三点，请大家准时参加。`)
    const field = me.page.locator(COMPOSER_FIELD)
    const start = await composerLayout(me.page)
    expect(start.gap).toBeGreaterThanOrEqual(0)
    expect(start.gap).toBeLessThan(40)
    // Typed line by line to four, then deleted line by line to one, never sent: after each step the
    // last bubble is the same gap above the composer (the list follows a viewport that shrinks and
    // one that grows alike).
    await field.click()
    await me.page.keyboard.type('一')
    const steps: number[] = []
    for (let i = 2; i <= 4; i++) {
      await me.page.keyboard.press('Shift+Enter')
      await me.page.keyboard.type('行')
      steps.push((await composerLayout(me.page)).gap)
    }
    expect((await composerLayout(me.page)).height).toBeGreaterThan(start.height + 2 * start.lineHeight)
    for (let i = 3; i >= 1; i--) {
      await me.page.keyboard.press('Backspace')
      await me.page.keyboard.press('Backspace')
      steps.push((await composerLayout(me.page)).gap)
    }
    expect(Math.abs((await composerLayout(me.page)).height - start.height)).toBeLessThan(1)
    for (const gap of steps) expect(Math.abs(gap - start.gap)).toBeLessThan(2)
    // The window resized (a rotation, another phone) and back: still at the end, the same gap.
    for (const phone of [PHONES[1], PHONES[0]]) {
      const root = await me.page.evaluate(() => getComputedStyle(document.documentElement).fontSize)
      await me.page.setViewportSize(phone)
      await me.page.waitForFunction((size) => getComputedStyle(document.documentElement).fontSize !== size, root)
      const after = await composerLayout(me.page)
      expect(after.lastBottom).toBeGreaterThan(after.listTop)
      expect(Math.abs(after.gap - start.gap * (phone.width / PHONES[0].width))).toBeLessThan(2)
    }
    expect(me.errors).toEqual([])
  })

  it('scrolled up into history, the first message in view stays where it is while the composer grows and shrinks', async () => {
    const { me } = await inOneToOne('hold')
    for (let i = 1; i <= 24; i++) await send(me, `第${i}条：今天的会议改到下午三点，请大家准时参加。`)
    // The reader scrolls up, by the wheel, to older messages.
    const list = await box(me.page, '#msgs')
    await me.page.mouse.move(list.left + list.width / 2, list.top + list.height / 2)
    await me.page.mouse.wheel(0, -900)
    await expect.poll(() => me.page.locator('#msgs').evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop)).toBeGreaterThan(600)
    // At rest: the offset has not changed for 12 frames (longer than the list's scroll-idle time).
    await me.page.evaluate(
      () =>
        new Promise<void>((done) => {
          const el = document.getElementById('msgs')!
          let last = el.scrollTop
          let still = 0
          const frame = () => {
            still = el.scrollTop === last ? still + 1 : 0
            last = el.scrollTop
            if (still >= 12) done()
            else requestAnimationFrame(frame)
          }
          requestAnimationFrame(frame)
        }),
    )
    await settled(me.page)
    /** The first message whose top is inside the list, and where its top is. */
    const firstInView = () =>
      me.page.evaluate((top) => {
        const rows = [...document.querySelectorAll('#msgs .bt')].map((b) => ({ text: (b as HTMLElement).innerText, top: b.getBoundingClientRect().top }))
        return rows.filter((r) => r.top >= top).sort((x, y) => x.top - y.top)[0]
      }, list.top)
    const seen = (await firstInView())!
    expect(seen).toBeDefined()
    const field = me.page.locator(COMPOSER_FIELD)
    for (const text of ['一\n二\n三\n四', '一\n二', '', '1\n2\n3\n4\n5\n6', '']) {
      await field.fill(text)
      await settled(me.page)
      const now = await me.page.evaluate(
        (want) => [...document.querySelectorAll('#msgs .bt')].find((b) => (b as HTMLElement).innerText === want)?.getBoundingClientRect().top,
        seen.text,
      )
      expect(now).toBeDefined()
      expect(Math.abs(now! - seen.top)).toBeLessThanOrEqual(2)
    }
    expect(me.errors).toEqual([])
  })

  it('avatars show the given name (小明, 小红), not the same "小" for both, inside the square', async () => {
    const { me, her } = await inOneToOne('av')
    await send(me, '在吗？')
    await her.page.locator('.cr', { hasText: '在吗？' }).click()
    await send(her, '在的')
    await me.page.locator('.bt', { hasText: '在的' }).waitFor()
    await onEachPhone(me, 'avatars', async () => {
      const texts = await me.page.locator('#msgs .ln .av-t').evaluateAll((els) =>
        els.filter((e) => e.getClientRects().length > 0).map((e) => {
          const t = e.getBoundingClientRect()
          const box = e.parentElement!.getBoundingClientRect()
          return { text: (e as HTMLElement).innerText, inside: t.left >= box.left && t.right <= box.right && t.top >= box.top && t.bottom <= box.bottom }
        }),
      )
      expect(new Set(texts.map((t) => t.text))).toEqual(new Set(['小明', '小红']))
      expect(texts.every((t) => t.inside)).toBe(true)
    })
    await me.page.goBack()
    await expect.poll(() => me.page.locator('.cr .av-t').first().innerText()).toBe('小红')
    expect(me.errors).toEqual([])
  })

  it('after my refused file, the list previews the new messages that came after it, under their badge', async () => {
    const { me, her, meId } = await inOneToOne('nf')
    await me.page.locator('#attach').click()
    const chooser = me.page.waitForEvent('filechooser')
    await me.page.locator('.cp-tool', { hasText: '文件' }).click()
    await (await chooser).setFiles({ name: 'big.zip', mimeType: 'application/zip', buffer: Buffer.alloc(MAX_UPLOAD * 3, 1) })
    await me.page.locator('.rf', { hasText: '未发送' }).waitFor()
    await me.page.goBack()
    const preview = me.page.locator('.cr .cr-p').first()
    await expect.poll(() => preview.innerText()).toBe('[发送失败] [文件] big.zip')
    // She writes twice while I am on the list.
    await openChatWith(her, [meId])
    await send(her, '文件没收到')
    await send(her, '再发一次？')
    await expect.poll(() => me.page.locator('.cr .badge').first().innerText()).toBe('2')
    await expect.poll(() => preview.innerText()).toBe('再发一次？')
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'list-after-failed-375.png') })
    // In the chat my refused file stays where I sent it, as WeChat keeps it: her two messages,
    // newer, are below it, all on screen.
    await me.page.locator('.cr').first().click()
    const rows = ['.ln:has(.rf)', '.ln:has(.bt:text("文件没收到"))', '.ln:has(.bt:text("再发一次？"))']
    for (const row of rows) await me.page.locator(row).waitFor()
    await settled(me.page)
    await me.page.screenshot({ path: path.join(SHOTS, 'chat-after-failed-375.png') })
    const [file, first, last] = await Promise.all(rows.map((row) => box(me.page, row)))
    expect(file!.bottom).toBeLessThanOrEqual(first!.top + 1)
    expect(first!.bottom).toBeLessThanOrEqual(last!.top + 1)
    const list = await box(me.page, '#msgs')
    expect(file!.top).toBeGreaterThanOrEqual(list.top)
    expect(last!.bottom).toBeLessThanOrEqual(list.bottom + 1)
    expect(me.errors).toEqual([])
  })
})
