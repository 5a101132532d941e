// Over 400 lines on purpose: one tus upload (create, resume, append, retry, terminate) is one protocol exchange.
/**
 * A tus 1.0 client for one file, in the shape of tus-js-client (creation, HEAD to resume, appends,
 * termination, the upload URL kept under a fingerprint of the file) but small, platform-free and
 * built for wx.request:
 *
 *  - appends are `POST` + `X-HTTP-Method-Override: PATCH` with an ArrayBuffer body: wx.request has no
 *    PATCH (PLATFORM.md), and the BFF turns the override back into a PATCH;
 *  - one chunk is sent at a time, sized from the measured goodput so that it takes about 3 s on the
 *    wire (chunks.ts: the round trip between appends is then a few percent), or `chunkSize` fixed;
 *    memory stays at the chunk on the wire and the one read ahead;
 *  - network errors, timeouts, 5xx, 423 and 429 are retried with full-jitter backoff
 *    (`backoffDelay` of @chat/shared); after any failed append the server's offset is asked with
 *    HEAD, because the server keeps the bytes of an interrupted append (tus 1.0: the offset is the
 *    truth) - so at most the unsent rest of one chunk is sent again;
 *  - 409 (offset conflict: peers' users complain most about these) is answered the same way: HEAD,
 *    then go on from the server's offset;
 *  - the upload URL is stored under the caller's fingerprint as soon as it exists, so a restarted
 *    app resumes it (PLATFORM.md: resume fails when the fingerprint changes across restarts; see
 *    fingerprint.ts for one that does not).
 */
import { backoffDelay, isErrorCode } from '@chat/shared'
import type { ErrorCode, FileInfo } from '@chat/shared'
import { ChunkSizer } from './chunks'
import type { ChunkSizeOptions } from './chunks'
import { UploadNetworkError } from './platform'
import type { FileSource, UploadHttp, UploadHttpCall, UploadHttpRequest, UploadHttpResponse, UploadStorage } from './platform'

export type { FileInfo }

export interface RetryOptions {
  /** Failed requests in a row (no progress between them) before the upload fails. Default 8. */
  readonly maxAttempts: number
  /** First backoff window, ms. Default 500. */
  readonly minDelayMs: number
  /** Largest backoff window, ms. Default 20 000. */
  readonly maxDelayMs: number
}

export interface TusUploadOptions {
  /** Absolute URL of the creation endpoint, e.g. `https://bff.example/uploads`. */
  readonly endpoint: string
  readonly source: FileSource
  /**
   * Names this file (and its destination) across app restarts; the upload URL is stored under it.
   * Same file to the same conversation = same fingerprint.
   */
  readonly fingerprint: string
  /** tus Upload-Metadata: for the BFF `conv` and `filename`. */
  readonly metadata: Readonly<Record<string, string>>
  readonly http: UploadHttp
  readonly storage: UploadStorage
  /** A valid access token (renewed by the caller before it expires). */
  readonly getToken: () => Promise<string>
  /** Bytes per append, fixed. Default: sized from the measured goodput (`chunkSizing`). */
  readonly chunkSize?: number
  /** Bounds and target of the adaptive chunk size (chunks.ts); ignored when `chunkSize` is given. */
  readonly chunkSizing?: Partial<ChunkSizeOptions>
  /** Clock for the goodput measurement, ms. Default Date.now. */
  readonly now?: () => number
  /** Per request, ms. Default 60 000 (wx.request's default). */
  readonly requestTimeoutMs?: number
  readonly retry?: Partial<RetryOptions>
  /** Waits `ms` unless `signal` aborts first (resolves either way). Default setTimeout. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  /** Uniform [0, 1) for the jitter. Default Math.random. */
  readonly random?: () => number
  /** Bytes the server holds, after each append and after each HEAD. */
  readonly onProgress?: (sent: number, total: number) => void
}

export type UploadOutcome = { readonly done: true; readonly file: FileInfo } | { readonly done: false; readonly reason: 'paused' | 'cancelled' }

