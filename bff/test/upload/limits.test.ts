/**
 * Every limit and every bad input of the upload endpoint: the exact status and shared error code,
 * and what is (not) left on disk afterwards.
 */
import { existsSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { create, head, patch, pdfBytes, startUploads, tusMetadata } from './harness'
import type { UploadHarness } from './harness'

let h: UploadHarness
let alice: string
let conv: string

const MAX = 64 * 1024

beforeAll(async () => {
  h = await startUploads({ UPLOAD_MAX_BYTES: String(MAX), UPLOAD_MAX_ACTIVE_PER_USER: '2', UPLOAD_EXPIRY_MS: '3600000' })
  alice = await h.token('alice')
  conv = await h.direct('alice', 'bob')
})
afterAll(async () => h.close())

const tusDir = (): string => path.join(h.dir, 'tus')
const filesDir = (): string => path.join(h.dir, 'files')

async function upload(data: Uint8Array, name: string, token = alice): Promise<string> {
  const c = await create(h, token, data.length, { conv, filename: name })
  expect(c.status).toBe(201)
  const p = await patch(h, token, c.id!, 0, data)
  expect(p.status).toBe(200)
  return c.id!
}

async function terminate(id: string, token = alice): Promise<number> {
  const res = await fetch(`${h.url}/uploads/${id}`, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } })
  return res.status
}

