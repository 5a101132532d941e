/**
 * Voice messages, on both engines: a recording uploaded like any file is sent as
 * `{ fileId, duration }`; the server stores the file's fields plus the duration, the other member
 * receives it, can fetch the audio with the signed URL, and history returns the same body. A
 * duration outside 1..60000 ms, a file that is not one of VOICE_MIMES, or one over
 * LIMITS.maxVoiceBytes is refused with its stable code, and nothing is stored.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LIMITS, directConvId } from '@chat/shared'
import type { Message } from '@chat/shared'
import { aacBytes, webmBytes } from '../support/audio'
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

  it('delivers an AAC voice with its duration; the other member fetches the audio; history returns the same body', async () => {
    const { alice, bob, token, conv } = await pair()
    const bytes = aacBytes(24_000)
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
      duration: 12_345,
    })
    const audio = await fetch(`${t.server.url}${(push.m.body as { url: string }).url}`)
    expect(audio.status).toBe(200)
    expect(Buffer.from(await audio.arrayBuffer()).equals(bytes)).toBe(true)

    const stored = (await history(bob, conv)).find((m: Message) => m.cid === cid)
    expect(stored).toMatchObject({ kind: 'voice', body: { fileId, mime: 'audio/aac', duration: 12_345, size: bytes.length } })
  })

  it('names a WebM (Opus) recording audio/webm, as Chromium records it', async () => {
    const { alice, bob, token, conv } = await pair()
    const fileId = await upload(token, conv, webmBytes(9_000), 'voice.webm')
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId, duration: LIMITS.maxVoiceMs } })
    await alice.nextOf('ack', (f) => f.cid === cid)
    const push = await bob.nextOf('msg', (f) => f.m.cid === cid)
    expect(push.m.body).toMatchObject({ fileId, mime: 'audio/webm', duration: LIMITS.maxVoiceMs })
  })

  it('refuses a duration outside 1..60000 ms or not a whole number with INVALID_FRAME, and stores nothing', async () => {
    const { alice, bob, token, conv } = await pair()
    const fileId = await upload(token, conv, aacBytes(4_000), 'voice.aac')
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
    // Exactly the limit is accepted.
    const atLimit = await upload(token, conv, aacBytes(LIMITS.maxVoiceBytes), 'limit.aac')
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
