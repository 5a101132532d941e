/**
 * Signed file URLs: a message's `url` and `thumbUrl` open one variant of one file, without any
 * header (as `<image>`, previewImage and WeChat's media check load them), until they expire or the
 * file is withdrawn; anything else about them (expiry, key, signature, file, variant) changed is
 * refused. History pages, syncs and conversation lists carry them signed afresh. No access token is
 * accepted in a URL.
 */
import { access } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { AppError } from '@chat/shared'
import { loadConfig, ConfigError } from '../../src/config'
import { FileUrlSigner, derivedUrlKey } from '../../src/upload/signed'
import type { FileVariant } from '../../src/upload/signed'
import { connectUser, newCid } from '../support/client'
import { JWT_SECRET, create, patch, pdfBytes, startUploads } from './harness'
import type { UploadHarness } from './harness'

const HOUR = 3600_000
const SECRET_A = 'a'.repeat(40)
const SECRET_B = 'b'.repeat(40)

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code
}

function query(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url, 'http://x').searchParams)
}

function thrown(f: () => void): string {
  try {
    f()
  } catch (err) {
    if (err instanceof AppError) return err.code
    throw err
  }
  return 'none'
}

describe('FileUrlSigner', () => {
  const id = 'ab'.repeat(22)
  const other = 'cd'.repeat(22)

  it('signs a URL that verifies for its file and variant until its expiry, not after', () => {
    let now = 1_700_000_000_000
    const s = new FileUrlSigner([{ id: 'k1', secret: SECRET_A }], HOUR, () => now)
    const url = s.sign(id, 'thumb')
    expect(url).toMatch(new RegExp(`^/files/${id}/thumb\\?e=\\d+&k=k1&s=[\\w-]{43}$`))
    const q = query(url)
    // Rounded up to a quarter of the TTL: between 1 and 1.25 TTL from now.
    const e = Number(q.e) * 1000
    expect(e).toBeGreaterThanOrEqual(now + HOUR)
    expect(e).toBeLessThanOrEqual(now + 1.25 * HOUR)
    expect(thrown(() => s.verify(id, 'thumb', q))).toBe('none')
    now = e - 1
    expect(thrown(() => s.verify(id, 'thumb', q))).toBe('none')
    now = e
    expect(thrown(() => s.verify(id, 'thumb', q))).toBe('FILE_URL_EXPIRED')
  })

  it('refuses a URL with anything changed: expiry, key, signature, file, variant, or parts missing', () => {
    const s = new FileUrlSigner([{ id: 'k1', secret: SECRET_A }], HOUR)
    const q = query(s.sign(id, 'data'))
    const flip = (x: string): string => (x[0] === 'A' ? 'B' : 'A') + x.slice(1)
    const cases: Array<[string, FileVariant, Record<string, string | undefined>]> = [
      [id, 'data', { ...q, e: String(Number(q.e) + 3600) }],
      [id, 'data', { ...q, k: 'k2' }],
      [id, 'data', { ...q, s: flip(q.s!) }],
      [id, 'data', { ...q, s: q.s!.slice(0, -1) }],
      [other, 'data', q],
      [id, 'thumb', q],
      [id, 'data', { ...q, s: undefined }],
      [id, 'data', { e: 'soon', k: q.k, s: q.s }],
      [id, 'data', {}],
    ]
    for (const [file, variant, qq] of cases) expect(thrown(() => s.verify(file, variant, qq))).toBe('FILE_URL_INVALID')
  })

  it('rotates keys without breaking live URLs: the first key signs, every key verifies', () => {
    const old = new FileUrlSigner([{ id: 'k1', secret: SECRET_A }], HOUR)
    const rotated = new FileUrlSigner(
      [
        { id: 'k2', secret: SECRET_B },
        { id: 'k1', secret: SECRET_A },
      ],
      HOUR,
    )
    const live = old.sign(id, 'data')
    expect(thrown(() => rotated.verify(id, 'data', query(live)))).toBe('none')
    expect(query(rotated.sign(id, 'data')).k).toBe('k2')
    // Same id, another secret: refused.
    const impostor = new FileUrlSigner([{ id: 'k1', secret: SECRET_B }], HOUR)
    expect(thrown(() => rotated.verify(id, 'data', query(impostor.sign(id, 'data'))))).toBe('FILE_URL_INVALID')
  })

  it('refreshes the url and thumbUrl of message JSON, and nothing a user wrote', () => {
    let now = 1_700_000_000_000
    const s = new FileUrlSigner([{ id: 'k1', secret: SECRET_A }], HOUR, () => now)
    const stale = JSON.stringify({ kind: 'image', body: { fileId: id, url: s.sign(id, 'data'), thumbUrl: s.sign(id, 'thumb') } })
    const text = JSON.stringify({ kind: 'text', body: { text: `"url":"/files/${other}" /files/${other}` } })
    now += 10 * HOUR
    const fresh = JSON.parse(s.refresh(stale)) as { body: { url: string; thumbUrl: string } }
    expect(fresh.body.url).toBe(s.sign(id, 'data'))
    expect(fresh.body.thumbUrl).toBe(s.sign(id, 'thumb'))
    expect(thrown(() => s.verify(id, 'thumb', query(fresh.body.thumbUrl)))).toBe('none')
    expect(s.refresh(text)).toBe(text)
    // A message stored before signed URLs existed: its plain paths go out signed.
    const plain = JSON.stringify({ kind: 'file', body: { fileId: id, url: `/files/${id}` } })
    expect((JSON.parse(s.refresh(plain)) as { body: { url: string } }).body.url).toBe(s.sign(id, 'data'))
  })

  it('takes its keys from FILE_URL_KEYS, checked at start-up', () => {
    const base = { NODE_ENV: 'test', JWT_SECRET }
    expect(loadConfig({ ...base, FILE_URL_KEYS: `k2:${SECRET_B}, k1:${SECRET_A}` }).uploads.urlKeys).toEqual([
      { id: 'k2', secret: SECRET_B },
      { id: 'k1', secret: SECRET_A },
    ])
    expect(loadConfig(base).uploads.urlKeys).toBeUndefined()
    expect(loadConfig(base).uploads.urlTtlMs).toBe(2 * HOUR)
    for (const bad of ['k1:short', `k-1:${SECRET_A}`, `${SECRET_A}`, `k1:${SECRET_A},k1:${SECRET_B}`, ',']) {
      expect(() => loadConfig({ ...base, FILE_URL_KEYS: bad })).toThrow(ConfigError)
      expect(() => loadConfig({ ...base, FILE_URL_KEYS: bad })).toThrow(/FILE_URL_KEYS/)
    }
    expect(() => loadConfig({ ...base, FILE_URL_TTL_MS: '10' })).toThrow(/FILE_URL_TTL_MS/)
  })
})

