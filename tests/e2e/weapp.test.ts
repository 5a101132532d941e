/**
 * The built mini-program (dist/weapp) under the fake host, against a real BFF on loopback. A peer
 * (Bob, a plain WebSocket client) plays the other side.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
import { devLogin } from '../../bff/test/support/client'
import { Peer } from './peer'
import type { MiniHost } from './weapp-host'

let bff: TestBff
let host: MiniHost | undefined
const peers: Peer[] = []

beforeAll(async () => {
  bff = await startBff({ RATE_LIMIT_PER_SEC: '2000', RATE_LIMIT_BURST: '2000' })
})
afterEach(() => {
  host?.close()
  host = undefined
  for (const p of peers.splice(0)) p.close()
})
afterAll(async () => {
  await bff?.close()
})

async function setup(alice: string, bob: string) {
  const auth = await devLogin(bff.url, alice, 'Alice')
  const peer = await Peer.connect(bff.url, bob, 'Bob')
  peers.push(peer)
  const conv = await peer.direct(alice)
  host = hostFor(bff.url, auth)
  return { auth, peer, conv, host }
}

/** Open the chat with Bob from the conversation list, as a user would. */
async function openChat(h: MiniHost, convId: string) {
  h.launch()
  h.open('pages/index/index')
  await waitFor(() => h.byId(`conv-${convId}`), 'the conversation row')
  h.tap(`conv-${convId}`)
  await waitFor(() => h.top?.route === 'pages/chat/index' && h.byId('msgs'), 'the chat page')
}

