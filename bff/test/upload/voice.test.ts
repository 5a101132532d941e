/**
 * Voice messages, on both engines: a recording uploaded like any file is sent as
 * `{ fileId, duration }`; the server stores the file's fields plus the duration measured from the
 * audio (the claim only when the format gives none), the other member receives it, can fetch the
 * audio with the signed URL, and history returns the same body. A claimed duration outside
 * 1..60000 ms, a measured one outside 1..60 s, a file that is not one of VOICE_MIMES, or one over
 * LIMITS.maxVoiceBytes is refused with its stable code, and nothing is stored.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LIMITS, directConvId } from '@chat/shared'
import type { Message } from '@chat/shared'
import { aacBytes, aacOfMs, webmOpusBytes } from '../support/audio'
import { newCid } from '../support/client'
import type { TestClient } from '../support/client'
import { useTestServer } from '../support/server'
import { create, patch, pdfBytes } from './harness'

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})
const uploadDir = await mkdtemp(path.join(os.tmpdir(), 'chat-voice-test-'))
dirs.push(uploadDir)

describe.each(['memory', 'redis'] as const)('voice messages (%s engine)', (store) => {
  const t = useTestServer(store, { UPLOAD_DIR: path.join(uploadDir, store), UPLOAD_SWEEP_INTERVAL_MS: '0', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' })
  const h = { get url() { return t.server.url } }

  /** Two connected users and their 1:1, which exists (a first text creates it). */
  async function pair(): Promise<{ alice: TestClient; bob: TestClient; token: string; conv: string }> {
    const a = t.uid('alice')
    const b = t.uid('bob')
    const alice = await t.connect(a)
    const bob = await t.connect(b)
    const conv = directConvId(a, b)
    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'hi' } })
    await alice.client.nextOf('ack', (f) => f.cid === cid)
    await bob.client.nextOf('msg', (f) => f.m.cid === cid)
    return { alice: alice.client, bob: bob.client, token: alice.auth.token, conv }
  }

  let rids = 0
  async function history(client: TestClient, conv: string): Promise<Message[]> {
    const rid = `h${++rids}`
    client.send({ type: 'history', rid, conv })
    return (await client.nextOf('messages', (f) => f.rid === rid)).msgs
  }

  async function upload(token: string, conv: string, bytes: Buffer, filename: string): Promise<string> {
    const c = await create(h, token, bytes.length, { conv, filename })
    expect(c.status).toBe(201)
    const p = await patch(h, token, c.id!, 0, bytes)
    expect(p.status).toBe(200)
    return c.id!
  }

  /** The value of chat_voice_duration_claimed_total for `mime` on the server's /metrics (0 before any). */
  async function claimedCount(mime: string): Promise<number> {
    const text = await (await fetch(`${t.server.url}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith(`chat_voice_duration_claimed_total{mime="${mime}"} `))
    return line ? Number(line.split(' ')[1]) : 0
  }

  /** Sends a voice claiming `duration` ms: the stored message as the other member and history have it. */
  async function sendVoice(p: Awaited<ReturnType<typeof pair>>, fileId: string, duration: number): Promise<Message> {
    const cid = newCid()
    p.alice.send({ type: 'send', cid, conv: p.conv, kind: 'voice', body: { fileId, duration } })
    const ack = await p.alice.nextOf('ack', (f) => f.cid === cid)
    const push = await p.bob.nextOf('msg', (f) => f.m.cid === cid)
    const { url: _url, ...body } = push.m.body as { url: string }
    expect(push.m.seq).toBe(ack.seq)
    // History re-signs the URL; everything else is the same.
    expect((await history(p.bob, p.conv)).find((m) => m.cid === cid)).toMatchObject({ seq: ack.seq, kind: 'voice', body })
    return push.m
  }

  /** Sends a voice that must be refused with `code`; nothing of it is stored or delivered. */
  async function refusedVoice(p: Awaited<ReturnType<typeof pair>>, fileId: string, duration: number, code: string): Promise<void> {
    const before = (await history(p.bob, p.conv)).at(-1)!.seq
    const cid = newCid()
    p.alice.send({ type: 'send', cid, conv: p.conv, kind: 'voice', body: { fileId, duration } })
    expect(await p.alice.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code, temporary: false })
    expect((await history(p.bob, p.conv)).at(-1)!.seq).toBe(before)
    expect(p.bob.all('msg').some((f) => f.m.cid === cid)).toBe(false)
  }

  it('delivers an AAC voice with its measured duration; the other member fetches the audio; history returns the same body', async () => {
    const { alice, bob, token, conv } = await pair()
    const { bytes, ms } = aacOfMs(12_000)
    expect(ms).toBe(12_032) // 188 frames of 64 ms
    const fileId = await upload(token, conv, bytes, 'voice.aac')
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: 12_345 } })
    const ack = await alice.nextOf('ack', (f) => f.cid === cid)
    const push = await bob.nextOf('msg', (f) => f.m.cid === cid)
    expect(push.m).toMatchObject({ kind: 'voice', seq: ack.seq, conv })
    expect(push.m.body).toEqual({
      fileId,
      name: 'voice.aac',
      size: bytes.length,
      mime: 'audio/aac',
      url: expect.stringMatching(new RegExp(`^/files/${fileId}\\?e=\\d+&k=\\w+&s=[\\w-]{43}$`)) as unknown,
      duration: 12_032,
    })
    const audio = await fetch(`${t.server.url}${(push.m.body as { url: string }).url}`)
    expect(audio.status).toBe(200)
    expect(Buffer.from(await audio.arrayBuffer()).equals(bytes)).toBe(true)

    const stored = (await history(bob, conv)).find((m: Message) => m.cid === cid)
    expect(stored).toMatchObject({ kind: 'voice', body: { fileId, mime: 'audio/aac', duration: 12_032, size: bytes.length } })
  })

  it('stores the measured 30 s of a recording whose sender claims 5 s', async () => {
    const p = await pair()
    const fileId = await upload(p.token, p.conv, aacOfMs(30_000).bytes, 'voice.aac')
    const m = await sendVoice(p, fileId, 5_000)
    expect(m.body).toMatchObject({ fileId, mime: 'audio/aac', duration: 30_016 })
  })

  it('stores the measured 2 s of a recording whose sender claims 60 s', async () => {
    const p = await pair()
    const fileId = await upload(p.token, p.conv, aacOfMs(2_000).bytes, 'voice.aac')
    expect((await sendVoice(p, fileId, LIMITS.maxVoiceMs)).body).toMatchObject({ duration: 2_048 })
  })

  it('refuses a 90 s recording claimed as 5 s with VOICE_DURATION_INVALID and stores nothing; it still goes as a file', async () => {
    const p = await pair()
    const { bytes, ms } = aacOfMs(90_000)
    expect(bytes.length).toBeLessThan(LIMITS.maxVoiceBytes)
    expect(ms).toBeGreaterThan(LIMITS.maxVoiceMs)
    const fileId = await upload(p.token, p.conv, bytes, 'long.aac')
    await refusedVoice(p, fileId, 5_000, 'VOICE_DURATION_INVALID')
    const asFile = newCid()
    p.alice.send({ type: 'send', cid: asFile, conv: p.conv, kind: 'file', body: { fileId } })
    await p.alice.nextOf('ack', (f) => f.cid === asFile)
  })

  it('refuses a 0.3 s recording claimed as 3 s with VOICE_DURATION_INVALID', async () => {
    const p = await pair()
    const { bytes, ms } = aacOfMs(300)
    expect(ms).toBe(320)
    await refusedVoice(p, await upload(p.token, p.conv, bytes, 'short.aac'), 3_000, 'VOICE_DURATION_INVALID')
  })

  it('stores a recording that the encoder rounded up past 60 s (within the tolerance) as 60000 ms; 61 s is refused', async () => {
    const p = await pair()
    const { bytes, ms } = aacOfMs(LIMITS.maxVoiceMs)
    expect(ms).toBe(60_032) // 938 frames of 64 ms
    expect((await sendVoice(p, await upload(p.token, p.conv, bytes, 'max.aac'), LIMITS.maxVoiceMs)).body).toMatchObject({ duration: LIMITS.maxVoiceMs })
    await refusedVoice(p, await upload(p.token, p.conv, aacOfMs(61_000).bytes, 'over.aac'), LIMITS.maxVoiceMs, 'VOICE_DURATION_INVALID')
  })

  it('measures a WebM (Opus) recording whose Info has a Duration, and names it audio/webm', async () => {
    const p = await pair()
    const before = await claimedCount('audio/webm')
    const fileId = await upload(p.token, p.conv, webmOpusBytes(20_000, { withDuration: true }), 'voice.webm')
    expect((await sendVoice(p, fileId, 3_000)).body).toMatchObject({ fileId, mime: 'audio/webm', duration: 20_000 })
    expect(await claimedCount('audio/webm')).toBe(before)
    await refusedVoice(p, await upload(p.token, p.conv, webmOpusBytes(90_000, { withDuration: true }), 'long.webm'), 3_000, 'VOICE_DURATION_INVALID')
  })

  it('keeps the claimed duration of a WebM without a Duration element (a live stream), and counts it', async () => {
    const p = await pair()
    const before = await claimedCount('audio/webm')
    const fileId = await upload(p.token, p.conv, webmOpusBytes(8_000), 'voice.webm')
    expect((await sendVoice(p, fileId, 7_900)).body).toMatchObject({ fileId, mime: 'audio/webm', duration: 7_900 })
    expect(await claimedCount('audio/webm')).toBe(before + 1)
    // The claim is bounded as any claim is (1..LIMITS.maxVoiceMs, INVALID_FRAME beyond).
    await refusedVoice(p, fileId, LIMITS.maxVoiceMs + 1, 'INVALID_FRAME')
  })

  it('refuses a duration outside 1..60000 ms or not a whole number with INVALID_FRAME, and stores nothing', async () => {
    const { alice, bob, token, conv } = await pair()
    const fileId = await upload(token, conv, aacOfMs(2_000).bytes, 'voice.aac')
    for (const duration of [0, -5, LIMITS.maxVoiceMs + 1, 1.5, '1000', undefined]) {
      const cid = newCid()
      alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration } } as never)
      expect(await alice.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'INVALID_FRAME', temporary: false })
    }
    // A good send afterwards takes the next seq: none of the refused ones was stored.
    const before = (await history(bob, conv)).at(-1)!.seq
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: 1 } })
    expect((await alice.nextOf('ack', (f) => f.cid === cid)).seq).toBe(before + 1)
  })

  it('refuses a file that is not voice audio (a PDF) with UPLOAD_TYPE_REJECTED; the same file still goes as a file', async () => {
    const { alice, token, conv } = await pair()
    const fileId = await upload(token, conv, pdfBytes(5_000), 'notes.pdf')
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: 3_000 } })
    expect(await alice.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'UPLOAD_TYPE_REJECTED', temporary: false })
    const asFile = newCid()
    alice.send({ type: 'send', cid: asFile, conv, kind: 'file', body: { fileId } })
    await alice.nextOf('ack', (f) => f.cid === asFile)
  })

  it('refuses a recording over LIMITS.maxVoiceBytes with UPLOAD_TOO_LARGE', async () => {
    const { alice, token, conv } = await pair()
    const fileId = await upload(token, conv, aacBytes(LIMITS.maxVoiceBytes + 1), 'long.aac')
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: 60_000 } })
    expect(await alice.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'UPLOAD_TOO_LARGE', temporary: false })
    // Exactly the limit is accepted (4 KiB frames at 44.1 kHz: 512 of them, 11.9 s).
    const atLimit = await upload(token, conv, aacBytes(LIMITS.maxVoiceBytes, { frameBytes: 4096 }), 'limit.aac')
    const ok = newCid()
    alice.send({ type: 'send', cid: ok, conv, kind: 'voice', body: { fileId: atLimit, duration: 60_000 } })
    await alice.nextOf('ack', (f) => f.cid === ok)
  })

  it('refuses someone else’s recording with FILE_NOT_FOUND', async () => {
    const { alice, bob, token, conv } = await pair()
    const fileId = await upload(token, conv, aacBytes(4_000), 'voice.aac')
    const cid = newCid()
    bob.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: 2_000 } })
    expect(await bob.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'FILE_NOT_FOUND' })
    expect(alice.all('msg').some((f) => f.m.cid === cid)).toBe(false)
  })
})