describe('signed URLs over HTTP', () => {
  let h: UploadHarness
  let alice: string
  let bob: string
  let conv: string

  beforeAll(async () => {
    h = await startUploads({ FILE_URL_KEYS: `k2:${SECRET_B},k1:${SECRET_A}` })
    alice = await h.token('alice')
    bob = await h.token('bob')
    conv = await h.direct('alice', 'bob')
  })
  afterAll(async () => h.close())

  async function image(name = 'p.png'): Promise<{ id: string; url: string; thumbUrl: string; png: Buffer }> {
    const png = await sharp({ create: { width: 60, height: 30, channels: 3, background: '#f00' } }).png().toBuffer()
    const c = await create(h, alice, png.length, { conv, filename: name })
    const done = await patch(h, alice, c.id!, 0, png)
    expect(done.status).toBe(200)
    const file = (done.json as { file: { url: string; thumbUrl: string } }).file
    return { id: c.id!, url: file.url, thumbUrl: file.thumbUrl, png }
  }

  it('opens the file and its thumbnail with no header at all (as WeChat’s media check fetches)', async () => {
    const f = await image()
    expect(query(f.url).k).toBe('k2')
    const data = await fetch(`${h.url}${f.url}`)
    expect(data.status).toBe(200)
    expect(Buffer.from(await data.arrayBuffer()).equals(f.png)).toBe(true)
    expect(data.headers.get('referrer-policy')).toBe('no-referrer')
    const thumb = await fetch(`${h.url}${f.thumbUrl}`)
    expect(thumb.status).toBe(200)
    expect(thumb.headers.get('content-type')).toBe('image/jpeg')
    // A URL signed with the previous key (still listed) works too.
    const previous = new FileUrlSigner([{ id: 'k1', secret: SECRET_A }], HOUR)
    expect((await fetch(`${h.url}${previous.sign(f.id, 'data')}`)).status).toBe(200)
  })

  it('refuses expired, tampered, wrong-variant, wrong-file and unknown-key URLs with the exact code', async () => {
    const f = await image()
    const g = await image('other.png')
    const expired = new FileUrlSigner([{ id: 'k2', secret: SECRET_B }], HOUR, () => Date.now() - 3 * HOUR).sign(f.id, 'data')
    const q = query(f.url)
    const forged = new FileUrlSigner([{ id: 'k9', secret: SECRET_A }], HOUR).sign(f.id, 'data')
    const cases: Array<[string, number, string]> = [
      [expired, 403, 'FILE_URL_EXPIRED'],
      [`/files/${f.id}?e=${Number(q.e) + 900}&k=${q.k}&s=${q.s}`, 403, 'FILE_URL_INVALID'],
      [`/files/${f.id}?e=${q.e}&k=${q.k}&s=${q.s!.replace(/^./, (c) => (c === 'x' ? 'y' : 'x'))}`, 403, 'FILE_URL_INVALID'],
      [`/files/${f.id}/thumb?${new URL(f.url, 'http://x').search.slice(1)}`, 403, 'FILE_URL_INVALID'],
      [`/files/${g.id}?${new URL(f.url, 'http://x').search.slice(1)}`, 403, 'FILE_URL_INVALID'],
      [forged, 403, 'FILE_URL_INVALID'],
      [`/files/${f.id}?e=${q.e}&k=${q.k}&s=${q.s}&token=${alice}`, 403, 'FILE_URL_INVALID'],
      [`/files/${f.id}?token=${alice}`, 403, 'FILE_URL_INVALID'],
      [`/files/${f.id}?e=${q.e}&k=${q.k}`, 403, 'FILE_URL_INVALID'],
    ]
    for (const [path, status, code] of cases) {
      const res = await fetch(`${h.url}${path}`)
      expect({ path, status: res.status, code: await codeOf(res) }).toEqual({ path, status, code })
    }
    // An unknown id with a forged signature learns nothing: the signature is checked first.
    const unknown = await fetch(`${h.url}/files/${'0'.repeat(44)}?e=${q.e}&k=${q.k}&s=${q.s}`)
    expect(unknown.status).toBe(403)
  })

  it('stops working when the file is withdrawn, which only its uploader may do', async () => {
    const f = await image()
    const byBob = await fetch(`${h.url}/files/${f.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${bob}` } })
    expect(byBob.status).toBe(404)
    expect(await codeOf(byBob)).toBe('FILE_NOT_FOUND')
    expect((await fetch(`${h.url}${f.url}`)).status).toBe(200)

    const withdrawn = new Promise((resolve) => h.uploads.events.once('withdrawn', resolve))
    const byAlice = await fetch(`${h.url}/files/${f.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${alice}` } })
    expect(byAlice.status).toBe(204)
    expect(await withdrawn).toBe(f.id)
    for (const path of [f.url, f.thumbUrl]) {
      const res = await fetch(`${h.url}${path}`)
      expect(res.status).toBe(410)
      expect(await codeOf(res)).toBe('FILE_WITHDRAWN')
    }
    const info = await fetch(`${h.url}/files/${f.id}/info`, { headers: { Authorization: `Bearer ${bob}` } })
    expect(info.status).toBe(410)
    await expect(h.uploads.resolveFile({ user: 'alice', conv, kind: 'image', fileId: f.id })).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' })
    expect(await h.uploads.files.get(f.id)).toBeUndefined()
    // No copy of the bytes is left: neither the finished file nor the tus upload behind it.
    for (const p of [h.uploads.files.dataPath(f.id), h.uploads.files.thumbPath(f.id), h.uploads.store.dataPath(f.id)]) {
      await expect(access(p)).rejects.toMatchObject({ code: 'ENOENT' })
    }
    // A second withdrawal finds nothing.
    expect(await h.uploads.withdrawFile(f.id)).toBe(false)
  })
})

