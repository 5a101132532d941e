/**
 * Forwarding (PROTOCOL.md, Forwarding) on every engine: memory, memory over SQLite, Redis, Redis
 * over MariaDB. A forward is a `send` into the target that copies a message the sender may read:
 * a text's text, an image's or file's file, which the target's members can then fetch (the real
 * upload component, over HTTP) and nobody else can. Refusals carry stable codes and store nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import express from 'express'
import sharp from 'sharp'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { AppError, decodeClientFrame, directConvId } from '@chat/shared'
import type { Message } from '@chat/shared'
import { Delivery } from '../src/chat/delivery'
import { ChatService } from '../src/chat/service'
import { ConvSettings } from '../src/chat/settings'
import { loadConfig } from '../src/config'
import { Metrics } from '../src/ops/metrics'
import { MemoryConvSettings } from '../src/store/conv-settings'
import { createUploadService } from '../src/upload'
import { NO_CHECKS, type SendChecks } from '../src/wechat/security'
import { ENGINES, cleanups, runCleanups, type Fixture } from './support/engines'
import { HeldOutlets, RecordingOutlet as FrameOutlet } from './support/outlets'
import { create, patch } from './upload/harness'

class RecordingOutlet extends FrameOutlet {
  msgs(conv: string): Message[] {
    return this.frames.filter((f) => f.type === 'msg' && (f.m as Message).conv === conv).map((f) => f.m as Message)
  }
}

afterEach(runCleanups)

/** The chat over `make`'s engine with the real upload component (its HTTP routes on port 0; a token is `tok-<user>`). */
async function setup(make: () => Promise<Fixture>, checks: SendChecks = NO_CHECKS) {
  const fx = await make()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chat-forward-test-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', JWT_SECRET: 'forward-tests-secret-0123456789abcdef0123456789', UPLOAD_DIR: dir, DATA_DIR: dir, UPLOAD_SWEEP_INTERVAL_MS: '0' })
  const uploads = createUploadService({
    config: config.uploads,
    verifyToken: async (token) => {
      if (!token?.startsWith('tok-')) throw new AppError('UNAUTHORIZED')
      return { user: { id: token.slice(4) } }
    },
    isMember: async (conv, user) => (await fx.engine.convs.get(conv))?.members.includes(user) ?? false,
    urlSecret: config.jwtSecret,
    slots: fx.engine.uploadSlots,
  })
  cleanups.push(() => uploads.close())
  const app = express()
  app.use(uploads.router)
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const held = new HeldOutlets<RecordingOutlet>()
  const delivery = new Delivery('n1', held, fx.engine.bus, fx.engine.queue, new Metrics(), pino({ level: 'silent' }))
  cleanups.push(() => delivery.settle())
  const chat = new ChatService(fx.engine, delivery, uploads.resolver, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1 << 20 }, checks)
  const settings = new ConvSettings({
    store: new MemoryConvSettings(),
    range: async (user, conv) => {
      await chat.memberOf(user, conv)
      const [state] = await fx.engine.convs.states([conv], user)
      return { lastSeq: state!.lastSeq, floor: await chat.floor(conv, user) }
    },
    push: () => {},
  })
  chat.hiddenSeqs = (user, conv) => settings.hidden(user, conv)
  for (const id of ['ann', 'bob', 'cat', 'dan', 'eve']) await fx.engine.users.upsert({ id, name: id.toUpperCase() })
  // The source: a group of ann, bob and cat. The target: the 1:1 of ann and dan.
  const group = (await chat.create({ id: 'ann', name: 'ANN' }, { kind: 'group', members: ['bob', 'cat'], title: 't' })).id
  const direct = (await chat.createDirect({ id: 'ann', name: 'ANN' }, 'dan')).id

  /** `user` uploads `bytes` for `conv` (tus) and sends them there as `kind`. */
  const sendFile = async (user: string, conv: string, bytes: Buffer, name: string, kind: 'image' | 'file') => {
    const c = await create({ url }, `tok-${user}`, bytes.length, { conv, filename: name })
    expect(c.status).toBe(201)
    expect((await patch({ url }, `tok-${user}`, c.id!, 0, bytes)).status).toBe(200)
    return chat.send(user, { cid: `file-${user}-${++n}-xxxx`, conv, kind, body: { fileId: c.id! } })
  }
  /** GET /files/<id> (or /info) with `user`'s token: the status and, for the bytes, the body. */
  const fetchFile = async (user: string, fileId: string, what = '') => {
    const res = await fetch(`${url}/files/${fileId}${what}`, { headers: { Authorization: `Bearer tok-${user}` } })
    const body = Buffer.from(await res.arrayBuffer())
    return { status: res.status, body, code: res.status >= 400 ? (JSON.parse(body.toString()) as { error: { code: string } }).error.code : undefined }
  }
  return { ...fx, url, chat, held, delivery, settings, group, direct, sendFile, fetchFile }
}

