/**
 * WeChat calls over HTTP/1.1 pipelining (WX_HTTP_PIPELINING > 0), on the caller's event loop.
 *
 * Why a client of its own: a WeChat call is one small POST answered by a small JSON body, and
 * at thousands of calls a second the per-request machinery of a general client is what a
 * check costs. bff/bench/wxhttp.ts, 5,000 calls/s against a fake answering in 20 ms, µs of
 * process CPU a call net of the driver: undici `dispatch` 21-24 (one connection per call in
 * flight, one write and one read a call), undici with `pipelining` (POSTs marked idempotent)
 * 16-20, `node:http` ~45; this client 10-12 at 16 a connection, 8-9 at 64. The difference is the
 * writes and reads: the requests of one event-loop turn bound for one connection leave in one
 * write (undici writes each request on its own), and one read parses every answer it holds.
 *
 * What it does and does not do (enough for WeChat's API, not a general client):
 * - POST with a JSON text; `host`, `content-type`, `content-length` headers; http: or https:.
 * - Answers with content-length, chunked, or (no length) ending with the connection; 1xx skipped.
 * - At most `depth` requests in flight on one of at most `connections` connections an origin
 *   (a connection takes calls until it is full, then the next opens); beyond that, calls wait in
 *   order for a free place.
 * - A connection whose oldest request is not fully answered within its timeoutMs (from when it was
 *   written) is closed, failing every call on it (the caller retries them: "no answer"). The check
 *   runs every PIPELINE_SWEEP_MS, so a timeout fires up to that much late.
 * - An answer over `maxBytes`, a malformed answer, `connection: close`, a reset: the connection's
 *   unanswered calls fail (same as a reset under undici: a POST is not re-sent by the client).
 * - A connection idle for WX_KEEPALIVE_MS is closed.
 * Pipelining asks the server to answer in order, which HTTP/1.1 requires of every server
 * (RFC 9112 §9.3.2); a proxy that does not keep to it is why this is a setting, off by default.
 */
