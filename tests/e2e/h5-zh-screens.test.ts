/**
 * Screens a Chinese-speaking user walks through on a small phone (320x568 and 375x667,
 * deviceScaleFactor 2) in the h5 build, against the built BFF: each case asserts what a person sees
 * (boxes in CSS px, pixels, visible text) for a flaw found by walking every screen in Chinese.
 * Screenshots go to test-results/zh-screens/.
 */
import path from 'node:path'
import { randomId, type ServerFrame } from '@chat/shared'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { CLIENT_DEFAULTS } from '../../client/config'
import { FAKE_MICROPHONE_FLAGS, openChatWith, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { Peer } from './peer'
import { box, chatHeader, expectTitleAlone, headerTitle, inkedShare as inked, loginChinese, onEachPhone as eachPhone, resizeTo, SMALL_PHONES, tapRun, TOUCH, uid } from './phones'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/zh-screens')

// A fake microphone, for the recording overlay.
const suite = useH5Suite(SHOTS, {}, FAKE_MICROPHONE_FLAGS)

const PHONES = SMALL_PHONES

const login = (id: string, name: string): Promise<User> => loginChinese(suite, PHONES[0], id, name)

/** Each phone in turn: resized, laid out, screenshot, then `check`. */
const onEachPhone = (page: Page, shot: string, check: (width: number) => Promise<void>) => eachPhone(page, PHONES, SHOTS, shot, check)

/** How tall a finger's target `selector` is, CSS px: the run of points down its centre line where a tap lands on it. */
const tapHeight = async (page: Page, selector: string): Promise<number> => (await tapRun(page, selector)).tall

/**
 * 小明 (on the first phone) in a group 张伟 created with him and 小红 (both protocol peers), named
 * `title` when given, which has one message; `tag` starts their ids.
 */
async function inGroup(tag: string, title?: string): Promise<{ me: User; meId: string; hong: Peer; conv: string }> {
  const meId = uid(tag)
  const me = await login(meId, '小明')
  const zhang = await Peer.connect(suite.bff.url, uid(`${tag}z`), '张伟')
  const hong = await Peer.connect(suite.bff.url, uid(`${tag}h`), '小红')
  suite.peers.push(zhang, hong)
  const rid = randomId(10)
  const from = zhang.frames.length
  zhang.raw({ type: 'conv.create', rid, kind: 'group', members: [meId, hong.id], ...(title ? { title } : {}) })
  const conv = (await zhang.next<Extract<ServerFrame, { type: 'conv' }>>((f) => f.type === 'conv' && f.rid === rid, 10_000, from)).conv.id
  await zhang.say(conv, '大家好')
  return { me, meId, hong, conv }
}

describe('a Chinese user walking the screens on a small phone', () => {
  it('a group\'s title carries its member count, "群名(3)", as WeChat\'s does: a long name is cut with "…" and the count stays in view', async () => {
    const name = '周末一起去香山爬山然后吃火锅再看电影最后唱歌到深夜不回家的快乐小分队全体成员们好'
    expect([...name].length).toBe(40)
    const { me, hong, conv } = await inGroup('gt', name)
    await me.page.locator(`[id="conv-${conv}"]`).click()
    await me.page.locator('#composer').waitFor()
    // As it reads: the name's first characters, "…", the count (no character cut in two).
    const cut = (shown: string) => shown.endsWith('…(3)') && shown.length > 4 && name.startsWith(shown.slice(0, -4))
    const shown = new Map<number, string>()
    // The small phones, and the 390 px of the rest of the suite.
    await eachPhone(me.page, [...PHONES, { width: 390, height: 844 }], SHOTS, 'group-title', async (width) => {
      // "(3)" in the title, on one line, nothing under it (no "3位成员").
      await expectTitleAlone(me.page, cut)
      const h = await chatHeader(me.page, '(3)')
      // The name gives way: cut, with an ellipsis where it is cut.
      expect(h.ellipsized).toBe(true)
      // The count is drawn whole inside the title's box (not cut off with the name), inside the
      // screen, clear of the "⋯" at the header's right, and nothing covers it.
      const count = h.tailBox!
      expect(count.width).toBeGreaterThan(10)
      expect(count.left).toBeGreaterThanOrEqual(h.titleBox.left)
      expect(count.right).toBeLessThanOrEqual(h.titleBox.right + 0.5)
      expect(count.right).toBeLessThanOrEqual(width)
      expect(h.button, 'the header\'s right-hand button').toBeDefined()
      expect(count.right).toBeLessThanOrEqual(h.button!.left)
      expect(h.tailOnTop).toBe(true)
      // "…" meets "(3)": no blank wider than the glyphs' own spacing between them (a CSS ellipsis
      // cut at a glyph inside a wider box left 9.5 px at 320 and 16.5 px at 375 here).
      expect(h.gapBeforeTail).toBeLessThanOrEqual(4)
      shown.set(width, h.title)
    })
    // Fitted again each time the window changed: the 375 px phone shows more of the name than the
    // 320 px one, and 390 px no less (the font grows with the window there, as Taro's rem does).
    const lengths = [...shown.entries()].sort((a, b) => a[0] - b[0]).map(([, title]) => title.length)
    expect(lengths).toHaveLength(3)
    expect(lengths[1]).toBeGreaterThan(lengths[0]!)
    expect(lengths[2]).toBeGreaterThanOrEqual(lengths[1]!)
    // Resized while the group's info covers the chat: back on the chat, the name is cut for the
    // width it is now, as on the 320 px phone, with no gap before the count.
    await me.page.locator('#group-info').click()
    await me.page.locator(`[id="member-${hong.id}"]`).waitFor()
    await resizeTo(me.page, PHONES[0])
    await me.page.locator('.hh-back:visible').click()
    await me.page.locator('#composer').waitFor()
    await expect.poll(async () => (await chatHeader(me.page, '(3)')).title).toBe(shown.get(PHONES[0].width))
    expect((await chatHeader(me.page, '(3)')).gapBeforeTail).toBeLessThanOrEqual(4)
    await me.page.screenshot({ path: path.join(SHOTS, 'group-title-back-320.png') })
    // Someone typing: the line under the title says who, as a 1:1 chat's says it; the title stays.
    hong.raw({ type: 'typing', conv })
    await me.page.locator('.ch-h5:visible .ch-t', { hasText: '小红正在输入…' }).waitFor()
    expect(await headerTitle(me.page)).toSatisfy(cut)
    expect(me.errors).toEqual([])
  })

  it('a member\'s group info: 投诉 sits at the right of the member\'s row, on the name\'s line, no taller a row', async () => {
    const { me, meId, hong, conv } = await inGroup('gm')
    await me.page.locator(`[id="conv-${conv}"]`).click()
    await me.page.locator('#group-info').click()
    const report = `[id="report-${hong.id}"]`
    await me.page.locator(report).waitFor()
    await onEachPhone(me.page, 'group-member', async (width) => {
      const row = await box(me.page, `[id="member-${hong.id}"]`)
      const mine = await box(me.page, `[id="member-${meId}"]`)
      const name = await box(me.page, `[id="member-${hong.id}"] .kt-n`)
      const action = await box(me.page, report)
      // On the name's line, at the row's right: not on a line of its own under the avatar.
      expect(Math.abs((action.top + action.bottom) / 2 - (name.top + name.bottom) / 2)).toBeLessThanOrEqual(4)
      expect(action.left).toBeGreaterThanOrEqual(name.right)
      expect(action.right).toBeLessThanOrEqual(width)
      expect(action.right).toBeGreaterThan(width - 24)
      // Every member's row is as tall as the user's own, which has no action.
      expect(Math.round(row.height)).toBe(Math.round(mine.height))
      // Still a full target, inside its row.
      expect(await tapHeight(me.page, report)).toBeGreaterThanOrEqual(TOUCH)
      expect(action.top).toBeGreaterThanOrEqual(row.top)
      expect(await me.page.locator(report).innerText()).toBe('投诉')
    })
    expect(me.errors).toEqual([])
  })

  it('group info offers 消息免打扰 and 置顶聊天, as a 1:1 chat\'s info does; muting there shows in the list', async () => {
    const { me, conv } = await inGroup('gs')
    const row = me.page.locator(`[id="conv-${conv}"]`)
    await row.click()
    await me.page.locator('#group-info').click()
    await me.page.locator('#group-mute-row').waitFor()
    await onEachPhone(me.page, 'group-settings', async (width) => {
      for (const [selector, toggleId, text] of [['#group-mute-row', '#group-mute', '消息免打扰'], ['#group-pin-row', '#group-pin', '置顶聊天']] as const) {
        await me.page.locator(selector).evaluate((el) => el.scrollIntoView({ block: 'center' }))
        expect(await me.page.locator(`${selector} .dm-l`).innerText()).toBe(text)
        const label = await box(me.page, `${selector} .dm-l`)
        const toggle = await box(me.page, toggleId)
        // The label at the left, its switch at the right, on one line, inside the screen.
        expect(toggle.left).toBeGreaterThanOrEqual(label.right)
        expect(toggle.right).toBeLessThanOrEqual(width)
        expect(Math.abs((toggle.top + toggle.bottom) / 2 - (label.top + label.bottom) / 2)).toBeLessThanOrEqual(2)
        expect((await box(me.page, selector)).height).toBeGreaterThanOrEqual(TOUCH)
      }
    })
    await me.page.locator('#group-mute').click()
    await me.page.locator('#group-mute input:checked').waitFor({ state: 'attached' })
    await me.page.goBack()
    await me.page.goBack()
    await row.locator('.cr-mute').waitFor()
    expect(me.errors).toEqual([])
  })

  it('a muted chat\'s row says how many are unread, "[3条]", before its preview, as its badge is only a dot', async () => {
    const meId = uid('mu')
    const me = await login(meId, '小明')
    const li = await Peer.connect(suite.bff.url, uid('mul'), '李娜')
    suite.peers.push(li)
    const conv = (await li.direct(meId)).id
    for (const text of ['在吗', '明天的方案', '李娜的第3条消息']) await li.say(conv, text)
    const row = me.page.locator(`[id="conv-${conv}"]`)
    await row.locator('.badge', { hasText: '3' }).waitFor()
    await row.click({ button: 'right' })
    await me.page.getByText('消息免打扰', { exact: true }).click()
    await row.locator('.dot').waitFor()
    await onEachPhone(me.page, 'list-muted-unread', async (width) => {
      expect(await row.locator('.cr-p').innerText()).toBe('[3条]李娜的第3条消息')
      const preview = await box(me.page, `[id="conv-${conv}"] .cr-p`)
      const bell = await box(me.page, `[id="conv-${conv}"] .cr-mute`)
      expect(preview.right).toBeLessThanOrEqual(bell.left)
      expect(bell.right).toBeLessThanOrEqual(width)
    })
    // Read, the count goes with the dot.
    await row.click()
    await me.page.locator('#composer').waitFor()
    await me.page.goBack()
    await row.locator('.dot').waitFor({ state: 'detached' })
    expect(await row.locator('.cr-p').innerText()).toBe('李娜的第3条消息')
    expect(me.errors).toEqual([])
  })

  it('a file that failed to send shows the red "!" and no progress track left in its card', async () => {
    const me = await login(uid('ff'), '小明')
    const herId = uid('ffh')
    await login(herId, '小红')
    await openChatWith(me, [herId])
    const attach = async (name: string) => {
      // "+" ignores taps for sendTapGuardMs after a send: a person's next tap comes after it.
      await me.page.waitForTimeout(CLIENT_DEFAULTS.sendTapGuardMs)
      await me.page.locator('.cp-plus').click()
      const chooser = me.page.waitForEvent('filechooser')
      await me.page.locator('.cp-tool', { hasText: '文件' }).click()
      await (await chooser).setFiles({ name, mimeType: 'text/plain', buffer: Buffer.alloc(2000, 65) })
    }
    await attach('会议纪要.txt')
    const sent = me.page.locator('#msgs .r', { hasText: '会议纪要.txt' })
    await sent.locator('.st-read, .st-delivered, .st-sent').first().waitFor({ timeout: 30_000 })
    // Every upload request is refused from now on, not for what the file is (a 400 with no code of
    // ours): the next file fails at once and keeps its retry. A dropped connection ends the same
    // way after the upload's own retries (tus.ts DEFAULT_RETRY), up to a minute later.
    await me.page.route('**/uploads/**', (route) => route.fulfill({ status: 400, contentType: 'text/plain', body: 'refused' }))
    await attach('报价单.txt')
    const failed = me.page.locator('#msgs .r', { hasText: '报价单.txt' })
    await failed.locator('.st-failed').waitFor({ timeout: 30_000 })
    await onEachPhone(me.page, 'file-failed', async () => {
      expect(await failed.locator('.fc-p').count()).toBe(0)
      // What a person sees: the card's bottom strip is as white as the sent card's.
      const strip = async (card: typeof sent) => {
        const b = (await card.locator('.fc').boundingBox())!
        return inked(await me.page.screenshot({ clip: { x: b.x + 14, y: b.y + b.height - 8, width: b.width - 28, height: 6 } }))
      }
      expect(await strip(failed)).toBeLessThanOrEqual(await strip(sent))
      expect(await strip(failed)).toBeLessThan(0.05)
    })
    expect(me.errors).toEqual([])
  })

  it('the recording overlay hides the chat behind it: its hint is not drawn over a green bubble showing through', async () => {
    const meId = uid('ro')
    const herId = uid('roh')
    const me = await login(meId, '小明')
    // Another device of the same user fills the chat with the user's own green bubbles.
    const mine = await Peer.connect(suite.bff.url, meId, '小明')
    const her = await Peer.connect(suite.bff.url, herId, '小红')
    suite.peers.push(mine, her)
    const conv = (await mine.direct(herId)).id
    for (let i = 0; i < 8; i++) await mine.say(conv, '收到，我这就去通知市场部和销售部的同事，会议室也换好了。')
    await me.page.locator(`[id="conv-${conv}"]`).click()
    await me.page.locator('#voice-mode').click()
    await me.page.locator('#hold-to-talk').waitFor()
    for (const phone of PHONES) {
      await resizeTo(me.page, phone)
      const hold = (await me.page.locator('#hold-to-talk').boundingBox())!
      await me.page.mouse.move(hold.x + hold.width / 2, hold.y + hold.height / 2)
      await me.page.mouse.down()
      await me.page.locator('#recording').waitFor()
      await me.page.screenshot({ path: path.join(SHOTS, `recording-${phone.width}.png`) })
      // Inside the overlay's rounded corners: every pixel is its grey (or its white icon and text),
      // none tinted by the green bubbles under it.
      const b = (await me.page.locator('#recording').boundingBox())!
      const shot = await me.page.screenshot({ clip: { x: b.x + 12, y: b.y + 12, width: b.width - 24, height: b.height - 24 } })
      const { data, info } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true })
      let tinted = 0
      for (let i = 0; i < data.length; i += info.channels) {
        const [r, g, bl] = [data[i]!, data[i + 1]!, data[i + 2]!]
        if (Math.max(r, g, bl) - Math.min(r, g, bl) > 12) tinted++
      }
      expect(tinted / (info.width * info.height)).toBeLessThan(0.01)
      // Slid up to the top and released: cancelled, nothing sent.
      await me.page.mouse.move(hold.x + hold.width / 2, 5)
      await me.page.mouse.up()
      await me.page.locator('#recording').waitFor({ state: 'detached' })
    }
    expect(me.errors).toEqual([])
  })
})
