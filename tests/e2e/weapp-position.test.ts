/**
 * Where the mini-program's chat list is, in pixels, after what a person does: the built weapp under
 * the fake host, whose scroll-view behaves like a real one (weapp-host.ts: `scroll-top` acts only
 * when its value changes, is clamped to the content, growing content does not move the position),
 * under both orders in which a real one may apply `scroll-top` and lay out the same setData's
 * content. Every assertion is on the position that results from the values the page set.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
import { devLogin } from '../../bff/test/support/client'
import { Peer } from './peer'
import type { MiniHost } from './weapp-host'

const LIST = 'msgs'
/** The fake host's scroll-view viewport, px (its default). */
const VIEWPORT = 560
/** Three lines more of the composer (42rpx each at 750 rpx = 375 px: 21 px), px. */
const COMPOSER_GROWTH = 63

let bff: TestBff
let host: MiniHost | undefined
const peers: Peer[] = []
let n = 0

beforeAll(async () => {
  bff = await startBff({ RATE_LIMIT_PER_SEC: '5000', RATE_LIMIT_BURST: '5000' })
})
afterEach(() => {
  host?.close()
  host = undefined
  for (const p of peers.splice(0)) p.close()
})
afterAll(async () => {
  await bff?.close()
})

/** Message `i`: short, or long enough to wrap over several lines, so rows differ in height. */
function text(i: number): string {
  const tag = `m${String(i).padStart(3, '0')}`
  return i % 5 === 0 ? `${tag} ${'a longer message that wraps over more than one line '.repeat(1 + (i % 3))}` : tag
}

async function setup(order: 'layout-first' | 'top-first', count: number) {
  n++
  const alice = `pa${n}${order[0]}`
  const auth = await devLogin(bff.url, alice, 'Alice')
  const peer = await Peer.connect(bff.url, `pb${n}${order[0]}`, 'Bob')
  peers.push(peer)
  const conv = await peer.direct(alice)
  for (let i = 1; i <= count; i++) peer.fire(conv.id, text(i))
  await peer.next((f) => f.type === 'ack' && f.seq === count, 20_000)
  const h = hostFor(bff.url, auth, { scrollTopOrder: order })
  host = h
  h.launch()
  h.open('pages/index/index')
  await waitFor(() => h.byId(`conv-${conv.id}`), 'the conversation row')
  h.tap(`conv-${conv.id}`)
  await waitFor(() => h.top?.route === 'pages/chat/index' && h.byId(LIST), 'the chat page')
  return { peer, conv, h }
}

const pos = (h: MiniHost) => h.scrollPos.get(LIST) ?? 0
const maxPos = (h: MiniHost) => Math.max(0, h.contentHeight(LIST) - h.viewportHeight)
/** At the real end of the content, and the newest row `tag` is the last one on screen. */
const atEndShowing = (h: MiniHost, tag: string) => Math.abs(pos(h) - maxPos(h)) <= 1 && (h.visibleRows(LIST).at(-1) ?? '').includes(tag)

/** A finger drags the list by `dy` px (negative: towards older rows), in 30 px moves a frame apart. */
async function drag(h: MiniHost, dy: number): Promise<{ from: number; to: number }> {
  const from = performance.now()
  const steps = Math.ceil(Math.abs(dy) / 30)
  for (let i = 0; i < steps; i++) {
    h.scroll(LIST, pos(h) + Math.sign(dy) * Math.min(30, Math.abs(dy) - i * 30))
    await new Promise((r) => setTimeout(r, 16))
  }
  return { from, to: performance.now() }
}

/** What the list shows, for failure messages. */
const where = (h: MiniHost) =>
  `pos ${pos(h).toFixed(1)} of max ${maxPos(h).toFixed(1)}, rows ${JSON.stringify(h.visibleRows(LIST).map((r) => r.slice(0, 8)))}, scroll-top writes ${JSON.stringify(h.scrollTopWrites.slice(-4).map((w) => w.value))}`