/** An upload that failed for good (or ran out of retries); `code` from the shared table when the server gave one. */
export class UploadError extends Error {
  constructor(
    readonly code: ErrorCode | 'NETWORK',
    message: string,
    /** Retrying later may succeed. */
    readonly temporary: boolean,
    /** The HTTP status, when a response was the cause. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'UploadError'
  }
}

const DEFAULT_RETRY: RetryOptions = { maxAttempts: 8, minDelayMs: 500, maxDelayMs: 20_000 }
const STORAGE_PREFIX = 'upload.v1:'

interface StoredUpload {
  readonly url: string
  readonly size: number
  readonly createdAt: number
}

export class TusUpload {
  /** The upload's URL once created (or found in storage). */
  url: string | undefined
  /** Bytes the server is known to hold. */
  offset = 0
  private readonly opts: TusUploadOptions
  private readonly chunks: ChunkSizer
  private readonly now: () => number
  private readonly retry: RetryOptions
  private running: Promise<UploadOutcome> | undefined
  private stop: 'paused' | 'cancelled' | undefined
  private abort = new AbortController()
  private call: UploadHttpCall | undefined

  constructor(options: TusUploadOptions) {
    this.opts = options
    const fixed = options.chunkSize
    if (fixed !== undefined && !(fixed >= 1)) throw new RangeError(`chunkSize must be at least 1 byte, got ${fixed}`)
    this.chunks = new ChunkSizer(fixed !== undefined ? { initialBytes: fixed, minBytes: fixed, maxBytes: fixed } : options.chunkSizing)
    this.now = options.now ?? Date.now
    this.retry = { ...DEFAULT_RETRY, ...options.retry }
  }

  get storageKey(): string {
    return STORAGE_PREFIX + this.opts.fingerprint
  }

  /** Starts or resumes; the same promise while running. */
  start(): Promise<UploadOutcome> {
    if (!this.running) {
      this.stop = undefined
      this.abort = new AbortController()
      this.running = this.run().finally(() => {
        this.running = undefined
      })
    }
    return this.running
  }

  /** Stops sending now (the request in flight is dropped); `start()` resumes from the server's offset. */
  pause(): void {
    this.halt('paused')
  }

  /** Stops, terminates the upload on the server (tus termination) and forgets it. */
  async cancel(): Promise<void> {
    this.halt('cancelled')
    await this.running?.catch(() => undefined)
    // Not started in this run: the upload may still exist from an earlier one.
    const stored = this.opts.storage.get(this.storageKey) as StoredUpload | undefined
    this.opts.storage.remove(this.storageKey)
    const url = this.url ?? (typeof stored?.url === 'string' ? stored.url : undefined)
    if (!url) return
    this.url = undefined
    try {
      await this.send({ method: 'DELETE', url, headers: await this.headers() }, new AbortController().signal)
    } catch {
      // Best effort: an upload left behind expires on the server (UPLOAD_EXPIRY_MS).
    }
  }

  private halt(reason: 'paused' | 'cancelled'): void {
    if (this.stop === 'cancelled') return
    this.stop = reason
    this.abort.abort()
    this.call?.abort()
  }

  private async run(): Promise<UploadOutcome> {
    const { source } = this.opts
    let failures = 0
    let lastError: UploadError | undefined
    // After a failure the offset is unknown until the server tells it.
    let needOffset = true
    let recreated = false
    /** Bytes of the append on the wire (0 when the request is not an append). */
    let sending = 0

    while (true) {
      if (this.stop) return { done: false, reason: this.stop }
      if (failures > 0) {
        if (failures > this.retry.maxAttempts) throw lastError!
        await this.sleep(backoffDelay(failures - 1, this.retry, this.opts.random))
        if (this.stop) return { done: false, reason: this.stop }
      }
      try {
        if (this.url === undefined) {
          const stored = this.opts.storage.get(this.storageKey) as StoredUpload | undefined
          if (stored && typeof stored.url === 'string' && stored.size === source.size) {
            this.url = stored.url
            needOffset = true
          } else {
            await this.create()
            needOffset = false
          }
        }
        if (needOffset) {
          const state = await this.head()
          if (state === 'gone') {
            // Expired or removed on the server: start over, once.
            this.forget()
            if (recreated) throw new UploadError('UPLOAD_NOT_FOUND', 'upload vanished twice', false, 404)
            recreated = true
            continue
          }
          needOffset = false
          if (this.offset === source.size) return { done: true, file: await this.finished() }
        }
        // The chunk read ahead is taken as it is when it starts here (its size was decided one
        // append earlier); otherwise (first chunk, after a HEAD) the sizer's current size.
        const { end, bytes } = this.readChunk(this.offset, Math.min(this.offset + this.chunks.next, source.size))
        const chunk = await bytes
        if (chunk.byteLength !== end - this.offset) {
          throw new UploadError('UPLOAD_INVALID', `file changed while uploading: read ${chunk.byteLength} bytes, wanted ${end - this.offset}`, false)
        }
        // Read the next chunk while this one is on the wire: the disk (or wx's readFile) and the
        // network overlap instead of taking turns. Two chunks in memory at most.
        if (end < source.size) this.prefetch(end, Math.min(end + this.chunks.next, source.size))
        // The token first (a renewal is a request of its own): the clock measures only the append.
        const auth = await this.headers()
        const sentAt = this.now()
        sending = chunk.byteLength
        const res = await this.send(
          {
            method: 'POST',
            url: this.url!,
            headers: {
              ...auth,
              'X-HTTP-Method-Override': 'PATCH',
              'Upload-Offset': String(this.offset),
              'Content-Type': 'application/offset+octet-stream',
            },
            body: chunk,
          },
          this.abort.signal,
        )
        sending = 0
        if (res.status === 409) {
          // The server holds another offset than we thought (tus 1.0): ask it, go on from there.
          needOffset = true
          failures++
          lastError = errorOf(res)
          continue
        }
        if (res.status === 404 || res.status === 410) {
          this.forget()
          if (recreated) throw errorOf(res)
          recreated = true
          continue
        }
        if (res.status < 200 || res.status >= 300) throw errorOf(res)
        const newOffset = Number(res.header('upload-offset'))
        if (!Number.isSafeInteger(newOffset) || newOffset <= this.offset || newOffset > source.size) {
          throw new UploadError('UPLOAD_INVALID', `server answered offset ${res.header('upload-offset')}`, true, res.status)
        }
        this.chunks.record(newOffset - this.offset, this.now() - sentAt)
        this.offset = newOffset
        failures = 0
        this.opts.onProgress?.(this.offset, source.size)
        if (this.offset === source.size) return { done: true, file: await this.finished(res) }
      } catch (err) {
        if (this.stop) return { done: false, reason: this.stop }
        const e = asUploadError(err)
        if (!e.temporary) {
          if (e.code === 'UPLOAD_TYPE_REJECTED' || e.code === 'UPLOAD_TOO_LARGE' || e.code === 'NOT_MEMBER') this.forget()
          throw e
        }
        lastError = e
        failures++
        if (sending > 0) this.chunks.failed(sending)
        sending = 0
        needOffset = this.url !== undefined
      }
    }
  }

  private async create(): Promise<void> {
    const { source, metadata } = this.opts
    const res = await this.send(
      {
        method: 'POST',
        url: this.opts.endpoint,
        headers: { ...(await this.headers()), 'Upload-Length': String(source.size), 'Upload-Metadata': encodeMetadata(metadata) },
      },
      this.abort.signal,
    )
    if (res.status !== 201) throw errorOf(res)
    const location = res.header('location')
    if (!location) throw new UploadError('UPLOAD_INVALID', 'creation answered without a Location', true, res.status)
    this.url = resolveUrl(this.opts.endpoint, location)
    this.offset = 0
    const stored: StoredUpload = { url: this.url, size: source.size, createdAt: Date.now() }
    this.opts.storage.set(this.storageKey, stored)
  }

  /** Asks the server's offset; 'gone' when the upload no longer exists there. */
  private async head(): Promise<'ok' | 'gone'> {
    const res = await this.send({ method: 'HEAD', url: this.url!, headers: await this.headers() }, this.abort.signal)
    if (res.status === 404 || res.status === 410 || res.status === 403) return 'gone'
    if (res.status < 200 || res.status >= 300) throw errorOf(res)
    const offset = Number(res.header('upload-offset'))
    const length = res.header('upload-length')
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.opts.source.size) {
      throw new UploadError('UPLOAD_INVALID', `server answered offset ${res.header('upload-offset')}`, true, res.status)
    }
    if (length !== undefined && Number(length) !== this.opts.source.size) return 'gone'
    this.offset = offset
    this.opts.onProgress?.(offset, this.opts.source.size)
    return 'ok'
  }

