/**
 * The upload component: a tus 1.0 endpoint (@tus/server over UploadStore) at /uploads, the finished
 * files at /files, and the resolver messaging calls when an image or file message is sent.
 *
 *   OPTIONS /uploads                   tus discovery (no token)
 *   POST    /uploads                   create (Upload-Length, Upload-Metadata: conv, filename)
 *   HEAD    /uploads/:id               offset
 *   PATCH   /uploads/:id               append; also POST + X-HTTP-Method-Override: PATCH
 *   DELETE  /uploads/:id               terminate
 *   GET     /files/:id                 the bytes        (a signed URL, or Authorization: Bearer)
 *   GET     /files/:id/thumb           an image's thumbnail (the same)
 *   GET     /files/:id/info            the FileInfo a message body is made of (Authorization: Bearer)
 *   DELETE  /files/:id                 withdraw a file (its uploader)
 *
 * An upload is bound to a conversation at creation (metadata `conv`, membership checked then); the
 * finished file may be sent only by its uploader, only to that conversation, and read only by that
 * conversation's members. Binding at creation rather than at send keeps reads a single check, lets a
 * stranger's upload attempt fail before any byte is stored, and a file never needs to be re-bound.
 *
 * @tus/server is driven through `handleWeb` so that each request can be prepared (method override,
 * principal) and each answer finished (early content check, JSON errors) around it.
 */
import { EventEmitter } from 'node:events'
import { mkdirSync } from 'node:fs'
import fs from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import path from 'node:path'
import { Server as TusServer } from '@tus/server'
import type { Upload } from '@tus/server'
import express from 'express'
import type { Request as ExpressRequest, Response as ExpressResponse, Router } from 'express'
import * as v from 'valibot'
import { AppError, schemas } from '@chat/shared'
import type { FileBody, ImageBody } from '@chat/shared'
import type { FileResolver } from '../chat/files'
import type { UploadSlotStore } from '../store/types'
import type { UploadConfig } from './config'
import { ACCEPTED_TYPES_TEXT, SNIFF_BYTES, checkFile, checkHead, isImageMime } from './content'
import { errorJson, statusFor, toErrorResponse, codeOfTus } from './errors'
import { FileRepository, bodyOf, infoOf } from './files'
import type { FileRecord } from './files'
import { ImageRejected, makeThumbnail } from './images'
import { ProcessLocker } from './locker'
import { contentDisposition, sanitizeFileName } from './names'
import { FileUrlSigner, derivedUrlKey } from './signed'
import type { FileVariant } from './signed'
import { UPLOAD_ID_RE, UploadStore, metaOf, newUploadId } from './store'

export const UPLOADS_PATH = '/uploads'
export const FILES_PATH = '/files'

export interface UploadLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface UploadDeps {
  readonly config: UploadConfig
  /** The auth module's access-token check; throws AppError UNAUTHORIZED or TOKEN_EXPIRED. */
  readonly verifyToken: (token: string | undefined) => Promise<{ readonly user: { readonly id: string }; readonly expiresAt?: number }>
  /** Whether `user` belongs to `conv` (the conversation store). */
  readonly isMember: (conv: string, user: string) => Promise<boolean>
  /** Key material of file URLs when `config.urlKeys` is unset (the JWT secret: every process has it). */
  readonly urlSecret: string
  /** Clock of the URL signer, ms (tests). Default Date.now. */
  readonly now?: () => number
  /** Admission of uploads in progress (the engine's, shared by every process): UPLOAD_MAX_ACTIVE_PER_USER. */
  readonly slots: UploadSlotStore
  /** Origins browsers may call the tus endpoint from; `*` (default) for any. Tokens are never cookies. */
  readonly corsOrigins?: readonly string[]
  readonly logger?: UploadLogger
}

export interface ResolveFileInput {
  readonly user: string
  readonly conv: string
  readonly kind: 'image' | 'file'
  readonly fileId: string
}

