/**
 * Where the h5 chat list is, in pixels, in Chromium: a conversation of 3,000 messages of mixed
 * heights opens at the newest message; each wheel step moves the content by the wheel's delta and
 * nothing moves it without input, also while older pages go in above; arrivals are followed at the
 * bottom and leave the view alone (with the pill) while reading above; the pill goes to the bottom.
 * Screenshots go to test-results/h5/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { loginAs, type BrowserUser } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5')
const TOTAL = 3_000
const WHEEL = 120

const suite = useH5Suite(SHOTS, { RATE_LIMIT_PER_SEC: '20000', RATE_LIMIT_BURST: '20000' })

/** Message `i`: one line, two, or a paragraph, so rows differ in height. */
function text(i: number): string {
  const tag = `p${String(i).padStart(4, '0')}`
  if (i % 7 === 0) return `${tag} ${'a paragraph that wraps over several lines of the bubble '.repeat(3)}`
  if (i % 3 === 0) return `${tag} two lines: ${'words '.repeat(9)}`
  return tag
}

async function seed(peer: Peer, conv: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) peer.fire(conv, text(i))
  await peer.next((f) => f.type === 'ack' && f.seq === to, 60_000)
}

/** Geometry of the list and of the bubble `tag` (undefined when not rendered), in CSS px. */
async function geometry(page: Page, tag?: string) {
  return page.evaluate((t) => {
    const el = document.getElementById('msgs')!
    const box = el.getBoundingClientRect()
    let row: { top: number; bottom: number } | undefined
    if (t) {
      for (const b of Array.from(document.querySelectorAll('#msgs .bt'))) {
        if ((b.textContent ?? '').trim().startsWith(t)) {
          const r = b.getBoundingClientRect()
          if (r.height > 0) row = { top: r.top, bottom: r.bottom }
        }
      }
    }
    return { top: box.top, bottom: box.bottom, scrollTop: el.scrollTop, max: el.scrollHeight - el.clientHeight, row }
  }, tag)
}

/** Tags of the bubbles that intersect the list's viewport, top to bottom. */
async function visibleTags(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const box = document.getElementById('msgs')!.getBoundingClientRect()
    return Array.from(document.querySelectorAll('#msgs .bt'))
      .map((b) => ({ t: (b.textContent ?? '').trim().slice(0, 5), r: b.getBoundingClientRect() }))
      .filter(({ r }) => r.height > 0 && r.bottom > box.top + 1 && r.top < box.bottom - 1)
      .sort((a, b) => a.r.top - b.r.top)
      .map(({ t }) => t)
  })
}

/**
 * Wait until the list has been still for `frames` animation frames in a row (no scroll event, no
 * change of scrollTop or of the watched bubble's y), and return the largest movement of that bubble
 * seen while waiting.
 */
async function settle(page: Page, tag: string, frames = 20): Promise<number> {
  return page.evaluate(
    ({ t, frames }) =>
      new Promise<number>((resolve) => {
        const el = document.getElementById('msgs')!
        const y = () => {
          for (const b of Array.from(document.querySelectorAll('#msgs .bt'))) {
            if ((b.textContent ?? '').trim().startsWith(t)) return b.getBoundingClientRect().top
          }
          return NaN
        }
        const start = y()
        let moved = 0
        let last = `${el.scrollTop}:${start}`
        let still = 0
        const tick = () => {
          const now = y()
          if (Number.isFinite(now) && Number.isFinite(start)) moved = Math.max(moved, Math.abs(now - start))
          const key = `${el.scrollTop}:${now}`
          still = key === last ? still + 1 : 0
          last = key
          if (still >= frames) resolve(moved)
          else requestAnimationFrame(tick)
        }
        requestAnimationFrame(tick)
      }),
    { t: tag, frames },
  )
}