import { connect as netConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { WX_ANSWER_MAX_BYTES, WX_CONNECTIONS, WX_KEEPALIVE_MS } from './http'
import type { WxHttp, WxHttpAnswer } from './http'

/**
 * Connections one origin gets at most, at least: more when `depth` x this is under WX_CONNECTIONS,
 * so that as many calls may be in flight as with undici's pool.
 */
export const PIPELINE_CONNECTIONS = 8
/** How often deadlines and idle connections are looked at, ms. */
export const PIPELINE_SWEEP_MS = 100

export interface PipelineOptions {
  /** Requests in flight on one connection at most (1: keep-alive without pipelining). */
  readonly depth: number
  /** Connections an origin gets at most. Default the larger of PIPELINE_CONNECTIONS and WX_CONNECTIONS / depth. */
  readonly connections?: number
  /** Longest answer, bytes. Default WX_ANSWER_MAX_BYTES. */
  readonly maxBytes?: number
}

interface Call {
  readonly resolve: (a: WxHttpAnswer) => void
  readonly reject: (e: Error) => void
  readonly timeoutMs: number
  /** When its request was handed to the socket (ms), set on write. */
  deadline: number
}

interface Origin {
  readonly secure: boolean
  readonly host: string
  readonly port: number
  readonly hostHeader: string
  readonly conns: Conn[]
  /** Calls waiting for a place on a connection: their request text and call, in order. */
  readonly backlog: Array<[string, Call]>
  /** Where calls go while it has room. */
  current: Conn | undefined
}

interface Conn {
  readonly origin: Origin
  readonly socket: Socket
  /** Calls written (or about to be) and not yet answered, in order. */
  readonly waiting: Call[]
  /** Requests of this turn not written yet. */
  out: string
  buf: Buffer | undefined
  /** The parse of the answer at the head of `buf`: body start and end (end -1: until close). */
  head: { status: number; start: number; end: number; chunked: boolean; close: boolean } | undefined
  idleSince: number
  dead: boolean
}

export class PipelinedHttp implements WxHttp {
  private readonly origins = new Map<string, Origin>()
  private readonly dirty = new Set<Conn>()
  private flushing = false
  private sweeper: NodeJS.Timeout | undefined
  private closed = false
  private readonly depth: number
  private readonly maxConns: number
  private readonly maxBytes: number

  constructor(options: PipelineOptions) {
    if (!(options.depth >= 1)) throw new Error('PipelinedHttp needs a depth of at least 1')
    this.depth = options.depth
    this.maxConns = options.connections ?? Math.max(PIPELINE_CONNECTIONS, Math.ceil(WX_CONNECTIONS / options.depth))
    this.maxBytes = options.maxBytes ?? WX_ANSWER_MAX_BYTES
  }

  post(url: string, body: string, timeoutMs: number): Promise<WxHttpAnswer> {
    if (this.closed) return Promise.reject(new Error('WeChat HTTP closed'))
    const slash = url.indexOf('/', url.indexOf('//') + 2)
    const originUrl = slash < 0 ? url : url.slice(0, slash)
    const path = slash < 0 ? '/' : url.slice(slash)
    let origin: Origin
    try {
      origin = this.origin(originUrl)
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const request = `POST ${path} HTTP/1.1\r\nhost: ${origin.hostHeader}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    return new Promise((resolve, reject) => {
      const call: Call = { resolve, reject, timeoutMs, deadline: 0 }
      const conn = this.place(origin)
      if (conn) this.enqueue(conn, request, call)
      else origin.backlog.push([request, call])
      this.sweeper ??= setInterval(() => this.sweep(), PIPELINE_SWEEP_MS).unref()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    const err = new Error('WeChat HTTP closed')
    for (const o of this.origins.values()) {
      for (const c of [...o.conns]) this.fail(c, err)
      for (const [, call] of o.backlog.splice(0)) call.reject(err)
    }
    this.origins.clear()
  }

  private origin(originUrl: string): Origin {
    const known = this.origins.get(originUrl)
    if (known) return known
    const u = new URL(originUrl)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported protocol ${u.protocol}`)
    const secure = u.protocol === 'https:'
    const o: Origin = { secure, host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || (secure ? 443 : 80)), hostHeader: u.host, conns: [], backlog: [], current: undefined }
    this.origins.set(originUrl, o)
    return o
  }

  /**
   * The connection the last call went to while it has room (the calls of a turn then leave in
   * one write), else the least busy one with room, else a new one while more may open, else none.
   */
  private place(o: Origin): Conn | undefined {
    const current = o.current
    if (current && !current.dead && current.waiting.length < this.depth) return current
    let best: Conn | undefined
    for (const c of o.conns) if (c.waiting.length < this.depth && (!best || c.waiting.length < best.waiting.length)) best = c
    best ??= o.conns.length < this.maxConns ? this.open(o) : undefined
    o.current = best
    return best
  }

  private enqueue(c: Conn, request: string, call: Call): void {
    call.deadline = Date.now() + call.timeoutMs
    c.waiting.push(call)
    c.out += request
    this.dirty.add(c)
    if (!this.flushing) {
      this.flushing = true
      // The requests of this turn go out together, one write a connection.
      setImmediate(() => this.flush())
    }
  }

  private flush(): void {
    this.flushing = false
    for (const c of this.dirty) {
      if (!c.dead && c.out !== '') c.socket.write(c.out)
      c.out = ''
    }
    this.dirty.clear()
  }

  private open(o: Origin): Conn {
    const socket = o.secure ? tlsConnect({ host: o.host, port: o.port, servername: o.host, ALPNProtocols: ['http/1.1'] }) : netConnect({ host: o.host, port: o.port })
    socket.setNoDelay(true)
    const c: Conn = { origin: o, socket, waiting: [], out: '', buf: undefined, head: undefined, idleSince: Date.now(), dead: false }
    socket.on('data', (chunk: Buffer) => this.read(c, chunk))
    socket.on('error', (err: Error) => this.fail(c, err))
    socket.on('close', () => {
      // An answer that lasts until the connection ends is complete now.
      if (c.head && c.head.end === -1 && c.waiting.length > 0 && c.buf) {
        const call = c.waiting.shift()!
        call.resolve({ status: c.head.status, text: c.buf.toString('utf8', c.head.start) })
      }
      this.fail(c, new Error('connection closed'))
    })
    o.conns.push(c)
    return c
  }

  private read(c: Conn, chunk: Buffer): void {
    let buf = c.buf ? Buffer.concat([c.buf, chunk]) : chunk
    for (;;) {
      if (!c.head) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) {
          if (buf.length > 16 * 1024) return this.fail(c, new Error('answer headers too long'))
          break
        }
        const head = parseHead(buf.toString('latin1', 0, end))
        if (!head) return this.fail(c, new Error('malformed answer'))
        if (head.status >= 100 && head.status < 200) {
          buf = buf.subarray(end + 4)
          continue
        }
        const start = end + 4
        const length = head.status === 204 || head.status === 304 ? 0 : head.length
        if (length !== undefined && length > this.maxBytes) return this.fail(c, new Error(`answer over ${this.maxBytes} bytes`))
        c.head = { status: head.status, start, end: length === undefined ? -1 : start + length, chunked: head.chunked, close: head.close }
      }
      const h = c.head
      let text: string
      let rest: number
      if (h.chunked) {
        const body = dechunk(buf, h.start, this.maxBytes)
        if (body === 'over') return this.fail(c, new Error(`answer over ${this.maxBytes} bytes`))
        if (body === 'bad') return this.fail(c, new Error('malformed chunked answer'))
        if (!body) break
        text = body.text
        rest = body.end
      } else if (h.end === -1) {
        if (buf.length - h.start > this.maxBytes) return this.fail(c, new Error(`answer over ${this.maxBytes} bytes`))
        break
      } else {
        if (buf.length < h.end) break
        text = buf.toString('utf8', h.start, h.end)
        rest = h.end
      }
      const call = c.waiting.shift()
      if (!call) return this.fail(c, new Error('answer without a request'))
      c.head = undefined
      buf = buf.subarray(rest)
      call.resolve({ status: h.status, text })
      if (h.close) return this.fail(c, new Error('connection closed by WeChat'))
      this.refill(c)
    }
    c.buf = buf.length > 0 ? buf : undefined
    if (c.waiting.length === 0) c.idleSince = Date.now()
  }

  /** A place freed on `c`: the oldest waiting calls of its origin take it. */
  private refill(c: Conn): void {
    const backlog = c.origin.backlog
    while (backlog.length > 0 && c.waiting.length < this.depth && !c.dead) {
      const [request, call] = backlog.shift()!
      this.enqueue(c, request, call)
    }
  }

  private fail(c: Conn, err: Error): void {
    if (c.dead) return
    c.dead = true
    const conns = c.origin.conns
    conns.splice(conns.indexOf(c), 1)
    c.socket.destroy()
    c.buf = undefined
    for (const call of c.waiting.splice(0)) call.reject(err)
    // Calls waiting for a place get one on another (or a new) connection.
    const backlog = c.origin.backlog
    while (backlog.length > 0 && !this.closed) {
      const next = this.place(c.origin)
      if (!next) break
      const [request, call] = backlog.shift()!
      this.enqueue(next, request, call)
    }
  }

  private sweep(): void {
    const now = Date.now()
    let busy = false
    for (const o of this.origins.values()) {
      for (const c of [...o.conns]) {
        const first = c.waiting[0]
        if (first && first.deadline < now) this.fail(c, new Error(`timeout: no answer within ${first.timeoutMs} ms`))
        else if (!first && now - c.idleSince > WX_KEEPALIVE_MS) this.fail(c, new Error('idle'))
        else busy = true
      }
      if (o.backlog.length > 0) busy = true
    }
    if (!busy && this.sweeper) {
      clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }
}

