/**
 * The tus 1.0 endpoint's HTTP glue: @tus/server over UploadStore at /uploads, each request prepared
 * (method override, principal) and each answer finished (early content check, JSON errors, the
 * admission slot) around it. What an upload may be is decided by the upload domain (service.ts).
 *
 *   OPTIONS /uploads                   tus discovery (no token)
 *   POST    /uploads                   create (Upload-Length, Upload-Metadata: conv, filename)
 *   HEAD    /uploads/:id               offset
 *   PATCH   /uploads/:id               append; also POST + X-HTTP-Method-Override: PATCH
 *   DELETE  /uploads/:id               terminate
 *
 * @tus/server is driven through `handleWeb` so that each request can be prepared and each answer
 * finished around it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as TusServer } from '@tus/server'
import type { Request as ExpressRequest, Response as ExpressResponse } from 'express'
import { AppError } from '@chat/shared'
import { bearerToken } from '../auth/bearer'
import { errorJson } from '../http/errors'
import { ACCEPTED_TYPES_TEXT } from './content'
import { codeOfTus, sendUploadError, statusFor, toErrorResponse } from './errors'
import { infoOf } from './files'
import type { FileRecord } from './files'
import { ProcessLocker } from './locker'
import type { Uploads } from './service'
import { UPLOAD_ID_RE, newUploadId } from './store'

export const UPLOADS_PATH = '/uploads'

/** A 413 to an append: its bytes go past the length the upload declared at creation. */
const PAST_LENGTH = 'these bytes go past the upload\'s declared length (Upload-Length): a complete upload takes no more'

export interface TusDeps {
  readonly uploads: Uploads
  /** The user of an access token (auth's verify); throws AppError UNAUTHORIZED or TOKEN_EXPIRED. */
  readonly userOf: (token: string | undefined) => Promise<string>
  /** Origins browsers may call the endpoint from (tus answers its own CORS headers); undefined: any. */
  readonly allowedOrigins: readonly string[] | undefined
  /** Largest upload, bytes (UPLOAD_MAX_BYTES). */
  readonly maxFileBytes: number
}

/** What one request carries between the hooks of @tus/server. */
interface RequestState {
  readonly user: string
  finished?: FileRecord
  /** The upload this request took an admission slot for (onUploadCreate). */
  slotId?: string
}

type Next = (err?: unknown) => void

/** The express handler of /uploads and /uploads/:id. */
export function tusHandler(deps: TusDeps): (req: ExpressRequest, res: ExpressResponse, next: Next) => Promise<void> {
  const { uploads } = deps
  const states = new WeakMap<Request, RequestState>()
  const stateOf = (req: Request): RequestState => {
    const s = states.get(req)
    if (!s) throw new AppError('UNAUTHORIZED')
    return s
  }

  const tus = new TusServer({
    path: UPLOADS_PATH,
    datastore: uploads.store,
    locker: new ProcessLocker(),
    maxSize: deps.maxFileBytes,
    // Behind a proxy that terminates TLS an absolute URL would name the wrong origin; tus clients
    // resolve a relative Location against the creation URL (tus 1.0, creation extension).
    relativeLocation: true,
    ...(deps.allowedOrigins ? { allowedOrigins: [...deps.allowedOrigins] } : {}),
    namingFunction: (req) => newUploadId(stateOf(req).user),
    onUploadCreate: async (req, upload) => {
      const state = stateOf(req)
      const metadata = await uploads.admit(state.user, upload)
      state.slotId = upload.id
      return { metadata }
    },
    onIncomingRequest: async (req, id) => uploads.checkOwner(stateOf(req).user, id),
    onUploadFinish: async (req, upload) => {
      const record = await uploads.finish(upload)
      stateOf(req).finished = record
      return {
        // tus 1.0 answers a PATCH with 204; tus clients accept any 2xx, and the body saves the uploader a
        // round trip for what its message needs. A creation-with-upload stays 201 (Location needs it).
        status_code: req.method === 'POST' ? 201 : 200,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ file: infoOf(record, uploads.urlOf) }),
      }
    },
    onResponseError: (_req, err) => {
      const { status, body } = toErrorResponse(err)
      return { status_code: status, body }
    },
  })

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
        await uploads.releaseSlot(state.user, uploadId)
      } else if (method === 'PATCH' && ok) {
        await uploads.touchSlot(state.user, uploadId)
      }
    } catch (err) {
      // The slot frees itself after UPLOAD_IDLE_MS at worst.
      uploads.log?.warn({ err, upload: uploadId }, 'upload slot update failed')
    }
  }

  async function finishResponse(request: Request, method: string, id: string | undefined, response: Response): Promise<Response> {
    if (response.status >= 400) {
      const text = await response.text()
      // A refused creation names its limit: the sender's bubble shows it (client/components/
      // MessageRow.tsx). A 413 to an append is a body past the upload's own declared length, and is
      // said so, not as a file over the limit (an append to a complete upload is one too).
      const tooLarge = method === 'POST' && response.status === 413
      const pastLength = method === 'PATCH' && response.status === 413
      const limited = tooLarge ? `file exceeds the maximum upload size of ${mebibytes(deps.maxFileBytes)}` : pastLength ? PAST_LENGTH : undefined
      if (isJsonError(text)) {
        const plain = limited !== undefined && text.includes('"code":"UPLOAD_TOO_LARGE"')
        return withJson(response, response.status, plain ? errorJson('UPLOAD_TOO_LARGE', limited) : text)
      }
      const code = codeOfTus(response.status, text)
      const out = withJson(response, statusFor(code, response.status), errorJson(code, code === 'UPLOAD_TOO_LARGE' ? limited : undefined))
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
    const reason = await uploads.checkEarly(uploadId, startOffset, Number(newOffsetHeader))
    if (reason === undefined) return response
    await uploads.reject(uploadId, reason)
    return withJson(response, 415, errorJson('UPLOAD_TYPE_REJECTED', `file type not accepted: ${reason}; accepted: ${ACCEPTED_TYPES_TEXT}`))
  }

  return async function handleTus(req, res, next) {
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
        user = await deps.userOf(bearerToken(req.get('authorization')))
      } catch (err) {
        sendUploadError(res, err, req, uploads.log)
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
      // sendUploadError logs our own faults (5xx) at error; a client's mistake only gets its 4xx.
      sendUploadError(res, err, req, uploads.log)
      return
    }
    // Before the answer leaves: a client told "done" or "deleted" may create the next one at once.
    await settleSlot(state, method, id, response.status)
    await writeResponse(res, response)
  }
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
