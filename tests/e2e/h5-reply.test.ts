/**
 * Reply and mentions in the h5 build, in Chromium, against the built BFF (shared/PROTOCOL.md, "Reply
 * and mentions"). A group longer than one page: Cat's reply quotes the very first message; Ben
 * taps the quote and the list pages back until the original is held, then shows it in the viewport
 * (asserted by its pixel position) and highlights it. Ben replies from a message's menu (the quote
 * above the composer, × to cancel), mentions Cat through the "@" picker, sees "[@you]" in the
 * conversation list (pushed, and after a reload from `convs`), and a quote of a message recalled
 * later shows "Quoted message was recalled". Screenshots at 390 and 320 px go to test-results/h5-reply/.
 *
 * Forwarding (PROTOCOL.md, Forwarding), in Chinese at 375 and 320 px: Ann long-presses Cat's text,
 * picks 转发, chooses Ben's chat in "选择一个聊天" (most recent first), confirms "发送给：Ben" with the
 * text's first line, and Ben sees the text in his chat with Ann; then Cat's photo, which Ben's
 * browser loads and draws (its pixels), although Ben is not in the chat it was uploaded for.
 */
import path from 'node:path'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { randomId, type Message, type ServerFrame } from '@chat/shared'
import sharp from 'sharp'
import { loginAs, settled } from './browser'
import { ROOT } from './build'
import { useH5Suite } from './suite'
import { Peer } from './peer'
import { SMALL_PHONES, TOUCH, box, loginChinese, onEachPhone, resizeTo, tapRun, uid } from './phones'

const SHOTS = path.join(ROOT, 'test-results/h5-reply')
/** Messages after the original: three history pages and more (LIMITS.defaultPageSize is 50). */
const FILLERS = 160
const ORIGINAL = 'ORIGINAL question about the launch'

const suite = useH5Suite(SHOTS, { RATE_LIMIT_PER_SEC: '20000', RATE_LIMIT_BURST: '20000' })

/** The bubble whose text starts with `text`, in CSS px, and the list's box; undefined when not rendered. */
async function place(page: Page, text: string) {
  return page.evaluate((t) => {
    const box = document.getElementById('msgs')!.getBoundingClientRect()
    for (const b of Array.from(document.querySelectorAll('#msgs .bt'))) {
      if (!(b.textContent ?? '').trim().startsWith(t)) continue
      const r = b.getBoundingClientRect()
      if (r.height > 0) return { top: r.top, bottom: r.bottom, listTop: box.top, listBottom: box.bottom, hl: b.closest('.r')?.classList.contains('hl') ?? false }
    }
    return undefined
  }, text)
}

/** Elements reaching past the window's right edge (nothing may: the page never scrolls sideways). */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('body *'))
      .filter((el) => {
        const r = el.getBoundingClientRect()
        return r.width > 0 && r.right > window.innerWidth + 1
      })
      .map((el) => `${el.tagName.toLowerCase()}.${String(el.className)}`)
      .slice(0, 10),
  )
}

function sendRaw(peer: Peer, conv: string, body: Record<string, unknown>): Promise<Extract<ServerFrame, { type: 'ack' }>> {
  const cid = randomId(21)
  const from = peer.frames.length
  peer.raw({ type: 'send', cid, conv, kind: 'text', body: body as { text: string } })
  return peer.next((f) => (f.type === 'ack' || f.type === 'error') && f.cid === cid, 10_000, from).then((f) => {
    if (f.type !== 'ack') throw new Error(`send refused: ${JSON.stringify(f)}`)
    return f
  })
}

