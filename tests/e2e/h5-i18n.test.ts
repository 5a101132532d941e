/**
 * The Chinese UI (zh-CN, the default for anyone whose browser or WeChat is not English) as Chromium
 * shows it with the Noto CJK and colour emoji fonts: titles, the empty state, time separators, an
 * upload refusal naming its limit, search by a Chinese name, line breaking that never starts a line
 * with 。or ，, labelled buttons, the language switch (persisted), and the action sheet's cancel in
 * the UI's language (Taro's h5 sheet writes 取消 whatever it is). Screenshots at 320 and 390 px in
 * both languages go to test-results/h5-i18n/.
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loginAs, openChatWith, sendText as send, settled, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-i18n')
const MAX_UPLOAD = 256 * 1024

const suite = useH5Suite(SHOTS, { UPLOAD_MAX_BYTES: String(MAX_UPLOAD) })

let n = 0
const uid = (name: string) => `${name}${Date.now().toString(36)}${++n}`

/** The first character of every line of a bubble's text, as laid out. */
function lineStarts(u: User, text: string): Promise<string[]> {
  return u.page.locator('.bt', { hasText: text }).first().evaluate((el) => {
    const node = el.querySelector('span') ?? el
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT)
    const starts: string[] = []
    let lastTop = -Infinity
    for (let t = walker.nextNode() as Text | null; t; t = walker.nextNode() as Text | null) {
      for (let i = 0; i < t.data.length; i++) {
        const r = document.createRange()
        r.setStart(t, i)
        r.setEnd(t, i + 1)
        const rect = r.getClientRects()[0]
        if (!rect || t.data[i] === ' ') continue
        if (rect.top > lastTop + 4) starts.push(t.data[i]!)
        lastTop = Math.max(lastTop, rect.top)
      }
    }
    return starts
  })
}

const CJK_TEXT =
  '今天下午三点在会议室开会，请大家准时参加。会议内容包括项目进度、下周计划和预算调整，每个人准备五分钟的发言。如果有问题，请提前告诉我！😀👍'
const MIXED_TEXT = '我们用 Taro 4 和 React 18 开发小程序，WebSocket 断线会自动重连。Test 一下 emoji 🎉🇨🇳 和长单词 internationalization。'

/** Alice (`width` px wide, English browser) in a new 1:1 with Bob, both logged in; `tag` starts their ids. */
async function aliceWithBob(tag: string, alice: string, bob: string, width: number): Promise<User> {
  const a = uid(`${tag}a`)
  const b = uid(`${tag}b`)
  const u = await loginAs(suite.browser, suite.bff.url, a, alice, width)
  await loginAs(suite.browser, suite.bff.url, b, bob, width)
  await openChatWith(u, [b], () => 'Bob')
  return u
}

