/**
 * The h5 chat list opens at the newest message even when its element cannot scroll yet at the
 * list's first renders. Taro's scroll-view gets its overflow style from its own first render, which
 * can come after the list's (a loaded phone, a slow chunk): every write of the list's offset then
 * lands at 0, and a list that asked again on every render rendered itself in a loop until React gave
 * up ("maximum update depth") and the chat page stayed blank. Here the element is kept from scrolling
 * by a style until the page is on screen, as a late first render of the scroll-view would.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { randomId, type ServerFrame } from '@chat/shared'
import { loginAs } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5-list-not-scrollable')
const MESSAGES = 120

const suite = useH5Suite(SHOTS, { RATE_LIMIT_PER_SEC: '20000', RATE_LIMIT_BURST: '20000' })

/** Resolves after `n` animation frames of the page. */
function frames(page: Page, n: number): Promise<void> {
  return page.evaluate(
    (count) =>
      new Promise<void>((resolve) => {
        let left = count
        const step = () => (--left <= 0 ? resolve() : requestAnimationFrame(step))
        requestAnimationFrame(step)
      }),
    n,
  )
}

describe('h5 chat list whose element cannot scroll yet', () => {
  it('renders the chat (no render loop) and goes to the newest message once the element scrolls', async () => {
    const ben = await loginAs(suite.browser, suite.bff.url, 'nsben', 'Ben')
    const consoleErrors: string[] = []
    ben.page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text())
    })
    const ann = await Peer.connect(suite.bff.url, 'nsann', 'Ann')
    suite.peers.push(ann)
    const rid = randomId(10)
    ann.raw({ type: 'conv.create', rid, kind: 'group', members: ['nsben'], title: 'Plans' })
    const conv = (await ann.next<Extract<ServerFrame, { type: 'conv' }>>((f) => f.type === 'conv' && f.rid === rid)).conv.id
    for (let i = 1; i < MESSAGES; i++) ann.fire(conv, `m${i} ${'words '.repeat(i % 5)}`)
    const last = await ann.say(conv, 'the newest message')
    expect(last.seq).toBeGreaterThanOrEqual(MESSAGES)
    await ben.page.locator('.cr', { hasText: 'Plans' }).waitFor()

    // Not a scroll container: writes of scrollTop are ignored, as before the scroll-view's first render.
    const blocker = await ben.page.addStyleTag({ content: '#msgs { overflow: visible !important; }' })
    await ben.page.locator('.cr', { hasText: 'Plans' }).click()
    await ben.page.locator('#composer').waitFor()
    await frames(ben.page, 30)
    const stuck = await ben.page.evaluate(() => {
      const el = document.getElementById('msgs')!
      return { scrollTop: el.scrollTop, max: el.scrollHeight - el.clientHeight }
    })
    // The situation of the bug: the list wants its end, the element holds it at 0.
    expect(stuck.max).toBeGreaterThan(1000)
    expect(stuck.scrollTop).toBe(0)
    expect(ben.errors).toEqual([])
    expect(consoleErrors).toEqual([])

    // The scroll-view renders: the list goes to its end within a few frames, with no input.
    await blocker.evaluate((el: Element) => el.remove())
    await ben.page.waitForFunction(() => {
      const el = document.getElementById('msgs')!
      return el.scrollHeight - el.clientHeight - el.scrollTop <= 1
    })
    await frames(ben.page, 5)
    const shown = await ben.page.evaluate(() => {
      const list = document.getElementById('msgs')!.getBoundingClientRect()
      const bubble = Array.from(document.querySelectorAll('#msgs .bt')).find((b) => (b.textContent ?? '').includes('the newest message'))
      const r = bubble?.getBoundingClientRect()
      return { listTop: list.top, listBottom: list.bottom, top: r?.top, bottom: r?.bottom }
    })
    await ben.page.screenshot({ path: path.join(SHOTS, 'newest-390.png') })
    // The newest message is on screen, at the bottom of the list.
    expect(shown.top).toBeGreaterThanOrEqual(shown.listTop)
    expect(shown.bottom).toBeLessThanOrEqual(shown.listBottom)
    expect(shown.listBottom - shown.bottom!).toBeLessThan(60)
    expect(ben.errors).toEqual([])
    expect(consoleErrors).toEqual([])
  })
})
