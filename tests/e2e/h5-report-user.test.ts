/**
 * Reporting a person in the h5 build, in Chromium, against the built BFF (issue 14, "Any member can
 * report a message or a user"): 小安, on a Chinese phone, reports her contact Ben from his row in her
 * contacts ("投诉"), picking a reason from the same sheet as a message's report, and Cat from the
 * member list of a group Ben made (a plain member's only action on a row; never on her own). She
 * reads the catalogue's notice, and the BFF's admin API lists both reports with their reasons. The rows and the sheet fit 375 and 320 px screens; screenshots of both widths go to
 * test-results/h5-report-user/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { zhCN } from '../../client/i18n/messages'
import { REPORT_REASONS } from '../../client/net/moderation'
import { loginAs, openChatWith, sendText, settled, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-report-user')
/** The admin API's credential of this BFF (ADMIN_TOKEN: at least 16 characters). */
const ADMIN = 'e2e-admin-token-0123456789'

const suite = useH5Suite(SHOTS, { ADMIN_TOKEN: ADMIN })

/** A stored report as GET /admin/reports lists it (bff/src/wechat/reports.ts). */
type StoredReport = { id: string; reporter: string; target: string; user?: string; reason: string }

async function reports(): Promise<StoredReport[]> {
  const res = await fetch(`${suite.bff.url}/admin/reports`, { headers: { authorization: `Bearer ${ADMIN}` } })
  expect(res.status).toBe(200)
  return ((await res.json()) as { reports: StoredReport[] }).reports
}

/**
 * At 375 and 320 px: a screenshot, and `check` of what is on screen (then back to 375). Both widths
 * have the same root size (Taro's h5 rem stops at its 20 px floor), so the narrow one has less room.
 */