/** Wait for the list to be at its end showing `tag` last; on a timeout, say where it is. */
async function untilAtEnd(h: MiniHost, tag: string, timeoutMs = 10_000): Promise<void> {
  try {
    await waitFor(() => atEndShowing(h, tag), `${tag} at the bottom`, timeoutMs)
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${where(h)}`)
  }
}

/**
 * Three lines typed: the scroll-view is shorter, the text area reports its new line count; the list
 * keeps its end. Then the reader pauses, as a person does before deleting the lines again: longer
 * than the list takes a scroll event for the echo of its last write (virtual-list.ts, ECHO_WINDOW_MS),
 * so what the view does next is judged as the reader's or the view's own, never as that echo.
 */
async function growComposer(h: MiniHost): Promise<void> {
  const last = h.visibleRows(LIST).at(-1)?.slice(0, 6) ?? ''
  h.setViewportHeight(VIEWPORT - COMPOSER_GROWTH)
  h.fire('composer', 'linechange', { lineCount: 4, height: 84 })
  await untilAtEnd(h, last)
  await new Promise((r) => setTimeout(r, 300))
  expect(atEndShowing(h, last), where(h)).toBe(true)
}

/**
 * A message arrives while the reader is above the end: the pill tells, the row second from the top
 * stays at its y, the new row stays out of view.
 */
async function stillOnArrival(h: MiniHost, peer: Peer, convId: string, tag: string): Promise<void> {
  const row = h.visibleRows(LIST)[1]!
  const y = h.rowY(LIST, row)!
  await peer.say(convId, tag)
  await waitFor(() => h.byId('new-pill'), `the new-messages pill for ${tag}`)
  // Rows the list renders above as the view grows are drawn at their real heights, not at the
  // estimates the top spacer had for them: a pixel or two.
  expect(Math.abs(h.rowY(LIST, row)! - y), where(h)).toBeLessThanOrEqual(2)
  expect(h.visibleRows(LIST).some((r) => r.includes(tag)), where(h)).toBe(false)
  expect(maxPos(h) - pos(h)).toBeGreaterThan(100)
}

const readsSent = (h: MiniHost) =>
  h.sent.filter((f) => f.includes('"type":"read"')).map((f) => (JSON.parse(f) as { seq: number }).seq)

describe.each(['layout-first', 'top-first'] as const)('weapp chat list positions (scroll-top %s)', (order) => {
  it('opens at the newest row, follows arrivals at the bottom, holds still while reading above, and reads only what was shown', async () => {
    const { peer, conv, h } = await setup(order, 120)
    await untilAtEnd(h, 'm120')
    // The read mark goes up to what was on screen: the newest row.
    await waitFor(() => readsSent(h).includes(120), 'read up to 120')

    // Arrivals while at the bottom are followed.
    await peer.say(conv.id, 'm121')
    await untilAtEnd(h, 'm121')
    await peer.say(conv.id, 'm122')
    await untilAtEnd(h, 'm122')

    // The reader drags up: the page writes no scroll-top during the drag.
    const writesBefore = h.scrollTopWrites.length
    await drag(h, -400)
    expect(h.scrollTopWrites.slice(writesBefore)).toEqual([])
    const anchor = h.visibleRows(LIST)[1]!
    const y = h.rowY(LIST, anchor)!

    // A message arrives while reading above: the view does not move, the pill tells.
    await peer.say(conv.id, 'm123')
    await waitFor(() => h.byId('new-pill'), 'the new-messages pill')
    expect(h.text()).toContain('1 new message')
    expect(h.rowY(LIST, anchor)).toBeCloseTo(y, 0)
    expect(h.visibleRows(LIST).some((r) => r.includes('m123'))).toBe(false)
    // Not read: it was never on screen (an observation window longer than the read debounce).
    await new Promise((r) => setTimeout(r, 800))
    expect(Math.max(...readsSent(h))).toBeLessThan(123)

    // The pill goes to the bottom, and what shows there is read.
    h.tap('new-pill')
    await untilAtEnd(h, 'm123')
    await waitFor(() => readsSent(h).includes(123), 'read up to 123')

    // Dragged away and back to the real bottom by hand: arrivals are followed again.
    await drag(h, -300)
    await drag(h, maxPos(h) - pos(h))
    expect(Math.abs(pos(h) - maxPos(h))).toBeLessThanOrEqual(1)
    await peer.say(conv.id, 'm124')
    await untilAtEnd(h, 'm124')
    await peer.say(conv.id, 'm125')
    await untilAtEnd(h, 'm125')
  })

  it('stays at the end while the composer grows and shrinks (its line changes reach the list)', async () => {
    const { peer, conv, h } = await setup(order, 40)
    await untilAtEnd(h, 'm040')
    // Three lines typed: the scroll-view is shorter, and the text area reports its new line count.
    h.setViewportHeight(VIEWPORT - COMPOSER_GROWTH)
    h.fire('composer', 'linechange', { lineCount: 4, height: 84 })
    await untilAtEnd(h, 'm040')
    // Deleted again: taller, back at the end of the taller view.
    h.setViewportHeight(VIEWPORT)
    h.fire('composer', 'linechange', { lineCount: 1, height: 21 })
    await untilAtEnd(h, 'm040')
    // Still following: an arrival shows at the bottom.
    await peer.say(conv.id, 'm041')
    await untilAtEnd(h, 'm041')
  })

  it('keeps following the end when the taller view\'s clamp reports before the composer\'s line change', async () => {
    const { peer, conv, h } = await setup(order, 40)
    await untilAtEnd(h, 'm040')
    await growComposer(h)
    // The lines deleted: the scroll-view grows, clamps its position to its new end and reports that
    // with a scroll event before the text area's linechange reaches the list.
    const before = pos(h)
    h.setViewportHeight(VIEWPORT)
    h.clampScroll(LIST)
    expect(Math.abs(before - COMPOSER_GROWTH - pos(h))).toBeLessThanOrEqual(1)
    h.fire('composer', 'linechange', { lineCount: 1, height: 21 })
    await untilAtEnd(h, 'm040')
    // Still following: an arrival scrolls into view, at the end of the taller view.
    await peer.say(conv.id, 'm041')
    await untilAtEnd(h, 'm041')
    expect(h.viewportHeight).toBe(VIEWPORT)
  })

  it('leaves a reader who wheels up where they are when a message arrives, as the composer shrinks and after', async () => {
    const { peer, conv, h } = await setup(order, 40)
    await untilAtEnd(h, 'm040')
    await growComposer(h)
    // The lines deleted, and the reader wheels up (WeChat on PC, DevTools: scroll events, no touch):
    // the first step right after the taller view's clamp, before the line change and before anything
    // measured the taller view, the others a frame apart.
    h.setViewportHeight(VIEWPORT)
    h.clampScroll(LIST)
    h.scroll(LIST, pos(h) - 30)
    h.fire('composer', 'linechange', { lineCount: 1, height: 21 })
    await drag(h, -170)
    await stillOnArrival(h, peer, conv.id, 'm041')
    // Back at the end by the pill, then wheeled up again with the view's size settled.
    h.tap('new-pill')
    await untilAtEnd(h, 'm041')
    await waitFor(() => !h.byId('new-pill'), 'the pill gone')
    await drag(h, -200)
    await stillOnArrival(h, peer, conv.id, 'm042')
  })

  // The list asks for its scroll to the end (the composer grew a line while the reader was at the
  // end) and the reader wheels up before that scroll reaches the page: as the list asks for it (the
  // render that carries it is still to come), or once that render is done and the setData that
  // carries it waits in Taro's batch (sent a timer later; React renders on setImmediate in Node).
  it.each([
    ['as the list asks for it', (wheel: () => void) => wheel()],
    ['rendered, its setData still batched', (wheel: () => void) => void setImmediate(wheel)],
  ])('leaves a reader who wheels up while the list\'s scroll to its end is not applied yet (%s)', async (_when, when) => {
    const { peer, conv, h } = await setup(order, 40)
    await untilAtEnd(h, 'm040')
    // A pause before typing, as a person makes: longer than the echo window of the list's last write.
    await new Promise((r) => setTimeout(r, 300))
    let wheeled: { row: string; y: number; top: number } | undefined
    h.whenAnswered(() => {
      when(() => {
        h.scroll(LIST, pos(h) - 60)
        const row = h.visibleRows(LIST)[0]!
        wheeled = { row, y: h.rowY(LIST, row)!, top: pos(h) }
      })
      return true
    })
    // Three lines typed: the scroll-view is shorter, and the text area reports its new line count;
    // the list measures its viewport (the query the wheel follows) and asks to keep its end.
    h.setViewportHeight(VIEWPORT - COMPOSER_GROWTH)
    h.fire('composer', 'linechange', { lineCount: 4, height: 84 })
    await waitFor(() => wheeled, 'the wheel')
    const { row, y } = wheeled!
    // A message arrives: the reader is where they wheeled to, above the end, the pill tells.
    await peer.say(conv.id, 'm041')
    await waitFor(() => h.byId('new-pill') ?? atEndShowing(h, 'm041'), 'the pill, or m041 at the end')
    expect(Math.abs(h.rowY(LIST, row)! - y), where(h)).toBeLessThanOrEqual(2)
    expect(maxPos(h) - pos(h), where(h)).toBeGreaterThan(100)
    expect(h.visibleRows(LIST).some((r) => r.includes('m041')), where(h)).toBe(false)
    // Wheeled on, a frame apart: the next arrival leaves the reader where they are too.
    await drag(h, -140)
    await stillOnArrival(h, peer, conv.id, 'm042')
  })

  it('keeps the row under the finger at the same y when an older page goes in above', async () => {
    const { h } = await setup(order, 150)
    await untilAtEnd(h, 'm150')
    const asked = () => h.sent.some((f) => f.includes('"type":"history"'))
    let reading = ''
    let y = 0
    while (!asked()) {
      expect(pos(h)).toBeGreaterThan(0)
      await drag(h, -60)
      reading = h.visibleRows(LIST)[1]!
      y = h.rowY(LIST, reading)!
    }
    const oldest = () => Math.min(...h.visibleRows(LIST).concat(h.text().match(/m\d{3}/g) ?? []).map((t) => Number(/m(\d{3})/.exec(t)?.[1] ?? 999)))
    const before = oldest()
    // The older page arrives and is rendered above (the list holds rows older than before).
    await waitFor(() => /"type":"messages"/.test(h.received.map((r) => r.data).join('\n')), 'the older page')
    await waitFor(() => Math.abs((h.rowY(LIST, reading) ?? Infinity) - y) <= 2 && pos(h) > 1_000, `"${reading}" back at y ${y}`, 5_000).catch((err: Error) => {
      throw new Error(`${err.message}: now at ${h.rowY(LIST, reading)}, ${where(h)}`)
    })
    expect(h.rowY(LIST, reading)).toBeCloseTo(y, -0.5)
    // Further up now shows the older rows.
    await drag(h, -500)
    await waitFor(() => oldest() < before, 'older rows above the one read')
  })
})