export interface UploadService {
  readonly router: Router
  /**
   * The body of an image/file message whose sender sent `{ fileId }`. Throws AppError FILE_NOT_FOUND
   * (unknown, not the sender's, or uploaded for another conversation), FILE_NOT_READY (the upload is
   * not complete yet) or UPLOAD_TYPE_REJECTED (kind `image` for a file that is not an image).
   */
  resolveFile(input: ResolveFileInput): Promise<ImageBody | FileBody>
  /** The same, in the shape messaging asks for (bff/src/chat/files.ts), with the URL refresh of stored messages. */
  readonly resolver: FileResolver
  /** Signs and verifies file URLs (signed.ts). */
  readonly urls: FileUrlSigner
  /**
   * Withdraws a finished file (its uploader's DELETE, or moderation: a media check verdict). Its
   * URLs answer 410 FILE_WITHDRAWN from then on. Returns false when no such file exists.
   */
  withdrawFile(id: string): Promise<boolean>
  readonly store: UploadStore
  readonly files: FileRepository
  /** `finished` (FileRecord), `rejected` ({ id, code, reason }), `swept` (count). */
  readonly events: EventEmitter
  /** Deletes expired uploads now (the timer calls it every `sweepIntervalMs`). */
  sweep(): Promise<number>
  close(): Promise<void>
}

/** What one request carries between the hooks of @tus/server. */
interface RequestState {
  readonly user: string
  finished?: FileRecord
  /** The upload this request took an admission slot for (onCreate). */
  slotId?: string
}

class ContentRejected extends Error {
  override readonly name = 'ContentRejected'
}

const TUS_HEADERS = { 'Tus-Resumable': '1.0.0' }

