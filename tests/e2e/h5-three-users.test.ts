/**
 * Three people through the everyday operations of issue 13, in the h5 build, in three Chromium
 * contexts against the built BFF: Ann asks Ben to be her contact with a note and Ben accepts;
 * Ann creates a group with Ben (and Dave, a scripted fourth member: a group needs two others
 * picked); Ann adds Cat; Ben replies to Ann's message and Ann's tap on the quote shows the
 * original; Ann mentions Cat, whose list shows "[@you]"; Ben recalls a message; Ann removes Cat. Assertions are on what each
 * person sees: texts, and positions (system lines centred, own bubbles on the right and others'
 * on the left, a recalled row in place). Screenshots of each user at 390 and 320 px go to
 * test-results/h5-three-users/.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { loginAs, type BrowserUser as User, settled } from './browser'
import { ROOT } from './build'
import { headerTitle } from './phones'
import { useH5Suite } from './suite'
import { Peer } from './peer'

const SHOTS = path.join(ROOT, 'test-results/h5-three-users')

const suite = useH5Suite(SHOTS)

async function shoot(u: User, name: string): Promise<void> {
  for (const width of [390, 320]) {
    await u.page.setViewportSize({ width, height: 844 })
    await settled(u.page)
    await u.page.screenshot({ path: path.join(SHOTS, `${name}-${width}.png`) })
  }
  await u.page.setViewportSize({ width: 390, height: 844 })
}

async function say(u: User, text: string): Promise<void> {
  await u.page.locator('#composer textarea').fill(text)
  await u.page.locator('#send').click()
  await u.page.locator('#msgs .bt', { hasText: text }).waitFor()
}

async function line(u: User, text: string): Promise<void> {
  await u.page.locator('#msgs .sy', { hasText: text }).waitFor({ timeout: 15_000 })
}

/** Where the text `text` of the open chat is drawn: its box, and the screen's width. */
async function box(page: Page, selector: string, text: string): Promise<{ left: number; right: number; top: number; width: number }> {
  return page.evaluate(
    ([sel, t]) => {
      for (const el of Array.from(document.querySelectorAll(sel))) {
        if ((el.textContent ?? '').trim() !== t) continue
        const inner = (el.firstElementChild ?? el) as HTMLElement
        const r = inner.getBoundingClientRect()
        if (r.height > 0) return { left: r.left, right: r.right, top: (el.closest('.r') ?? el).getBoundingClientRect().top, width: document.documentElement.clientWidth }
      }
      throw new Error(`"${t}" is not on screen`)
    },
    [selector, text] as const,
  )
}

/** A system line is centred: its text's middle at the screen's middle. */
async function expectCentred(u: User, text: string): Promise<void> {
  await settled(u.page)
  const b = await box(u.page, '#msgs .sy', text)
  expect(Math.abs((b.left + b.right) / 2 - b.width / 2)).toBeLessThanOrEqual(2)
}

/** A bubble is ours (right half, ending near the right edge) or someone else's (left half). */
async function expectSide(u: User, text: string, side: 'right' | 'left'): Promise<void> {
  await settled(u.page)
  const b = await box(u.page, '#msgs .bt', text)
  if (side === 'right') {
    expect(b.left).toBeGreaterThan(b.width * 0.3)
    expect(b.right).toBeGreaterThan(b.width * 0.75)
  } else {
    expect(b.left).toBeLessThan(b.width * 0.3)
    expect(b.right).toBeLessThan(b.width * 0.75)
  }
}

