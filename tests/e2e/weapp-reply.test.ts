/**
 * Reply in the built mini-program under the fake host, against a real BFF: a reply Bob sent shows
 * its quote under its bubble ("Bob: ..."); Alice long-presses Bob's message, picks Reply in the
 * action sheet, sees the quote above the composer and sends her reply, which Bob receives with the
 * server-made quote and which renders its quote on her side too. Then she forwards Bob's message to
 * her chat with Carol: Forward in the sheet, Carol's chat in "Select a chat", Send in the
 * confirmation ("Send to Carol" and the text), "Sent"; Carol receives it as a text from Alice.
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
    expect(h.sheets.at(-1)).toEqual(['Copy', 'Forward', 'Reply', 'Delete for me', 'Report'])
    h.input('composer', 'Noon works')
    await waitFor(() => h.byId('send'), 'the send button')
    const n = bob.frames.length
    h.tap('send')
    const got = await bob.next<Extract<ServerFrame, { type: 'msg' }>>((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'Noon works', 10_000, n)
    expect((got.m as Extract<Message, { kind: 'text' }>).body.reply).toEqual({ seq: original.seq, from: 'wrb', kind: 'text', snippet: 'Lunch at noon?' })
    await waitFor(() => !h.byId('reply-bar') && quotes().filter((q) => q === 'Bob: Lunch at noon?').length === 2, 'her reply with its quote')
  })

  it('forwards a message from the long-press menu through the chooser and the confirmation', async () => {
    const auth = await devLogin(bff.url, 'wfa', 'Alice')
    const bob = await Peer.connect(bff.url, 'wfb', 'Bob')
    const carol = await Peer.connect(bff.url, 'wfc', 'Carol')
    peers.push(bob, carol)
    const toCarol = await carol.direct('wfa')
    await carol.say(toCarol.id, 'hi Alice')
    const conv = await bob.direct('wfa')
    await bob.say(conv.id, 'The venue moved to Hall B')

    const h = (host = hostFor(bff.url, auth, { actionSheet: (items) => items.indexOf('Forward'), modal: (m) => m.confirmText === 'Send' }))
    h.launch()
    h.open('pages/index/index')
    await waitFor(() => h.byId(`conv-${conv.id}`), 'the conversation row')
    h.tap(`conv-${conv.id}`)
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.text().includes('The venue moved to Hall B'), 'the message')
    const bubble = h.byClass('bx').find((n) => h.text(n).includes('The venue moved to Hall B'))!
    h.fire(String(bubble.sid), 'longpress')
    await waitFor(() => h.byId('forward-sheet'), 'the chooser')
    expect(h.sheets.at(-1)).toEqual(['Copy', 'Forward', 'Reply', 'Delete for me', 'Report'])
    expect(h.text(h.byId('forward-sheet'))).toContain('Select a chat')
    // Most recent first: Bob's chat (this one), then Carol's.
    expect(h.byClass('fw-n').map((n) => h.text(n))).toEqual(['Bob', 'Carol'])
    const n = carol.frames.length
    h.tap(`forward-to-${toCarol.id}`)
    const got = await carol.next<Extract<ServerFrame, { type: 'msg' }>>((f) => f.type === 'msg' && f.m.kind === 'text' && f.m.body.text === 'The venue moved to Hall B', 10_000, n)
    expect(got.m).toMatchObject({ conv: toCarol.id, from: 'wfa' })
    expect(h.modals.at(-1)).toEqual({ title: 'Send to Carol', content: 'The venue moved to Hall B', confirmText: 'Send', cancelText: 'Cancel' })
    await waitFor(() => h.toasts.includes('Sent'), 'the Sent toast')
    await waitFor(() => !h.byId('forward-sheet'), 'the chooser closed')
  })
})
