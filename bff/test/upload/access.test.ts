/**
 * Who may do what: only the uploader writes, reads or terminates an upload; only the members of the
 * conversation an upload was made for read the finished file; only the uploader sends it, and only
 * to that conversation. A stranger learns nothing and changes nothing.
 */
import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { AppError } from '@chat/shared'
import { create, head, patch, pdfBytes, startUploads } from './harness'
import type { UploadHarness } from './harness'

let h: UploadHarness
let alice: string
let bob: string
let mallory: string
let conv: string

beforeAll(async () => {
  h = await startUploads()
  alice = await h.token('alice')
  bob = await h.token('bob')
  mallory = await h.token('mallory')
  conv = await h.direct('alice', 'bob')
  await h.direct('alice', 'mallory')
})
afterAll(async () => h.close())

async function finished(data: Buffer, name: string): Promise<string> {
  const c = await create(h, alice, data.length, { conv, filename: name })
  expect((await patch(h, alice, c.id!, 0, data)).status).toBe(200)
  return c.id!
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof AppError) return err.code
    throw err
  }
  throw new Error('expected a rejection')
}

describe('an upload in progress', () => {
  it('cannot be read, appended to or terminated by anyone but its uploader', async () => {
    const data = pdfBytes(9000)
    const c = await create(h, alice, data.length, { conv, filename: 'secret.pdf' })
    expect((await patch(h, alice, c.id!, 0, data.subarray(0, 4500))).offset).toBe(4500)

    for (const stranger of [mallory, bob]) {
      expect(await head(h, stranger, c.id!)).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
      expect(await patch(h, stranger, c.id!, 4500, data.subarray(4500))).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
      expect(await patch(h, stranger, c.id!, 4500, data.subarray(4500), { override: true })).toMatchObject({ status: 404, code: 'UPLOAD_NOT_FOUND' })
      const del = await fetch(`${h.url}/uploads/${c.id}`, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${stranger}` } })
      expect(del.status).toBe(404)
    }
    expect(await head(h, alice, c.id!)).toMatchObject({ status: 200, offset: 4500, length: 9000 })
    expect(await head(h, undefined, c.id!)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
  })

  it('is never served before it is complete, and cannot be sent yet', async () => {
    const data = pdfBytes(9000)
    const c = await create(h, alice, data.length, { conv, filename: 'half.pdf' })
    await patch(h, alice, c.id!, 0, data.subarray(0, 5000))
    for (const path of [`/files/${c.id}`, `/files/${c.id}/info`, `/files/${c.id}/thumb`]) {
      const res = await fetch(`${h.url}${path}`, { headers: { Authorization: `Bearer ${alice}` } })
      expect(res.status).toBe(404)
      expect(await codeOf(res)).toBe('FILE_NOT_FOUND')
    }
    expect(await rejection(h.uploads.resolveFile({ user: 'alice', conv, kind: 'file', fileId: c.id! }))).toBe('FILE_NOT_READY')
    expect(await rejection(h.uploads.resolveFile({ user: 'bob', conv, kind: 'file', fileId: c.id! }))).toBe('FILE_NOT_FOUND')
  })
})

describe('an upload whose bytes are all in, still being checked and published', () => {
  it('answers its uploader FILE_NOT_READY (temporary: ask again) and anyone else FILE_NOT_FOUND', async () => {
    const data = pdfBytes(6000)
    const c = await create(h, alice, data.length, { conv, filename: 'checking.pdf' })
    // The state between the last byte's arrival and the record's publication, held still: the data
    // file complete on disk, no record yet.
    await writeFile(h.uploads.store.dataPath(c.id!), data)
    const mine = await fetch(`${h.url}/files/${c.id}/info`, { headers: { Authorization: `Bearer ${alice}` } })
    expect(mine.status).toBe(409)
    expect(await mine.json()).toEqual({ error: { code: 'FILE_NOT_READY', message: 'the upload is complete and being checked', temporary: true } })
    const theirs = await fetch(`${h.url}/files/${c.id}/info`, { headers: { Authorization: `Bearer ${bob}` } })
    expect(theirs.status).toBe(404)
    expect(await codeOf(theirs)).toBe('FILE_NOT_FOUND')
  })
})

describe('a finished file', () => {
  it('is readable by the members of its conversation with a header; an access token in the query is refused', async () => {
    const data = pdfBytes(7000)
    const id = await finished(data, 'minutes.pdf')
    for (const token of [alice, bob]) {
      const byHeader = await fetch(`${h.url}/files/${id}`, { headers: { Authorization: `Bearer ${token}` } })
      expect(byHeader.status).toBe(200)
      expect(Buffer.from(await byHeader.arrayBuffer()).equals(data)).toBe(true)
      expect(byHeader.headers.get('cache-control')).toBe(`private, max-age=${h.config.urlTtlMs / 1000}`)
      expect(byHeader.headers.get('x-content-type-options')).toBe('nosniff')
      expect(byHeader.headers.get('referrer-policy')).toBe('no-referrer')
      for (const path of [`/files/${id}`, `/files/${id}/info`]) {
        const byQuery = await fetch(`${h.url}${path}?token=${encodeURIComponent(token)}`)
        expect(byQuery.status).toBe(403)
        expect(await codeOf(byQuery)).toBe('FILE_URL_INVALID')
      }
    }
  })

  it('is refused to a stranger (403 NOT_MEMBER) and to nobody (401), bytes, thumbnail and info alike', async () => {
    const png = await sharp({ create: { width: 50, height: 40, channels: 3, background: '#00f' } }).png().toBuffer()
    const id = await finished(png, 'p.png')
    for (const path of [`/files/${id}`, `/files/${id}/thumb`, `/files/${id}/info`]) {
      const stranger = await fetch(`${h.url}${path}`, { headers: { Authorization: `Bearer ${mallory}` } })
      expect(stranger.status).toBe(403)
      expect(await codeOf(stranger)).toBe('NOT_MEMBER')
      const nobody = await fetch(`${h.url}${path}`)
      expect(nobody.status).toBe(401)
      expect(await codeOf(nobody)).toBe('UNAUTHORIZED')
      const forged = await fetch(`${h.url}${path}`, { headers: { Authorization: `Bearer ${alice.slice(0, -3)}abc` } })
      expect(forged.status).toBe(401)
    }
  })

  it('resolves to the message body for its uploader in its conversation only', async () => {
    const png = await sharp({ create: { width: 64, height: 32, channels: 4, background: '#0f08' } }).png().toBuffer()
    const id = await finished(png, 'wide.png')
    expect(await h.uploads.resolveFile({ user: 'alice', conv, kind: 'image', fileId: id })).toEqual({
      fileId: id,
      name: 'wide.png',
      size: png.length,
      mime: 'image/png',
      width: 64,
      height: 32,
      url: h.uploads.urls.sign(id, 'data'),
      thumbUrl: h.uploads.urls.sign(id, 'thumb'),
    })
    // An image may go as a plain file; a document may not go as an image.
    expect(await h.uploads.resolveFile({ user: 'alice', conv, kind: 'file', fileId: id })).toEqual({
      fileId: id,
      name: 'wide.png',
      size: png.length,
      mime: 'image/png',
      url: h.uploads.urls.sign(id, 'data'),
    })
    const pdf = await finished(pdfBytes(3000), 'doc.pdf')
    expect(await rejection(h.uploads.resolveFile({ user: 'alice', conv, kind: 'image', fileId: pdf }))).toBe('UPLOAD_TYPE_REJECTED')
    // Bob is a member but not the uploader; the alice-mallory conversation is not the one it was made for.
    expect(await rejection(h.uploads.resolveFile({ user: 'bob', conv, kind: 'image', fileId: id }))).toBe('FILE_NOT_FOUND')
    const other = 'd:alice:mallory'
    expect(await rejection(h.uploads.resolveFile({ user: 'alice', conv: other, kind: 'image', fileId: id }))).toBe('FILE_NOT_FOUND')
    expect(await rejection(h.uploads.resolveFile({ user: 'alice', conv, kind: 'file', fileId: 'nope' }))).toBe('FILE_NOT_FOUND')
  })

  it('cannot be reached by path tricks', async () => {
    for (const path of ['/files/..%2F..%2Fetc%2Fpasswd', '/files/%2e%2e', `/files/${'a'.repeat(44)}.json`]) {
      const res = await fetch(`${h.url}${path}`, { headers: { Authorization: `Bearer ${alice}` } })
      expect(res.status).toBe(404)
    }
  })
})