describe('reply and mentions in the h5 build', () => {
  it('a tapped quote brings its original into view across pages; reply from the menu, @ picker, [@you], recalled quote', async () => {
    const ben = await loginAs(suite.browser, suite.bff.url, 'rmben', 'Ben')
    const ann = await Peer.connect(suite.bff.url, 'rmann', 'Ann')
    const cat = await Peer.connect(suite.bff.url, 'rmcat', 'Cat')
    suite.peers.push(ann, cat)
    const rid = randomId(10)
    ann.raw({ type: 'conv.create', rid, kind: 'group', members: ['rmben', 'rmcat'], title: 'Launch' })
    const conv = (await ann.next<Extract<ServerFrame, { type: 'conv' }>>((f) => f.type === 'conv' && f.rid === rid)).conv.id
    const original = await ann.say(conv, ORIGINAL)
    for (let i = 1; i <= FILLERS; i++) ann.fire(conv, `filler ${i}`)
    await ann.next((f) => f.type === 'ack' && f.seq === original.seq + FILLERS, 60_000)
    await sendRaw(cat, conv, { text: 'my answer to that', reply: { seq: original.seq } })

    await ben.page.locator('.cr', { hasText: 'Launch' }).click()
    const quote = ben.page.locator('#msgs .qt', { hasText: `Ann: ${ORIGINAL}` })
    await quote.waitFor()
    await settled(ben.page)
    // Only the newest page is held: the original is not on the page at all.
    expect(await place(ben.page, ORIGINAL)).toBeUndefined()
    expect(await overflowing(ben.page)).toEqual([])
    await ben.page.screenshot({ path: path.join(SHOTS, 'quote-390.png') })

    await quote.click()
    await expect
      .poll(async () => {
        const p = await place(ben.page, ORIGINAL)
        return p !== undefined && p.top >= p.listTop - 1 && p.bottom <= p.listBottom + 1
      }, { timeout: 30_000 })
      .toBe(true)
    expect((await place(ben.page, ORIGINAL))!.hl).toBe(true)
    await ben.page.screenshot({ path: path.join(SHOTS, 'original-390.png') })

    // Ben replies to a filler from its menu: the quote above the composer, then under his bubble.
    const target = ben.page.locator('#msgs .bt', { hasText: /^filler 3$/ })
    await target.click({ button: 'right' })
    await ben.page.getByText('Reply', { exact: true }).click()
    await ben.page.locator('#reply-bar', { hasText: 'Reply to Ann: filler 3' }).waitFor()
    await ben.page.getByText('Report', { exact: true }).waitFor({ state: 'hidden' })
    await settled(ben.page)
    await ben.page.screenshot({ path: path.join(SHOTS, 'composer-reply-390.png') })
    // × cancels; the menu again brings it back.
    await ben.page.locator('#reply-cancel').click()
    expect(await ben.page.locator('#reply-bar').count()).toBe(0)
    await target.click({ button: 'right' })
    await ben.page.getByText('Reply', { exact: true }).click()
    await ben.page.locator('#composer textarea').fill('agreed with filler three')
    const n = cat.frames.length
    await ben.page.locator('#send').click()
    const got = await cat.next<Extract<ServerFrame, { type: 'msg' }>>((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'agreed with filler three', 10_000, n)
    expect((got.m as Extract<Message, { kind: 'text' }>).body.reply).toEqual({ seq: original.seq + 3, from: 'rmann', kind: 'text', snippet: 'filler 3' })
    expect(await ben.page.locator('#reply-bar').count()).toBe(0)
    // Sending brought the list to the end: his reply shows with its quote.
    await ben.page.locator('#msgs .qt', { hasText: 'Ann: filler 3' }).waitFor()

    // "@" opens the picker (members, no @all for a plain member); picking inserts "@Cat ".
    await ben.page.locator('#composer textarea').pressSequentially('see @')
    await ben.page.locator('#mention-picker').waitFor()
    await settled(ben.page)
    expect(await overflowing(ben.page)).toEqual([])
    // What was typed stays while Send appears and the picker opens (the input is not rendered again).
    expect(await ben.page.locator('#composer textarea').inputValue()).toBe('see @')
    expect(await ben.page.locator('#mention-all').count()).toBe(0)
    expect(await ben.page.locator('#mention-picker .mp-i').allTextContents()).toEqual(['Ann', 'Cat'])
    await ben.page.screenshot({ path: path.join(SHOTS, 'picker-390.png') })
    await ben.page.locator('#mention-rmcat').click()
    await expect.poll(() => ben.page.locator('#composer textarea').inputValue()).toBe('see @Cat ')
    await ben.page.locator('#composer textarea').pressSequentially('the plan')
    const m = cat.frames.length
    await ben.page.locator('#send').click()
    const mentioned = await cat.next<Extract<ServerFrame, { type: 'msg' }>>((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'see @Cat the plan', 10_000, m)
    expect((mentioned.m as Extract<Message, { kind: 'text' }>).body.mentions).toEqual(['rmcat'])

    // Ann recalls the message Ben quoted: his quote no longer shows its content.
    const recallRid = randomId(10)
    ann.raw({ type: 'recall', rid: recallRid, conv, seq: original.seq + 3 })
    await ann.next((f) => f.type === 'recall' && f.rid === recallRid, 10_000)
    await ben.page.locator('#msgs .qt', { hasText: 'Quoted message was recalled' }).waitFor()
    expect(await ben.page.locator('#msgs .qt', { hasText: 'filler 3' }).count()).toBe(0)

    // Back in the list, Cat mentions Ben: "[@you]" before the preview; a reload keeps it (convs).
    await ben.page.locator('.ch-back').click()
    await ben.page.locator('.cr', { hasText: 'Launch' }).waitFor()
    await sendRaw(cat, conv, { text: '@Ben can you check', mentions: ['rmben'] })
    await ben.page.locator('.cr .cr-at', { hasText: '[@you]' }).waitFor()
    await ben.page.screenshot({ path: path.join(SHOTS, 'list-mention-390.png') })
    await ben.page.goto(`${suite.bff.url}/`)
    await ben.page.locator('.cr .cr-at', { hasText: '[@you]' }).waitFor()
    // Reading the conversation clears it.
    await ben.page.locator('.cr', { hasText: 'Launch' }).click()
    await ben.page.locator('#msgs .bt', { hasText: '@Ben can you check' }).waitFor()
    await ben.page.locator('.ch-back').click()
    await expect.poll(() => ben.page.locator('.cr .cr-at').count(), { timeout: 10_000 }).toBe(0)
    expect(ben.errors).toEqual([])

    // 320 px: the quote under a bubble, the reply bar and the picker at the narrowest width.
    const narrow = await loginAs(suite.browser, suite.bff.url, 'rmben', 'Ben', 320)
    await narrow.page.locator('.cr', { hasText: 'Launch' }).click()
    await narrow.page.locator('#msgs .qt').first().waitFor()
    await settled(narrow.page)
    expect(await overflowing(narrow.page)).toEqual([])
    await narrow.page.screenshot({ path: path.join(SHOTS, 'quote-320.png') })
    await narrow.page.locator('#msgs .bt', { hasText: '@Ben can you check' }).click({ button: 'right' })
    await narrow.page.getByText('Reply', { exact: true }).click()
    await narrow.page.locator('#composer textarea').pressSequentially('@')
    await narrow.page.locator('#mention-picker').waitFor()
    await narrow.page.getByText('Report', { exact: true }).waitFor({ state: 'hidden' })
    await settled(narrow.page)
    expect(await overflowing(narrow.page)).toEqual([])
    await narrow.page.screenshot({ path: path.join(SHOTS, 'composer-320.png') })
    const bar = await narrow.page.locator('#reply-bar').boundingBox()
    expect(bar!.x).toBeGreaterThanOrEqual(0)
    expect(bar!.x + bar!.width).toBeLessThanOrEqual(320)
    expect(narrow.errors).toEqual([])
  })

  it('forwards a text and a photo to another chat: the chooser, the confirmation, and the receiver sees them', async () => {
    const [small, phone] = SMALL_PHONES
    const annId = uid('fwann')
    const benId = uid('fwben')
    const ann = await loginChinese(suite, phone, annId, 'Ann')
    const ben = await loginChinese(suite, phone, benId, 'Ben')
    const cat = await Peer.connect(suite.bff.url, uid('fwcat'), 'Cat')
    // Ben's second device, scripted: it opens the 1:1 with Ann and says hello first.
    const benDevice = await Peer.connect(suite.bff.url, benId, 'Ben')
    suite.peers.push(cat, benDevice)
    const annBen = (await benDevice.direct(annId)).id
    await benDevice.say(annBen, '在吗')
    const annCat = (await cat.direct(annId)).id
    await cat.say(annCat, '周五的会议改到下午三点\n地点不变')
    const photo = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 240, g: 120, b: 20 } } }).png().toBuffer()
    await sendPhoto(cat, suite.bff.url, annCat, photo)

    await ann.page.locator('.cr', { hasText: 'Cat' }).click()
    await ann.page.locator('#msgs .im-i img').waitFor()
    await ann.page.locator('#msgs .bt', { hasText: '周五的会议改到下午三点' }).click({ button: 'right' })
    await ann.page.getByText('转发', { exact: true }).click()
    const sheet = ann.page.locator('#forward-sheet')
    await sheet.locator('.fw-t', { hasText: '选择一个聊天' }).waitFor()
    // Most recent first, this chat included.
    expect(await sheet.locator('.fw-n').allTextContents()).toEqual(['Cat', 'Ben'])
    await onEachPhone(ann.page, [small, phone], SHOTS, 'forward-chooser', async (width) => {
      const row = await box(ann.page, '#forward-sheet .fw-r:nth-child(2)')
      expect(row.left).toBeGreaterThanOrEqual(0)
      expect(row.right).toBeLessThanOrEqual(width)
      expect((await tapRun(ann.page, '#forward-sheet .fw-r:nth-child(2)')).tall).toBeGreaterThanOrEqual(TOUCH)
      expect(await overflowing(ann.page)).toEqual([])
    })
    await sheet.locator('.fw-r', { hasText: 'Ben' }).click()
    const modal = ann.page.locator('.taro__modal')
    await modal.locator('.taro-modal__title', { hasText: '发送给：Ben' }).waitFor()
    expect((await modal.locator('.taro-modal__text').textContent())?.trim()).toBe('周五的会议改到下午三点')
    await settled(ann.page)
    await ann.page.screenshot({ path: path.join(SHOTS, 'forward-confirm-375.png') })
    await modal.locator('.taro-model__confirm', { hasText: '发送' }).click()
    await ann.page.getByText('已发送', { exact: true }).waitFor()
    expect(await sheet.count()).toBe(0)

    await ben.page.locator('.cr', { hasText: 'Ann' }).click()
    const forwarded = ben.page.locator('#msgs .bt', { hasText: '周五的会议改到下午三点' })
    await forwarded.waitFor()
    expect((await forwarded.innerText()).trim()).toBe('周五的会议改到下午三点\n地点不变')

    // The photo: the confirmation says [图片]; Ben's browser loads it by its URL and draws it.
    await ann.page.getByText('已发送', { exact: true }).waitFor({ state: 'hidden' })
    await resizeTo(ann.page, phone)
    await ann.page.locator('#msgs .im-i img').click({ button: 'right' })
    await ann.page.getByText('转发', { exact: true }).click()
    await sheet.locator('.fw-r', { hasText: 'Ben' }).click()
    await modal.locator('.taro-modal__text', { hasText: '[图片]' }).waitFor()
    await modal.locator('.taro-model__confirm', { hasText: '发送' }).click()
    await ann.page.getByText('已发送', { exact: true }).waitFor()
    const img = ben.page.locator('#msgs .im-i img').last()
    await img.waitFor({ state: 'attached', timeout: 30_000 })
    await expect.poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth), { timeout: 30_000 }).toBeGreaterThan(0)
    await settled(ben.page)
    const shot = await sharp(await img.screenshot()).removeAlpha().raw().toBuffer({ resolveWithObject: true })
    const at = (Math.floor(shot.info.height / 2) * shot.info.width + Math.floor(shot.info.width / 2)) * shot.info.channels
    // The photo's orange, drawn (a broken or blank image would be grey or white).
    expect(Math.abs(shot.data[at]! - 240) + Math.abs(shot.data[at + 1]! - 120) + Math.abs(shot.data[at + 2]! - 20)).toBeLessThan(30)
    await ben.page.screenshot({ path: path.join(SHOTS, 'forward-received-375.png') })
    expect(ann.errors).toEqual([])
    expect(ben.errors).toEqual([])
  })
})

/** `peer` uploads `png` for `conv` (tus, one append) and sends it there as an image message. */
async function sendPhoto(peer: Peer, base: string, conv: string, png: Buffer): Promise<void> {
  const headers = { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${peer.auth.token}` }
  const meta = (v: string) => Buffer.from(v).toString('base64')
  const created = await fetch(`${base}/uploads`, { method: 'POST', headers: { ...headers, 'Upload-Length': String(png.length), 'Upload-Metadata': `conv ${meta(conv)},filename ${meta('orange.png')}` } })
  const id = created.headers.get('location')!.split('/').pop()!
  const done = await fetch(`${base}/uploads/${id}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: new Uint8Array(png) })
  expect(done.status).toBe(200)
  const cid = randomId(21)
  const from = peer.frames.length
  peer.raw({ type: 'send', cid, conv, kind: 'image', body: { fileId: id } })
  const f = await peer.next((x) => (x.type === 'ack' || x.type === 'error') && x.cid === cid, 10_000, from)
  if (f.type !== 'ack') throw new Error(`send refused: ${JSON.stringify(f)}`)
}