export function createUploadService(deps: UploadDeps): UploadService {
  const { config } = deps
  const log = deps.logger
  const tusDir = path.join(config.dir, 'tus')
  const store = new UploadStore(tusDir, config.expiryMs)
  const files = new FileRepository(path.join(config.dir, 'files'))
  mkdirSync(tusDir, { recursive: true })
  mkdirSync(files.dir, { recursive: true })
  const events = new EventEmitter()
  const urls = new FileUrlSigner(config.urlKeys ?? [derivedUrlKey(deps.urlSecret)], config.urlTtlMs, deps.now)
  const urlOf = (id: string, variant: FileVariant): string => urls.sign(id, variant)
  const states = new WeakMap<Request, RequestState>()
  /** Owner of an upload id (never changes): saves a read of the info file on every append. */
  const owners = new Map<string, string>()
  const cors = deps.corsOrigins && !deps.corsOrigins.includes('*') ? [...deps.corsOrigins] : undefined
  /**
   * Tokens already verified, until they expire. An upload sends one request per chunk with the same
   * token, and an HMAC check through WebCrypto costs more than a chunk's own bookkeeping; access
   * tokens cannot be revoked before they expire, so remembering a verdict changes nothing.
   */
  const verified = new Map<string, { readonly user: string; readonly expiresAt: number }>()

  async function userOf(token: string | undefined): Promise<string> {
    const now = Date.now()
    const hit = token === undefined ? undefined : verified.get(token)
    if (hit && hit.expiresAt > now) return hit.user
    const claims = await deps.verifyToken(token)
    if (token !== undefined) {
      if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string)
      verified.set(token, { user: claims.user.id, expiresAt: claims.expiresAt ?? now + 60_000 })
    }
    return claims.user.id
  }

  const tus = new TusServer({
    path: UPLOADS_PATH,
    datastore: store,
    locker: new ProcessLocker(),
    maxSize: config.maxFileBytes,
    // Behind a proxy that terminates TLS an absolute URL would name the wrong origin; tus clients
    // resolve a relative Location against the creation URL (tus 1.0, creation extension).
    relativeLocation: true,
    ...(cors ? { allowedOrigins: cors } : {}),
    namingFunction: (req) => newUploadId(stateOf(req).user),
    onUploadCreate: async (req, upload) => onCreate(stateOf(req), upload),
    onIncomingRequest: async (req, id) => checkOwner(stateOf(req).user, id),
    onUploadFinish: async (req, upload) => onFinish(stateOf(req), req.method, upload),
    onResponseError: (_req, err) => {
      const { status, body } = toErrorResponse(err)
      return { status_code: status, body }
    },
  })

  function stateOf(req: Request): RequestState {
    const s = states.get(req)
    if (!s) throw new AppError('UNAUTHORIZED')
    return s
  }

  async function onCreate(state: RequestState, upload: Upload): Promise<{ metadata: Record<string, string> }> {
    if (upload.size === 0) throw new AppError('UPLOAD_INVALID', 'empty files are not accepted')
    const conv = upload.metadata?.conv
    if (!conv || !v.is(schemas.ConvId, conv)) {
      throw new AppError('UPLOAD_INVALID', 'Upload-Metadata must name the conversation: conv <base64 id>')
    }
    if (!(await deps.isMember(conv, state.user))) throw new AppError('NOT_MEMBER')
    // One atomic step in the engine (a Lua script on Redis): simultaneous creations on any number
    // of processes cannot both see a free slot. The slot is given back when the upload ends
    // (`settleSlot`), or frees itself after UPLOAD_IDLE_MS without a byte.
    if (!(await deps.slots.acquire(state.user, upload.id, config.maxActivePerUser, config.idleMs))) {
      throw new AppError('UPLOAD_TOO_MANY', `at most ${config.maxActivePerUser} uploads in progress per user`)
    }
    state.slotId = upload.id
    const filename = sanitizeFileName(upload.metadata?.filename ?? upload.metadata?.name)
    return { metadata: { conv, filename, owner: state.user } }
  }

  async function ownerOf(id: string): Promise<string | undefined> {
    const cached = owners.get(id)
    if (cached) return cached
    if (!UPLOAD_ID_RE.test(id)) return undefined
    const info = await store.info(id)
    const owner = info ? metaOf(info)?.owner : undefined
    if (owner) {
      if (owners.size >= 10_000) owners.delete(owners.keys().next().value as string)
      owners.set(id, owner)
    }
    return owner
  }

  async function checkOwner(user: string, id: string): Promise<void> {
    const owner = await ownerOf(id)
    // Someone else's upload answers exactly like one that does not exist.
    if (owner !== undefined && owner !== user) throw new AppError('UPLOAD_NOT_FOUND')
  }

  async function onFinish(
    state: RequestState,
    method: string,
    upload: Upload,
  ): Promise<{ status_code: number; headers: Record<string, string>; body: string }> {
    const record = await finish(upload)
    state.finished = record
    return {
      // tus 1.0 answers a PATCH with 204; tus clients accept any 2xx, and the body saves the uploader a
      // round trip for what its message needs. A creation-with-upload stays 201 (Location needs it).
      status_code: method === 'POST' ? 201 : 200,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ file: infoOf(record, urlOf) }),
    }
  }

  /** Checks a complete upload and publishes it as a file. Idempotent (a zero-byte PATCH at the end re-runs it). */
  async function finish(upload: Upload): Promise<FileRecord> {
    await store.finished(upload.id)
    const known = await files.get(upload.id)
    if (known) return known
    const meta = metaOf(upload)
    if (!meta || upload.size === undefined) throw new AppError('INTERNAL', 'upload without its metadata')
    const source = store.dataPath(upload.id)
    try {
      const verdict = await checkFile(source, meta.filename, config.allowedTypes)
      if (!verdict.ok) throw new ContentRejected(verdict.reason)
      await files.adopt(upload.id, source)
      let dims: { width: number; height: number } | undefined
      if (isImageMime(verdict.mime)) {
        dims = await makeThumbnail(files.dataPath(upload.id), files.thumbPath(upload.id), {
          maxPx: config.thumbMaxPx,
          maxPixels: config.maxImagePixels,
        })
      }
      const record: FileRecord = {
        id: upload.id,
        owner: meta.owner,
        conv: meta.conv,
        name: meta.filename,
        size: upload.size,
        mime: verdict.mime,
        kind: dims ? 'image' : 'file',
        ...(dims ? { width: dims.width, height: dims.height } : {}),
        createdAt: Date.now(),
      }
      await files.publish(record)
      log?.info({ upload: upload.id, size: record.size, mime: record.mime }, 'upload finished')
      events.emit('finished', record)
      return record
    } catch (err) {
      if (err instanceof ContentRejected || err instanceof ImageRejected) {
        await reject(upload.id, err.message)
        throw new AppError('UPLOAD_TYPE_REJECTED', `file type not accepted: ${err.message}; accepted: ${ACCEPTED_TYPES_TEXT}`)
      }
      throw err
    }
  }

  async function reject(id: string, reason: string): Promise<void> {
    await Promise.all([store.discard(id), files.discard(id)])
    owners.delete(id)
    log?.info({ upload: id, reason }, 'upload rejected')
    events.emit('rejected', { id, code: 'UPLOAD_TYPE_REJECTED', reason })
  }

  /**
   * The early content check: once the first SNIFF_BYTES of an upload (or all of a shorter one) are
   * stored, look at them. Decided from the request's start offset and the answer's new offset, so no
   * state is kept between requests and any process can do it.
   */
  async function checkEarly(id: string, startOffset: number, newOffset: number): Promise<string | undefined> {
    if (startOffset >= SNIFF_BYTES || newOffset <= startOffset) return undefined
    const info = await store.info(id)
    const meta = info ? metaOf(info) : undefined
    if (!info || !meta || info.size === undefined) return undefined
    const complete = newOffset >= info.size
    if (newOffset < SNIFF_BYTES && !complete) return undefined
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, newOffset))
    const fh = await fs.open(store.dataPath(id), 'r')
    try {
      await fh.read(head, 0, head.length, 0)
    } finally {
      await fh.close()
    }
    const verdict = await checkHead(head, meta.filename, complete, config.allowedTypes)
    return verdict.ok ? undefined : verdict.reason
  }

  async function handleTus(req: ExpressRequest, res: ExpressResponse, next: (err?: unknown) => void): Promise<void> {
    const id = typeof req.params.id === 'string' ? req.params.id : undefined
    let method = req.method
    // WeChat's wx.request has no PATCH (PLATFORM.md): clients send POST with this header, as
    // tus-js-client's `overridePatchMethod` does. @tus/server 2.4.5 does not read it itself.
    if (method === 'POST' && id !== undefined && req.get('x-http-method-override')?.toUpperCase() === 'PATCH') {
      method = 'PATCH'
    }
    if (!['OPTIONS', 'POST', 'HEAD', 'PATCH', 'DELETE'].includes(method) || (id === undefined) !== ['OPTIONS', 'POST'].includes(method)) {
      next()
      return
    }
    let user = ''
    if (method !== 'OPTIONS') {
      try {
        user = await userOf(bearerOf(req))
      } catch (err) {
        sendError(res, err, req)
        return
      }
    }
    const request = toWebRequest(req, res, method)
    const state: RequestState = { user }
    states.set(request, state)
    let response: Response
    try {
      response = await tus.handleWeb(request)
      response = await finishResponse(request, method, id, response)
    } catch (err) {
      await settleSlot(state, method, id, undefined)
      // sendError logs our own faults (5xx) at error; a client's mistake only gets its 4xx.
      sendError(res, err, req)
      return
    }
    // Before the answer leaves: a client told "done" or "deleted" may create the next one at once.
    await settleSlot(state, method, id, response.status)
    await writeResponse(res, response)
  }

  /**
   * The admission slot after a request: given back when the upload ended (finished, rejected,
   * terminated) or its creation failed, kept alive by every append.
   */
  async function settleSlot(state: RequestState, method: string, id: string | undefined, status: number | undefined): Promise<void> {
    const uploadId = state.slotId ?? id
    if (!uploadId || !state.user) return
    const ok = status !== undefined && status < 300
    try {
      if (state.finished || status === 415 || (state.slotId !== undefined && status !== 201) || (method === 'DELETE' && ok)) {
        await deps.slots.release(state.user, uploadId)
      } else if (method === 'PATCH' && ok) {
        await deps.slots.touch(state.user, uploadId, config.idleMs)
      }
    } catch (err) {
      // The slot frees itself after UPLOAD_IDLE_MS at worst.
      log?.warn({ err, upload: uploadId }, 'upload slot update failed')
    }
  }

  async function finishResponse(request: Request, method: string, id: string | undefined, response: Response): Promise<Response> {
    if (response.status >= 400) {
      const text = await response.text()
      // A refused creation names its limit: the sender's bubble shows it (client/components/
      // MessageRow.tsx). A 413 to an append is a body past the upload's own declared length.
      const tooLarge = method === 'POST' && response.status === 413
      const limited = `file exceeds the maximum upload size of ${mebibytes(config.maxFileBytes)}`
      if (isJsonError(text)) {
        const plain = tooLarge && text.includes('"code":"UPLOAD_TOO_LARGE"')
        return withJson(response, response.status, plain ? errorJson('UPLOAD_TOO_LARGE', limited) : text)
      }
      const code = codeOfTus(response.status, text)
      const out = withJson(response, statusFor(code, response.status), errorJson(code, tooLarge ? limited : undefined))
      // tus 1.0: a 412 carries the versions the server speaks.
      if (response.status === 412) out.headers.set('Tus-Version', '1.0.0')
      return out
    }
    const state = states.get(request)
    if (state?.finished || (method !== 'PATCH' && method !== 'POST')) return response
    const newOffsetHeader = response.headers.get('upload-offset')
    if (newOffsetHeader === null) return response
    const uploadId = id ?? idFromLocation(response.headers.get('location'))
    if (!uploadId) return response
    const startOffset = method === 'PATCH' ? Number(request.headers.get('upload-offset')) : 0
    const reason = await checkEarly(uploadId, startOffset, Number(newOffsetHeader))
    if (reason === undefined) return response
    await reject(uploadId, reason)
    return withJson(response, 415, errorJson('UPLOAD_TYPE_REJECTED', `file type not accepted: ${reason}; accepted: ${ACCEPTED_TYPES_TEXT}`))
  }

  function sendError(res: ExpressResponse, err: unknown, req: ExpressRequest): void {
    const { status, body, code } = toErrorResponse(err)
    if (status >= 500) log?.error({ err, path: req.path }, 'upload error')
    res.status(status)
    res.set(TUS_HEADERS)
    res.set('Access-Control-Allow-Origin', allowOrigin(req.get('origin')))
    res.set('Access-Control-Expose-Headers', 'Tus-Resumable, Upload-Offset, Upload-Length, Location')
    res.set('Content-Type', 'application/json')
    res.set('X-Error-Code', code)
    res.end(body)
  }

  function allowOrigin(origin: string | undefined): string {
    if (!cors) return '*'
    return origin && cors.includes(origin) ? origin : (cors[0] ?? '')
  }

  // ------------------------------------------------------------------ finished files

  /** A member's request with `Authorization: Bearer` for a finished file. */
  async function memberRead(req: ExpressRequest): Promise<FileRecord> {
    refuseQueryToken(req)
    const user = await userOf(bearerOf(req))
    const id = String(req.params.id)
    const record = await files.get(id)
    if (!record) {
      if (await files.withdrawn(id)) throw new AppError('FILE_WITHDRAWN')
      // All bytes are in but the file is still being checked and published (the last append's
      // answer was lost, and the uploader asked HEAD, then this): temporary, ask again.
      if (await finishing(id, user)) throw new AppError('FILE_NOT_READY', 'the upload is complete and being checked')
      throw new AppError('FILE_NOT_FOUND')
    }
    if (record.owner !== user && !(await deps.isMember(record.conv, user))) throw new AppError('NOT_MEMBER')
    return record
  }

  /**
   * The bytes or thumbnail: by a signed URL (`<image src>`, previewImage, WeChat's media check: none
   * of them sends headers) or by a member's `Authorization`. The signature is checked before the file
   * is looked up, so an unsigned request learns nothing about which ids exist.
   */
  async function reader(req: ExpressRequest, variant: FileVariant): Promise<FileRecord> {
    if (req.query.s === undefined && req.query.e === undefined && req.query.k === undefined) return memberRead(req)
    refuseQueryToken(req)
    const id = String(req.params.id)
    urls.verify(id, variant, req.query)
    const record = await files.get(id)
    if (!record) throw new AppError((await files.withdrawn(id)) ? 'FILE_WITHDRAWN' : 'FILE_NOT_FOUND')
    return record
  }

  async function serveFile(req: ExpressRequest, res: ExpressResponse, which: FileVariant): Promise<void> {
    let record: FileRecord
    try {
      record = await reader(req, which)
      if (which === 'thumb' && record.kind !== 'image') throw new AppError('FILE_NOT_FOUND', 'no thumbnail: not an image')
    } catch (err) {
      sendError(res, err, req)
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
      if (err && !res.headersSent) sendError(res, new AppError('FILE_NOT_FOUND', undefined, { cause: err }), req)
    })
  }

  /** Whether `user`'s upload `id` holds all its bytes (its file not published yet). */
  async function finishing(id: string, user: string): Promise<boolean> {
    if (!UPLOAD_ID_RE.test(id)) return false
    const info = await store.info(id)
    if (!info || info.size === undefined || metaOf(info)?.owner !== user) return false
    try {
      return (await fs.stat(store.dataPath(id))).size >= info.size
    } catch {
      return false
    }
  }

  async function withdrawFile(id: string): Promise<boolean> {
    const done = await files.withdraw(id)
    if (done) {
      // The finished tus upload is a second link to the same bytes: it goes too, not at the sweep.
      await store.discard(id)
      owners.delete(id)
      log?.info({ file: id }, 'file withdrawn')
      events.emit('withdrawn', id)
    }
    return done
  }

  const router = express.Router()
  router.all(UPLOADS_PATH, (req, res, next) => void handleTus(req, res, next))
  router.all(`${UPLOADS_PATH}/:id`, (req, res, next) => void handleTus(req, res, next))
  router.get(`${FILES_PATH}/:id`, (req, res) => void serveFile(req, res, 'data'))
  router.get(`${FILES_PATH}/:id/thumb`, (req, res) => void serveFile(req, res, 'thumb'))
  router.get(`${FILES_PATH}/:id/info`, async (req, res) => {
    try {
      const record = await memberRead(req)
      res.set('Cache-Control', 'private, no-cache').json({ file: infoOf(record, urlOf) })
    } catch (err) {
      sendError(res, err, req)
    }
  })
  router.delete(`${FILES_PATH}/:id`, async (req, res) => {
    try {
      refuseQueryToken(req)
      const user = await userOf(bearerOf(req))
      const record = await files.get(String(req.params.id))
      // Only the uploader withdraws; to anyone else someone else's file answers like a missing one.
      if (!record || record.owner !== user) throw new AppError('FILE_NOT_FOUND')
      await withdrawFile(record.id)
      res.status(204).end()
    } catch (err) {
      sendError(res, err, req)
    }
  })

  async function resolveFile(input: ResolveFileInput): Promise<ImageBody | FileBody> {
    const record = await files.get(input.fileId)
    if (!record) {
      if (await files.withdrawn(input.fileId)) throw new AppError('FILE_NOT_FOUND', 'the file was withdrawn')
      const info = UPLOAD_ID_RE.test(input.fileId) ? await store.info(input.fileId) : undefined
      const meta = info ? metaOf(info) : undefined
      if (meta && meta.owner === input.user && meta.conv === input.conv) throw new AppError('FILE_NOT_READY')
      throw new AppError('FILE_NOT_FOUND')
    }
    if (record.owner !== input.user || record.conv !== input.conv) throw new AppError('FILE_NOT_FOUND')
    const body = bodyOf(record, input.kind, urlOf)
    if (!body) throw new AppError('UPLOAD_TYPE_REJECTED', 'an image message needs an image file')
    return body
  }

  async function sweep(): Promise<number> {
    const n = await store.sweep()
    if (n > 0) {
      log?.info({ removed: n }, 'expired uploads removed')
      events.emit('swept', n)
    }
    return n
  }

  const timer =
    config.sweepIntervalMs > 0
      ? setInterval(() => {
          sweep().catch((err: unknown) => log?.warn({ err }, 'upload sweep failed'))
        }, config.sweepIntervalMs)
      : undefined
  timer?.unref()

  return {
    router,
    resolveFile,
    resolver: { resolve: (fileId, user, conv, kind) => resolveFile({ fileId, user, conv, kind }), refreshUrls: (json) => urls.refresh(json) },
    urls,
    withdrawFile,
    store,
    files,
    events,
    sweep,
    async close() {
      if (timer) clearInterval(timer)
      await store.closeHandles()
    },
  }
}

