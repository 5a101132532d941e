/**
 * Voice messages in the h5 build in Chromium, with a fake microphone (FAKE_MICROPHONE_FLAGS: a
 * tone, no permission prompt), against the built BFF. Alice switches the composer to voice, holds
 * "Hold to talk" (mouse down, the recording overlay shows, its seconds count up, mouse up): the
 * recording (MediaRecorder, Opus in WebM) goes through the chunked upload and is sent. A tap is too
 * short (a toast, nothing sent); sliding up arms the cancel ("Release to cancel") and releasing
 * sends nothing. Bob sees the voice bubble with its duration and an unplayed dot, taps it: the one
 * audio element plays it (not paused, its time advancing) and the dot goes.
 * Then the Chinese UI on a second device of Bob's (whose voices show unplayed: marks are per device).
 * Screenshots at 320 and 390 px go to test-results/h5/voice-*.png.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { VOICE_CANCEL_SLIDE_PX } from '../../client/voice/recorder'
import { FAKE_MICROPHONE_FLAGS, loginAs, type BrowserUser as User } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'

const SHOTS = path.join(ROOT, 'test-results/h5')

const suite = useH5Suite(SHOTS, {}, FAKE_MICROPHONE_FLAGS)

/** Mouse down on the hold-to-talk button; resolves once the overlay shows that recording runs. */
async function hold(page: Page): Promise<{ x: number; y: number }> {
  const box = (await page.locator('#hold-to-talk').boundingBox())!
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 }
  await page.mouse.move(at.x, at.y)
  await page.mouse.down()
  await page.locator('#recording').waitFor()
  return at
}

/** Wait until the overlay's counter reached `s` seconds (the recorder's own clock, not a sleep). */
async function until(page: Page, s: number): Promise<void> {
  await page.waitForFunction((n) => {
    const t = document.querySelector('#recording .rec-t')?.textContent ?? ''
    return parseInt(t, 10) >= n
  }, s)
}

