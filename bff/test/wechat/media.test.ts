/**
 * Image (and voice audio) content security against the WeChat fake: a finished image upload is submitted to
 * mediaCheckAsync with a signed file URL on WX_PUBLIC_URL; the verdict arrives on the signed push
 * endpoint; risky withdraws the file (410 FILE_WITHDRAWN) and flags it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import sharp from 'sharp'
import { pushSignature } from '../../src/wechat/media'
import { FakeWeChat } from '../support/fake-wechat'
import { create, patch, startUploads } from '../upload/harness'
import type { UploadHarness } from '../upload/harness'
import { waitFor } from '../support/wait'
import type { ErrorResponse } from '@chat/shared'
import type { AdminLists } from '../support/fake-wechat'
import { connectUser, newCid } from '../support/client'
import { aacOfMs } from '../support/audio'

const PUSH_TOKEN = 'push-token-abc'
const ADMIN = 'admin-token-0123456789'

describe('image checks and the message-push endpoint', () => {
  let fake: FakeWeChat
  let h: UploadHarness
  let traces = 0

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
    fake.setDefault('/wxa/media_check_async', () => ({ errcode: 0, trace_id: `trace-${++traces}` }))
    h = await startUploads({
      WX_APPID: 'wxapp',
      WX_SECRET: 'secret',
      WX_API_BASE: fake.url,
      WX_RETRY_BASE_MS: '5',
      WX_PUBLIC_URL: 'https://chat.example.com/',
      WX_PUSH_TOKEN: PUSH_TOKEN,
      ADMIN_TOKEN: ADMIN,
    })
  })
  afterAll(async () => {
    await h.close()
    await fake.stop()
  })

  const signed = (extra: Record<string, string> = {}, token = PUSH_TOKEN) => {
    const timestamp = String(Math.floor(Date.now() / 1000))
    const nonce = `n${Math.random().toString(36).slice(2)}`
    return new URLSearchParams({ timestamp, nonce, signature: pushSignature(token, timestamp, nonce), ...extra }).toString()
  }
  const push = (event: unknown, query = signed()) =>
    fetch(`${h.url}/wechat/push?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) })
  async function upload(owner: string) {
    const token = await h.token(owner)
    const conv = await h.direct(owner, 'zed')
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#a0b0c0' } }).png().toBuffer()
    const c = await create(h, token, png.length, { conv, filename: 'p.png' })
    const before = fake.of('/wxa/media_check_async').length
    expect((await patch(h, token, c.id!, 0, png)).status).toBe(200)
    await waitFor(() => fake.of('/wxa/media_check_async').length === before + 1)
    return { id: c.id!, token, conv, call: fake.of('/wxa/media_check_async').at(-1)! }
  }
  const flags = async () => ((await (await fetch(`${h.url}/admin/flags`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as AdminLists).flags

  it('answers WeChat’s URL check with the echo only when the signature verifies', async () => {
    const ok = await fetch(`${h.url}/wechat/push?${signed({ echostr: 'echo-123' })}`)
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('echo-123')
    const bad = await fetch(`${h.url}/wechat/push?${signed({ echostr: 'echo-123' }, 'other-token')}`)
    expect(bad.status).toBe(403)
    expect(((await bad.json()) as ErrorResponse).error.code).toBe('FORBIDDEN')
    expect((await push({ Event: 'wxa_media_check' }, 'timestamp=1&nonce=2')).status).toBe(403)
  })

  it('submits a finished image with a signed file URL (never a user token) and withdraws it on a risky verdict', async () => {
    const { id, token, conv, call } = await upload('amy')
    expect(call.body).toMatchObject({ media_type: 2, version: 2, scene: 2, openid: 'amy' })
    expect(call.body.media_url).toMatch(new RegExp(`^https://chat\\.example\\.com/files/${id}\\?e=\\d+&k=\\w+&s=[\\w-]{43}$`))
    expect(call.body.media_url).not.toContain(token)
    const local = call.body.media_url.replace('https://chat.example.com', h.url)
    expect((await fetch(local)).status).toBe(200)

    const res = await push({ ToUserName: 'gh_x', Event: 'wxa_media_check', trace_id: 'trace-1', version: 2, result: { suggest: 'risky', label: 20002 } })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('success')
    const after = await fetch(local)
    expect(after.status).toBe(410)
    expect(((await after.json()) as ErrorResponse).error.code).toBe('FILE_WITHDRAWN')
    expect((await flags()).find((f) => f.fileId === id)).toMatchObject({ kind: 'media-risky', from: 'amy', conv, label: 20002 })
    // The same verdict again finds nothing to act on.
    expect((await push({ Event: 'wxa_media_check', trace_id: 'trace-1', result: { suggest: 'risky' } })).status).toBe(200)
  })

  it('a risky image sent in a conversation is withdrawn from it: a tombstone by moderation in history, a recall event to the members', async () => {
    const { id, conv } = await upload('fay')
    const fay = (await connectUser(h.url, 'fay')).client
    const zed = (await connectUser(h.url, 'zed')).client
    try {
      const cid = newCid()
      fay.send({ type: 'send', cid, conv, kind: 'image', body: { fileId: id } })
      const ack = await fay.nextOf('ack', (f) => f.cid === cid)
      await zed.nextOf('msg', (f) => f.m.cid === cid)
      expect(JSON.stringify(await h.engine.messages.after(conv, 0, 10))).toContain(id)
      await push({ Event: 'wxa_media_check', trace_id: `trace-${traces}`, result: { suggest: 'risky', label: 20001 } })
      const event = await zed.nextOf('msg', (f) => f.m.kind === 'recall')
      expect(event.m).toMatchObject({ from: 'fay', body: { seq: ack.seq, by: 'moderation' } })
      await fay.nextOf('msg', (f) => f.m.kind === 'recall')
      const stored = await h.engine.messages.after(conv, 0, 10)
      expect(stored.join('')).not.toContain(id)
      expect(stored.map((j) => JSON.parse(j) as { seq: number; kind: string; body: unknown })).toMatchObject([
        { seq: ack.seq, kind: 'recalled', body: { by: 'moderation' } },
        { seq: ack.seq + 1, kind: 'recall', body: { seq: ack.seq, by: 'moderation' } },
      ])
    } finally {
      await Promise.all([fay.close(), zed.close()])
    }
  })

  it('a risky image forwarded to another conversation is withdrawn from that one too', async () => {
    const { id, conv } = await upload('gus')
    const other = await h.direct('gus', 'kim')
    const gus = (await connectUser(h.url, 'gus')).client
    const kim = (await connectUser(h.url, 'kim')).client
    try {
      const cid = newCid()
      gus.send({ type: 'send', cid, conv, kind: 'image', body: { fileId: id } })
      const sent = await gus.nextOf('ack', (f) => f.cid === cid)
      const fwd = newCid()
      gus.send({ type: 'send', cid: fwd, conv: other, kind: 'forward', body: { from: { conv, seq: sent.seq } } })
      const ack = await gus.nextOf('ack', (f) => f.cid === fwd)
      expect((await kim.nextOf('msg', (f) => f.m.cid === fwd)).m).toMatchObject({ kind: 'image', body: { fileId: id } })
      await push({ Event: 'wxa_media_check', trace_id: `trace-${traces}`, result: { suggest: 'risky', label: 20001 } })
      expect((await kim.nextOf('msg', (f) => f.m.kind === 'recall')).m).toMatchObject({ conv: other, from: 'gus', body: { seq: ack.seq, by: 'moderation' } })
      for (const c of [conv, other]) expect((await h.engine.messages.after(c, 0, 10)).join('')).not.toContain(id)
    } finally {
      await Promise.all([gus.close(), kim.close()])
    }
  })

  it('a voice recording is checked as audio (media_type 1); a risky verdict withdraws the file and the voice message', async () => {
    const token = await h.token('ivy')
    const conv = await h.direct('ivy', 'zed')
    const { bytes } = aacOfMs(4_000)
    const c = await create(h, token, bytes.length, { conv, filename: 'voice.aac' })
    const before = fake.of('/wxa/media_check_async').length
    expect((await patch(h, token, c.id!, 0, bytes)).status).toBe(200)
    await waitFor(() => fake.of('/wxa/media_check_async').length === before + 1)
    const call = fake.of('/wxa/media_check_async').at(-1)!
    expect(call.body).toMatchObject({ media_type: 1, version: 2, openid: 'ivy' })
    const ivy = (await connectUser(h.url, 'ivy')).client
    const zed = (await connectUser(h.url, 'zed')).client
    try {
      const cid = newCid()
      ivy.send({ type: 'send', cid, conv, kind: 'voice', body: { fileId: c.id!, duration: 4_000 } })
      const ack = await ivy.nextOf('ack', (f) => f.cid === cid)
      const got = await zed.nextOf('msg', (f) => f.m.cid === cid)
      await push({ Event: 'wxa_media_check', trace_id: `trace-${traces}`, result: { suggest: 'risky', label: 20002 } })
      expect((await zed.nextOf('msg', (f) => f.m.kind === 'recall')).m.body).toMatchObject({ seq: ack.seq, by: 'moderation' })
      const audio = await fetch(`${h.url}${(got.m.body as { url: string }).url}`)
      expect(audio.status).toBe(410)
      expect((await h.engine.messages.after(conv, 0, 10)).join('')).not.toContain(c.id!)
    } finally {
      await Promise.all([ivy.close(), zed.close()])
    }
  })

  it('the admin API withdraws a message through the same retraction: ADMIN_TOKEN, {conv, seq}, stable codes', async () => {
    const conv = await h.direct('gus', 'zed')
    const gus = (await connectUser(h.url, 'gus')).client
    try {
      const cid = newCid()
      gus.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'something unpleasant' } })
      const ack = await gus.nextOf('ack', (f) => f.cid === cid)
      const withdraw = (body: unknown, token = ADMIN) =>
        fetch(`${h.url}/admin/withdrawals`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) })
      const denied = await withdraw({ conv, seq: ack.seq }, 'not-the-admin-token-x')
      expect(denied.status).toBe(401)
      for (const bad of [{}, { conv, seq: 0 }, { conv: 'x', seq: 1 }, { conv, seq: '1' }]) {
        const r = await withdraw(bad)
        expect(r.status).toBe(400)
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_FRAME')
      }
      const unknown = await withdraw({ conv, seq: ack.seq + 50 })
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('SEQ_RANGE_INVALID')
      const ok = await withdraw({ conv, seq: ack.seq })
      expect(ok.status).toBe(200)
      expect(await ok.json()).toEqual({ conv, seq: ack.seq, event: ack.seq + 1 })
      expect(await (await withdraw({ conv, seq: ack.seq })).json()).toEqual({ conv, seq: ack.seq })
      await gus.nextOf('msg', (f) => f.m.kind === 'recall' && f.m.body.by === 'moderation')
      expect((await h.engine.messages.after(conv, 0, 10)).join('')).not.toContain('unpleasant')
    } finally {
      await gus.close()
    }
  })

  it('keeps a passing image and lists a review one', async () => {
    const a = await upload('ben')
    const b = await upload('cal')
    await push({ Event: 'wxa_media_check', trace_id: `trace-${traces - 1}`, result: { suggest: 'pass', label: 100 } })
    await push({ Event: 'wxa_media_check', trace_id: `trace-${traces}`, result: { suggest: 'review', label: 21000 } })
    expect((await fetch(a.call.body.media_url.replace('https://chat.example.com', h.url))).status).toBe(200)
    expect((await fetch(b.call.body.media_url.replace('https://chat.example.com', h.url))).status).toBe(200)
    const list = await flags()
    expect(list.some((f) => f.fileId === a.id)).toBe(false)
    expect(list.find((f) => f.fileId === b.id)).toMatchObject({ kind: 'media-review', from: 'cal', label: 21000 })
  })

  it('lists an image unchecked when WeChat is busy (policy allow)', async () => {
    fake.setDefault('/wxa/media_check_async', { errcode: -1, errmsg: 'system busy' })
    const token = await h.token('dee')
    const conv = await h.direct('dee', 'zed')
    const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#000' } }).png().toBuffer()
    const c = await create(h, token, png.length, { conv, filename: 'q.png' })
    expect((await patch(h, token, c.id!, 0, png)).status).toBe(200)
    await waitFor(async () => (await flags()).some((f) => f.fileId === c.id))
    expect((await flags()).find((f) => f.fileId === c.id)).toMatchObject({ kind: 'media-unchecked', from: 'dee', conv })
  })

  it('re-checks an image listed unchecked once WeChat is back: submitted again, its verdict takes it off the list or withdraws it', async () => {
    fake.setDefault('/wxa/media_check_async', { errcode: -1, errmsg: 'system busy' })
    const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#0a0' } }).png().toBuffer()
    const unchecked = async (owner: string) => {
      const token = await h.token(owner)
      const conv = await h.direct(owner, 'zed')
      const c = await create(h, token, png.length, { conv, filename: 'u.png' })
      expect((await patch(h, token, c.id!, 0, png)).status).toBe(200)
      await waitFor(async () => (await flags()).some((f) => f.fileId === c.id && f.kind === 'media-unchecked'))
      return { id: c.id!, conv }
    }
    const kept = await unchecked('kim')
    const bad = await unchecked('lou')
    fake.setDefault('/wxa/media_check_async', () => ({ errcode: 0, trace_id: `trace-${++traces}` }))
    const before = fake.of('/wxa/media_check_async').length
    const report = await h.rechecks!.sweep()
    expect(report).toMatchObject({ left: 0 })
    const again = fake.of('/wxa/media_check_async').slice(before)
    const traceOf = (id: string) => {
      const i = again.findIndex((c) => c.body.media_url.includes(`/files/${id}?`))
      expect(again[i]!.body).toMatchObject({ media_type: 2, openid: id === kept.id ? 'kim' : 'lou' })
      return `trace-${traces - again.length + 1 + i}`
    }
    await push({ Event: 'wxa_media_check', trace_id: traceOf(kept.id), result: { suggest: 'pass', label: 100 } })
    await push({ Event: 'wxa_media_check', trace_id: traceOf(bad.id), result: { suggest: 'risky', label: 20002 } })
    const list = await flags()
    expect(list.some((f) => f.fileId === kept.id)).toBe(false)
    expect(list.filter((f) => f.fileId === bad.id)).toEqual([expect.objectContaining({ kind: 'media-risky', from: 'lou', conv: bad.conv, label: 20002 })])
    expect((await fetch(`${h.url}${h.uploads.urls.sign(bad.id, 'data')}`)).status).toBe(410)
    expect((await fetch(`${h.url}${h.uploads.urls.sign(kept.id, 'data')}`)).status).toBe(200)
  })

  it('beyond WX_MEDIA_CHECKS_PER_MIN with policy refuse: no call, the image withdrawn and listed media-risky', async () => {
    // The budget is per clock minute: the clock starts just after a minute's start (and runs on), so
    // both uploads fall in one minute however long the machine takes.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
    vi.setSystemTime(Math.ceil(Date.now() / 60_000) * 60_000 + 1000)
    const strict = await startUploads({
      WX_APPID: 'wxapp',
      WX_SECRET: 'secret',
      WX_API_BASE: fake.url,
      WX_PUBLIC_URL: 'https://chat.example.com/',
      WX_MEDIA_CHECKS_PER_MIN: '1',
      WX_SECCHECK_UNAVAILABLE: 'refuse',
      ADMIN_TOKEN: ADMIN,
    })
    try {
      fake.setDefault('/wxa/media_check_async', () => ({ errcode: 0, trace_id: `trace-${++traces}` }))
      const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#123' } }).png().toBuffer()
      const send = async (owner: string) => {
        const token = await strict.token(owner)
        const conv = await strict.direct(owner, 'zed')
        const c = await create(strict, token, png.length, { conv, filename: 'r.png' })
        expect((await patch(strict, token, c.id!, 0, png)).status).toBe(200)
        return { id: c.id!, token, conv }
      }
      const strictFlags = async () => ((await (await fetch(`${strict.url}/admin/flags`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as AdminLists).flags
      const before = fake.of('/wxa/media_check_async').length
      await send('fay')
      await waitFor(() => fake.of('/wxa/media_check_async').length === before + 1)
      // The minute's one check is spent: the next image is not submitted, and policy refuse withdraws it.
      const over = await send('gus')
      await waitFor(async () => (await strictFlags()).some((f) => f.fileId === over.id))
      expect((await strictFlags()).find((f) => f.fileId === over.id)).toMatchObject({ kind: 'media-risky', from: 'gus', conv: over.conv })
      expect(fake.of('/wxa/media_check_async')).toHaveLength(before + 1)
      expect((await fetch(`${strict.url}${strict.uploads.urls.sign(over.id, 'data')}`)).status).toBe(410)
    } finally {
      vi.useRealTimers()
      await strict.close()
    }
  })
})
