/**
 * Voice in the built mini-program under the fake host (its RecorderManager and InnerAudioContext:
 * weapp-media.ts), against a real BFF. Bob (a peer) uploads an AAC recording and sends it as a
 * voice: Alice's chat shows the bubble with its duration and the unplayed dot; a tap plays it
 * through the InnerAudioContext (the mute switch not obeyed), the dot goes, the bubble shows it
 * playing until the audio ends. Holding the voice button starts WeChat's recorder (AAC, 60 s);
 * sliding up arms the cancel and an armed release sends nothing; a short one shows the toast.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { randomId } from '@chat/shared'
import { aacOfMs } from '../../bff/test/support/audio'
import { devLogin } from '../../bff/test/support/client'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
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

async function setup(alice: string, bob: string) {
  const auth = await devLogin(bff.url, alice, 'Alice')
  const peer = await Peer.connect(bff.url, bob, 'Bob')
  peers.push(peer)
  const conv = await peer.direct(alice)
  const h = (host = hostFor(bff.url, auth))
  h.launch()
  h.open('pages/index/index')
  await waitFor(() => h.byId(`conv-${conv.id}`), 'the conversation row')
  return { peer, conv, h }
}

async function openChat(h: MiniHost, convId: string) {
  h.tap(`conv-${convId}`)
  await waitFor(() => h.top?.route === 'pages/chat/index' && h.byId('msgs'), 'the chat page')
}

/** The peer's upload of `bytes` for `conv` (tus: create, one append); the file id. */
async function upload(token: string, conv: string, bytes: Buffer, filename: string): Promise<string> {
  const b64 = (v: string) => Buffer.from(v).toString('base64')
  const auth = { Authorization: `Bearer ${token}`, 'Tus-Resumable': '1.0.0' }
  const created = await fetch(`${bff.url}/uploads`, {
    method: 'POST',
    headers: { ...auth, 'Upload-Length': String(bytes.length), 'Upload-Metadata': `conv ${b64(conv)},filename ${b64(filename)}` },
  })
  expect(created.status).toBe(201)
  const id = created.headers.get('location')!.split('/').pop()!
  const appended = await fetch(`${bff.url}/uploads/${id}`, {
    method: 'PATCH',
    headers: { ...auth, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
    body: new Blob([new Uint8Array(bytes)]),
  })
  expect(appended.status).toBe(200)
  return id
}

const touch = (y: number) => ({ touches: [{ clientX: 100, clientY: y, pageX: 100, pageY: y }], changedTouches: [{ clientX: 100, clientY: y, pageX: 100, pageY: y }] })

describe('voice in the weapp build under the fake host', () => {
  it('shows a received voice with its duration and unplayed dot; a tap plays it and the dot goes', async () => {
    const { peer, conv, h } = await setup('wv1', 'wvb1')
    const { bytes } = aacOfMs(7_400)
    const fileId = await upload(peer.auth.token, conv.id, bytes, 'voice.aac')
    const cid = randomId(21)
    const from = peer.frames.length
    peer.raw({ type: 'send', cid, conv: conv.id, kind: 'voice', body: { fileId, duration: 7_400 } })
    await peer.next((f) => f.type === 'ack' && f.cid === cid, 10_000, from)
    await waitFor(() => h.text().includes('[Voice]'), 'the [Voice] preview in the list')

    await openChat(h, conv.id)
    await waitFor(() => h.byClass('vc').length === 1 && h.text().includes('7″'), 'the voice bubble with 7″')
    expect(h.byClass('vdot')).toHaveLength(1)
    expect(h.audio.calls).toEqual([])

    const bubble = h.byClass('vc')[0]!
    h.fire(bubble.uid ?? bubble.sid!, 'tap')
    await waitFor(() => h.audio.calls.some((c) => c.startsWith('play ')), 'the audio to play')
    expect(h.audio.calls.find((c) => c.startsWith('play '))).toMatch(new RegExp(`^play http://bff\\.harness/files/${fileId}\\?e=\\d+&k=\\w+&s=[\\w-]{43}$`))
    expect(h.audio.options[0]).toMatchObject({ obeyMuteSwitch: false })
    await waitFor(() => h.byClass('vdot').length === 0 && h.byClass('vc-on').length === 1, 'the dot gone, the bubble playing')
    h.audio.ended()
    await waitFor(() => h.byClass('vc-on').length === 0, 'the bubble back to still')
    // Played stays played: the mark (the message's id) is in this device's storage, which the
    // platform writes as JSON text (the host keeps that string JSON-encoded again).
    const mid = (peer.frames.find((f) => f.type === 'ack' && f.cid === cid) as { mid: string }).mid
    expect(JSON.parse(JSON.parse(h.storage.get('voice.played.wv1')!) as string)).toEqual([mid])
  })

  it('holding records with WeChat’s RecorderManager (AAC, 60 s); slide up arms the cancel; a short one toasts', async () => {
    const { conv, h } = await setup('wv2', 'wvb2')
    await openChat(h, conv.id)
    await waitFor(() => h.byId('voice-mode'), 'the voice button')
    h.tap('voice-mode')
    await waitFor(() => h.byId('hold-to-talk') && h.text().includes('Hold to talk'), 'the hold-to-talk button')

    h.fire('hold-to-talk', 'touchstart', {}, touch(700))
    await waitFor(() => h.recorder.starts.length === 1, 'the recorder to start')
    expect(h.recorder.starts[0]).toMatchObject({ format: 'aac', duration: 60_000 })
    h.recorder.started()
    await waitFor(() => h.byId('recording') && h.text().includes('Slide up to cancel'), 'the recording overlay')
    h.fire('hold-to-talk', 'touchmove', {}, touch(560))
    await waitFor(() => h.text().includes('Release to cancel'), 'the armed cancel')
    h.fire('hold-to-talk', 'touchend', {}, touch(560))
    await waitFor(() => h.recorder.stops === 1, 'the recorder to stop')
    h.recorder.stopped({ tempFilePath: 'wxfile://tmp/cancelled.aac', duration: 4_000, fileSize: 12_000 })
    await waitFor(() => !h.byId('recording'), 'the overlay gone')
    expect(h.byClass('vc')).toHaveLength(0)

    // Too short: no message, the toast.
    h.fire('hold-to-talk', 'touchstart', {}, touch(700))
    await waitFor(() => h.recorder.starts.length === 2, 'the recorder to start again')
    h.recorder.started()
    h.fire('hold-to-talk', 'touchend', {}, touch(700))
    await waitFor(() => h.recorder.stops === 2, 'the recorder to stop again')
    h.recorder.stopped({ tempFilePath: 'wxfile://tmp/short.aac', duration: 400, fileSize: 1_200 })
    await waitFor(() => h.toasts.includes('Too short to send'), 'the too-short toast')
    expect(h.byClass('vc')).toHaveLength(0)
  })
})
