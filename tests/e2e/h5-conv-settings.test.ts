/**
 * Pin, mute and drafts in the h5 build, in Chromium, against the built BFF (PROTOCOL.md,
 * "Conversation settings and delete for me"): Ann pins the oldest of her three chats from its row's
 * menu (a right click) and it moves to the top of the list, in pixels, on a grey of its own; she
 * mutes another and its unread count becomes a dot while the title's total leaves it out; a draft
 * typed in a chat survives a reload, shows in the list as "[Draft] ...", and is gone once sent;
 * a message deleted for her is gone from her page and from a reload, while its sender keeps it.
 * Screenshots at 390 and 320 px go to test-results/h5-conv-settings/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import type { ServerFrame } from '@chat/shared'
import { loginAs, type BrowserUser, settled } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5-conv-settings')

const suite = useH5Suite(SHOTS)

/** Screenshots of the page at 390 and 320 px wide (then back to 390, laid out again). */
async function shoot(u: BrowserUser, name: string): Promise<void> {
  const rootSize = () => u.page.evaluate(() => getComputedStyle(document.documentElement).fontSize)
  const at390 = await rootSize()
  for (const width of [390, 320]) {
    await u.page.setViewportSize({ width, height: 844 })
    await settled(u.page)
    await u.page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`) })
  }
  await u.page.setViewportSize({ width: 390, height: 844 })
  // Taro's h5 sizes its rem on `resize`: positions are read once the 390 px root size is back.
  await u.page.waitForFunction((size) => getComputedStyle(document.documentElement).fontSize === size, at390)
  await settled(u.page)
}

/** The list's rows top to bottom: each row's title, top (CSS px) and background colour. */
async function rows(page: Page): Promise<Array<{ name: string; top: number; bg: string }>> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('.cr')).map((el) => ({
      name: (el.querySelector('.cr-n')?.textContent ?? '').trim(),
      top: Math.round(el.getBoundingClientRect().top),
      bg: getComputedStyle(el).backgroundColor,
    })),
  )
}

describe('pin, mute and drafts in the h5 build', () => {
  it('a pinned chat moves to the top, a muted one shows a dot and leaves the total, a draft survives a reload', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'csann', 'Ann')
    const [bob, cat, dee] = await Promise.all([Peer.connect(suite.bff.url, 'csbob', 'Bob'), Peer.connect(suite.bff.url, 'cscat', 'Cat'), Peer.connect(suite.bff.url, 'csdee', 'Dee')])
    suite.peers.push(bob, cat, dee)
    const toBob = (await bob.direct('csann')).id
    await bob.say(toBob, 'from Bob')
    const toCat = (await cat.direct('csann')).id
    await cat.say(toCat, 'from Cat 1')
    await cat.say(toCat, 'from Cat 2')
    const toDee = (await dee.direct('csann')).id
    const secret = await dee.say(toDee, 'delete this one for me')
    await dee.say(toDee, 'from Dee')
    // Newest activity first; every unread counted in the title.
    await expect.poll(async () => (await rows(ann.page)).map((r) => r.name), { timeout: 10_000 }).toEqual(['Dee', 'Cat', 'Bob'])
    await expect.poll(() => ann.page.title(), { timeout: 10_000 }).toBe('Chats (5)')
    await shoot(ann, 'list-before')
    const before = await rows(ann.page)

    // Pin Bob's chat (the oldest) from its row's menu: it moves to where the first row was.
    await ann.page.locator('.cr', { hasText: 'Bob' }).click({ button: 'right' })
    await ann.page.getByText('Pin to top', { exact: true }).click()
    await expect.poll(async () => (await rows(ann.page)).map((r) => r.name), { timeout: 10_000 }).toEqual(['Bob', 'Dee', 'Cat'])
    await settled(ann.page)
    const pinned = await rows(ann.page)
    expect(pinned[0]!.top).toBe(before[0]!.top)
    expect(pinned[1]!.top).toBe(before[1]!.top)
    // A grey of its own; the others stay white.
    expect(pinned[0]!.bg).toBe('rgb(243, 243, 243)')
    expect(pinned[1]!.bg).toBe('rgb(255, 255, 255)')

    // Mute Cat's chat: a dot instead of "2", the struck bell, and the title's total without its 2.
    const catRow = ann.page.locator('.cr', { hasText: 'Cat' })
    expect(await catRow.locator('.badge').textContent()).toBe('2')
    await catRow.click({ button: 'right' })
    await ann.page.getByText('Mute notifications', { exact: true }).click()
    await catRow.locator('.dot').waitFor()
    expect(await catRow.locator('.badge').count()).toBe(0)
    const dot = (await catRow.locator('.dot').boundingBox())!
    expect(dot.width).toBeGreaterThan(4)
    expect(Math.abs(dot.width - dot.height)).toBeLessThanOrEqual(1)
    const bell = (await catRow.locator('.cr-mute').boundingBox())!
    expect(bell.width).toBeGreaterThan(4)
    await expect.poll(() => ann.page.title()).toBe('Chats (3)')
    await shoot(ann, 'list-pinned-muted')

    // The settings are the server's: a reload (and any other device) shows them the same.
    await ann.page.goto(`${suite.bff.url}/`)
    await expect.poll(async () => (await rows(ann.page)).map((r) => r.name), { timeout: 10_000 }).toEqual(['Bob', 'Dee', 'Cat'])
    await ann.page.locator('.cr', { hasText: 'Cat' }).locator('.dot').waitFor()
    await expect.poll(() => ann.page.title()).toBe('Chats (3)')

    // A draft in Dee's chat survives a reload.
    await ann.page.locator('.cr', { hasText: 'Dee' }).click()
    await ann.page.locator('#msgs .bt', { hasText: 'from Dee' }).waitFor()
    await ann.page.locator('#composer textarea').fill('half a thought')
    // Written to storage shortly after the typing paused (not per keystroke): wait for it, then reload.
    await ann.page.waitForFunction(() => Object.keys(localStorage).some((k) => k.includes('drafts') && (localStorage.getItem(k) ?? '').includes('half a thought')), undefined, { timeout: 10_000 })
    await ann.page.goto(`${suite.bff.url}/`)
    const deeRow = ann.page.locator('.cr', { hasText: 'Dee' })
    await deeRow.locator('.cr-dr', { hasText: '[Draft]' }).waitFor({ timeout: 10_000 })
    expect((await deeRow.locator('.cr-p').textContent())!.trim()).toBe('[Draft] half a thought')
    expect(await deeRow.locator('.cr-dr').evaluate((el) => getComputedStyle(el).color)).toBe('rgb(250, 81, 81)')
    await shoot(ann, 'list-draft')
    await deeRow.click()
    await expect.poll(() => ann.page.locator('#composer textarea').inputValue(), { timeout: 10_000 }).toBe('half a thought')

    // Delete for me: gone from Ann's page at once, and from a reload; Dee keeps it.
    const row = ann.page.locator('#msgs .bt', { hasText: 'delete this one for me' })
    await row.click({ button: 'right' })
    await ann.page.getByText('Delete for me', { exact: true }).click()
    await expect.poll(() => ann.page.getByText('delete this one for me').count(), { timeout: 10_000 }).toBe(0)
    await ann.page.locator('#msgs .bt', { hasText: 'from Dee' }).waitFor()
    await shoot(ann, 'chat-deleted')

    // Sent: the draft is gone from the list.
    const n = dee.frames.length
    await ann.page.locator('#send').click()
    await dee.next((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'half a thought', 10_000, n)
    await ann.page.goto(`${suite.bff.url}/`)
    await expect.poll(async () => ((await ann.page.locator('.cr', { hasText: 'Dee' }).locator('.cr-p').textContent()) ?? '').trim(), { timeout: 10_000 }).toBe('half a thought')
    expect(await ann.page.locator('.cr-dr').count()).toBe(0)
    await ann.page.locator('.cr', { hasText: 'Dee' }).click()
    await ann.page.locator('#msgs .bt', { hasText: 'from Dee' }).waitFor()
    expect(await ann.page.getByText('delete this one for me').count()).toBe(0)
    expect(await ann.page.locator('#composer textarea').inputValue()).toBe('')
    // Dee's history still holds the message.
    const from = dee.frames.length
    dee.raw({ type: 'history', rid: 'dee-h', conv: toDee })
    const page = await dee.next<Extract<ServerFrame, { type: 'messages' }>>((f) => f.type === 'messages' && f.rid === 'dee-h', 10_000, from)
    expect(page.msgs.find((m) => m.seq === secret.seq)).toMatchObject({ kind: 'text', body: { text: 'delete this one for me' } })

    expect(ann.errors).toEqual([])
    expect(ann.csp).toEqual([])
  })
})
