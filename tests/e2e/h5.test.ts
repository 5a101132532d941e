/**
 * The h5 build in Chromium, served by the built BFF (`node bff/dist/main.js`): two users log in
 * with the dev login, chat both ways; one goes offline, the other writes, the first comes back and
 * sees every message once and in order; a user back with nothing changed keeps the list as it was
 * (the server answers its tag `same`). Screenshots of the conversation list and a chat page go to
 * test-results/h5/.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBffProcess, type TestBff } from './bff'
import { loginAs, launchChromium, type BrowserUser as User } from './browser'
import { ROOT } from './build'

const SHOTS = path.join(ROOT, 'test-results/h5')

let bff: TestBff
let browser: Browser

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  // A 1 s server heartbeat: a client that went silent (offline) is cut within ~2 s, so its
  // messages go to its offline queue and the return exercises reconnect + sync.
  bff = await startBffProcess({ HEARTBEAT_INTERVAL_MS: '1000' })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await bff?.close()
})

function login(id: string, name: string): Promise<User> {
  return loginAs(browser, bff.url, id, name)
}

async function send(u: User, text: string): Promise<void> {
  await u.page.locator('#composer textarea').fill(text)
  await u.page.locator('#send').click()
}

/** How many times `text` is shown as a message bubble. */
async function countBubbles(page: Page, text: string): Promise<number> {
  return page.locator('.bt', { hasText: new RegExp(`^${text}$`) }).count()
}

/** The texts of the message bubbles in screen order (rows are ordered by CSS order, not DOM). */
async function bubblesOnScreen(page: Page): Promise<string[]> {
  const items = await page.locator('.bt').evaluateAll((els) =>
    els.map((el) => ({ text: (el.textContent ?? '').trim(), top: el.getBoundingClientRect().top })),
  )
  return items.sort((a, b) => a.top - b.top).map((i) => i.text)
}

