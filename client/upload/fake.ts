/**
 * A tus 1.0 server in memory behind the UploadHttp interface, for unit tests of the uploader: it
 * answers creation, HEAD, appends (POST + X-HTTP-Method-Override: PATCH) and DELETE as the BFF does,
 * records every request, and plays faults request by request (as tus-js-client's test HTTP stack
 * does): a dropped connection, a status, or an append cut off after part of its body was stored.
 */
import { UploadNetworkError } from './platform'
import type { FileSource, UploadHttp, UploadHttpCall, UploadHttpRequest, UploadHttpResponse, UploadStorage } from './platform'

export type Fault =
  /** No response: the connection drops before the server does anything. */
  | { readonly kind: 'network' }
  /** The server stores the first `bytes` of an append, then the connection drops. */
  | { readonly kind: 'partial'; readonly bytes: number }
  /** The server answers this status (with the product's JSON error body) and does nothing. */
  | { readonly kind: 'status'; readonly status: number; readonly code?: string; readonly temporary?: boolean }
  /** The request never completes until aborted. */
  | { readonly kind: 'hang' }
  /** Before handling the request, the upload grows by `data` (another writer): the request's offset is stale. */
  | { readonly kind: 'advance'; readonly data: Uint8Array }
  /** The request is handled normally once `until` resolves (a slow network, released by the test). */
  | { readonly kind: 'wait'; readonly until: Promise<unknown> }

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly bodyBytes: number
}

interface FakeUpload {
  readonly length: number
  readonly bytes: number[]
  readonly metadata: string
}

export class FakeTusServer implements UploadHttp {
  readonly requests: RecordedRequest[] = []
  readonly uploads = new Map<string, FakeUpload>()
  /** Body bytes the server stored, over all appends. */
  bytesReceived = 0
  private readonly faults: Array<{ match: (r: RecordedRequest) => boolean; fault: Fault }> = []
  private next = 1

  constructor(
    readonly origin = 'https://bff.test',
    /** The file info the server answers for a finished upload. */
    private readonly infoOf: (id: string, size: number, metadata: string) => Record<string, unknown> = defaultInfo,
  ) {}

  /** The next request matching `match` (default: any append) gets `fault`. */
  failNext(fault: Fault, match: (r: RecordedRequest) => boolean = isAppend): this {
    this.faults.push({ match, fault })
    return this
  }

  send(req: UploadHttpRequest): UploadHttpCall {
    let abort!: () => void
    const response = new Promise<UploadHttpResponse>((resolve, reject) => {
      abort = () => reject(new UploadNetworkError('aborted', 'aborted'))
      // Answer on a later turn, as a network would.
      // Every outcome settles `response`: the async body cannot reject.
      queueMicrotask(() => {
        void (async () => {
          try {
            const out = await this.handle(req)
            if (out === 'hang') return
            if (out instanceof Error) reject(out)
            else resolve(out)
          } catch (err) {
            reject(err)
          }
        })()
      })
    })
    return { response, abort: () => abort() }
  }

