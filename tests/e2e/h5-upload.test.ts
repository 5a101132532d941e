/**
 * Uploads in the h5 build in Chromium, against the built BFF: Alice picks a photo (the file input
 * the h5 picker opens), the bubble appears at once, the upload runs through Taro.request (fetch)
 * in 1 MiB appends (POST + X-HTTP-Method-Override: PATCH, as on weapp), the message is sent when
 * it completes, and Bob sees the image with its thumbnail loaded from the server by its signed URL.
 * Then a PDF as a file card. A screenshot goes to test-results/h5/upload.png.
 */
import path from 'node:path'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import { loginAs, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { CLIENT_DEFAULTS } from '../../client/config'

const SHOTS = path.join(ROOT, 'test-results/h5')

const suite = useH5Suite(SHOTS)

function login(id: string, name: string): Promise<User> {
  return loginAs(suite.browser, suite.bff.url, id, name)
}

async function attach(u: User, tool: 'Photo' | 'File', file: { name: string; mimeType: string; buffer: Buffer }): Promise<void> {
  // "+" takes Send's place under the finger and ignores taps for sendTapGuardMs after a send (a
  // double tap on Send must not open the panel): a person's next tap comes after it.
  await u.page.waitForTimeout(CLIENT_DEFAULTS.sendTapGuardMs)
  await u.page.locator('.cp-plus').click()
  const chooser = u.page.waitForEvent('filechooser')
  await u.page.locator('.cp-tool', { hasText: tool }).click()
  await (await chooser).setFiles(file)
}

describe('uploads in the h5 build', () => {
  it('sends a photo and a document: local preview at once, chunked upload, the peer sees them', async () => {
    const alice = await login('upalice', 'Alice')
    const bob = await login('upbob', 'Bob')
    await alice.page.locator('#new-chat').click()
    await alice.page.locator('#search input').fill('upbob')
    await alice.page.locator('[id="user-upbob"]').click()
    await alice.page.locator('#start-chat').click()
    await alice.page.locator('#composer textarea').fill('photo coming')
    await alice.page.locator('#send').click()
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    await bob.page.locator('.bt', { hasText: 'photo coming' }).waitFor()

    // A 2.5 MB PNG: three appends of at most 1 MiB.
    const png = await sharp({ create: { width: 1400, height: 1000, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png({ compressionLevel: 0 })
      .toBuffer()
    expect(png.length).toBeGreaterThan(2 * 1024 * 1024)
    // The appends wait until the local preview was checked: "before the server has it" is then a
    // fact of the test, not a matter of how fast this machine uploads.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    await alice.page.route('**/uploads/**', async (route) => {
      if (route.request().headers()['x-http-method-override'] === 'PATCH') await held
      await route.continue()
    })
    await attach(alice, 'Photo', { name: 'holiday.png', mimeType: 'image/png', buffer: png })

    // Alice's bubble shows the local file (a blob: URL) before the server has it.
    const mine = alice.page.locator('.im-i img').last()
    await mine.waitFor({ state: 'attached' })
    // The element may be attached a moment before its src is set: wait for the attribute.
    await expect.poll(() => mine.getAttribute('src'), { timeout: 10_000 }).toMatch(/^blob:/)
    release()

    // Bob gets the image message and loads its thumbnail from the BFF by its signed URL (no token in it).
    const theirs = bob.page.locator('.im-i img').last()
    await theirs.waitFor({ state: 'attached', timeout: 30_000 })
    await expect.poll(() => theirs.getAttribute('src'), { timeout: 30_000 }).toMatch(/\/files\/[0-9a-f]{44}\/thumb\?e=\d+&k=[A-Za-z0-9]+&s=[\w-]{43}$/)
    // ...and the browser really loaded it (a decoded image, not a broken one).
    await expect.poll(() => theirs.evaluate((img) => (img as HTMLImageElement).naturalWidth), { timeout: 30_000 }).toBeGreaterThan(0)

    const appends = alice.requests.filter((r) => r.method() === 'POST' && r.headers()['x-http-method-override'] === 'PATCH')
    // Adaptive chunks (client/upload/chunks.ts): 256 KiB first, each append where the last one ended.
    const sizes = appends.map((r) => r.postDataBuffer()?.length ?? 0)
    expect(sizes[0]).toBe(256 * 1024)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(png.length)
    let offset = 0
    for (const [i, r] of appends.entries()) {
      expect(r.headers()['upload-offset']).toBe(String(offset))
      offset += sizes[i]!
    }

    // A PDF goes as a file card with its name and size.
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(300_000, 0x20)])
    await attach(alice, 'File', { name: 'minutes.pdf', mimeType: 'application/pdf', buffer: pdf })
    await bob.page.locator('.fc', { hasText: 'minutes.pdf' }).waitFor({ timeout: 30_000 })
    await expect.poll(() => alice.page.locator('.st-sending').count(), { timeout: 30_000 }).toBe(0)

    await bob.page.screenshot({ path: path.join(SHOTS, 'upload.png') })
    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
    // Local previews (blob:) and thumbnails from /files under the page's Content-Security-Policy.
    expect(alice.csp).toEqual([])
    expect(bob.csp).toEqual([])
  })
})
