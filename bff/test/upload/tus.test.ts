/**
 * The upload endpoint speaks tus 1.0: the reference client (tus-js-client, Node build) uploads to
 * it with plain PATCH and with the POST + X-HTTP-Method-Override form, and what it uploaded is what
 * members get back. Images come back with their displayed size and a thumbnail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { Upload } from 'tus-js-client'
import { create, patch, pdfBytes, startUploads } from './harness'
import type { UploadHarness } from './harness'

let h: UploadHarness
let alice: string
let conv: string

beforeAll(async () => {
  h = await startUploads()
  alice = await h.token('alice')
  conv = await h.direct('alice', 'bob')
})
afterAll(async () => h.close())

function tusUpload(data: Buffer, options: { chunkSize: number; overridePatchMethod?: boolean; name: string }): Promise<{ url: string }> {
  return new Promise((resolve, reject) => {
    const upload = new Upload(data, {
      endpoint: `${h.url}/uploads`,
      chunkSize: options.chunkSize,
      overridePatchMethod: options.overridePatchMethod ?? false,
      metadata: { conv, filename: options.name, filetype: 'application/octet-stream' },
      headers: { Authorization: `Bearer ${alice}` },
      retryDelays: [],
      onError: reject,
      onSuccess: () => resolve({ url: upload.url! }),
    })
    upload.start()
  })
}

async function download(path: string, token: string): Promise<{ status: number; bytes: Buffer; headers: Headers }> {
  const res = await fetch(`${h.url}${path}`, { headers: { Authorization: `Bearer ${token}` } })
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), headers: res.headers }
}

describe('tus 1.0 with tus-js-client', () => {
  it('advertises version, extensions and the size limit on OPTIONS', async () => {
    const res = await fetch(`${h.url}/uploads`, { method: 'OPTIONS' })
    expect(res.status).toBe(204)
    expect(res.headers.get('tus-version')).toBe('1.0.0')
    expect(res.headers.get('tus-extension')?.split(',')).toEqual(['creation', 'creation-with-upload', 'termination', 'expiration'])
    expect(res.headers.get('tus-max-size')).toBe(String(100 * 1024 * 1024))
  })

  it.each([
    ['PATCH', false],
    ['POST + X-HTTP-Method-Override: PATCH', true],
  ])('uploads a 1.3 MB document in 256 KB chunks with %s and serves the same bytes', async (_label, override) => {
    const data = pdfBytes(1_300_000, override ? 7 : 3)
    const received: number[] = []
    const off = h.uploads.store.onBytes((_id, n) => received.push(n))
    const { url } = await tusUpload(data, { chunkSize: 256 * 1024, overridePatchMethod: override, name: 'report.pdf' })
    off()
    const id = url.split('/').pop()!
    expect(url).toBe(`${h.url}/uploads/${id}`)
    expect(received.reduce((a, b) => a + b, 0)).toBe(data.length)

    const info = (await (await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })).json()) as {
      file: Record<string, unknown>
    }
    expect(info.file).toEqual({ fileId: id, kind: 'file', name: 'report.pdf', size: data.length, mime: 'application/pdf', url: h.uploads.urls.sign(id, 'data') })

    const got = await download(`/files/${id}`, await h.token('bob'))
    expect(got.status).toBe(200)
    expect(got.headers.get('content-type')).toBe('application/pdf')
    // A PDF opens in the browser's viewer: inline, still under the sandboxing CSP.
    expect(got.headers.get('content-disposition')).toBe(`inline; filename="report.pdf"; filename*=UTF-8''report.pdf`)
    expect(got.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox")
    expect(got.headers.get('x-content-type-options')).toBe('nosniff')
    expect(got.bytes.equals(data)).toBe(true)
  })

  it('answers the final append with the file info the message needs', async () => {
    const data = pdfBytes(10_000)
    const created = await create(h, alice, data.length, { conv, filename: 'a.pdf' })
    expect(created.status).toBe(201)
    expect(created.location).toBe(`/uploads/${created.id}`)
    const first = await patch(h, alice, created.id!, 0, data.subarray(0, 6000))
    expect(first).toMatchObject({ status: 204, offset: 6000 })
    const last = await patch(h, alice, created.id!, 6000, data.subarray(6000))
    expect(last.status).toBe(200)
    expect(last.offset).toBe(10_000)
    expect(last.json).toEqual({
      file: { fileId: created.id, kind: 'file', name: 'a.pdf', size: 10_000, mime: 'application/pdf', url: h.uploads.urls.sign(created.id!, 'data') },
    })
  })
})

describe('images', () => {
  it('records the displayed size and serves a thumbnail no larger than the limit', async () => {
    const png = await sharp({ create: { width: 1200, height: 800, channels: 3, background: '#3a7' } }).png().toBuffer()
    const { url } = await tusUpload(png, { chunkSize: 64 * 1024, name: 'photo.png' })
    const id = url.split('/').pop()!
    const res = await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })
    const { file } = (await res.json()) as { file: Record<string, unknown> }
    expect(file).toEqual({
      fileId: id,
      kind: 'image',
      name: 'photo.png',
      size: png.length,
      mime: 'image/png',
      url: h.uploads.urls.sign(id, 'data'),
      width: 1200,
      height: 800,
      thumbUrl: h.uploads.urls.sign(id, 'thumb'),
    })
    const thumb = await download(`/files/${id}/thumb`, alice)
    expect(thumb.status).toBe(200)
    expect(thumb.headers.get('content-type')).toBe('image/jpeg')
    const meta = await sharp(thumb.bytes).metadata()
    expect(meta.format).toBe('jpeg')
    expect([meta.width, meta.height]).toEqual([400, 267])
    const full = await download(`/files/${id}`, alice)
    expect(full.headers.get('content-type')).toBe('image/png')
    expect(full.headers.get('content-disposition')).toMatch(/^inline; /)
    expect(full.bytes.equals(png)).toBe(true)
  })

  it('swaps width and height of a photo stored sideways (EXIF orientation 6)', async () => {
    const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#888' } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer()
    const { url } = await tusUpload(jpeg, { chunkSize: 1024 * 1024, name: 'IMG_0001.JPG' })
    const id = url.split('/').pop()!
    const { file } = (await (await fetch(`${h.url}/files/${id}/info`, { headers: { Authorization: `Bearer ${alice}` } })).json()) as { file: { width: number; height: number; mime: string } }
    expect(file).toMatchObject({ mime: 'image/jpeg', width: 480, height: 640 })
    const thumb = await download(`/files/${id}/thumb`, alice)
    const meta = await sharp(thumb.bytes).metadata()
    expect([meta.width, meta.height]).toEqual([300, 400])
  })
})