describe('three users in the h5 build', () => {
  it('request, accept, group creation, add, reply, mention, recall, removal: each sees it where it belongs', async () => {
    const ann = await loginAs(suite.browser, suite.bff.url, 'tuann', 'Ann')
    const ben = await loginAs(suite.browser, suite.bff.url, 'tuben', 'Ben')
    const cat = await loginAs(suite.browser, suite.bff.url, 'tucat', 'Cat')
    const dave = await Peer.connect(suite.bff.url, 'tudave', 'Dave')
    suite.peers.push(dave)

    // ---- request and accept
    await ann.page.locator('#open-contacts').click()
    await ann.page.locator('#contact-search input').fill('tuben')
    await ann.page.locator('#contact-note input').fill('Ann, from the hiking club')
    await ann.page.locator('#request-tuben').click()
    await ann.page.locator('#sent #rel-tuben', { hasText: 'Ann, from the hiking club' }).waitFor()
    await ben.page.locator('#open-contacts').click()
    await ben.page.locator('#requests #rel-tuann', { hasText: 'Ann, from the hiking club' }).waitFor()
    await ben.page.locator('#accept-tuann').click()
    await ben.page.locator('#contacts #rel-tuann', { hasText: 'online' }).waitFor()
    await ann.page.locator('#contacts #rel-tuben', { hasText: 'online' }).waitFor()
    await ben.page.locator('.hh-back:visible').click()
    await ann.page.locator('.hh-back:visible').click()

    // ---- group creation (Ben and Dave)
    await ann.page.locator('#new-chat').click()
    await ann.page.locator('#search input').fill('tu')
    await ann.page.locator('#user-tuben').click()
    await ann.page.locator('#user-tudave').click()
    await ann.page.locator('input[placeholder="Group name (optional)"]').fill('Trail crew')
    await ann.page.locator('#start-chat', { hasText: 'Create group (2)' }).click()
    await expect.poll(() => headerTitle(ann.page), { timeout: 15_000 }).toBe('Trail crew(3)')
    await say(ann, 'Route: the ridge loop')
    await ben.page.locator('.cr', { hasText: 'Trail crew' }).click()
    await ben.page.locator('#msgs .bt', { hasText: 'Route: the ridge loop' }).waitFor()
    await expectSide(ann, 'Route: the ridge loop', 'right')
    await expectSide(ben, 'Route: the ridge loop', 'left')

    // ---- add a member (Cat)
    await ann.page.locator('#group-info').click()
    await ann.page.locator('#group-search input').fill('tucat')
    await ann.page.locator('#add-tucat').click()
    await ann.page.locator('#member-tucat').waitFor()
    await ann.page.locator('.hh-back:visible').click()
    await line(ann, 'You added Cat')
    await line(ben, 'Ann added Cat')
    await expect.poll(() => headerTitle(ben.page), { timeout: 15_000 }).toBe('Trail crew(4)')
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).click()
    await line(cat, 'Ann added you')
    await expect.poll(() => headerTitle(cat.page), { timeout: 15_000 }).toBe('Trail crew(4)')
    for (const [u, text] of [[ann, 'You added Cat'], [ben, 'Ann added Cat'], [cat, 'Ann added you']] as const) await expectCentred(u, text)
    // Cat reads from the moment she joined.
    expect(await cat.page.getByText('Route: the ridge loop').count()).toBe(0)

    // ---- reply (Ben quotes Ann's route; a tap on the quote brings the original into view, highlighted)
    await ben.page.locator('#msgs .bt', { hasText: 'Route: the ridge loop' }).click({ button: 'right' })
    await ben.page.getByText('Reply', { exact: true }).click()
    await ben.page.locator('#reply-bar', { hasText: 'Route: the ridge loop' }).waitFor()
    await ben.page.locator('#composer textarea').fill('Count me in')
    await ben.page.locator('#send').click()
    expect(await ben.page.locator('#reply-bar').count()).toBe(0)
    for (const u of [ann, ben, cat]) await u.page.locator('#msgs .qt', { hasText: 'Route: the ridge loop' }).waitFor()
    await expectSide(ben, 'Count me in', 'right')
    await expectSide(ann, 'Count me in', 'left')
    await ann.page.locator('#msgs .qt', { hasText: 'Route: the ridge loop' }).click()
    await ann.page.waitForFunction(() => {
      const list = document.getElementById('msgs')!.getBoundingClientRect()
      for (const b of Array.from(document.querySelectorAll('#msgs .bt'))) {
        if ((b.textContent ?? '').trim() !== 'Route: the ridge loop') continue
        const r = b.getBoundingClientRect()
        return r.height > 0 && r.top >= list.top - 1 && r.bottom <= list.bottom + 1 && b.closest('.r')?.classList.contains('hl') === true
      }
      return false
    })

    // ---- mention (Ann, the owner, picks Cat from the member list; Cat, on her list, sees "[@you]")
    await cat.page.locator('.ch-back:visible').click()
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).waitFor()
    await ann.page.locator('#composer textarea').pressSequentially('@')
    await ann.page.locator('#mention-picker').waitFor()
    // The owner may mention everyone.
    await ann.page.locator('#mention-all').waitFor()
    await ann.page.locator('#mention-tucat').click()
    await expect.poll(() => ann.page.locator('#composer textarea').inputValue()).toBe('@Cat ')
    await ann.page.locator('#composer textarea').pressSequentially('bring the map')
    await ann.page.locator('#send').click()
    await ann.page.locator('#msgs .bt', { hasText: '@Cat bring the map' }).waitFor()
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).locator('.cr-at', { hasText: '[@you]' }).waitFor()
    // Ben was not mentioned: no mark on his list (he reads in the chat, his list is behind it).
    expect(await ben.page.locator('.cr-at').count()).toBe(0)
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).click()
    await cat.page.locator('#msgs .bt', { hasText: '@Cat bring the map' }).waitFor()

    // ---- recall (Ben takes a message back; every screen shows the notice where it was)
    await say(ben, 'I can drive, 4 seats')
    await say(ben, 'Wrong chat, sorry')
    for (const u of [ann, cat]) await u.page.locator('#msgs .bt', { hasText: 'Wrong chat, sorry' }).waitFor()
    await settled(ann.page)
    const before = await box(ann.page, '#msgs .bt', 'Wrong chat, sorry')
    const above = await box(ann.page, '#msgs .bt', 'I can drive, 4 seats')
    await ben.page.locator('#msgs .bt', { hasText: 'Wrong chat, sorry' }).click({ button: 'right' })
    await ben.page.getByText('Recall', { exact: true }).click()
    await ben.page.locator('#msgs .rc', { hasText: 'You recalled a message' }).waitFor()
    for (const u of [ann, cat]) await u.page.locator('#msgs .rc', { hasText: 'Ben recalled a message' }).waitFor()
    await settled(ann.page)
    const after = await box(ann.page, '#msgs .rc', 'Ben recalled a message')
    expect(Math.abs(after.top - before.top)).toBeLessThanOrEqual(1)
    expect(Math.abs((await box(ann.page, '#msgs .bt', 'I can drive, 4 seats')).top - above.top)).toBeLessThanOrEqual(1)
    for (const u of [ann, ben, cat]) expect(await u.page.getByText('Wrong chat, sorry').count()).toBe(0)
    // A recall is nothing to read: Cat's list, back from the chat, counts no unread for it.
    await cat.page.locator('.ch-back:visible').click()
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).waitFor()
    expect(await cat.page.locator('.cr', { hasText: 'Trail crew' }).locator('.badge').count()).toBe(0)
    await cat.page.locator('.cr', { hasText: 'Trail crew' }).click()

    // ---- removal of a member (Cat)
    await ann.page.locator('#group-info').click()
    await ann.page.locator('#remove-tucat').click()
    await ann.page.locator('#member-tucat').waitFor({ state: 'detached' })
    await ann.page.locator('.hh-back:visible').click()
    await line(ann, 'You removed Cat')
    await line(ben, 'Ann removed Cat')
    await expect.poll(() => headerTitle(ben.page), { timeout: 15_000 }).toBe('Trail crew(3)')
    await line(cat, 'Ann removed you')
    await cat.page.locator('#composer-ended', { hasText: 'You were removed from this group' }).waitFor()
    await expectCentred(cat, 'Ann removed you')
    // Nothing said afterwards reaches Cat.
    await say(ben, 'See you Saturday')
    await ann.page.locator('#msgs .bt', { hasText: 'See you Saturday' }).waitFor()
    expect(await cat.page.getByText('See you Saturday').count()).toBe(0)

    // Joined later, Cat has nothing older to page back to (no error from a refused history page).
    expect(await cat.page.getByText('Could not load older messages').count()).toBe(0)
    await shoot(ann, 'ann')
    await shoot(ben, 'ben')
    await shoot(cat, 'cat')
    for (const u of [ann, ben, cat]) {
      expect(u.errors).toEqual([])
      expect(u.csp).toEqual([])
    }
  })
})
