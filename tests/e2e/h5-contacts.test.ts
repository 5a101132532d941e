/**
 * Contacts and blocking in the h5 build, in Chromium, against the built BFF (PROTOCOL.md,
 * "Relations"): Ann finds Ben and sends a request with a note, Ben accepts it from his contacts
 * page, Ann sees Ben among her contacts with his presence and opens a chat; Ben blocks Ann, and
 * Ann's next message is refused with the catalogue's sentence for BLOCKED (in English and in
 * Chinese). Screenshots at 390 and 320 px go to test-results/h5-contacts/.
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { en, zhCN } from '../../client/i18n/messages'
import { loginAs, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-contacts')

const suite = useH5Suite(SHOTS)

/** Screenshots of the page at 390 and 320 px wide (then back to 390). */
async function shoot(u: User, name: string): Promise<void> {
  for (const width of [390, 320]) {
    await u.page.setViewportSize({ width, height: 844 })
    // The h5 router slides a new page in: the picture is taken once nothing moves any more.
    await u.page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'))
    await u.page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`) })
  }
  await u.page.setViewportSize({ width: 390, height: 844 })
}

async function send(u: User, text: string): Promise<void> {
  await u.page.locator('#composer textarea').fill(text)
  await u.page.locator('#send').click()
}

describe('contacts in the h5 build', () => {
  it('request with a note, accept, contacts with presence, block: the blocked sender is told why in its language', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'h5ann', 'Ann')
    const ben = await loginAs(suite.browser, suite.bff.url, 'h5ben', 'Ben')

    // Ann opens her contacts from the conversation list and finds Ben.
    await ann.page.locator('#open-contacts').click()
    await ann.page.getByText('No contacts yet').waitFor()
    await ann.page.locator('#contact-search input').fill('h5ben')
    await ann.page.locator('#contact-note input').fill('Ann from the design team')
    await ann.page.locator('#request-h5ben').click()
    await ann.page.locator('#sent #rel-h5ben', { hasText: 'Ann from the design team' }).waitFor()
    await ann.page.locator('#found-h5ben', { hasText: 'Requested' }).waitFor()
    await shoot(ann, 'ann-request-sent')

    // Ben sees the request with its note and accepts it.
    await ben.page.locator('#open-contacts').click()
    const request = ben.page.locator('#requests #rel-h5ann')
    await request.getByText('Ann from the design team').waitFor()
    await shoot(ben, 'ben-request')
    await ben.page.locator('#accept-h5ann').click()
    await ben.page.locator('#contacts #rel-h5ann', { hasText: 'online' }).waitFor()
    expect(await ben.page.locator('#requests').count()).toBe(0)

    // Ann sees Ben among her contacts, online, without reloading (the server pushed it).
    await ann.page.locator('#contacts #rel-h5ben', { hasText: 'online' }).waitFor()
    expect(await ann.page.locator('#sent').count()).toBe(0)
    await shoot(ann, 'ann-contacts')

    // Ann writes to Ben from there.
    await ann.page.locator('#chat-h5ben').click()
    await send(ann, 'Hello Ben')
    await ann.page.locator('.st-sent, .st-delivered, .st-read').first().waitFor()

    // Ben blocks Ann from his contacts page: she moves to his blocked list.
    await ben.page.locator('#block-h5ann').click()
    await ben.page.locator('#blocked #rel-h5ann').waitFor()
    await shoot(ben, 'ben-blocked')

    // Ann's next message is refused, and the row says why, in English...
    await send(ann, 'Are you there?')
    const why = en['chat.notSent'].replace('{reason}', en['err.BLOCKED']).trim()
    await ann.page.getByText(why).waitFor()
    await shoot(ann, 'ann-refused-en')
    // ...and in Chinese for a Chinese phone.
    const annZh = await loginAs(suite.browser, suite.bff.url, 'h5ann', 'Ann', 390, 'zh-CN')
    await annZh.page.locator('.cr').first().click()
    await send(annZh, '在吗？')
    await annZh.page.getByText(zhCN['chat.notSent'].replace('{reason}', zhCN['err.BLOCKED']).trim()).waitFor()
    await shoot(annZh, 'ann-refused-zh')

    for (const u of [ann, ben, annZh]) {
      expect(u.errors).toEqual([])
      expect(u.csp).toEqual([])
    }
  })
})
