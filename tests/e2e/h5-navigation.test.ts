/**
 * Quick taps on navigation in the h5 build, in Chromium: Back tapped while a page is still sliding
 * in (Taro's router hid the page below when the slide ended, after it had been shown again: a blank
 * screen), and a conversation row tapped twice (the chat was pushed twice). What a person sees is
 * asserted: the list's "new chat" button on screen, in pixels, after each quick back; one chat page
 * after a double tap, and the list again after one back. Screenshot in test-results/h5-navigation/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { loginAs, settled } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5-navigation')

const suite = useH5Suite(SHOTS)

/** The element's box when it is on screen (inside the 390 x 844 viewport, not hidden), else undefined. */
async function onScreen(page: Page, selector: string) {
  const box = await page.locator(selector).boundingBox()
  if (!box || !(await page.locator(selector).isVisible())) return undefined
  return box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844 ? box : undefined
}

/** Taro's page containers that are not hidden. */
function shownPages(page: Page): Promise<number> {
  return page.locator('.taro_page:not(.taro_page_shade)').count()
}

describe('quick taps on navigation', () => {
  it('Back while the next page slides in shows the list again; a row tapped twice opens one chat', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'navann', 'Ann')
    const page = ann.page
    await page.locator('#new-chat').waitFor()
    for (const wait of [0, 0, 40, 80, 120, 200]) {
      await page.locator('#new-chat').click()
      if (wait > 0) await page.waitForTimeout(wait)
      await page.getByRole('button', { name: 'Back' }).click()
      await expect.poll(() => onScreen(page, '#new-chat'), { timeout: 5000 }).toBeDefined()
      // Settled: the list stays shown once every timer of the slide has run.
      await settled(page)
      expect(await onScreen(page, '#new-chat')).toBeDefined()
      expect(await shownPages(page)).toBe(1)
    }

    const bob = await Peer.connect(suite.bff.url, 'navbob', 'Bob')
    suite.peers.push(bob)
    await bob.say('d:navann:navbob', 'hello')
    const row = page.locator('.cr', { hasText: 'Bob' })
    await row.dblclick()
    await page.locator('#msgs .bt', { hasText: 'hello' }).waitFor()
    await settled(page)
    expect(await page.locator('.taro_page').count()).toBe(2)
    await page.locator('.ch-back').click()
    await expect.poll(() => onScreen(page, '#new-chat'), { timeout: 5000 }).toBeDefined()
    await page.screenshot({ path: path.join(SHOTS, 'list-after-quick-taps-390.png') })
    expect(ann.errors).toEqual([])
  })
})