async function atWidths(u: User, name: string, check: (page: Page) => Promise<void>): Promise<void> {
  for (const width of [375, 320]) {
    await u.page.setViewportSize({ width, height: 667 })
    await u.page.waitForFunction((w) => document.documentElement.clientWidth === w, width)
    await settled(u.page)
    await u.page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`) })
    await check(u.page)
  }
  await u.page.setViewportSize({ width: 375, height: 667 })
  await settled(u.page)
}

/**
 * The row `rowId`: its name is not cut, each of its buttons lies inside the screen, is not cut, and
 * overlaps neither another button nor the name.
 */
async function rowFits(page: Page, rowId: string): Promise<void> {
  const problems = await page.evaluate((id) => {
    const out: string[] = []
    const width = document.documentElement.clientWidth
    const row = document.getElementById(id)
    if (!row) return [`${id}: not on the page`]
    const name = row.querySelector('.kt-n') as HTMLElement
    if (name.scrollWidth > name.clientWidth + 1) out.push(`${id}: name cut`)
    const boxes = [name, ...Array.from(row.querySelectorAll<HTMLElement>('.kt-b'))].map((el) => ({ id: el.id || 'name', el, r: el.getBoundingClientRect() }))
    for (const b of boxes.slice(1)) {
      if (b.r.left < 0 || b.r.right > width + 0.5) out.push(`${b.id}: outside the screen (${b.r.left}..${b.r.right} of ${width})`)
      if (b.el.scrollWidth > b.el.clientWidth + 1) out.push(`${b.id}: label cut`)
    }
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i]!.r, boxes[j]!.r]
        if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5) out.push(`${boxes[i]!.id} overlaps ${boxes[j]!.id}`)
      }
    return out
  }, rowId)
  expect(problems).toEqual([])
}

/** The reason sheet: every reason (in the catalogue's words, in order) and Cancel on screen, none cut. */
async function sheetFits(page: Page): Promise<void> {
  const reasons = REPORT_REASONS.map((r) => zhCN[`report.reason.${r}`])
  for (const text of [...reasons, '取消']) {
    const box = await page.getByText(text, { exact: true }).boundingBox()
    const width = page.viewportSize()!.width
    expect(box, text).not.toBeNull()
    expect(box!.x >= 0 && box!.x + box!.width <= width && box!.y >= 0 && box!.y + box!.height <= 667, `${text} on screen`).toBe(true)
  }
  const tops = await Promise.all(reasons.map(async (t) => (await page.getByText(t, { exact: true }).boundingBox())!.y))
  expect(tops).toEqual([...tops].sort((a, b) => a - b))
}

describe('reporting a person in the h5 build', () => {
  it('from a contact’s row and a group member’s row: the reason sheet, the notice, and the BFF stores each report of that user', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'rpann', '小安', 375, 'zh-CN')
    const ben = await loginAs(suite.browser, suite.bff.url, 'rpben', 'Ben')
    await ann.page.setViewportSize({ width: 375, height: 667 })

    // Ann and Ben become contacts (her request, his acceptance).
    await ann.page.locator('#open-contacts').click()
    await ann.page.locator('#contact-search input').fill('rpben')
    await ann.page.locator('#request-rpben').click()
    await ann.page.locator('#sent #rel-rpben').waitFor()
    await ben.page.locator('#open-contacts').click()
    await ben.page.locator('#accept-rpann').click()
    const row = ann.page.locator('#contacts #rel-rpben')
    await row.waitFor()
    await ann.page.locator('#contact-search input').fill('')
    await ann.page.getByText(zhCN['contacts.requested']).waitFor({ state: 'hidden' })

    // "投诉" beside Ben's block action; the row fits.
    const report = row.locator('#report-rpben')
    expect(await report.innerText()).toBe(zhCN['report.user'])
    await atWidths(ann, 'contacts', (page) => rowFits(page, 'rel-rpben'))

    // The same reasons as a message's report; cancelling files nothing.
    await report.click()
    await ann.page.getByText(zhCN['report.reason.abuse'], { exact: true }).waitFor()
    await atWidths(ann, 'contacts-reasons', sheetFits)
    await ann.page.getByText('取消', { exact: true }).click()
    await ann.page.getByText(zhCN['report.reason.abuse'], { exact: true }).waitFor({ state: 'hidden' })
    expect(await reports()).toEqual([])

    await report.click()
    await ann.page.getByText(zhCN['report.reason.abuse'], { exact: true }).click()
    await ann.page.getByText(zhCN['report.done'], { exact: true }).waitFor()
    await ann.page.getByText(zhCN['report.done'], { exact: true }).waitFor({ state: 'hidden' })
    expect(await reports()).toMatchObject([{ reporter: 'rpann', target: 'user', user: 'rpben', reason: 'abuse' }])

    // A group Ben made with her and Cat (not her contact): as a plain member she can report every
    // member but herself, and has no other action on their rows.
    await loginAs(suite.browser, suite.bff.url, 'rpcat', 'Cat')
    await ben.page.locator('.hh-back:visible').click()
    await openChatWith(ben, ['rpann', 'rpcat'])
    await sendText(ben, 'rp group hello')
    await ann.page.locator('.hh-back:visible').click()
    await ann.page.locator('.cr', { hasText: 'rp group hello' }).click()
    await ann.page.locator('#group-info').click()
    await ann.page.locator('#member-rpcat').waitFor()
    await ann.page.locator('#member-rpann').waitFor()
    expect(await ann.page.locator('#member-rpann .kt-b').count()).toBe(0)
    for (const id of ['rpben', 'rpcat']) expect(await ann.page.locator(`#member-${id} .kt-b`).allInnerTexts()).toEqual([zhCN['report.user']])
    await atWidths(ann, 'group', async (page) => {
      for (const id of ['rpann', 'rpben', 'rpcat']) await rowFits(page, `member-${id}`)
    })
    await ann.page.locator('#member-rpcat #report-rpcat').click()
    await ann.page.getByText(zhCN['report.reason.spam'], { exact: true }).click()
    await ann.page.getByText(zhCN['report.done'], { exact: true }).waitFor()
    // Newest first.
    expect(await reports()).toMatchObject([
      { reporter: 'rpann', target: 'user', user: 'rpcat', reason: 'spam' },
      { reporter: 'rpann', target: 'user', user: 'rpben', reason: 'abuse' },
    ])

    for (const u of [ann, ben]) {
      expect(u.errors).toEqual([])
      expect(u.csp).toEqual([])
    }
  })
})