describe('weapp build under the fake host, real BFF', () => {
  it('shows the conversation, chats both ways, and marks messages read', async () => {
    const { peer, conv, host: h } = await setup('wa1', 'wb1')
    await peer.say(conv.id, 'Hello from Bob')
    await openChat(h, conv.id)
    await waitFor(() => h.text().includes('Hello from Bob'), 'the first message')
    // Alice reads it at the bottom of the chat: the server marks it read and tells Bob.
    await peer.next((f) => f.type === 'receipt' && f.kind === 'read' && f.user === 'wa1' && f.seq === 1, 5_000, 0)

    // Alice answers from the composer.
    h.input('composer', 'Hi Bob, Alice here')
    await waitFor(() => h.byId('send'), 'the send button')
    h.tap('send')
    const got = await peer.next((f) => f.type === 'msg' && f.m.body && 'text' in f.m.body && f.m.body.text === 'Hi Bob, Alice here')
    expect(got.type).toBe('msg')
    // Bob reads it: Alice sees "Read".
    if (got.type === 'msg') peer.raw({ type: 'read', conv: conv.id, seq: got.m.seq })
    await waitFor(() => h.text().includes('Read'), 'the read mark')
  })

  it('speaks Chinese when WeChat does: titles, the list time, the read mark', async () => {
    const auth = await devLogin(bff.url, 'wzh1', '张伟')
    const peer = await Peer.connect(bff.url, 'wzh2', '李娜')
    peers.push(peer)
    const conv = await peer.direct('wzh1')
    const h = (host = hostFor(bff.url, auth, { language: 'zh_CN' }))
    await peer.say(conv.id, '你好，张伟！')
    h.launch()
    h.open('pages/index/index')
    // Today's message: the clock time, as WeChat's list shows it (no "刚刚").
    await waitFor(() => h.text().includes('你好，张伟！') && /\b\d\d:\d\d\b/.test(h.text()), 'the row with its time')
    expect(h.text()).not.toContain('刚刚')
    await waitFor(() => h.titles.includes('消息'), 'the list title in Chinese')
    expect(h.text()).toContain('账号：张伟')
    h.tap(`conv-${conv.id}`)
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.byId('msgs'), 'the chat page')
    await waitFor(() => /\b\d\d:\d\d\b/.test(h.text()), 'the time separator')
    h.input('composer', '收到')
    await waitFor(() => h.byId('send') && h.text().includes('发送'), 'the send button')
    h.tap('send')
    const got = await peer.next((f) => f.type === 'msg' && f.m.body && 'text' in f.m.body && f.m.body.text === '收到')
    if (got.type === 'msg') peer.raw({ type: 'read', conv: conv.id, seq: got.m.seq })
    await waitFor(() => h.text().includes('已读'), 'the read mark in Chinese')
    expect(h.text()).not.toContain('Read')
  })

  it('holds view updates while in the background and shows every message once, in order, on return', async () => {
    const { peer, conv, host: h } = await setup('wa2', 'wb2')
    await peer.say(conv.id, 'before')
    await openChat(h, conv.id)
    await waitFor(() => h.text().includes('before'), 'the first message')

    // The page's render in flight (late row measurements, the scroll write that follows them) lands
    // before the page hides: what is asserted is that nothing new is rendered while it is hidden.
    for (let n = -1; n !== h.records.length; ) {
      n = h.records.length
      await new Promise((r) => setTimeout(r, 100))
    }
    h.hide()
    // Taro sends a commit's setData from a timer (runtime's scheduleTask, setTimeout): one committed
    // before the hide is already scheduled, and a timer set now runs after it. What is asserted is
    // that nothing is rendered once hidden, not when an earlier render's setData leaves.
    await new Promise((r) => setTimeout(r, 1))
    const hiddenAt = h.records.length
    let last = 0
    for (let i = 1; i <= 5; i++) last = (await peer.say(conv.id, `while away ${i}`)).seq
    // The socket is still up: the messages reach the store, which acknowledges them (recv)...
    await waitFor(
      () => h.sent.some((f) => f.includes('"type":"recv"') && f.includes(`"seq":${last}`)),
      'the delivery ack of the messages pushed while hidden',
    )
    // ...but a page in the background gets no setData (PLATFORM.md, Rendering).
    expect(h.records.slice(hiddenAt).map((r) => r.json?.slice(0, 300))).toEqual([])
    // The platform kills sockets in the background (PLATFORM.md): cut this one too, so the return
    // has to reconnect and sync by seq.
    for (const s of h.sockets) s.terminate()

    for (let i = 6; i <= 8; i++) await peer.say(conv.id, `while away ${i}`)
    h.show()
    await waitFor(() => h.text().includes('while away 8'), 'the messages sent while away', 15_000)
    const text = h.text()
    const seen = [...text.matchAll(/while away (\d)/g)].map((m) => Number(m[1]))
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('sends typing to a CustomWrapper: the message list gets no setData', async () => {
    const { peer, conv, host: h } = await setup('wa3', 'wb3')
    await peer.say(conv.id, 'hi')
    await openChat(h, conv.id)
    await waitFor(() => h.text().includes('hi'), 'the message')
    await new Promise((r) => setTimeout(r, 300)) // let measurement settle
    const from = h.records.length
    peer.raw({ type: 'typing', conv: conv.id })
    await waitFor(() => h.text().includes('typing…'), 'the typing line')
    const after = h.records.slice(from)
    expect(after.length).toBeGreaterThan(0)
    expect(after.every((r) => r.target === 'wrapper')).toBe(true)
  })

  it('pages back through history without moving the row being read', async () => {
    const { peer, conv, host: h } = await setup('wa4', 'wb4')
    for (let i = 1; i <= 120; i++) peer.fire(conv.id, `history ${i}`)
    await peer.next((f) => f.type === 'ack' && f.seq === 120, 20_000)
    await openChat(h, conv.id)
    await waitFor(() => h.text().includes('history 120'), 'the newest message')
    // The sync brought the newest page (71-120). Scroll up like a reader until the list asks for
    // older messages; note the row at the top of the viewport at that moment.
    await waitFor(() => (h.scrollPos.get('msgs') ?? 0) > 0, 'the list at its end')
    const asked = () => h.sent.some((f) => f.includes('"type":"history"'))
    let top = h.scrollPos.get('msgs')!
    let reading = ''
    while (!asked()) {
      expect(top).toBeGreaterThan(0)
      top = Math.max(0, top - 60)
      h.scroll('msgs', top)
      reading = h.rowAtTop('msgs')
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(reading).toMatch(/history (7\d|8\d)/)
    // The older page (21-70) goes in above; the row being read stays at the top of the viewport.
    // 50 rows of about 55 px went in above: the offset moves down by their height.
    await waitFor(() => (h.scrollPos.get('msgs') ?? 0) > top + 1_500, 'the offset moved by the rows added above')
    await waitFor(() => h.rowAtTop('msgs') === reading, `"${reading}" back at the top`, 3_000)
    // Scrolling further up now shows the older rows.
    h.scroll('msgs', Math.max(0, h.scrollPos.get('msgs')! - 400))
    await waitFor(() => /history [5-6]\d\b/.test(h.text()), 'older rows above the one read')
  })
})

