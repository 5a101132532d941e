/**
 * A 1:1 chat's info page (聊天信息) in the h5 build, in Chromium, against the built BFF: 小安, on a
 * Chinese phone, chats with Ben, who is not her contact. "⋯" in the chat's header opens the page:
 * Ben's avatar and name, 消息免打扰 and 置顶聊天 (the same settings as the list's long press: the
 * list's row shows the muted mark and the pin after going back), and 投诉 with the same reason
 * sheet as a contact's row; the BFF's admin API lists the report. Every row lies inside 375 and
 * 320 px screens; screenshots of both widths go to test-results/h5-dm-info/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { zhCN } from '../../client/i18n/messages'
import { loginAs, openChatWith, sendText, settled, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-dm-info')
/** The admin API's credential of this BFF (ADMIN_TOKEN: at least 16 characters). */
const ADMIN = 'e2e-admin-token-0123456789'
const ROWS = ['dm-person', 'dm-mute-row', 'dm-pin-row', 'dm-report']

const suite = useH5Suite(SHOTS, { ADMIN_TOKEN: ADMIN })

/** A stored report as GET /admin/reports lists it (bff/src/wechat/reports.ts). */
type StoredReport = { reporter: string; target: string; user?: string; reason: string }

async function reports(): Promise<StoredReport[]> {
  const res = await fetch(`${suite.bff.url}/admin/reports`, { headers: { authorization: `Bearer ${ADMIN}` } })
  expect(res.status).toBe(200)
  return ((await res.json()) as { reports: StoredReport[] }).reports
}

/**
 * Each row of the page, and each of its children, lies inside the screen; no two children of a row
 * overlap, no text is cut, and no two rows overlap.
 */
async function rowsFit(page: Page): Promise<void> {
  const problems = await page.evaluate((ids) => {
    const out: string[] = []
    const width = document.documentElement.clientWidth
    const height = document.documentElement.clientHeight
    const inside = (what: string, r: DOMRect) => {
      if (r.width <= 0 || r.height <= 0) out.push(`${what}: not shown`)
      if (r.left < -0.5 || r.right > width + 0.5 || r.top < -0.5 || r.bottom > height + 0.5) out.push(`${what}: outside the screen (${r.left}..${r.right} of ${width})`)
    }
    const overlap = (a: DOMRect, b: DOMRect) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5
    const rows = ids.map((id) => document.getElementById(id))
    rows.forEach((row, i) => {
      if (!row) return out.push(`${ids[i]}: not on the page`)
      inside(ids[i]!, row.getBoundingClientRect())
      const parts = Array.from(row.children) as HTMLElement[]
      parts.forEach((el, k) => {
        inside(`${ids[i]} part ${k}`, el.getBoundingClientRect())
        for (const text of [el, ...Array.from(el.querySelectorAll<HTMLElement>('.kt-n, .kt-s'))])
          if (text.scrollWidth > text.clientWidth + 1 && getComputedStyle(text).overflow === 'hidden') out.push(`${ids[i]} part ${k}: text cut`)
        for (let j = k + 1; j < parts.length; j++) if (overlap(el.getBoundingClientRect(), parts[j]!.getBoundingClientRect())) out.push(`${ids[i]}: parts ${k} and ${j} overlap`)
      })
      for (let j = i + 1; j < rows.length; j++) if (rows[j] && overlap(row.getBoundingClientRect(), rows[j]!.getBoundingClientRect())) out.push(`${ids[i]} overlaps ${ids[j]}`)
    })
    return out
  }, ROWS)
  expect(problems).toEqual([])
}

/** At 375 and 320 px: a screenshot, and the rows fit (then back to 375). */
async function atWidths(u: User, name: string): Promise<void> {
  for (const width of [375, 320]) {
    await u.page.setViewportSize({ width, height: 667 })
    await u.page.waitForFunction((w) => document.documentElement.clientWidth === w, width)
    await settled(u.page)
    await u.page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`) })
    await rowsFit(u.page)
  }
  await u.page.setViewportSize({ width: 375, height: 667 })
  await settled(u.page)
}

/** Chat → its info page, through "⋯" at the right of the header row. */
async function openInfo(u: User): Promise<void> {
  const more = u.page.locator('#dm-info:visible')
  expect(await more.getAttribute('aria-label')).toBe(zhCN['dm.info'])
  await more.click()
  await u.page.locator('#dm-person').waitFor()
  await settled(u.page)
}

describe('a 1:1 chat’s info page in the h5 build', () => {
  it('shows the other person, mutes and pins the chat as the list shows it, and reports the person', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'dmann', '小安', 375, 'zh-CN')
    await loginAs(suite.browser, suite.bff.url, 'dmben', 'Ben')
    await ann.page.setViewportSize({ width: 375, height: 667 })

    // A chat with Ben, who is not her contact: no row of hers to report him from.
    await openChatWith(ann, ['dmben'])
    await sendText(ann, 'dm hello')
    await settled(ann.page)
    await ann.page.screenshot({ path: path.join(SHOTS, 'chat-375.png') })
    await openInfo(ann)
    expect(await ann.page.locator('#dm-person .kt-n').innerText()).toBe('Ben')
    expect(await ann.page.locator('#dm-mute-row').innerText()).toContain(zhCN['list.mute'])
    expect(await ann.page.locator('#dm-pin-row').innerText()).toContain(zhCN['dm.pin'])
    expect(await ann.page.locator('#dm-report').innerText()).toContain(zhCN['report.user'])
    await atWidths(ann, 'info')

    // Mute and pin; back in the list, the row has the muted mark and is pinned.
    await ann.page.locator('#dm-mute').click()
    await ann.page.locator('#dm-mute input:checked').waitFor({ state: 'attached' })
    await ann.page.locator('#dm-pin').click()
    await ann.page.locator('#dm-pin input:checked').waitFor({ state: 'attached' })
    await atWidths(ann, 'info-on')
    await ann.page.locator('.hh-back:visible').click()
    await ann.page.locator('.ch-back:visible').click()
    const row = ann.page.locator('.cr', { hasText: 'dm hello' })
    await row.locator('.cr-mute').waitFor()
    expect(await row.getAttribute('class')).toContain('cr-pin')

    // 投诉 from the info page: the reason sheet, the notice, and the BFF stores the report of Ben.
    await row.click()
    await openInfo(ann)
    expect(await ann.page.locator('#dm-mute input').isChecked()).toBe(true)
    expect(await reports()).toEqual([])
    await ann.page.locator('#dm-report').click()
    await ann.page.getByText(zhCN['report.reason.abuse'], { exact: true }).click()
    await ann.page.getByText(zhCN['report.done'], { exact: true }).waitFor()
    expect(await reports()).toMatchObject([{ reporter: 'dmann', target: 'user', user: 'dmben', reason: 'abuse' }])

    expect(ann.errors).toEqual([])
    expect(ann.csp).toEqual([])
  })
})