describe('voice messages in the h5 build', () => {
  it('records by holding, cancels by sliding up, refuses a tap as too short; the peer plays the voice and its dot goes', async () => {
    const alice: User = await loginAs(suite.browser, suite.bff.url, 'vcalice', 'Alice')
    const bob: User = await loginAs(suite.browser, suite.bff.url, 'vcbob', 'Bob')
    await alice.page.locator('#new-chat').click()
    await alice.page.locator('#search input').fill('vcbob')
    await alice.page.locator('[id="user-vcbob"]').click()
    await alice.page.locator('#start-chat').click()
    await alice.page.locator('#composer textarea').fill('listen to this')
    await alice.page.locator('#send').click()
    await bob.page.locator('.cr', { hasText: 'Alice' }).click()
    await bob.page.locator('.bt', { hasText: 'listen to this' }).waitFor()

    await alice.page.locator('#voice-mode').click()
    await alice.page.locator('#hold-to-talk', { hasText: 'Hold to talk' }).waitFor()

    // A tap: too short, a toast, nothing sent.
    await alice.page.locator('#hold-to-talk').click()
    await alice.page.getByText('Too short to send').waitFor()

    // Slide up past the threshold: the overlay turns to "Release to cancel"; releasing sends nothing.
    const at = await hold(alice.page)
    await until(alice.page, 1)
    await alice.page.locator('#recording', { hasText: 'Slide up to cancel' }).waitFor()
    await alice.page.mouse.move(at.x, at.y - VOICE_CANCEL_SLIDE_PX - 40)
    await alice.page.locator('#recording.rec-x', { hasText: 'Release to cancel' }).waitFor()
    await alice.page.screenshot({ path: path.join(SHOTS, 'voice-cancel-390.png') })
    await alice.page.mouse.up()
    await alice.page.locator('#recording').waitFor({ state: 'detached' })

    // Hold for two seconds, sliding up a little (under the threshold) and back: sent.
    await hold(alice.page)
    await alice.page.mouse.move(at.x, at.y - VOICE_CANCEL_SLIDE_PX + 10)
    await until(alice.page, 2)
    await alice.page.screenshot({ path: path.join(SHOTS, 'voice-recording-390.png') })
    await alice.page.mouse.up()

    // Bob: one voice bubble (the cancelled one never came), its duration, the unplayed dot.
    const bubble = bob.page.locator('.vw').last()
    await bubble.waitFor({ timeout: 30_000 })
    const seconds = parseInt((await bubble.locator('.vd').textContent()) ?? '', 10)
    expect(seconds).toBeGreaterThanOrEqual(2)
    expect(seconds).toBeLessThanOrEqual(4)
    expect(await bubble.locator('.vdot').count()).toBe(1)
    // Alice's own bubble: the same duration, no dot, sent.
    const mine = alice.page.locator('.vw').last()
    await expect.poll(() => alice.page.locator('.st-sending').count(), { timeout: 30_000 }).toBe(0)
    expect(parseInt((await mine.locator('.vd').textContent()) ?? '', 10)).toBe(seconds)
    expect(await mine.locator('.vdot').count()).toBe(0)

    // A second, longer voice: its bubble is wider.
    await hold(alice.page)
    await until(alice.page, 5)
    await alice.page.mouse.up()
    await expect.poll(() => bob.page.locator('.vw').count(), { timeout: 30_000 }).toBe(2)
    const [short, long] = [await bob.page.locator('.vc').nth(0).boundingBox(), await bob.page.locator('.vc').nth(1).boundingBox()]
    expect(long!.width).toBeGreaterThan(short!.width + 10)

    await bob.page.screenshot({ path: path.join(SHOTS, 'voice-chat-390.png') })
    await bob.page.setViewportSize({ width: 320, height: 700 })
    await bob.page.screenshot({ path: path.join(SHOTS, 'voice-chat-320.png') })

    // Bob plays the first voice: the audio element plays it from the BFF's signed URL, the dot goes.
    await bob.page.locator('.vc').nth(0).click()
    await bob.page.waitForFunction(() => {
      const a = document.getElementById('voice-audio') as HTMLAudioElement | null
      return a !== null && !a.paused && a.currentTime > 0
    })
    expect(await bob.page.evaluate(() => (document.getElementById('voice-audio') as HTMLAudioElement).src)).toMatch(/\/files\/[0-9a-f]{44}\?e=\d+&k=\w+&s=[\w-]{43}$/)
    await expect.poll(() => bob.page.locator('.vw').nth(0).locator('.vdot').count()).toBe(0)
    expect(await bob.page.locator('.vw').nth(1).locator('.vdot').count()).toBe(1)
    await bob.page.locator('.vc.vc-on').waitFor()

    // The second one: the first stops (one at a time), the second plays.
    const firstSrc = await bob.page.evaluate(() => (document.getElementById('voice-audio') as HTMLAudioElement).src)
    await bob.page.locator('.vc').nth(1).click()
    await bob.page.waitForFunction((before) => {
      const a = document.getElementById('voice-audio') as HTMLAudioElement
      return a.src !== before && !a.paused && a.currentTime > 0
    }, firstSrc)
    expect(await bob.page.locator('.vc.vc-on').count()).toBe(1)
    await bob.page.screenshot({ path: path.join(SHOTS, 'voice-playing-320.png') })

    // Alice at 320 px: the overlay while recording.
    await alice.page.setViewportSize({ width: 320, height: 700 })
    await hold(alice.page)
    await until(alice.page, 1)
    await alice.page.screenshot({ path: path.join(SHOTS, 'voice-recording-320.png') })
    const box = (await alice.page.locator('#hold-to-talk').boundingBox())!
    await alice.page.mouse.move(box.x + box.width / 2, box.y - 200)
    await alice.page.locator('#recording.rec-x').waitFor()
    await alice.page.screenshot({ path: path.join(SHOTS, 'voice-cancel-320.png') })
    await alice.page.mouse.up()
    await alice.page.locator('#recording').waitFor({ state: 'detached' })

    // The conversation list shows "[Voice]".
    await bob.page.goBack()
    await bob.page.locator('.cr', { hasText: '[Voice]' }).waitFor()

    // The Chinese UI (a mini-program's users read Chinese): Bob on a second device in zh-CN.
    const bobZh: User = await loginAs(suite.browser, suite.bff.url, 'vcbob', 'Bob', 390, 'zh-CN')
    await bobZh.page.locator('.cr', { hasText: '[语音]' }).waitFor()
    await bobZh.page.locator('.cr', { hasText: 'Alice' }).click()
    await bobZh.page.locator('#voice-mode').click()
    await bobZh.page.locator('#hold-to-talk', { hasText: '按住 说话' }).waitFor()
    const zhAt = await hold(bobZh.page)
    await bobZh.page.locator('#recording', { hasText: '手指上滑，取消发送' }).waitFor()
    await bobZh.page.mouse.move(zhAt.x, zhAt.y - 200)
    await bobZh.page.locator('#recording', { hasText: '松开手指，取消发送' }).waitFor()
    await bobZh.page.screenshot({ path: path.join(SHOTS, 'voice-cancel-zh-390.png') })
    await bobZh.page.mouse.up()
    await bobZh.page.locator('#recording').waitFor({ state: 'detached' })
    // Played marks are per device: this one has not played either voice.
    expect(await bobZh.page.locator('.vdot').count()).toBe(2)

    expect(alice.errors).toEqual([])
    expect(bob.errors).toEqual([])
    expect(bobZh.errors).toEqual([])
    expect(alice.csp).toEqual([])
    expect(bob.csp).toEqual([])
  })
})
