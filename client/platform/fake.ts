/**
 * In-memory platform for unit tests: a socket transport whose far side the test plays frame by
 * frame, a manual clock, a Map storage, a lifecycle the test drives and an HTTP client answering
 * from a handler. Nothing here touches the network or real time.
 */
import type {
  AppLifecycle,
  HttpClient,
  HttpResponse,
  KeyValueStorage,
  Platform,
  SocketConnection,
  SocketHandlers,
  SocketTransport,
  TimerId,
  Timers,
} from './types'
import { STORAGE_KEY_MAX_BYTES, STORAGE_TOTAL_MAX_BYTES } from './types'

export class FakeSocket implements SocketConnection {
  readonly sent: string[] = []
  state: 'connecting' | 'open' | 'closed' = 'connecting'
  closedBy?: { code?: number; reason?: string }

  constructor(
    readonly url: string,
    private readonly handlers: SocketHandlers,
  ) {}

  send(text: string): boolean {
    if (this.state !== 'open') return false
    this.sent.push(text)
    return true
  }

  close(code?: number, reason?: string): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.closedBy = { code, reason }
  }

  // ---- the far side
  open(): void {
    if (this.state !== 'connecting') throw new Error(`cannot open a ${this.state} socket`)
    this.state = 'open'
    this.handlers.onOpen()
  }

  /** Deliver a frame (an object is JSON-encoded; a string is delivered as is, valid or not). */
  push(frame: object | string): void {
    if (this.state !== 'open') throw new Error(`cannot push on a ${this.state} socket`)
    this.handlers.onMessage(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  /** The server (or the network) ends the connection. */
  drop(code = 1006, reason = ''): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.handlers.onClose(code, reason)
  }

  /** Frames the client sent, decoded. */
  frames(): Array<Record<string, unknown> & { type: string }> {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown> & { type: string })
  }

  framesOf(type: string): Array<Record<string, unknown> & { type: string }> {
    return this.frames().filter((f) => f.type === type)
  }
}

export class FakeTransport implements SocketTransport {
  readonly sockets: FakeSocket[] = []

  connect(url: string, handlers: SocketHandlers): SocketConnection {
    const socket = new FakeSocket(url, handlers)
    this.sockets.push(socket)
    return socket
  }

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1]
    if (!s) throw new Error('no socket was opened')
    return s
  }

  /** Sockets not closed by either side. */
  live(): FakeSocket[] {
    return this.sockets.filter((s) => s.state !== 'closed')
  }
}

/** A clock that moves only when the test says so; timers fire in time order. */
export class ManualTimers implements Timers {
  private time: number
  private nextId = 1
  private readonly pending = new Map<number, { at: number; fn: () => void; seq: number }>()
  private seq = 0

  constructor(start = 1_800_000_000_000) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.nextId++
    this.pending.set(id, { at: this.time + Math.max(0, ms), fn, seq: this.seq++ })
    return id as unknown as TimerId
  }

  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.pending.delete(id as unknown as number)
  }

  /** Move the clock forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const until = this.time + ms
    for (;;) {
      let nextId = -1
      let next: { at: number; fn: () => void; seq: number } | undefined
      for (const [id, t] of this.pending) {
        if (t.at <= until && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) {
          next = t
          nextId = id
        }
      }
      if (!next) break
      this.pending.delete(nextId)
      this.time = Math.max(this.time, next.at)
      next.fn()
    }
    this.time = until
  }

  /** Number of timers waiting. */
  get size(): number {
    return this.pending.size
  }
}

/** wx storage in memory, with its limits (STORAGE_KEY_MAX_BYTES, STORAGE_TOTAL_MAX_BYTES). */
export class MemoryStorage implements KeyValueStorage {
  readonly map = new Map<string, string>()
  writes = 0
  /** Writes refused for the limits (the key kept what it held). */
  refused = 0
  /** Bytes written per key, summed over every write (what crossed to storage). */
  readonly written = new Map<string, number>()
  private total = 0

  get(key: string): unknown {
    const raw = this.map.get(key)
    return raw === undefined ? undefined : JSON.parse(raw)
  }

  set(key: string, value: unknown): void {
    this.writes++
    // Stored as JSON, as wx storage does: what comes back is a copy, never the same object.
    const raw = JSON.stringify(value)
    const bytes = utf8Bytes(key) + utf8Bytes(raw)
    const old = this.map.get(key)
    const total = this.total - (old === undefined ? 0 : utf8Bytes(key) + utf8Bytes(old)) + bytes
    if (bytes > STORAGE_KEY_MAX_BYTES || total > STORAGE_TOTAL_MAX_BYTES) {
      this.refused++
      return
    }
    this.map.set(key, raw)
    this.total = total
    this.written.set(key, (this.written.get(key) ?? 0) + bytes)
  }

  remove(key: string): void {
    const old = this.map.get(key)
    if (old !== undefined) this.total -= utf8Bytes(key) + utf8Bytes(old)
    this.map.delete(key)
  }

  /** Bytes held now, keys included. */
  get bytes(): number {
    return this.total
  }
}

const encoder = new TextEncoder()
function utf8Bytes(s: string): number {
  return encoder.encode(s).length
}

export class FakeLifecycle implements AppLifecycle {
  private readonly show = new Set<() => void>()
  private readonly hide = new Set<() => void>()
  private readonly net = new Set<(online: boolean) => void>()

  onShow(cb: () => void): () => void {
    this.show.add(cb)
    return () => this.show.delete(cb)
  }

  onHide(cb: () => void): () => void {
    this.hide.add(cb)
    return () => this.hide.delete(cb)
  }

  onNetworkChange(cb: (online: boolean) => void): () => void {
    this.net.add(cb)
    return () => this.net.delete(cb)
  }

  goBackground(): void {
    for (const cb of [...this.hide]) cb()
  }

  goForeground(): void {
    for (const cb of [...this.show]) cb()
  }

  network(online: boolean): void {
    for (const cb of [...this.net]) cb(online)
  }
}

export type HttpHandler = (url: string, body: unknown, headers: Record<string, string>) => HttpResponse | Promise<HttpResponse>

export class FakeHttp implements HttpClient {
  readonly calls: Array<{ url: string; body: unknown; headers?: Record<string, string> }> = []

  constructor(public handler: HttpHandler = () => ({ status: 404, data: {} })) {}

  async postJson(url: string, body: unknown, headers?: Record<string, string>): Promise<HttpResponse> {
    this.calls.push(headers ? { url, body, headers } : { url, body })
    return this.handler(url, body, headers ?? {})
  }

  /** A GET goes to the same handler with body `undefined`. */
  async get(url: string, _timeoutMs?: number, headers?: Record<string, string>): Promise<HttpResponse> {
    this.calls.push(headers ? { url, body: undefined, headers } : { url, body: undefined })
    return this.handler(url, undefined, headers ?? {})
  }
}

export interface FakePlatform extends Platform {
  readonly transport: FakeTransport
  readonly storage: MemoryStorage
  readonly timers: ManualTimers
  readonly lifecycle: FakeLifecycle
  readonly http: FakeHttp
}

export function createFakePlatform(): FakePlatform {
  return {
    transport: new FakeTransport(),
    storage: new MemoryStorage(),
    timers: new ManualTimers(),
    lifecycle: new FakeLifecycle(),
    http: new FakeHttp(),
  }
}