describe('authentication', () => {
  it('refuses a creation without a token, with a forged one, and with an expired one', async () => {
    expect(await create(h, undefined, 10, { conv, filename: 'a.pdf' })).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    const forged = alice.slice(0, -4) + (alice.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    expect(await create(h, forged, 10, { conv, filename: 'a.pdf' })).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    const { SignJWT } = await import('jose')
    const expired = await new SignJWT({ name: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('chat-bff')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode((await import('./harness')).JWT_SECRET))
    expect(await create(h, expired, 10, { conv, filename: 'a.pdf' })).toMatchObject({ status: 401, code: 'TOKEN_EXPIRED' })
    expect(await readdir(tusDir())).toEqual([])
  })
})

describe('size', () => {
  it('refuses an Upload-Length over the limit at creation, storing nothing', async () => {
    const c = await create(h, alice, MAX + 1, { conv, filename: 'big.pdf' })
    expect(c).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE', location: null })
    expect(await readdir(tusDir())).toEqual([])
    // The answer names the limit, for the sender's bubble (UPLOAD_MAX_BYTES is 64 KiB here).
    const res = await fetch(`${h.url}/uploads`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice}`, 'Tus-Resumable': '1.0.0', 'Upload-Length': String(MAX + 1), 'Upload-Metadata': `filename ${Buffer.from('big.pdf').toString('base64')},conv ${Buffer.from(conv).toString('base64')}` },
    })
    expect(await res.json()).toEqual({ error: { code: 'UPLOAD_TOO_LARGE', message: 'file exceeds the maximum upload size of 64 KB', temporary: false } })
  })

  it('accepts exactly the limit', async () => {
    const id = await upload(pdfBytes(MAX), 'max.pdf')
    expect((await readFile(path.join(filesDir(), id))).length).toBe(MAX)
  })

  it('refuses an append past the declared length and keeps the offset', async () => {
    const c = await create(h, alice, 5000, { conv, filename: 'x.pdf' })
    const p = await patch(h, alice, c.id!, 0, pdfBytes(5001))
    expect(p).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' })
    // Said as what it is, not as a file over the size limit (5,000 bytes are far below it).
    expect((p.json as { error: { message: string } }).error.message).toMatch(/declared length/)
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 200, offset: 0, length: 5000 })
    expect(await terminate(c.id!)).toBe(204)
  })

  it('refuses an append to a complete upload as past its length, and keeps the file', async () => {
    const c = await create(h, alice, 4000, { conv, filename: 'done.pdf' })
    const bytes = pdfBytes(4000)
    expect(await patch(h, alice, c.id!, 0, bytes)).toMatchObject({ status: 200, offset: 4000 })
    const more = await patch(h, alice, c.id!, 4000, Buffer.from('more'))
    expect(more).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' })
    expect((more.json as { error: { message: string } }).error.message).toMatch(/complete upload/)
    // The mini-program's way (POST with X-HTTP-Method-Override: PATCH: wx.request has no PATCH).
    const overridden = await patch(h, alice, c.id!, 4000, Buffer.from('more'), { override: true })
    expect(overridden).toMatchObject({ status: 413, code: 'UPLOAD_TOO_LARGE' })
    expect((overridden.json as { error: { message: string } }).error.message).toMatch(/complete upload/)
    expect(await readFile(path.join(filesDir(), c.id!))).toEqual(bytes)
  })

  it('refuses a deferred length (the size must be known to be limited)', async () => {
    const res = await fetch(`${h.url}/uploads`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Defer-Length': '1', 'Upload-Metadata': tusMetadata({ conv }), Authorization: `Bearer ${alice}` },
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UPLOAD_INVALID')
  })

  it('refuses an empty file', async () => {
    expect(await create(h, alice, 0, { conv, filename: 'empty.txt' })).toMatchObject({ status: 400, code: 'UPLOAD_INVALID' })
  })
})

describe('conversation binding', () => {
  it('needs the conversation in the metadata, well formed', async () => {
    expect(await create(h, alice, 10, { filename: 'a.pdf' })).toMatchObject({ status: 400, code: 'UPLOAD_INVALID' })
    expect(await create(h, alice, 10, { conv: '../../x', filename: 'a.pdf' })).toMatchObject({ status: 400, code: 'UPLOAD_INVALID' })
  })

  it('refuses an upload for a conversation the user is not in', async () => {
    const other = await h.direct('bob', 'carol')
    const before = await readdir(tusDir())
    expect(await create(h, alice, 10, { conv: other, filename: 'a.pdf' })).toMatchObject({ status: 403, code: 'NOT_MEMBER' })
    expect(await readdir(tusDir())).toEqual(before)
  })
})

describe('content type by magic bytes', () => {
  it('refuses an executable after its first chunk, whatever its name, and deletes it', async () => {
    const elf = Buffer.alloc(40_000)
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01]).copy(elf)
    const c = await create(h, alice, elf.length, { conv, filename: 'holiday.jpg' })
    const p = await patch(h, alice, c.id!, 0, elf.subarray(0, 8192))
    expect(p).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    // The reason and what is accepted, for the sender's bubble.
    expect((p.json as { error: { message: string } }).error.message).toMatch(/^file type not accepted: .+; accepted: JPEG, PNG, GIF or WebP images, PDF, /)
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 404 })
    expect(existsSync(path.join(tusDir(), c.id!))).toBe(false)
    expect(existsSync(path.join(tusDir(), `${c.id}.json`))).toBe(false)
  })

  it('waits for enough bytes: a first chunk shorter than the sniff window is not judged yet', async () => {
    const exe = Buffer.alloc(10_000)
    Buffer.from('MZ').copy(exe)
    const c = await create(h, alice, exe.length, { conv, filename: 'setup.pdf' })
    expect(await patch(h, alice, c.id!, 0, exe.subarray(0, 1000))).toMatchObject({ status: 204, offset: 1000 })
    expect(await patch(h, alice, c.id!, 1000, exe.subarray(1000, 6000))).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 404 })
  })

  it('refuses at completion what only the whole file shows (text with a NUL byte after the first chunk)', async () => {
    const text = Buffer.from('hello world\n'.repeat(1000))
    text[9000] = 0
    const c = await create(h, alice, text.length, { conv, filename: 'notes.txt' })
    expect(await patch(h, alice, c.id!, 0, text.subarray(0, 5000))).toMatchObject({ status: 204, offset: 5000 })
    expect(await patch(h, alice, c.id!, 5000, text.subarray(5000))).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    expect(existsSync(path.join(filesDir(), c.id!))).toBe(false)
    expect(existsSync(path.join(filesDir(), `${c.id}.json`))).toBe(false)
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 404 })
    const get = await fetch(`${h.url}/files/${c.id}`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(get.status).toBe(404)
  })

  it('refuses an image whose magic is right but whose body cannot be decoded', async () => {
    const png = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#f00' } }).png().toBuffer()
    const broken = Buffer.concat([png.subarray(0, 60), Buffer.alloc(png.length - 60, 0x41)])
    const c = await create(h, alice, broken.length, { conv, filename: 'broken.png' })
    expect(await patch(h, alice, c.id!, 0, broken)).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    expect(existsSync(path.join(filesDir(), `${c.id}.json`))).toBe(false)
  })

  it('accepts plain UTF-8 text and decides the type by content, not by the name', async () => {
    const id = await upload(Buffer.from('你好, 世界\n'.repeat(100)), 'readme.exe')
    const res = await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(((await res.json()) as { file: { mime: string } }).file.mime).toBe('text/plain')
  })

  it('names legacy Office files by extension only among doc/xls/ppt', async () => {
    const cfb = Buffer.alloc(8192)
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(cfb)
    const id = await upload(cfb, 'budget.xls')
    const res = await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(((await res.json()) as { file: { mime: string } }).file.mime).toBe('application/vnd.ms-excel')
    // Documents other than PDF are downloaded, and never rendered from our origin.
    const data = await fetch(`${h.url}/files/${id}`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(data.headers.get('content-disposition')).toMatch(/^attachment; /)
    expect(data.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox")
    const c = await create(h, alice, cfb.length, { conv, filename: 'installer.msi' })
    expect(await patch(h, alice, c.id!, 0, cfb)).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
  })
})

describe('names', () => {
  it('stores a sanitised name: no directories, no control or bidi characters', async () => {
    const id = await upload(pdfBytes(5000), '../../etc/\u0007pass\u202Ewd\u0000.pdf')
    const info = (await (await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })).json()) as { file: { name: string } }
    expect(info.file.name).toBe('passwd.pdf')
    const res = await fetch(`${h.url}/files/${id}`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(res.headers.get('content-disposition')).toBe(`inline; filename="passwd.pdf"; filename*=UTF-8''passwd.pdf`)
    expect(await readdir(filesDir())).not.toContain('passwd.pdf')
  })
})

describe('protocol errors', () => {
  it('answers 409 UPLOAD_OFFSET_CONFLICT to an append at the wrong offset, without writing', async () => {
    const data = pdfBytes(10_000)
    const c = await create(h, alice, data.length, { conv, filename: 'c.pdf' })
    expect(await patch(h, alice, c.id!, 0, data.subarray(0, 5000))).toMatchObject({ status: 204, offset: 5000 })
    expect(await patch(h, alice, c.id!, 4000, data.subarray(4000, 6000))).toMatchObject({ status: 409, code: 'UPLOAD_OFFSET_CONFLICT' })
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 200, offset: 5000 })
    expect(await terminate(c.id!)).toBe(204)
  })

  it('answers 412 with Tus-Version when Tus-Resumable is missing', async () => {
    const res = await fetch(`${h.url}/uploads`, { method: 'POST', headers: { 'Upload-Length': '10', Authorization: `Bearer ${alice}` } })
    expect(res.status).toBe(412)
    expect(res.headers.get('tus-version')).toBe('1.0.0')
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UPLOAD_INVALID')
  })

  it('refuses an append without the tus content type, but tolerates parameters added to it', async () => {
    const data = pdfBytes(6000)
    const c = await create(h, alice, data.length, { conv, filename: 'd.pdf' })
    expect(await patch(h, alice, c.id!, 0, data, { contentType: 'text/plain' })).toMatchObject({ status: 400, code: 'UPLOAD_INVALID' })
    const ok = await patch(h, alice, c.id!, 0, data, { contentType: 'application/offset+octet-stream; charset=utf-8', override: true })
    expect(ok).toMatchObject({ status: 200, offset: 6000 })
  })

  it('terminates an upload: DELETE 204, then 404, and nothing of it left on disk', async () => {
    const c = await create(h, alice, 9000, { conv, filename: 'gone.pdf' })
    expect((await patch(h, alice, c.id!, 0, pdfBytes(9000).subarray(0, 5000))).status).toBe(204)
    expect(await terminate(c.id!)).toBe(204)
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
    expect(existsSync(path.join(tusDir(), c.id!))).toBe(false)
    expect(existsSync(path.join(tusDir(), `${c.id}.json`))).toBe(false)
    expect(await patch(h, alice, c.id!, 5000, pdfBytes(9000).subarray(5000))).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
  })

  it('answers 404 UPLOAD_NOT_FOUND for an unknown upload', async () => {
    expect(await patch(h, alice, 'f'.repeat(44), 0, Buffer.from('x'))).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
    expect(await head(h, alice, 'nope')).toMatchObject({ status: 404 })
  })

  it('answers 404 UPLOAD_NOT_FOUND, never a server error, to every method on an id this server never made', async () => {
    // Well formed but unknown, then shapes no upload id has: short, dotted, a path with encoded slashes, too long, upper-case hex.
    const ids = ['f'.repeat(44), 'x', 'a.b', '..%2F..%2Fetc%2Fpasswd', 'u'.repeat(300), 'F'.repeat(44)]
    for (const id of ids) {
      const del = await fetch(`${h.url}/uploads/${id}`, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${alice}` } })
      expect([id, del.status, del.headers.get('x-error-code')]).toEqual([id, 404, 'UPLOAD_NOT_FOUND'])
      expect(((await del.json()) as { error: { temporary: boolean } }).error.temporary).toBe(false)
      expect([id, (await head(h, alice, id)).status]).toEqual([id, 404])
      expect([id, await patch(h, alice, id, 0, Buffer.from('x'))]).toMatchObject([id, { status: 404, code: 'UPLOAD_NOT_FOUND' }])
      expect([id, await patch(h, alice, id, 0, Buffer.from('x'), { override: true })]).toMatchObject([id, { status: 404, code: 'UPLOAD_NOT_FOUND' }])
    }
  })
})