  private async handle(req: UploadHttpRequest): Promise<UploadHttpResponse | Error | 'hang'> {
    const url = new URL(req.url)
    const method = req.method === 'POST' && req.headers['X-HTTP-Method-Override'] === 'PATCH' ? 'PATCH' : req.method
    const rec: RecordedRequest = { method, path: url.pathname, headers: req.headers, bodyBytes: req.body?.byteLength ?? 0 }
    this.requests.push(rec)
    const i = this.faults.findIndex((f) => f.match(rec))
    const fault = i >= 0 ? this.faults.splice(i, 1)[0]!.fault : undefined
    if (fault?.kind === 'network') return new UploadNetworkError('connection reset', 'network')
    if (fault?.kind === 'hang') return 'hang'
    if (fault?.kind === 'wait') await fault.until
    if (fault?.kind === 'status') return json(fault.status, { error: { code: fault.code ?? 'INTERNAL', message: 'fault', temporary: fault.temporary ?? fault.status >= 500 } })
    if (req.headers['Tus-Resumable'] !== '1.0.0') return json(412, { error: { code: 'UPLOAD_INVALID', message: 'tus', temporary: false } })

    const id = url.pathname.split('/')[2]
    if (fault?.kind === 'advance' && id) this.uploads.get(id)?.bytes.push(...fault.data)
    if (method === 'POST' && url.pathname === '/uploads') {
      const newId = `u${this.next++}`
      this.uploads.set(newId, { length: Number(req.headers['Upload-Length']), bytes: [], metadata: req.headers['Upload-Metadata'] ?? '' })
      return respond(201, { Location: `/uploads/${newId}` })
    }
    if (method === 'GET' && url.pathname.startsWith('/files/')) {
      const fileId = url.pathname.split('/')[2]!
      const u = this.uploads.get(fileId)
      if (!u || u.bytes.length !== u.length) return json(404, { error: { code: 'FILE_NOT_FOUND', message: '', temporary: false } })
      return json(200, { file: this.infoOf(fileId, u.length, u.metadata) })
    }
    const u = id ? this.uploads.get(id) : undefined
    if (!u) return json(404, { error: { code: 'UPLOAD_NOT_FOUND', message: '', temporary: false } })
    if (method === 'HEAD') return respond(200, { 'Upload-Offset': String(u.bytes.length), 'Upload-Length': String(u.length) })
    if (method === 'DELETE') {
      this.uploads.delete(id!)
      return respond(204, {})
    }
    if (method === 'PATCH') {
      if (Number(req.headers['Upload-Offset']) !== u.bytes.length) {
        return json(409, { error: { code: 'UPLOAD_OFFSET_CONFLICT', message: '', temporary: false } })
      }
      const body = new Uint8Array(req.body ?? new ArrayBuffer(0))
      const take = fault?.kind === 'partial' ? Math.min(fault.bytes, body.length) : body.length
      if (u.bytes.length + take > u.length) return json(413, { error: { code: 'UPLOAD_TOO_LARGE', message: '', temporary: false } })
      for (let k = 0; k < take; k++) u.bytes.push(body[k]!)
      this.bytesReceived += take
      if (fault?.kind === 'partial') return new UploadNetworkError('connection reset mid-body', 'network')
      const headers = { 'Upload-Offset': String(u.bytes.length) }
      if (u.bytes.length === u.length) {
        return { ...json(200, { file: this.infoOf(id!, u.length, u.metadata) }), header: headerOf({ ...headers, 'Content-Type': 'application/json' }) }
      }
      return respond(204, headers)
    }
    return json(405, { error: { code: 'UPLOAD_INVALID', message: '', temporary: false } })
  }
}

function isAppend(r: RecordedRequest): boolean {
  return r.method === 'PATCH'
}

function defaultInfo(id: string, size: number): Record<string, unknown> {
  return { fileId: id, kind: 'file', name: 'f', size, mime: 'application/pdf', url: `/files/${id}` }
}

function headerOf(headers: Record<string, string>): (name: string) => string | undefined {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  return (name) => lower.get(name.toLowerCase())
}

function respond(status: number, headers: Record<string, string>): UploadHttpResponse {
  return { status, header: headerOf(headers), text: '' }
}

function json(status: number, body: unknown): UploadHttpResponse {
  return { status, header: headerOf({ 'Content-Type': 'application/json' }), text: JSON.stringify(body) }
}

/** Bytes in memory as a FileSource; counts reads so tests can check that only ranges are read. */
export class MemorySource implements FileSource {
  readonly reads: Array<[number, number]> = []
  constructor(readonly bytes: Uint8Array) {}
  get size(): number {
    return this.bytes.length
  }
  async read(start: number, end: number): Promise<ArrayBuffer> {
    this.reads.push([start, end])
    return this.bytes.slice(start, end).buffer
  }
}

export class MemoryStorage implements UploadStorage {
  readonly data = new Map<string, unknown>()
  get(key: string): unknown {
    return this.data.get(key)
  }
  set(key: string, value: unknown): void {
    this.data.set(key, JSON.parse(JSON.stringify(value)))
  }
  remove(key: string): void {
    this.data.delete(key)
  }
}