let n = 0
const text = (chat: ChatService, user: string, conv: string, body: string, extras: { reply?: { seq: number }; mentions?: string[] } = {}) =>
  chat.send(user, { cid: `cid-${user}-${++n}-xxxx`, conv, kind: 'text', body: { text: body, ...extras } })
const forward = (chat: ChatService, user: string, to: string, from: { conv: string; seq: number }, cid = `fwd-${user}-${++n}-xxxx`) =>
  chat.send(user, { cid, conv: to, kind: 'forward', body: { from } })

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  )

const stored = async (fx: Pick<Fixture, 'engine'>, conv: string) => (await fx.engine.messages.after(conv, 0, 50)).map((j) => JSON.parse(j) as Message)

async function png(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } }).png().toBuffer()
}

describe('the forward frame', () => {
  it('is a send of kind forward naming the message by conversation and seq', () => {
    const frame = { type: 'send', cid: 'fwd-cid-0001', conv: 'd:ann:dan', kind: 'forward', body: { from: { conv: 'g:abc', seq: 3 } } }
    expect(decodeClientFrame(JSON.stringify(frame))).toEqual(frame)
    for (const body of [{}, { from: { conv: 'g:abc' } }, { from: { conv: 'g:abc', seq: 0 } }, { from: { conv: 'nope', seq: 1 } }]) {
      expect(() => decodeClientFrame(JSON.stringify({ ...frame, body }))).toThrow(expect.objectContaining({ code: 'INVALID_FRAME' }))
    }
  })
})