// Admission races, slots given back and idle slots: admission.test.ts, on both engines.
describe('uploads in progress per user', () => {
  it('refuses a third concurrent upload with 429, counts per user, and frees a slot when one ends', async () => {
    const a = await create(h, alice, 8000, { conv, filename: '1.pdf' })
    const b = await create(h, alice, 8000, { conv, filename: '2.pdf' })
    expect([a.status, b.status]).toEqual([201, 201])
    expect(await create(h, alice, 8000, { conv, filename: '3.pdf' })).toMatchObject({ status: 429, code: 'UPLOAD_TOO_MANY' })

    const bob = await h.token('bob')
    const forBob = await create(h, bob, 8000, { conv, filename: 'b.pdf' })
    expect(forBob.status).toBe(201)

    expect(await patch(h, alice, a.id!, 0, pdfBytes(8000))).toMatchObject({ status: 200 })
    const c = await create(h, alice, 8000, { conv, filename: '3.pdf' })
    expect(c.status).toBe(201)
    expect(await create(h, alice, 8000, { conv, filename: '4.pdf' })).toMatchObject({ status: 429, code: 'UPLOAD_TOO_MANY' })
    expect(await terminate(b.id!)).toBe(204)
    const d = await create(h, alice, 8000, { conv, filename: '4.pdf' })
    expect(d.status).toBe(201)
    for (const id of [c.id!, d.id!]) expect(await terminate(id)).toBe(204)
    expect(await terminate(forBob.id!, bob)).toBe(204)
  })

  it('holds the limit against simultaneous creations', async () => {
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => create(h, alice, 8000, { conv, filename: `${n}.pdf` })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(2)
    expect(results.filter((r) => r.status === 429).every((r) => r.code === 'UPLOAD_TOO_MANY')).toBe(true)
    expect(results.filter((r) => r.status === 429)).toHaveLength(4)
    for (const r of results) if (r.status === 201) expect(await terminate(r.id!)).toBe(204)
  })

})