  /** The file info: from the final append's answer, or asked (the answer was lost, or this is a resume of a finished upload). */
  private async finished(res?: UploadHttpResponse): Promise<FileInfo> {
    let info = res ? parseInfo(res.text) : undefined
    if (!info) {
      const id = this.url!.split('/').pop()!
      const r = await this.send({ method: 'GET', url: resolveUrl(this.opts.endpoint, `/files/${id}/info`), headers: await this.headers() }, this.abort.signal)
      if (r.status !== 200) throw errorOf(r)
      info = parseInfo(r.text)
      if (!info) throw new UploadError('UPLOAD_INVALID', 'file info unreadable', true, r.status)
    }
    this.opts.storage.remove(this.storageKey)
    return info
  }

  private ahead: { readonly start: number; readonly end: number; readonly bytes: Promise<ArrayBuffer> } | undefined

  private prefetch(start: number, end: number): void {
    const bytes = this.opts.source.read(start, end)
    bytes.catch(() => undefined) // a failed read-ahead is read again (and reported) when needed
    this.ahead = { start, end, bytes }
  }

  private readChunk(start: number, end: number): { readonly end: number; readonly bytes: Promise<ArrayBuffer> } {
    const ahead = this.ahead
    this.ahead = undefined
    if (ahead && ahead.start === start) return ahead
    return { end, bytes: this.opts.source.read(start, end) }
  }