for (const [name, make] of Object.entries(ENGINES)) {
  describe(`forwarding on the ${name} engine`, () => {
    it('copies a text into the target as a new text of the forwarder (no quote, no mentions), delivered to its members; the same cid answers the same ack', async () => {
      const fx = await setup(make)
      const { chat, group, direct, held, delivery } = fx
      const dan = held.add(new RecordingOutlet('dan'))
      const bob = held.add(new RecordingOutlet('bob'))
      await text(chat, 'ann', group, 'first')
      const original = await text(chat, 'bob', group, '明天见\nsee you', { reply: { seq: 1 }, mentions: ['cat'] })
      const cid = 'fwd-text-cid-0001'
      const first = await forward(chat, 'ann', direct, { conv: group, seq: original.msg.seq }, cid)
      await delivery.settle()
      expect(first.dup).toBe(false)
      expect(first.msg).toMatchObject({ conv: direct, seq: 1, from: 'ann', cid, kind: 'text', body: { text: '明天见\nsee you' } })
      expect(first.msg.body).toEqual({ text: '明天见\nsee you' })
      expect(await stored(fx, direct)).toEqual([first.msg])
      // The target's member gets it like any message; the source's members get nothing.
      expect(dan.msgs(direct)).toEqual([first.msg])
      expect(bob.msgs(direct)).toEqual([])
      expect((await stored(fx, group)).length).toBe(2)

      const again = await forward(chat, 'ann', direct, { conv: group, seq: original.msg.seq }, cid)
      await delivery.settle()
      expect(again).toEqual({ msg: first.msg, dup: true })
      expect(await stored(fx, direct)).toEqual([first.msg])
      expect(dan.msgs(direct)).toHaveLength(1)
      // Into the conversation it came from (WeChat lists the current chat too): a new message there.
      const here = await forward(chat, 'cat', group, { conv: group, seq: 1 })
      expect(here.msg).toMatchObject({ conv: group, seq: 3, from: 'cat', kind: 'text', body: { text: 'first' } })
    })

    it('copies an image with its file: the target members can fetch it, a stranger cannot, and a forward of the forward works on', async () => {
      const fx = await setup(make)
      const { chat, group, direct, held, delivery, sendFile, fetchFile } = fx
      const dan = held.add(new RecordingOutlet('dan'))
      const bytes = await png(64, 48)
      const sent = await sendFile('bob', group, bytes, 'photo.png', 'image')
      const fileId = (sent.msg.body as { fileId: string }).fileId
      // Before: dan shares no conversation the file was sent in.
      expect(await fetchFile('dan', fileId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })

      const fwd = await forward(chat, 'ann', direct, { conv: group, seq: sent.msg.seq })
      await delivery.settle()
      expect(fwd.msg).toMatchObject({ conv: direct, from: 'ann', kind: 'image', body: { fileId, name: 'photo.png', size: bytes.length, mime: 'image/png', width: 64, height: 48 } })
      expect(dan.msgs(direct).map((m) => m.kind)).toEqual(['image'])
      const got = await fetchFile('dan', fileId)
      expect(got.status).toBe(200)
      expect(got.body.equals(bytes)).toBe(true)
      expect(await fetchFile('dan', fileId, '/thumb')).toMatchObject({ status: 200 })
      expect(JSON.parse((await fetchFile('dan', fileId, '/info')).body.toString())).toMatchObject({ file: { fileId, name: 'photo.png', width: 64, height: 48 } })
      // eve is in no conversation the file was sent or forwarded to.
      expect(await fetchFile('eve', fileId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      expect(await fetchFile('eve', fileId, '/info')).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      // The forwarded message's URL (signed, as history carries it) opens the picture.
      const signed = await fetch(`${fx.url}${(fwd.msg.body as { url: string }).url}`)
      expect(signed.status).toBe(200)

      // dan forwards it on to his 1:1 with eve: now eve reads it, through that conversation.
      const danEve = (await chat.createDirect({ id: 'dan', name: 'DAN' }, 'eve')).id
      const on = await forward(chat, 'dan', danEve, { conv: direct, seq: fwd.msg.seq })
      expect(on.msg).toMatchObject({ conv: danEve, kind: 'image', body: { fileId } })
      expect((await fetchFile('eve', fileId)).status).toBe(200)
      // A file message stays a file message.
      const doc = await sendFile('cat', group, Buffer.from('%PDF-1.7\n' + 'x'.repeat(2000)), 'notes.pdf', 'file')
      const fileFwd = await forward(chat, 'ann', direct, { conv: group, seq: doc.msg.seq })
      expect(fileFwd.msg).toMatchObject({ kind: 'file', body: { fileId: (doc.msg.body as { fileId: string }).fileId, name: 'notes.pdf', mime: 'application/pdf' } })
      expect((await fetchFile('dan', (doc.msg.body as { fileId: string }).fileId)).status).toBe(200)
    })

    it('opens a forwarded file to the target only once the send passed its checks: a name refused there grants nothing', async () => {
      // Content security refuses the file name "secret-plan.pdf" in the target conversation only
      // (the source let it through): the forward is refused after its file was resolved.
      let target = ''
      const checks: SendChecks = {
        text: async (_user, conv, _cid, body) => {
          if (conv === target && body.includes('secret')) throw new AppError('CONTENT_RISKY')
        },
      }
      const fx = await setup(make, checks)
      const { chat, group, direct, sendFile, fetchFile } = fx
      target = direct
      const pdf = Buffer.from('%PDF-1.7\n' + 'x'.repeat(500))
      const risky = await sendFile('bob', group, pdf, 'secret-plan.pdf', 'file')
      const riskyId = (risky.msg.body as { fileId: string }).fileId
      const cid = 'fwd-refused-cid-0001'
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: risky.msg.seq }, cid))).toBe('CONTENT_RISKY')
      // Retried with the same cid: refused again.
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: risky.msg.seq }, cid))).toBe('CONTENT_RISKY')
      expect(await stored(fx, direct)).toEqual([])
      expect(await fetchFile('dan', riskyId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      expect(await fetchFile('dan', riskyId, '/info')).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      // The same path with a name the target accepts: stored, and dan reads the file.
      const plain = await sendFile('bob', group, pdf, 'plan.pdf', 'file')
      const plainId = (plain.msg.body as { fileId: string }).fileId
      const fwd = await forward(chat, 'ann', direct, { conv: group, seq: plain.msg.seq })
      expect(fwd.msg).toMatchObject({ conv: direct, kind: 'file', body: { fileId: plainId, name: 'plan.pdf' } })
      expect((await fetchFile('dan', plainId)).status).toBe(200)
      expect(await fetchFile('dan', riskyId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
    })

    it('opens a forwarded file only once the message is stored: a store that fails grants nothing, its retry grants it', async () => {
      const fx = await setup(make)
      const { chat, group, direct, engine, held, delivery, sendFile, fetchFile } = fx
      const dan = held.add(new RecordingOutlet('dan'))
      const photo = await sendFile('bob', group, await png(20, 20), 'p.png', 'image')
      const fileId = (photo.msg.body as { fileId: string }).fileId
      // The store refuses the next append into the target, as a Redis that went away would.
      const messages = engine.messages
      const append = messages.append.bind(messages)
      let failing = true
      messages.append = (input, onStored) => {
        if (failing && input.conv === direct) {
          failing = false
          return Promise.reject(new AppError('STORE_UNAVAILABLE'))
        }
        return append(input, onStored)
      }
      const cid = 'fwd-store-fails-0001'
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: photo.msg.seq }, cid))).toBe('STORE_UNAVAILABLE')
      expect(await stored(fx, direct)).toEqual([])
      expect(await fetchFile('dan', fileId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      expect(await fetchFile('dan', fileId, '/info')).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      // The client's retry with the same cid: stored, granted, delivered once.
      const retried = await forward(chat, 'ann', direct, { conv: group, seq: photo.msg.seq }, cid)
      await delivery.settle()
      expect(retried.msg).toMatchObject({ conv: direct, kind: 'image', body: { fileId } })
      expect((await stored(fx, direct)).map((m) => m.kind)).toEqual(['image'])
      expect(dan.msgs(direct).map((m) => m.seq)).toEqual([retried.msg.seq])
      expect((await fetchFile('dan', fileId)).status).toBe(200)
    })

    it('refuses what the sender may not read or send, with stable codes, storing nothing and granting no file', async () => {
      const checks: SendChecks = {
        text: async (_user, _conv, _cid, body) => {
          if (body.includes('risky')) throw new AppError('CONTENT_RISKY')
        },
        // The relations' check of a 1:1 (BLOCKED): eve blocked cat.
        direct: (user, conv) => (user === 'cat' && conv === directConvId('cat', 'eve') ? Promise.reject(new AppError('BLOCKED')) : undefined),
      }
      const fx = await setup(make, checks)
      const { chat, group, direct, engine, settings, sendFile, fetchFile } = fx
      await text(chat, 'ann', group, 'one')
      await text(chat, 'bob', group, 'two')
      const photo = await sendFile('bob', group, await png(20, 20), 'p.png', 'image')
      const fileId = (photo.msg.body as { fileId: string }).fileId

      // Not a member of the source: eve, into her own 1:1 with dan.
      const danEve = (await chat.createDirect({ id: 'eve', name: 'EVE' }, 'dan')).id
      expect(await code(forward(chat, 'eve', danEve, { conv: group, seq: 1 }))).toBe('NOT_MEMBER')
      expect(await code(forward(chat, 'eve', danEve, { conv: group, seq: photo.msg.seq }))).toBe('NOT_MEMBER')
      expect(await code(forward(chat, 'eve', danEve, { conv: directConvId('ann', 'bob'), seq: 1 }))).toBe('NOT_MEMBER')
      // No such seq.
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: 99 }))).toBe('SEQ_RANGE_INVALID')
      // dan joins the group now (the add is its seq 4): what came before is not his to forward.
      const add = await chat.group('ann', { conv: group, op: 'add', users: ['dan'] })
      expect(await code(forward(chat, 'dan', direct, { conv: group, seq: 2 }))).toBe('SEQ_RANGE_INVALID')
      expect(await code(forward(chat, 'dan', direct, { conv: group, seq: photo.msg.seq }))).toBe('SEQ_RANGE_INVALID')
      // Events and voices have nothing to copy.
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: add.seq }))).toBe('FORWARD_NOT_ALLOWED')
      const voice = await engine.messages.append({
        conv: group, from: 'bob', cid: 'cid-voice-xxxx', mid: 'voice1', ts: Date.now(), kind: 'voice',
        body: { fileId: 'a'.repeat(44), name: 'v.m4a', size: 10, mime: 'audio/mp4', url: '/files/v', duration: 3000 }, dedupWindowMs: 60_000,
      })
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: voice.msg.seq }))).toBe('FORWARD_NOT_ALLOWED')
      // Recalled by its sender, withdrawn by moderation, deleted for the forwarder.
      await chat.recall('ann', { conv: group, seq: 1 })
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: 1 }))).toBe('FORWARD_NOT_ALLOWED')
      const recallEvent = (await stored(fx, group)).find((m) => m.kind === 'recall')!
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: recallEvent.seq }))).toBe('FORWARD_NOT_ALLOWED')
      await chat.withdraw({ conv: group, seq: 2 })
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: 2 }))).toBe('FORWARD_NOT_ALLOWED')
      await settings.hide('ann', group, photo.msg.seq)
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: photo.msg.seq }))).toBe('FORWARD_NOT_ALLOWED')
      // A target the sender cannot send to: a 1:1 of others, a group left, a 1:1 whose peer blocked them.
      expect(await code(forward(chat, 'bob', direct, { conv: group, seq: photo.msg.seq }))).toBe('NOT_MEMBER')
      const left = (await chat.create({ id: 'bob', name: 'BOB' }, { kind: 'group', members: ['ann', 'dan'], title: 'left' })).id
      await chat.group('ann', { conv: left, op: 'leave' })
      expect(await code(forward(chat, 'ann', left, { conv: group, seq: 3 }))).toBe('NOT_MEMBER')
      await chat.createDirect({ id: 'eve', name: 'EVE' }, 'cat')
      expect(await code(forward(chat, 'cat', directConvId('cat', 'eve'), { conv: group, seq: photo.msg.seq }))).toBe('BLOCKED')
      // Content security checks a forwarded text as a new one.
      const risky = await engine.messages.append({ conv: group, from: 'bob', cid: 'cid-risky-xxxx', mid: 'r1', ts: Date.now(), kind: 'text', body: { text: 'risky words' }, dedupWindowMs: 60_000 })
      expect(await code(forward(chat, 'ann', direct, { conv: group, seq: risky.msg.seq }))).toBe('CONTENT_RISKY')

      // Nothing reached the targets, and the picture opened to nobody new (dan reads it as a member of the group now).
      expect(await stored(fx, direct)).toEqual([])
      expect(await stored(fx, danEve)).toEqual([])
      expect(await stored(fx, directConvId('cat', 'eve'))).toEqual([])
      expect((await stored(fx, left)).every((m) => m.kind === 'system')).toBe(true)
      expect(await fetchFile('eve', fileId)).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
      // The file withdrawn by its uploader: a forward of its message finds no file.
      const res = await fetch(`${fx.url}/files/${fileId}`, { method: 'DELETE', headers: { Authorization: 'Bearer tok-bob' } })
      expect(res.status).toBe(204)
      expect(await code(forward(chat, 'bob', directConvId('bob', 'cat'), { conv: group, seq: photo.msg.seq }))).toBe('FILE_NOT_FOUND')
    })
  })
}
