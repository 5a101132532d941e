/**
 * The finished files' HTTP entry points:
 *
 *   GET     /files/:id                 the bytes        (a signed URL, or Authorization: Bearer)
 *   GET     /files/:id/thumb           an image's thumbnail (the same)
 *   GET     /files/:id/info            the FileInfo a message body is made of (Authorization: Bearer)
 *   DELETE  /files/:id                 withdraw a file (its uploader)
 */
import type { Request, Response, Router } from 'express'
import { AppError } from '@chat/shared'
import { bearerToken } from '../auth/bearer'
import { sendUploadError } from './errors'
import { infoOf } from './files'
import type { FileRecord } from './files'
import { contentDisposition } from './names'
import type { Uploads } from './service'
import type { FileVariant } from './signed'

export const FILES_PATH = '/files'

/** Adds the /files routes to `router`. `userOf`: the user of an access token (auth's verify). */
export function fileRoutes(router: Router, uploads: Uploads, userOf: (token: string | undefined) => Promise<string>): void {
  const { files, urls } = uploads
  const fail = (res: Response, err: unknown, req: Request) => sendUploadError(res, err, req, uploads.log)

  /** A member's request with `Authorization: Bearer` for a finished file. */
  async function memberRead(req: Request): Promise<FileRecord> {
    refuseQueryToken(req)
    const user = await userOf(bearerToken(req.get('authorization')))
    const id = String(req.params.id)
    const record = await files.get(id)
    if (!record) {
      if (await files.withdrawn(id)) throw new AppError('FILE_WITHDRAWN')
      // All bytes are in but the file is still being checked and published (the last append's
      // answer was lost, and the uploader asked HEAD, then this): temporary, ask again.
      if (await uploads.finishing(id, user)) throw new AppError('FILE_NOT_READY', 'the upload is complete and being checked')
      throw new AppError('FILE_NOT_FOUND')
    }
    if (!(await uploads.readable(record, user))) throw new AppError('NOT_MEMBER')
    return record
  }

  /**
   * The bytes or thumbnail: by a signed URL (`<image src>`, previewImage, WeChat's media check: none
   * of them sends headers) or by a member's `Authorization`. The signature is checked before the file
   * is looked up, so an unsigned request learns nothing about which ids exist.
   */
  async function reader(req: Request, variant: FileVariant): Promise<FileRecord> {
    if (req.query.s === undefined && req.query.e === undefined && req.query.k === undefined) return memberRead(req)
    refuseQueryToken(req)
    const id = String(req.params.id)
    urls.verify(id, variant, req.query)
    const record = await files.get(id)
    if (!record) throw new AppError((await files.withdrawn(id)) ? 'FILE_WITHDRAWN' : 'FILE_NOT_FOUND')
    return record
  }

  async function serveFile(req: Request, res: Response, which: FileVariant): Promise<void> {
    let record: FileRecord
    try {
      record = await reader(req, which)
      if (which === 'thumb' && record.kind !== 'image') throw new AppError('FILE_NOT_FOUND', 'no thumbnail: not an image')
    } catch (err) {
      fail(res, err, req)
      return
    }
    const image = record.kind === 'image'
    // A PDF (its type found in the content, bff/src/upload/content.ts) opens in the browser's own
    // viewer: inline, with its type (as an attachment, the new tab stayed blank while the file went
    // to downloads). The viewer is the browser's and draws it under the same sandboxing CSP. Other
    // documents are downloaded, never rendered by a browser from our origin.
    const viewer = which === 'data' && record.mime === 'application/pdf'
    res.set({
      'Content-Type': which === 'thumb' ? 'image/jpeg' : record.mime,
      'Content-Disposition': contentDisposition(image || viewer ? 'inline' : 'attachment', which === 'thumb' ? `thumb-${record.name}.jpg` : record.name),
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
      // The bytes of an id never change, but a signed URL dies with its expiry and the file may be
      // withdrawn: private caches only, for no longer than the URL's TTL.
      'Cache-Control': `private, max-age=${Math.floor(urls.ttlMs / 1000)}`,
      // Signed URLs are bearer credentials for one file: never sent on as a Referer.
      'Referrer-Policy': 'no-referrer',
    })
    const filePath = which === 'thumb' ? files.thumbPath(record.id) : files.dataPath(record.id)
    // dotfiles: UPLOAD_DIR may well lie below a hidden directory; the file names are ids.
    res.sendFile(filePath, { etag: true, lastModified: false, cacheControl: false, dotfiles: 'allow' }, (err) => {
      if (err && !res.headersSent) fail(res, new AppError('FILE_NOT_FOUND', undefined, { cause: err }), req)
    })
  }

  router.get(`${FILES_PATH}/:id`, (req, res) => void serveFile(req, res, 'data'))
  router.get(`${FILES_PATH}/:id/thumb`, (req, res) => void serveFile(req, res, 'thumb'))
  router.get(`${FILES_PATH}/:id/info`, async (req, res) => {
    try {
      const record = await memberRead(req)
      res.set('Cache-Control', 'private, no-cache').json({ file: infoOf(record, uploads.urlOf) })
    } catch (err) {
      fail(res, err, req)
    }
  })
  router.delete(`${FILES_PATH}/:id`, async (req, res) => {
    try {
      refuseQueryToken(req)
      const user = await userOf(bearerToken(req.get('authorization')))
      const record = await files.get(String(req.params.id))
      // Only the uploader withdraws; to anyone else someone else's file answers like a missing one.
      if (!record || record.owner !== user) throw new AppError('FILE_NOT_FOUND')
      await uploads.withdrawFile(record.id)
      res.status(204).end()
    } catch (err) {
      fail(res, err, req)
    }
  })
}

/**
 * An access token in a URL ends up in access logs, proxies' and CDNs' caches, browser history,
 * Referer headers and screenshots: refused outright, so a client that still sends one fails loudly.
 */
function refuseQueryToken(req: Request): void {
  if (req.query.token !== undefined) {
    throw new AppError('FILE_URL_INVALID', 'access tokens are not accepted in URLs: use the signed URL or Authorization: Bearer')
  }
}
