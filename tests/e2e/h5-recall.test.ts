/**
 * Recall in the h5 build, in Chromium, against the built BFF (shared/PROTOCOL.md, "Recall"): Ann
 * recalls a message Ben has on screen; Ben's row turns into "Ann recalled a message" in place (the
 * row's top stays at the same y, in pixels), the other rows stay, the text is gone from the page
 * and from a reload (history returns the tombstone). Screenshots at 390 px go to test-results/h5-recall/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { randomId, type ServerFrame } from '@chat/shared'
import { loginAs, settled } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5-recall')

const suite = useH5Suite(SHOTS)

/** The top of the list row holding `text` (a bubble or a notice), CSS px; undefined when absent. */
async function rowTop(page: Page, text: string): Promise<number | undefined> {
  return page.evaluate((t) => {
    for (const el of Array.from(document.querySelectorAll('#msgs .bt, #msgs .rc'))) {
      if ((el.textContent ?? '').trim() !== t) continue
      const row = el.closest('.r')
      const r = (row ?? el).getBoundingClientRect()
      if (r.height > 0) return r.top
    }
    return undefined
  }, text)
}

describe('recall in the h5 build', () => {
  it("Ann recalls: Ben's row shows the notice at the same y, the text is gone, a reload keeps the notice", async () => {
    const ben = await loginAs(suite.browser, suite.bff.url, 'rcben', 'Ben')
    const ann = await Peer.connect(suite.bff.url, 'rcann', 'Ann')
    suite.peers.push(ann)
    const conv = (await ann.direct('rcben')).id
    await ann.say(conv, 'first message')
    const target = await ann.say(conv, 'the secret to take back')
    await ann.say(conv, 'last message')
    await ben.page.locator('.cr', { hasText: 'Ann' }).click()
    await ben.page.locator('#msgs .bt', { hasText: 'last message' }).waitFor()
    await settled(ben.page)
    const before = { target: await rowTop(ben.page, 'the secret to take back'), first: await rowTop(ben.page, 'first message'), last: await rowTop(ben.page, 'last message') }
    expect(before.target).toBeDefined()
    await ben.page.screenshot({ path: path.join(SHOTS, 'before-390.png') })

    const rid = randomId(10)
    const from = ann.frames.length
    ann.raw({ type: 'recall', rid, conv, seq: target.seq })
    const reply = await ann.next<Extract<ServerFrame, { type: 'recall' }>>((f) => f.type === 'recall' && f.rid === rid, 10_000, from)
    expect(reply.event).toBe(target.seq + 2)

    await ben.page.locator('#msgs .rc', { hasText: 'Ann recalled a message' }).waitFor()
    await settled(ben.page)
    const after = { target: await rowTop(ben.page, 'Ann recalled a message'), first: await rowTop(ben.page, 'first message'), last: await rowTop(ben.page, 'last message') }
    await ben.page.screenshot({ path: path.join(SHOTS, 'after-390.png') })
    // In place: the notice's row starts where the message's row started; the row above did not move.
    expect(Math.abs(after.target! - before.target!)).toBeLessThanOrEqual(1)
    expect(Math.abs(after.first! - before.first!)).toBeLessThanOrEqual(1)
    expect(after.last).toBeDefined()
    expect(await ben.page.getByText('the secret to take back').count()).toBe(0)

    // A reload reads history: the tombstone, never the text.
    await ben.page.goto(`${suite.bff.url}/`)
    await ben.page.locator('.cr', { hasText: 'Ann' }).waitFor()
    await expect.poll(() => ben.page.locator('.cr', { hasText: 'Ann recalled a message' }).count(), { timeout: 10_000 }).toBe(1)
    await ben.page.screenshot({ path: path.join(SHOTS, 'list-390.png') })
    await ben.page.locator('.cr', { hasText: 'Ann' }).click()
    await ben.page.locator('#msgs .rc', { hasText: 'Ann recalled a message' }).waitFor()
    expect(await ben.page.getByText('the secret to take back').count()).toBe(0)

    // Ben recalls his own message from its menu (a right click on h5, a long press on weapp).
    const n = ann.frames.length
    await ben.page.locator('#composer textarea').fill('oops, wrong chat')
    await ben.page.locator('#send').click()
    await ann.next((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'oops, wrong chat', 10_000, n)
    const own = ben.page.locator('#msgs .bt', { hasText: 'oops, wrong chat' })
    await own.waitFor()
    await settled(ben.page)
    const ownTop = await rowTop(ben.page, 'oops, wrong chat')
    await own.click({ button: 'right' })
    await ben.page.getByText('Recall', { exact: true }).click()
    await ann.next((f) => f.type === 'msg' && f.m.kind === 'recall', 10_000, n)
    await ben.page.locator('#msgs .rc', { hasText: 'You recalled a message' }).waitFor()
    await settled(ben.page)
    expect(Math.abs((await rowTop(ben.page, 'You recalled a message'))! - ownTop!)).toBeLessThanOrEqual(1)
    expect(await ben.page.getByText('oops, wrong chat').count()).toBe(0)
    await ben.page.screenshot({ path: path.join(SHOTS, 'own-390.png') })
    expect(ben.errors).toEqual([])
  })
})