/**
 * An access token in a URL ends up in access logs, proxies' and CDNs' caches, browser history,
 * Referer headers and screenshots: refused outright, so a client that still sends one fails loudly.
 */
function refuseQueryToken(req: ExpressRequest): void {
  if (req.query.token !== undefined) {
    throw new AppError('FILE_URL_INVALID', 'access tokens are not accepted in URLs: use the signed URL or Authorization: Bearer')
  }
}

function bearerOf(req: ExpressRequest): string | undefined {
  const h = req.get('authorization')
  if (!h) return undefined
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  return m?.[1]
}

function isJsonError(text: string): boolean {
  return text.startsWith('{"error":')
}

function withJson(from: Response, status: number, body: string): Response {
  const headers = new Headers(from.headers)
  headers.set('Content-Type', 'application/json')
  headers.set('Content-Length', String(Buffer.byteLength(body)))
  try {
    headers.set('X-Error-Code', (JSON.parse(body) as { error: { code: string } }).error.code)
  } catch {
    // not ours
  }
  return new Response(body, { status, headers })
}

function idFromLocation(location: string | null): string | undefined {
  const id = location?.split('/').pop()
  return id && UPLOAD_ID_RE.test(id) ? id : undefined
}

/**
 * A web Request for @tus/server from Node's request. `runtime.node` is where srvx (which @tus/server
 * uses in `handle`) puts the Node objects; @tus/server reads it to stop a write when the client goes.
 */