describe('h5 chat list positions in Chromium', () => {
  let alice: BrowserUser
  let bob: Peer
  let conv: string

  it('opens a 3,000-message chat at the newest message', async () => {
    alice = await loginAs(suite.browser, suite.bff.url, 'posalice', 'Alice')
    bob = await Peer.connect(suite.bff.url, 'posbob', 'Bob')
    suite.peers.push(bob)
    conv = (await bob.direct('posalice')).id
    await seed(bob, conv, 1, TOTAL)
    await alice.page.locator('.cr', { hasText: 'Bob' }).click()
    // The page itself may take a while on a busy machine (3,000 pushes just went through the client);
    // the position is what is judged, once it is there.
    await alice.page.locator('#msgs').waitFor({ timeout: 30_000 })
    const newest = `p${TOTAL}`
    await expect
      .poll(async () => {
        const g = await geometry(alice.page, newest)
        return g.row !== undefined && g.row.bottom <= g.bottom + 1 && g.row.bottom > g.bottom - 80 && g.max - g.scrollTop <= 1
      }, { timeout: 10_000 })
      .toBe(true)
    // And it stays there (no late jump to the top or a blank band).
    await settle(alice.page, newest)
    const g = await geometry(alice.page, newest)
    expect(g.max - g.scrollTop).toBeLessThanOrEqual(1)
    expect(g.row!.bottom).toBeLessThanOrEqual(g.bottom + 1)
    const shown = await visibleTags(alice.page)
    expect(shown.at(-1)).toBe(newest)
    expect(shown.length).toBeGreaterThan(4)
    // The row slots are sized for the 720 px viewport (40 px rows and overscan), not for the content.
    expect(await alice.page.locator('#msgs .vl-row').count()).toBeLessThan(40)
    await alice.page.screenshot({ path: path.join(SHOTS, 'position-open.png') })
  })

  it('moves by the wheel delta on every step, never without input, also while older pages go in above', async () => {
    const page = alice.page
    const box = await page.locator('#msgs').boundingBox()
    await page.mouse.move(box!.x + box!.width / 2, box!.y + box!.height / 2)
    const steps: Array<{ tag: string; moved: number; drift: number }> = []
    for (let step = 0; step < 40; step++) {
      const tags = await visibleTags(page)
      const tag = tags[Math.floor(tags.length / 2)]!
      const before = (await geometry(page, tag)).row!.top
      await page.mouse.wheel(0, -WHEEL)
      // The step's own movement, once the scroll has landed...
      await expect.poll(async () => (await geometry(page, tag)).row?.top !== before, { timeout: 5_000 }).toBe(true)
      const landed = await settle(page, tag, 3)
      void landed
      const after = (await geometry(page, tag)).row!.top
      // ...then a quiet window with no input: nothing may move the content.
      const drift = await settle(page, tag, 20)
      steps.push({ tag, moved: after - before, drift })
    }
    // Every step moved the content by the wheel's delta (+-2 px), and nothing moved it afterwards.
    expect(steps.filter((s) => Math.abs(s.moved - WHEEL) > 2 || s.drift > 1)).toEqual([])
    // Older pages did go in above during these steps: the chat opened with the newest page of 50
    // (p2951-p3000), and rows older than that are on screen now.
    const oldest = Math.min(...(await visibleTags(page)).map((t) => Number(t.slice(1))))
    expect(oldest).toBeLessThan(TOTAL - 50)
    await page.screenshot({ path: path.join(SHOTS, 'position-scrolled-up.png') })
  })

  it('leaves the view alone when a message arrives while reading above, and the pill goes to the bottom', async () => {
    const page = alice.page
    const tags = await visibleTags(page)
    const tag = tags[1]!
    const y = (await geometry(page, tag)).row!.top
    await bob.say(conv, `p${TOTAL + 1} arrived while reading`)
    await page.locator('#new-pill').waitFor()
    await expect(page.locator('#new-pill').textContent()).resolves.toContain('1 new message')
    await settle(page, tag)
    expect((await geometry(page, tag)).row!.top).toBeCloseTo(y, 0)
    await page.screenshot({ path: path.join(SHOTS, 'position-pill.png') })

    await page.locator('#new-pill').click()
    const newest = `p${TOTAL + 1}`
    await expect
      .poll(async () => {
        const g = await geometry(page, newest)
        return g.row !== undefined && g.max - g.scrollTop <= 1 && g.row.bottom <= g.bottom + 1
      }, { timeout: 5_000 })
      .toBe(true)
    await page.locator('#new-pill').waitFor({ state: 'detached' })
  })

  it('follows a message that arrives at the bottom', async () => {
    const page = alice.page
    for (const i of [2, 3]) {
      const tag = `p${TOTAL + i}`
      await bob.say(conv, `${tag} ${'arrives at the bottom '.repeat(i)}`)
      await expect
        .poll(async () => {
          const g = await geometry(page, tag)
          return g.row !== undefined && g.max - g.scrollTop <= 1 && g.row.bottom <= g.bottom + 1 && g.row.bottom > g.bottom - 120
        }, { timeout: 5_000 })
        .toBe(true)
    }
    await page.screenshot({ path: path.join(SHOTS, 'position-followed.png') })
    expect(alice.errors).toEqual([])
  })
})