describe('URLs in messages', () => {
  let h: UploadHarness
  beforeAll(async () => {
    h = await startUploads()
  })
  afterAll(async () => h.close())

  it('are signed afresh in history pages, syncs and the conversation list', async () => {
    const conv = await h.direct('carol', 'dave')
    const carol = await connectUser(h.url, 'carol')
    const dave = await connectUser(h.url, 'dave')
    try {
      const pdf = pdfBytes(3000)
      const c = await create(h, carol.auth.token, pdf.length, { conv, filename: 'a.pdf' })
      expect((await patch(h, carol.auth.token, c.id!, 0, pdf)).status).toBe(200)
      // A message stored three hours ago: the URLs it was stored with have expired.
      const old = new FileUrlSigner([derivedUrlKey(JWT_SECRET)], h.config.urlTtlMs, () => Date.now() - 3 * HOUR)
      const staleUrl = old.sign(c.id!, 'data')
      expect(await codeOf(await fetch(`${h.url}${staleUrl}`))).toBe('FILE_URL_EXPIRED')
      await h.engine.messages.append({
        conv,
        from: 'carol',
        cid: newCid(),
        mid: 'm-old',
        ts: Date.now() - 3 * HOUR,
        kind: 'file',
        body: { fileId: c.id!, name: 'a.pdf', size: pdf.length, mime: 'application/pdf', url: staleUrl },
        dedupWindowMs: 60_000,
      })

      const opens = async (url: string): Promise<void> => {
        expect(url).not.toBe(staleUrl)
        const res = await fetch(`${h.url}${url}`)
        expect(res.status).toBe(200)
        expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true)
      }
      dave.client.send({ type: 'history', rid: 'h1', conv })
      const page = await dave.client.nextOf('messages', (f) => f.rid === 'h1')
      await opens((page.msgs[0]!.body as { url: string }).url)

      // Appended behind the chat's back, the message was never pushed to the devices already
      // connected (their first sync and first convs may answer from the summary read at their
      // welcome): a device connecting after it syncs and lists it.
      const later = await connectUser(h.url, 'dave')
      try {
        const { batches } = await later.client.sync('s1', [{ conv, seq: 0 }])
        await opens((batches[0]!.msgs[0]!.body as { url: string }).url)
        later.client.send({ type: 'convs', rid: 'c1' })
        const convs = await later.client.nextOf('convs', (f) => f.rid === 'c1')
        await opens((convs.items.find((x) => x.id === conv)!.lastMsg!.body as { url: string }).url)
      } finally {
        await later.client.close()
      }
    } finally {
      await carol.client.close()
      await dave.client.close()
    }
  })
})
