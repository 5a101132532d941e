/**
 * A group larger than a list names, in the h5 build, in Chromium, against the built BFF (protocol 3:
 * a `convs` list names a group's first 9 members and its `memberCount`; shared/PROTOCOL.md,
 * Conversation list). Ben opens the app on a group of 30 that Ann made before he signed in, where
 * Kay, the 29th member, wrote last: what he sees is what a list of every member showed. The list
 * row reads "Kay: ...", the chat's header "Big(30)", Kay's bubble carries her name (never her id),
 * and "@" offers all 29 others, Zoe (the 30th) included, its rows inside a 320 px screen.
 * Screenshots at 390 and 320 px go to test-results/h5-large-group/.
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { randomId, type ServerFrame } from '@chat/shared'
import { devLogin } from '../../bff/test/support/client'
import { loginAs, settled } from './browser'
import { ROOT } from './build'
import { Peer } from './peer'
import { expectTitleAlone, uid } from './phones'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5-large-group')
const SIZE = 30

const suite = useH5Suite(SHOTS, { RATE_LIMIT_PER_SEC: '20000', RATE_LIMIT_BURST: '20000' })

describe('a large group in the h5 build', () => {
  it('names its last sender, counts its members and offers every one of them to "@"', async () => {
    const url = suite.bff.url
    const benId = uid('lgben')
    await devLogin(url, benId, 'Ben')
    const ann = await Peer.connect(url, uid('lgann'), 'Ann')
    const kay = await Peer.connect(url, uid('lgkay'), 'Kay')
    suite.peers.push(ann, kay)
    const zoeId = uid('lgzoe')
    await devLogin(url, zoeId, 'Zoe')
    const fillers = Array.from({ length: SIZE - 4 }, (_, i) => uid(`lgm${i}x`))
    await Promise.all(fillers.map((id, i) => devLogin(url, id, `Member ${i + 1}`)))
    // Joining order: Ann (who creates it), Ben, the fillers, Kay 29th, Zoe 30th.
    const rid = randomId(10)
    ann.raw({ type: 'conv.create', rid, kind: 'group', title: 'Big', members: [benId, ...fillers, kay.id, zoeId] })
    const conv = (await ann.next<Extract<ServerFrame, { type: 'conv' }>>((f) => f.type === 'conv' && f.rid === rid)).conv
    expect(conv.members.map((u) => u.id).indexOf(kay.id)).toBe(SIZE - 2)
    await kay.say(conv.id, 'hello from the back row')

    // Ben's first list names the group's first 9 members: Kay is not among them.
    const ben = await loginAs(suite.browser, url, benId, 'Ben')
    const row = ben.page.locator('.cr', { hasText: 'Big' })
    await row.locator('text=Kay: hello from the back row').waitFor({ timeout: 15_000 })
    expect(await row.innerText()).not.toContain(kay.id)
    await settled(ben.page)
    await ben.page.screenshot({ path: path.join(SHOTS, 'list-390.png') })

    await row.click()
    await expectTitleAlone(ben.page, `Big(${SIZE})`)
    await ben.page.locator('#msgs .nm', { hasText: 'Kay' }).waitFor()
    expect(await ben.page.locator('#msgs').innerText()).not.toContain(kay.id)

    // "@": every other member, the ones the list did not name paged in while the picker is open.
    await ben.page.locator('#composer textarea').pressSequentially('hi @')
    await ben.page.locator('#mention-picker').waitFor()
    await expect.poll(() => ben.page.locator('#mention-picker .mp-i').count(), { timeout: 15_000 }).toBe(SIZE - 1)
    await ben.page.locator('#mention-loading').waitFor({ state: 'detached' })
    const offered = await ben.page.locator('#mention-picker .mp-i').allTextContents()
    expect(new Set(offered).size).toBe(SIZE - 1)
    expect(offered).toEqual(expect.arrayContaining(['Ann', 'Kay', 'Zoe', 'Member 1', `Member ${SIZE - 4}`]))
    expect(offered).not.toContain('Ben')
    await settled(ben.page)
    await ben.page.screenshot({ path: path.join(SHOTS, 'picker-390.png') })
    // On a 320 px phone the picker's rows still fit the screen, names whole.
    await ben.page.setViewportSize({ width: 320, height: 640 })
    await settled(ben.page)
    const rows = await ben.page.locator('#mention-picker .mp-i').evaluateAll((els) => els.slice(0, 5).map((e) => {
      const r = e.getBoundingClientRect()
      const text = e.querySelector('span, .taro-text, *') ?? e
      return { left: r.left, right: r.right, textRight: text.getBoundingClientRect().right }
    }))
    for (const r of rows) expect(r.left >= 0 && r.right <= 320 && r.textRight <= 320, JSON.stringify(r)).toBe(true)
    await ben.page.screenshot({ path: path.join(SHOTS, 'picker-320.png') })
    await ben.page.setViewportSize({ width: 390, height: 844 })
    await settled(ben.page)
    await ben.page.locator(`#mention-${zoeId}`).scrollIntoViewIfNeeded()
    await ben.page.locator(`#mention-${zoeId}`).click()
    await expect.poll(() => ben.page.locator('#composer textarea').inputValue()).toBe('hi @Zoe ')
    expect(ben.errors).toEqual([])
  })
})