describe('expiration', () => {
  it('answers 410 once an upload expired, sweeps it from disk, and keeps finished files', async () => {
    // A server of its own with the shortest expiry allowed (1 s): time passing is the event here.
    const e = await startUploads({ UPLOAD_EXPIRY_MS: '1000', UPLOAD_MAX_BYTES: String(MAX) })
    try {
      const token = await e.token('alice')
      const c2 = await e.direct('alice', 'bob')
      const done = await create(e, token, 5000, { conv: c2, filename: 'kept.pdf' })
      expect((await patch(e, token, done.id!, 0, pdfBytes(5000))).status).toBe(200)
      const c = await create(e, token, 8000, { conv: c2, filename: 'old.pdf' })
      const first = await patch(e, token, c.id!, 0, pdfBytes(8000).subarray(0, 4200))
      expect(first.status).toBe(204)
      const deadline = Date.now() + 10_000
      let state = await head(e, token, c.id!)
      while (state.status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100))
        state = await head(e, token, c.id!)
      }
      expect(state).toMatchObject({ status: 410, code: 'UPLOAD_EXPIRED' })
      expect(await patch(e, token, c.id!, 4200, pdfBytes(8000).subarray(4200))).toMatchObject({ status: 410, code: 'UPLOAD_EXPIRED' })

      expect(await e.uploads.sweep()).toBe(2)
      const tus = path.join(e.dir, 'tus')
      expect(await readdir(tus)).toEqual([])
      expect(await head(e, token, c.id!)).toMatchObject({ status: 404 })
      const kept = await fetch(`${e.url}/files/${done.id}`, { headers: { Authorization: `Bearer ${token}` } })
      expect(kept.status).toBe(200)
      expect((await kept.arrayBuffer()).byteLength).toBe(5000)
    } finally {
      await e.close()
    }
  })

  it('sweeps by age alone: an upload younger than the expiry stays', async () => {
    const c = await create(h, alice, 8000, { conv, filename: 'young.pdf' })
    await h.uploads.sweep()
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 200, offset: 0 })
    expect(await h.uploads.store.sweep(Date.now() + h.config.expiryMs + 1)).toBeGreaterThanOrEqual(1)
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 404 })
  })
})