/** Status line and the headers that frame the body; undefined when it is not an HTTP/1.x answer. */
function parseHead(head: string): { status: number; length: number | undefined; chunked: boolean; close: boolean } | undefined {
  if (!head.startsWith('HTTP/1.')) return undefined
  const status = Number(head.slice(9, 12))
  if (!(status >= 100 && status <= 999)) return undefined
  let length: number | undefined
  let chunked = false
  let close = head.startsWith('HTTP/1.0')
  let at = head.indexOf('\r\n')
  while (at >= 0) {
    const next = head.indexOf('\r\n', at + 2)
    const line = head.slice(at + 2, next < 0 ? undefined : next)
    at = next
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim().toLowerCase()
    if (name === 'content-length') {
      if (!/^\d+$/.test(value)) return undefined
      length = Number(value)
    } else if (name === 'transfer-encoding') chunked = value.split(',').some((v) => v.trim() === 'chunked')
    else if (name === 'connection') close = value.split(',').some((v) => v.trim() === 'close')
  }
  // RFC 9112 §6.3: chunked wins over a content-length.
  if (chunked) length = undefined
  return { status, length, chunked, close }
}

/** A chunked body from `start`: its text and where it ends, undefined when not all here yet. */
function dechunk(buf: Buffer, start: number, maxBytes: number): { text: string; end: number } | 'over' | 'bad' | undefined {
  const parts: Buffer[] = []
  let size = 0
  let at = start
  for (;;) {
    const eol = buf.indexOf('\r\n', at)
    if (eol < 0) return undefined
    const n = parseInt(buf.toString('latin1', at, eol).split(';')[0]!.trim(), 16)
    if (!Number.isFinite(n) || n < 0) return 'bad'
    if (n === 0) {
      // Trailers (none expected) end with an empty line.
      let t = eol + 2
      for (;;) {
        const e = buf.indexOf('\r\n', t)
        if (e < 0) return undefined
        if (e === t) return { text: Buffer.concat(parts).toString('utf8'), end: e + 2 }
        t = e + 2
      }
    }
    size += n
    if (size > maxBytes) return 'over'
    if (buf.length < eol + 2 + n + 2) return undefined
    parts.push(buf.subarray(eol + 2, eol + 2 + n))
    at = eol + 2 + n + 2
  }
}
