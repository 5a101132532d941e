/**
 * Reply in the built mini-program under the fake host, against a real BFF: a reply Bob sent shows
 * its quote under its bubble ("Bob: ..."); Alice long-presses Bob's message, picks Reply in the
 * action sheet, sees the quote above the composer and sends her reply, which Bob receives with the
 * server-made quote and which renders its quote on her side too.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { randomId, type Message, type ServerFrame } from '@chat/shared'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
import { devLogin } from '../../bff/test/support/client'
import { Peer } from './peer'
import type { MiniHost } from './weapp-host'

let bff: TestBff
let host: MiniHost | undefined
const peers: Peer[] = []

beforeAll(async () => {
  bff = await startBff()
})
afterEach(() => {
  host?.close()
  host = undefined
  for (const p of peers.splice(0)) p.close()
})
afterAll(async () => {
  await bff?.close()
})

describe('weapp reply under the fake host, real BFF', () => {
  it('renders a reply with its quote, and replies from the long-press menu', async () => {
    const auth = await devLogin(bff.url, 'wra', 'Alice')
    const bob = await Peer.connect(bff.url, 'wrb', 'Bob')
    peers.push(bob)
    const conv = await bob.direct('wra')
    const original = await bob.say(conv.id, 'Lunch at noon?')
    const cid = randomId(21)
    bob.raw({ type: 'send', cid, conv: conv.id, kind: 'text', body: { text: 'Or at one', reply: { seq: original.seq } } })
    await bob.next((f) => f.type === 'ack' && f.cid === cid)

    const h = (host = hostFor(bff.url, auth, { actionSheet: (items) => items.indexOf('Reply') }))
    h.launch()
    h.open('pages/index/index')
    await waitFor(() => h.byId(`conv-${conv.id}`), 'the conversation row')
    h.tap(`conv-${conv.id}`)
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.text().includes('Or at one'), 'the reply')
    const quotes = () => h.byClass('qt').map((n) => h.text(n))
    await waitFor(() => quotes().includes('Bob: Lunch at noon?'), 'the quote under the reply')

    // Long press on Bob's first bubble: Reply.
    const bubble = h.byClass('bx').find((n) => h.text(n).includes('Lunch at noon?'))!
    h.fire(String(bubble.sid), 'longpress')
    await waitFor(() => h.byId('reply-bar') && h.text(h.byId('reply-bar')).includes('Reply to Bob: Lunch at noon?'), 'the quote above the composer')
    expect(h.sheets.at(-1)).toEqual(['Copy', 'Reply', 'Delete for me', 'Report'])
    h.input('composer', 'Noon works')
    await waitFor(() => h.byId('send'), 'the send button')
    const n = bob.frames.length
    h.tap('send')
    const got = await bob.next<Extract<ServerFrame, { type: 'msg' }>>((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'Noon works', 10_000, n)
    expect((got.m as Extract<Message, { kind: 'text' }>).body.reply).toEqual({ seq: original.seq, from: 'wrb', kind: 'text', snippet: 'Lunch at noon?' })
    await waitFor(() => !h.byId('reply-bar') && quotes().filter((q) => q === 'Bob: Lunch at noon?').length === 2, 'her reply with its quote')
  })
})