function toWebRequest(req: IncomingMessage, res: ServerResponse, method: string): Request {
  const headers = new Headers()
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!)
  const type = headers.get('content-type')
  // Some HTTP stacks add parameters (`; charset=...`) to any Content-Type; tus requires the bare type.
  if (method === 'PATCH' && type?.toLowerCase().startsWith('application/offset+octet-stream')) {
    headers.set('content-type', 'application/offset+octet-stream')
  }
  const url = `http://${req.headers.host ?? 'localhost'}${(req as { originalUrl?: string }).originalUrl ?? req.url ?? '/'}`
  const withBody = method === 'PATCH' || method === 'POST'
  const request = new Request(url, {
    method,
    headers,
    ...(withBody ? { body: coalescedBody(req), duplex: 'half' as const } : {}),
  })
  Object.defineProperty(request, 'runtime', { value: { node: { req, res } } })
  return request
}

/**
 * The request body as a web stream of pieces of at least `maxBytes` (or the rest): small socket
 * reads are joined, the socket's usual 64 KiB reads pass as they are. Joining a whole 1 MiB append
 * into one piece (fewer hops through @tus/server's streams) measured slower on the benchmark: the
 * file write could start only once the last byte was in, and copying a 1 MiB buffer into the page
 * cache cost the kernel about twice as much per byte as copying 64 KiB ones still in the CPU cache.
 * Pull-based: the socket is paused while a piece waits to be read, so memory stays at one piece.
 */