describe('h5 build in Chromium against the built BFF', () => {
  it('two users chat both ways; the one who was offline gets every message once, in order', async () => {
    // The page is served with its Content-Security-Policy (bff/src/app.ts, securityHeaders); the
    // test fails on any violation the page reports while it loads and chats.
    const page = await fetch(`${bff.url}/`)
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toMatch(/script-src 'self' 'sha256-/)
    expect(csp).toMatch(/frame-ancestors 'none'/)
    expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    const alice = await login('h5alice', 'Alice')
    const bob = await login('h5bob', 'Bob')
    // The inlined rem script ran (allowed by its hash): the root font size is set.
    expect(await alice.page.evaluate(() => document.documentElement.style.fontSize)).toMatch(/px$/)
    await alice.page.getByText('No chats yet').waitFor()

    // Alice starts a chat with Bob.
    await alice.page.locator('#new-chat').click()
    await alice.page.locator('#search input').fill('h5bob')
    await alice.page.locator('[id="user-h5bob"]').click()
    await alice.page.locator('#start-chat').click()
    await send(alice, 'Hi Bob, are you there?')
    await alice.page.locator('.bt', { hasText: 'Hi Bob, are you there?' }).waitFor()

    // Bob sees it in his list, unread, and answers.
    const row = bob.page.locator('.cr', { hasText: 'Alice' })
    await row.waitFor()
    await expect(row.locator('.badge').textContent()).resolves.toBe('1')
    await bob.page.screenshot({ path: path.join(SHOTS, 'conversation-list.png') })
    await row.click()
    await bob.page.locator('.bt', { hasText: 'Hi Bob, are you there?' }).waitFor()
    await send(bob, 'Yes! Hi Alice.')
    await alice.page.locator('.bt', { hasText: 'Yes! Hi Alice.' }).waitFor()
    // Bob read Alice's message at the bottom of the chat: Alice sees it read.
    await alice.page.locator('.st-read').first().waitFor()

    // Bob loses the network. The server stops hearing his pongs and cuts him (~2 s): Alice sees
    // him go offline.
    await bob.ctx.setOffline(true)
    await alice.page.getByText(/last seen/).waitFor({ timeout: 15_000 })

    const missed = Array.from({ length: 6 }, (_, i) => `While you were away ${i + 1}`)
    for (const text of missed) await send(alice, text)
    for (const text of missed) await alice.page.locator('.bt', { hasText: text }).waitFor()
    // Every one of them is stored (no "sending" left).
    await expect.poll(() => alice.page.locator('.st-sending').count()).toBe(0)

    // Bob is back: the client reconnects and syncs from its last seq.
    await bob.ctx.setOffline(false)
    await bob.page.locator('.bt', { hasText: missed[missed.length - 1]! }).waitFor({ timeout: 20_000 })
    for (const text of missed) expect(await countBubbles(bob.page, text)).toBe(1)
    const order = (await bubblesOnScreen(bob.page)).filter((t) => t.startsWith('While you were away'))
    expect(order).toEqual(missed)

    // And he answers again: both ways still work after the reconnect.
    await send(bob, 'Back now, got all six.')
    await alice.page.locator('.bt', { hasText: 'Back now, got all six.' }).waitFor()
    await alice.page.screenshot({ path: path.join(SHOTS, 'chat.png') })
    await bob.page.screenshot({ path: path.join(SHOTS, 'chat-after-return.png') })

    // Back to Alice's list: newest activity first, last message shown.
    await alice.page.locator('.ch-back').click()
    await alice.page.locator('.cr', { hasText: 'Back now, got all six.' }).waitFor()
    await alice.page.screenshot({ path: path.join(SHOTS, 'conversation-list-alice.png') })

    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
    expect(alice.csp).toEqual([])
    expect(bob.csp).toEqual([])
  })

  it('back with nothing changed, the list stays exactly where it was; back after a message, the list shows it first', async () => {
    const carol = await login('h5carol', 'Carol')
    const dave = await login('h5dave', 'Dave')
    const erin = await login('h5erin', 'Erin')
    for (const [peer, text] of [['h5dave', 'hello Dave'], ['h5erin', 'hello Erin']] as const) {
      await carol.page.locator('#new-chat').click()
      await carol.page.locator('#search input').fill(peer)
      await carol.page.locator(`[id="user-${peer}"]`).click()
      await carol.page.locator('#start-chat').click()
      await send(carol, text)
      await carol.page.locator('.bt', { hasText: text }).waitFor()
      await carol.page.locator('.ch-back').click()
    }
    await erin.page.locator('.cr', { hasText: 'Carol' }).waitFor()
    // Dave opens the chat and reads her message.
    await dave.page.locator('.cr', { hasText: 'Carol' }).click()
    await dave.page.locator('.bt', { hasText: 'hello Dave' }).waitFor()
    const rows = () =>
      carol.page.locator('.cr').evaluateAll((els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect()
          return { text: (el.textContent ?? '').trim(), top: Math.round(r.top), height: Math.round(r.height) }
        }),
      )
    // The conversation lists the page's next sockets receive.
    const lists: string[] = []
    carol.page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      const text = String(f.payload)
      if (text.startsWith('{"type":"convs"')) lists.push(text)
    }))
    /** Carol's network goes away (her page says so), `meanwhile` happens, it is back: the list her new socket got. */
    const awayAndBack = async (meanwhile?: () => Promise<void>) => {
      const seen = lists.length
      await carol.ctx.setOffline(true)
      await carol.page.getByText('No network connection').waitFor({ timeout: 15_000 })
      await meanwhile?.()
      await carol.ctx.setOffline(false)
      await expect.poll(() => lists.length, { timeout: 20_000 }).toBeGreaterThan(seen)
      return JSON.parse(lists[seen]!) as { items: unknown[]; same?: boolean }
    }
    // Dave's read reached Carol's page live, after her list: her first return gets a new list.
    await awayAndBack()
    await expect.poll(async () => (await rows()).map((r) => r.text.includes('hello Erin'))).toEqual([true, false])
    const before = await rows()

    // Away and back with nothing changed since: the server answers the list's tag with `same`,
    // and the rows stay as they were, in place (the offline banner above them goes once back).
    expect(await awayAndBack()).toMatchObject({ items: [], same: true })
    await expect.poll(rows).toEqual(before)

    // Away while Dave writes: the whole list comes back and shows his message first.
    const full = await awayAndBack(async () => {
      await send(dave, 'written while you were away')
      await dave.page.locator('.bt', { hasText: 'written while you were away' }).waitFor()
      await expect.poll(() => dave.page.locator('.st-sending').count()).toBe(0)
    })
    expect([full.items.length, full.same]).toEqual([2, undefined])
    await expect.poll(async () => (await rows()).map((r) => r.text.includes('written while you were away'))).toEqual([true, false])
    await carol.page.screenshot({ path: path.join(SHOTS, 'conversation-list-after-return.png') })
    expect(carol.errors).toEqual([])
    expect(dave.errors).toEqual([])
  })
})
