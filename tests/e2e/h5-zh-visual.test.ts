/**
 * What a Chinese-speaking user sees on a small phone (320x568 and 375x667, deviceScaleFactor 2) in
 * the h5 build, against the built BFF: each case measures, in CSS px or in text, a flaw found by
 * walking the app in Chinese. Screenshots go to test-results/zh-visual/.
 */
import path from 'node:path'
import { randomId, type ServerFrame } from '@chat/shared'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { openChatWith, settled, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { Peer } from './peer'
import { box, CHINESE, inkedShare, loginChinese, onEachPhone as eachPhone, SMALL_PHONES, tapRun, TOUCH, uid } from './phones'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/zh-visual')

const suite = useH5Suite(SHOTS)

const PHONES = SMALL_PHONES

const login = (id: string, name: string): Promise<User> => loginChinese(suite, PHONES[0], id, name)

/** Each phone in turn: resized, laid out, screenshot, then `check`. */
const onEachPhone = (page: Page, shot: string, check: (width: number) => Promise<void>) => eachPhone(page, PHONES, SHOTS, shot, check)

/**
 * How tall a finger's target `selector` is, CSS px (tapRun), and its box's sides, to check it is on
 * screen. Scrolled to the middle of the screen first.
 */
async function touchTarget(page: Page, selector: string): Promise<{ tall: number; left: number; right: number }> {
  await page.locator(selector).first().evaluate((el) => el.scrollIntoView({ block: 'center' }))
  await settled(page)
  const { left, right } = await box(page, selector)
  return { tall: (await tapRun(page, selector)).tall, left, right }
}

/**
 * The part of `selector`'s box that is inked, 0..1 (a screenshot of its box): a button drawn as a
 * filled box is near 1; a text action is its glyphs.
 */
const ink = async (page: Page, selector: string): Promise<number> => inkedShare(await page.locator(selector).first().screenshot())

/** Where a tap down the vertical line through `selector`'s centre lands on it: the run's top and bottom, CSS px. */
const targetSpan = (page: Page, selector: string): Promise<{ top: number; bottom: number }> => tapRun(page, selector)

describe('a Chinese user on a small phone', () => {
  it('the login button is a full touch target (44 CSS px tall) on both phones', async () => {
    const ctx = await suite.browser.newContext({ viewport: PHONES[0], deviceScaleFactor: 2, locale: CHINESE.locale, timezoneId: CHINESE.timezoneId })
    const page = await ctx.newPage()
    await page.goto(`${suite.bff.url}/`)
    await page.locator('#login-user input').fill(uid('lgn'))
    await onEachPhone(page, 'login-button', async (width) => {
      const go = await touchTarget(page, '#login-go')
      expect(go.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(go.left).toBeGreaterThan(0)
      expect(go.right).toBeLessThanOrEqual(width)
      expect(await page.locator('#login-go').innerText()).toBe('登录')
    })
    await ctx.close()
  })

  it('"+ 发起聊天" in the list is a full touch target, inside the screen', async () => {
    const me = await login(uid('new'), '小明')
    await onEachPhone(me.page, 'list-new-chat', async (width) => {
      const add = await touchTarget(me.page, '#new-chat')
      expect(add.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(add.right).toBeLessThanOrEqual(width)
      expect(await me.page.locator('#new-chat').innerText()).toBe('+ 发起聊天')
    })
    expect(me.errors).toEqual([])
  })

  it('a friend request\'s 接受 and 拒绝 are full touch targets, side by side in the row, and so is 返回', async () => {
    const meId = uid('req')
    const me = await login(meId, '小明')
    const zhao = await Peer.connect(suite.bff.url, uid('reqz'), '赵六')
    suite.peers.push(zhao)
    zhao.raw({ type: 'relation', rid: randomId(10), op: 'request', user: meId, note: '我是赵六，市场部的，想加你为好友方便沟通工作。' })
    await me.page.locator('#open-contacts').click()
    await me.page.locator(`[id="accept-${zhao.id}"]`).waitFor()
    await onEachPhone(me.page, 'contacts-request', async (width) => {
      const accept = await touchTarget(me.page, `[id="accept-${zhao.id}"]`)
      const decline = await touchTarget(me.page, `[id="decline-${zhao.id}"]`)
      expect(accept.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(decline.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(decline.right).toBeLessThanOrEqual(accept.left)
      expect(accept.right).toBeLessThanOrEqual(width)
      // The header's back arrow (返回) too: the whole height of the header.
      expect((await touchTarget(me.page, '.hh-back')).tall).toBeGreaterThanOrEqual(TOUCH)
    })
    expect(me.errors).toEqual([])
  })

  it('解散群聊 at the end of group info is a full touch target; an untitled group\'s name field shows its name', async () => {
    const me = await login(uid('grp'), '小明')
    const b = uid('grpb')
    const c = uid('grpc')
    await login(b, '司马相如')
    await login(c, '王五')
    await openChatWith(me, [b, c])
    await me.page.locator('#group-info').click()
    await me.page.locator('#group-dissolve').waitFor()
    await onEachPhone(me.page, 'group-end', async (width) => {
      const leave = await touchTarget(me.page, '#group-dissolve')
      expect(leave.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(leave.right).toBeLessThanOrEqual(width)
      expect(await me.page.locator('#group-dissolve').innerText()).toBe('解散群聊')
    })
    // The name field of this untitled group shows the name the header shows, not an empty box.
    expect(await me.page.locator('#group-title input').getAttribute('placeholder')).toBe('司马相如、王五')
    expect(me.errors).toEqual([])
  })

  it('the composer\'s + and 发送 are full touch targets, inside the composer bar, clear of the input', async () => {
    const me = await login(uid('cmp'), '小明')
    const her = uid('cmph')
    await login(her, '小红')
    await openChatWith(me, [her])
    const inBar = async (selector: string) => {
      const target = await touchTarget(me.page, selector)
      // Its target stays in the composer: a tap just above it lands on the chat, not on the button.
      const above = await me.page.locator(selector).evaluate((el) => {
        const top = document.querySelector('.cp')!.getBoundingClientRect().top
        const r = el.getBoundingClientRect()
        const hit = document.elementFromPoint(r.left + r.width / 2, top - 1)
        return hit !== null && (hit === el || el.contains(hit))
      })
      // A tap on the input's right edge still lands in the input, not on the button beside it.
      const edge = await me.page.locator('#composer').evaluate((el) => {
        const r = el.getBoundingClientRect()
        const hit = document.elementFromPoint(r.right - 1, r.top + r.height / 2)
        return hit !== null && (hit === el || el.contains(hit))
      })
      return { ...target, above, edge }
    }
    await onEachPhone(me.page, 'composer', async (width) => {
      const plus = await inBar('#attach')
      expect(plus.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(plus.right).toBeLessThanOrEqual(width)
      expect(plus.edge).toBe(true)
      expect(plus.above).toBe(false)
    })
    await me.page.locator('#attach').click()
    await me.page.locator('.cp-panel').waitFor()
    await onEachPhone(me.page, 'composer-open', async () => {
      // Turned to ×, it is as tall a target.
      expect((await inBar('#attach')).tall).toBeGreaterThanOrEqual(TOUCH)
    })
    await me.page.locator('#composer textarea').fill('好的')
    await onEachPhone(me.page, 'composer-send', async (width) => {
      const send = await inBar('#send')
      expect(send.tall).toBeGreaterThanOrEqual(TOUCH)
      expect(send.right).toBeLessThanOrEqual(width)
      expect(send.edge).toBe(true)
      expect(send.above).toBe(false)
      expect(await me.page.locator('#send').innerText()).toBe('发送')
    })
    expect(me.errors).toEqual([])
  })

  it('a reply\'s quote says "小红：…" with the Chinese colon, as the list\'s preview does', async () => {
    const meId = uid('qt')
    const me = await login(meId, '小明')
    const hong = await Peer.connect(suite.bff.url, uid('qth'), '小红')
    suite.peers.push(hong)
    const conv = (await hong.direct(meId)).id
    const first = await hong.say(conv, '明天上午十点的会议改到下午三点了')
    const cid = randomId(21)
    const from = hong.frames.length
    hong.raw({ type: 'send', cid, conv, kind: 'text', body: { text: '地点不变', reply: { seq: first.seq } } })
    await hong.next<Extract<ServerFrame, { type: 'ack' }>>((f) => f.type === 'ack' && f.cid === cid, 10_000, from)
    await me.page.locator('.cr', { hasText: '小红' }).click()
    const quote = me.page.locator('#msgs .qt-t').first()
    await quote.waitFor()
    await onEachPhone(me.page, 'quote', async () => {
      expect(await quote.innerText()).toBe('小红：明天上午十点的会议改到下午三点了')
    })
    expect(me.errors).toEqual([])
  })

  it('the list header\'s 退出登录 and 通讯录 are full touch targets inside the header, drawn as the same light links', async () => {
    const me = await login(uid('hdr'), '小明')
    await onEachPhone(me.page, 'list-header', async (width) => {
      const header = await box(me.page, '.tb')
      for (const [selector, text] of [['#logout', '退出登录'], ['#open-contacts', '通讯录']] as const) {
        expect((await touchTarget(me.page, selector)).tall).toBeGreaterThanOrEqual(TOUCH)
        // The target stays in the header: a tap just under it lands on the list, not on the link.
        const span = await targetSpan(me.page, selector)
        expect(span.bottom).toBeLessThanOrEqual(header.bottom)
        expect(await me.page.locator(selector).innerText()).toBe(text)
        const drawn = await box(me.page, selector)
        expect(drawn.right).toBeLessThanOrEqual(width)
        // Drawn as it was: the text's line, no box around it.
        expect(drawn.height).toBeLessThan(24)
      }
      // One row of actions under the name at 320 px, the name beside them at 375: no taller than that.
      expect(header.height).toBeLessThanOrEqual(width === 320 ? 80 : 50)
    })
    expect(me.errors).toEqual([])
  })

  it('the composer\'s voice/keyboard toggle is a full touch target, drawn where it was, clear of the input', async () => {
    const me = await login(uid('vm'), '小明')
    const her = uid('vmh')
    await login(her, '小红')
    await openChatWith(me, [her])
    const check = async (beside: string) => {
      expect((await touchTarget(me.page, '#voice-mode')).tall).toBeGreaterThanOrEqual(TOUCH)
      const bar = await box(me.page, '.cp-bar')
      const span = await targetSpan(me.page, '#voice-mode')
      expect(span.top).toBeGreaterThanOrEqual(bar.top)
      expect(span.bottom).toBeLessThanOrEqual(bar.bottom)
      // The circle as WeChat draws it (30 CSS px), where it was: at the bar's left, before the input.
      const drawn = await box(me.page, '#voice-mode')
      expect(Math.round(drawn.width)).toBe(30)
      expect(Math.round(drawn.height)).toBe(30)
      expect(drawn.left).toBeGreaterThanOrEqual(bar.left + 8)
      expect(drawn.left).toBeLessThanOrEqual(bar.left + 12)
      // A tap on the left edge of what is beside it (the input, the hold-to-talk button) lands there.
      const edge = await me.page.locator(beside).first().evaluate((el) => {
        const r = el.getBoundingClientRect()
        const hit = document.elementFromPoint(r.left + 1, r.top + r.height / 2)
        return hit !== null && (hit === el || el.contains(hit))
      })
      expect(edge).toBe(true)
    }
    await onEachPhone(me.page, 'composer-voice-toggle', () => check('#composer'))
    await me.page.locator('#voice-mode').click()
    await me.page.locator('.cp-hold').waitFor()
    await onEachPhone(me.page, 'composer-keyboard-toggle', () => check('.cp-hold'))
    expect(me.errors).toEqual([])
  })

  it('the owner\'s member actions are full touch targets drawn as light text actions, on one line at 320 px', async () => {
    const me = await login(uid('own'), '小明')
    const b = uid('ownb')
    const c = uid('ownc')
    await login(b, '司马相如')
    await login(c, '王五')
    await openChatWith(me, [b, c])
    await me.page.locator('#group-info').click()
    await me.page.locator(`[id="transfer-${b}"]`).waitFor()
    const actions = [`remove-${b}`, `admin-${b}`, `transfer-${b}`, `report-${b}`].map((id) => `[id="${id}"]`)
    await onEachPhone(me.page, 'group-member-actions', async (width) => {
      await me.page.locator(`[id="member-${b}"]`).screenshot({ path: path.join(SHOTS, `group-member-row-${width}.png`) })
      const tops = new Set<number>()
      for (const selector of actions) {
        const target = await touchTarget(me.page, selector)
        expect(target.tall).toBeGreaterThanOrEqual(TOUCH)
        expect(target.left).toBeGreaterThanOrEqual(0)
        expect(target.right).toBeLessThanOrEqual(width)
        tops.add(Math.round((await box(me.page, selector)).top))
        // Text on the row's white, not a filled grey box.
        expect(await ink(me.page, selector)).toBeLessThan(0.3)
      }
      expect(tops.size).toBe(1)
      expect(await me.page.locator(actions.join(', ')).allInnerTexts()).toEqual(['移出', '设为管理员', '转让群主', '投诉'])
    })
    expect(me.errors).toEqual([])
  })

  it('a recall reads "小红撤回了一条消息", no space after the name, in the chat and in the list', async () => {
    const meId = uid('rc')
    const me = await login(meId, '小明')
    const hong = await Peer.connect(suite.bff.url, uid('rch'), '小红')
    suite.peers.push(hong)
    const conv = (await hong.direct(meId)).id
    const said = await hong.say(conv, '发错了')
    await me.page.locator('.cr', { hasText: '发错了' }).waitFor()
    const rid = randomId(10)
    const from = hong.frames.length
    hong.raw({ type: 'recall', rid, conv, seq: said.seq })
    await hong.next((f) => f.type === 'recall' && f.rid === rid, 10_000, from)
    const preview = me.page.locator('.cr .cr-p', { hasText: '撤回了一条消息' })
    await preview.waitFor()
    expect(await preview.innerText()).toBe('小红撤回了一条消息')
    await me.page.locator('.cr', { hasText: '小红' }).click()
    const notice = me.page.locator('#msgs .rc', { hasText: '撤回了一条消息' })
    await notice.waitFor()
    await onEachPhone(me.page, 'recall-notice', async () => {
      expect(await notice.innerText()).toBe('小红撤回了一条消息')
    })
    expect(me.errors).toEqual([])
  })
})