describe('h5 in Chinese', () => {
  it('shows titles, the empty state, separators, refusals and search in Chinese, and breaks lines as Chinese is set', async () => {
    const a = uid('zha')
    const b = uid('zhb')
    const alice = await loginAs(suite.browser, suite.bff.url, a, '张伟', 390, 'zh-CN')
    // The conversation list: title, empty state, labelled buttons.
    await alice.page.getByText('还没有聊天').waitFor()
    await alice.page.getByText('找个人开始聊天吧。').waitFor()
    expect(await alice.page.title()).toBe('消息')
    expect(await alice.page.getByRole('button', { name: '发起聊天' }).count()).toBeGreaterThan(0)
    expect(await alice.page.locator('#language').getAttribute('aria-label')).toBe('切换语言为英文')
    await alice.page.screenshot({ path: path.join(SHOTS, 'list-empty-zh-390.png') })
    await alice.page.setViewportSize({ width: 320, height: 640 })
    await alice.page.screenshot({ path: path.join(SHOTS, 'list-empty-zh-320.png') })
    await alice.page.setViewportSize({ width: 390, height: 844 })

    const bob = await loginAs(suite.browser, suite.bff.url, b, '李娜', 390, 'zh-CN')
    // Search by the first character of a Chinese name.
    await alice.page.locator('#new-chat').click()
    await alice.page.locator('#search input').waitFor()
    expect(await alice.page.title()).toBe('发起聊天')
    expect(await alice.page.locator('#search input').getAttribute('placeholder')).toBe('搜索昵称、拼音首字母或 ID')
    await alice.page.getByRole('button', { name: '返回' }).click()
    await openChatWith(alice, [b], () => '李')
    await alice.page.getByText('还没有消息，打个招呼吧！').waitFor()
    expect(await alice.page.locator('#composer textarea').getAttribute('placeholder')).toBe('发消息')
    // An upload refused for its size says so in Chinese, with the server's limit (before any send: a tap
    // on "+" within sendTapGuardMs of Send is ignored).
    await alice.page.getByRole('button', { name: '更多：发送图片或文件' }).click()
    const chooser = alice.page.waitForEvent('filechooser')
    await alice.page.locator('.cp-tool', { hasText: '文件' }).click()
    await (await chooser).setFiles({ name: '报告.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(MAX_UPLOAD + 1, 0x41) })
    await alice.page.locator('.rf', { hasText: '未发送：文件超过256 KB的上传上限，请选择较小的文件。' }).waitFor()
    await alice.page.locator('.rf-x', { hasText: '删除' }).waitFor()

    await send(alice, CJK_TEXT)
    await send(alice, MIXED_TEXT)
    // The first message of a chat has a separator: today, the clock time.
    const sep = (await alice.page.locator('.tm').first().innerText()).trim()
    expect(sep).toMatch(/^\d\d:\d\d$/)
    // The peer's list shows today's conversation by its clock time, as WeChat's list does.
    await expect.poll(async () => (await bob.page.locator('.cr-ts').first().innerText()).trim()).toMatch(/^\d\d:\d\d$/)

    for (const width of [390, 320]) {
      await alice.page.setViewportSize({ width, height: 700 })
      await alice.page.locator('.bt', { hasText: MIXED_TEXT }).evaluate((el) => el.scrollIntoView())
      for (const text of [CJK_TEXT, MIXED_TEXT]) {
        const starts = await lineStarts(alice, text)
        expect(starts.length, `${width}px: wraps`).toBeGreaterThan(1)
        for (const c of starts) expect('。，、！？；：）”'.includes(c), `${width}px: a line starts with ${c}`).toBe(false)
      }
      await alice.page.screenshot({ path: path.join(SHOTS, `chat-zh-${width}.png`) })
    }
    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
  })

  it('switches to English and keeps the choice after a reload', async () => {
    const a = uid('zhs')
    const u = await loginAs(suite.browser, suite.bff.url, a, '王芳', 390, 'zh-CN')
    await u.page.getByText('还没有聊天').waitFor()
    await u.page.locator('#language').click()
    await u.page.getByText('Signed in as 王芳').waitFor()
    await u.page.getByText('No chats yet').waitFor()
    expect(await u.page.title()).toBe('Chats')
    await u.page.reload()
    await u.page.getByText('No chats yet').waitFor()
    await u.page.screenshot({ path: path.join(SHOTS, 'list-empty-en-390.png') })
    await u.page.locator('#language').click()
    await u.page.getByText('还没有聊天').waitFor()
    expect(u.errors).toEqual([])
  })

  it('lays the same chat out in English at 320 and 390 px', async () => {
    const alice = await aliceWithBob('en', 'Alice 张', 'Bob 李', 390)
    await send(alice, CJK_TEXT)
    await send(alice, MIXED_TEXT)
    for (const width of [390, 320]) {
      await alice.page.setViewportSize({ width, height: 700 })
      for (const c of await lineStarts(alice, CJK_TEXT)) expect('。，、！？'.includes(c)).toBe(false)
      await alice.page.screenshot({ path: path.join(SHOTS, `chat-en-${width}.png`) })
    }
    expect(alice.errors).toEqual([])
  })

  it('the action sheet\'s cancel is in the language of its items: Cancel in English, 取消 in Chinese', async () => {
    const alice = await aliceWithBob('sh', 'Alice', 'Bob', 320)
    await send(alice, 'Lunch at noon?')
    // What the sheet shows, line by line, once it has slid in (Taro's own sheet: items, then its cancel).
    const sheet = alice.page.locator('.taro__actionSheet')
    const shown = async () => {
      await alice.page.locator('.taro-actionsheet__cell:visible').first().waitFor()
      await settled(alice.page)
      return (await sheet.innerText()).split('\n').map((s) => s.trim()).filter(Boolean)
    }
    await alice.page.locator('#msgs .bt', { hasText: 'Lunch at noon?' }).click({ button: 'right' })
    const english = await shown()
    await alice.page.screenshot({ path: path.join(SHOTS, 'sheet-en-320.png') })
    expect(english.at(-1)).toBe('Cancel')
    expect(english.slice(0, -1)).toContain('Delete for me')
    expect(english.join('')).not.toMatch(/[\u4e00-\u9fff]/)
    await sheet.getByText('Cancel', { exact: true }).click()
    await alice.page.locator('.taro-actionsheet__cell:visible').first().waitFor({ state: 'hidden' })
    // In Chinese (the app relaunches, the sheet Taro keeps is the same element): 取消.
    await alice.page.locator('.ch-back:visible').click()
    await alice.page.locator('#language').click()
    await alice.page.getByText('账号：Alice').waitFor()
    await alice.page.locator('.cr', { hasText: 'Bob' }).click({ button: 'right' })
    const chinese = await shown()
    await alice.page.screenshot({ path: path.join(SHOTS, 'sheet-zh-320.png') })
    expect(chinese).toEqual(['置顶', '消息免打扰', '取消'])
    await sheet.getByText('取消', { exact: true }).click()
    await alice.page.locator('.taro-actionsheet__cell:visible').first().waitFor({ state: 'hidden' })
    expect(alice.errors).toEqual([])
  })
})
