/**
 * From upload to message: an image uploaded for a conversation is sent over the socket as
 * `{ fileId }`; the server stores the full body (name, size, mime, dimensions, URLs) and the other
 * member receives it, then fetches the thumbnail with the signed URL from the message (no header).
 * Sending an unfinished upload, or someone else's, is refused with the file error codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import sharp from 'sharp'
import { connectUser, newCid } from '../support/client'
import type { TestClient } from '../support/client'
import { create, patch, pdfBytes, startUploads } from './harness'
import type { UploadHarness } from './harness'

let h: UploadHarness
let alice: { client: TestClient; token: string }
let bob: { client: TestClient; token: string }
let conv: string

beforeAll(async () => {
  h = await startUploads()
  conv = await h.direct('alice', 'bob')
  const a = await connectUser(h.url, 'alice')
  const b = await connectUser(h.url, 'bob')
  alice = { client: a.client, token: a.auth.token }
  bob = { client: b.client, token: b.auth.token }
})
afterAll(async () => {
  await alice.client.close()
  await bob.client.close()
  await h.close()
})

describe('image and file messages', () => {
  it('delivers the full image body to the other member, whose client can load the thumbnail', async () => {
    const jpeg = await sharp({ create: { width: 900, height: 1200, channels: 3, background: '#123456' } }).jpeg().toBuffer()
    const c = await create(h, alice.token, jpeg.length, { conv, filename: 'cat.jpg' })
    expect((await patch(h, alice.token, c.id!, 0, jpeg, { override: true })).status).toBe(200)

    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'image', body: { fileId: c.id! } })
    const ack = await alice.client.nextOf('ack', (f) => f.cid === cid)
    const push = await bob.client.nextOf('msg', (f) => f.m.cid === cid)
    expect(push.m.seq).toBe(ack.seq)
    expect(push.m).toMatchObject({ kind: 'image', from: 'alice', conv })
    expect(push.m.body).toEqual({
      fileId: c.id,
      name: 'cat.jpg',
      size: jpeg.length,
      mime: 'image/jpeg',
      width: 900,
      height: 1200,
      url: expect.stringMatching(new RegExp(`^/files/${c.id}\\?e=\\d+&k=j&s=[\\w-]{43}$`)) as unknown,
      thumbUrl: expect.stringMatching(new RegExp(`^/files/${c.id}/thumb\\?e=\\d+&k=j&s=[\\w-]{43}$`)) as unknown,
    })
    const body = push.m.body as { thumbUrl: string }
    const thumb = await fetch(`${h.url}${body.thumbUrl}`)
    expect(thumb.status).toBe(200)
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).height).toBe(400)
  })

  it('refuses to send an unfinished upload (FILE_NOT_READY) and someone else’s file (FILE_NOT_FOUND)', async () => {
    const c = await create(h, alice.token, 9000, { conv, filename: 'draft.pdf' })
    await patch(h, alice.token, c.id!, 0, pdfBytes(9000).subarray(0, 4500))
    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'file', body: { fileId: c.id! } })
    expect(await alice.client.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'FILE_NOT_READY', temporary: true })

    const done = await create(h, alice.token, 5000, { conv, filename: 'final.pdf' })
    expect((await patch(h, alice.token, done.id!, 0, pdfBytes(5000))).status).toBe(200)
    const stolen = newCid()
    bob.client.send({ type: 'send', cid: stolen, conv, kind: 'file', body: { fileId: done.id! } })
    expect(await bob.client.nextOf('error', (f) => f.cid === stolen)).toMatchObject({ code: 'FILE_NOT_FOUND', temporary: false })
  })
})