  private forget(): void {
    this.opts.storage.remove(this.storageKey)
    this.url = undefined
    this.offset = 0
  }

  private async headers(): Promise<Record<string, string>> {
    return { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${await this.opts.getToken()}` }
  }

  private async send(req: Omit<UploadHttpRequest, 'timeoutMs'>, signal: AbortSignal): Promise<UploadHttpResponse> {
    if (signal.aborted) throw new UploadNetworkError('aborted', 'aborted')
    const call = this.opts.http.send({ ...req, timeoutMs: this.opts.requestTimeoutMs ?? 60_000 })
    this.call = call
    const onAbort = (): void => call.abort()
    signal.addEventListener('abort', onAbort)
    try {
      return await call.response
    } finally {
      signal.removeEventListener('abort', onAbort)
      if (this.call === call) this.call = undefined
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.opts.sleep) return this.opts.sleep(ms, this.abort.signal)
    return new Promise((resolve) => {
      const signal = this.abort.signal
      const t = setTimeout(done, ms)
      function done(): void {
        clearTimeout(t)
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
    })
  }
}

/** Temporary statuses (tus 1.0 and HTTP): the same request may succeed later. */
function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 423 || status === 429 || status >= 500
}

function errorOf(res: UploadHttpResponse): UploadError {
  let code: ErrorCode | undefined
  let message = `HTTP ${res.status}`
  let temporary = isTemporaryStatus(res.status)
  try {
    const body = JSON.parse(res.text) as { error?: { code?: unknown; message?: unknown; temporary?: unknown } }
    if (isErrorCode(body.error?.code)) code = body.error.code
    if (typeof body.error?.message === 'string') message = body.error.message
    if (typeof body.error?.temporary === 'boolean') temporary = body.error.temporary || isTemporaryStatus(res.status)
  } catch {
    // Not our JSON (a proxy's page): the status decides.
  }
  code ??= res.status === 401 ? 'UNAUTHORIZED' : res.status === 409 ? 'UPLOAD_OFFSET_CONFLICT' : res.status >= 500 ? 'INTERNAL' : 'UPLOAD_INVALID'
  return new UploadError(code, message, temporary, res.status)
}

function asUploadError(err: unknown): UploadError {
  if (err instanceof UploadError) return err
  if (err instanceof UploadNetworkError) return new UploadError('NETWORK', err.message, true, undefined, { cause: err })
  // A read of the local file failed: it is gone (a temp file cleaned up) - retrying will not help.
  return new UploadError('UPLOAD_INVALID', err instanceof Error ? err.message : String(err), false, undefined, { cause: err })
}

function parseInfo(text: string): FileInfo | undefined {
  if (!text) return undefined
  try {
    const file = (JSON.parse(text) as { file?: FileInfo }).file
    return file && typeof file.fileId === 'string' && typeof file.url === 'string' ? file : undefined
  } catch {
    return undefined
  }
}

/** `location` (absolute, or relative as the BFF sends it) against the endpoint's origin. */
export function resolveUrl(endpoint: string, location: string): string {
  if (/^https?:\/\//i.test(location)) return location
  const origin = /^(https?:\/\/[^/]+)/i.exec(endpoint)?.[1] ?? ''
  return location.startsWith('/') ? origin + location : `${endpoint.replace(/\/[^/]*$/, '')}/${location}`
}

/** tus Upload-Metadata: `key base64(utf8(value))`, comma-separated. No btoa/TextEncoder on older weapp base libraries. */
export function encodeMetadata(meta: Readonly<Record<string, string>>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${base64(utf8(v))}`)
    .join(',')
}

function utf8(s: string): number[] {
  const out: number[] = []
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (c < 0x80) out.push(c)
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63))
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63))
  }
  return out
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

function base64(bytes: readonly number[]): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!
    const b = bytes[i + 1]
    const c = bytes[i + 2]
    out += B64[a >> 2]! + B64[((a & 3) << 4) | ((b ?? 0) >> 4)]!
    out += b === undefined ? '=' : B64[((b & 15) << 2) | ((c ?? 0) >> 6)]!
    out += c === undefined ? '=' : B64[c & 63]!
  }
  return out
}