function coalescedBody(req: IncomingMessage, maxBytes = 64 * 1024): ReadableStream<Uint8Array> {
  let parts: Buffer[] = []
  let size = 0
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const flush = (): void => {
          if (size === 0) return
          controller.enqueue(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size))
          parts = []
          size = 0
        }
        req.on('data', (b: Buffer) => {
          parts.push(b)
          size += b.length
          if (size >= maxBytes) {
            flush()
            req.pause()
          }
        })
        req.once('end', () => {
          flush()
          controller.close()
        })
        // The client went away mid-append: what arrived is kept (tus: the offset says how much).
        req.once('error', (err) => {
          flush()
          controller.error(err)
        })
      },
      pull() {
        req.resume()
      },
      cancel() {
        req.destroy()
      },
    },
    { highWaterMark: 1 },
  )
}

async function writeResponse(res: ExpressResponse, response: Response): Promise<void> {
  res.status(response.status)
  response.headers.forEach((value, key) => res.setHeader(key, value))
  const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined
  res.end(body)
}

/** A byte limit as people read it: "100 MB" (MiB, as file managers count), at most one decimal. */
export function mebibytes(bytes: number): string {
  const mb = bytes / (1024 * 1024)
  if (mb >= 1) return `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`
  return `${Math.max(1, Math.round(bytes / 1024))} KB`
}
