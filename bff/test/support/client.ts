/**
 * A protocol test client: a real `ws` socket speaking the wire protocol to a running BFF. Every
 * frame the server sends is validated with the shared schemas (`decodeServerFrame`); a frame that
 * does not validate fails the next wait. Tests (here, in tests/ops and tests/e2e) wait for frames
 * by predicate instead of sleeping.
 */
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION, decodeServerFrame } from '@chat/shared'
import type { AuthResponse, ClientFrame, ErrorResponse, ServerFrame, ServerFrameOf, ServerFrameType } from '@chat/shared'

export interface ConnectOptions {
  /** Send the token as `Authorization: Bearer` instead of `?token=`. */
  readonly useHeader?: boolean
  /** Protocol version asked for; null leaves `v` out. Default PROTOCOL_VERSION. */
  readonly version?: string | number | null
  /** Answer server pings (ws does by default). false plays a dead client. */
  readonly autoPong?: boolean
  /** Source address (127.0.0.x) to spread connections over more ephemeral ports. */
  readonly localAddress?: string
}

export interface Closed {
  readonly code: number
  readonly reason: string
}

type Waiter = { pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void; reject: (e: Error) => void }

export class TestClient {
  /** Every valid frame received, in order. */
  readonly frames: ServerFrame[] = []
  /** Raw text of frames that did not validate. */
  readonly invalid: string[] = []
  readonly closed: Promise<Closed>
  private readonly taken = new Set<number>()
  private waiters: Waiter[] = []
  private closeInfo: Closed | undefined

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() }
        for (const w of this.waiters) w.reject(new Error(`socket closed (${code} ${reason.toString()}) while waiting for a frame`))
        this.waiters = []
        resolve(this.closeInfo)
      })
    })
    ws.on('error', () => {})
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : (data as Buffer).toString() // a Buffer: ws's default binaryType
      let frame: ServerFrame
      try {
        frame = decodeServerFrame(text)
      } catch {
        this.invalid.push(text)
        for (const w of this.waiters) w.reject(new Error(`server sent an invalid frame: ${text.slice(0, 300)}`))
        this.waiters = []
        return
      }
      const index = this.frames.push(frame) - 1
      const w = this.waiters.find((x) => x.pred(frame))
      if (w) {
        this.taken.add(index)
        this.waiters = this.waiters.filter((x) => x !== w)
        w.resolve(frame)
      }
    })
  }

  /** Open a socket to `baseUrl` (http://host:port); resolves once open (before `welcome`). */
  static connect(baseUrl: string, token: string | undefined, options: ConnectOptions = {}): Promise<TestClient> {
    const ws = open(baseUrl, token, options)
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new TestClient(ws)))
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)))
      ws.once('error', reject)
    })
  }

  /** An upgrade the server must refuse: its HTTP status and JSON body. */
  static refused(baseUrl: string, token: string | undefined, options: ConnectOptions = {}): Promise<{ status: number; body: unknown }> {
    const ws = open(baseUrl, token, options)
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.close()
        reject(new Error('upgrade was accepted'))
      })
      ws.once('unexpected-response', (_req, res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }))
      })
      ws.on('error', () => {})
    })
  }

  /** The first frame not yet taken that matches, waiting for it if needed. */
  next<T extends ServerFrame = ServerFrame>(pred: (f: ServerFrame) => boolean, timeoutMs = 5000): Promise<T> {
    if (this.invalid.length > 0) return Promise.reject(new Error(`server sent an invalid frame: ${this.invalid[0]!.slice(0, 300)}`))
    for (let i = 0; i < this.frames.length; i++) {
      if (!this.taken.has(i) && pred(this.frames[i]!)) {
        this.taken.add(i)
        return Promise.resolve(this.frames[i] as T)
      }
    }
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code}) before the frame came`))
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { pred, resolve: resolve as (f: ServerFrame) => void, reject }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== waiter)
        reject(new Error(`no matching frame within ${timeoutMs} ms; last frames: ${JSON.stringify(this.frames.slice(-5))}`))
      }, timeoutMs)
      waiter.resolve = (f) => (clearTimeout(timer), (resolve as (f: ServerFrame) => void)(f))
      waiter.reject = (e) => (clearTimeout(timer), reject(e))
      this.waiters.push(waiter)
    })
  }

  /** The next frame of a type (optionally matching more). */
  nextOf<K extends ServerFrameType>(type: K, pred: (f: ServerFrameOf<K>) => boolean = () => true, timeoutMs?: number): Promise<ServerFrameOf<K>> {
    return this.next<ServerFrameOf<K>>((f) => f.type === type && pred(f as ServerFrameOf<K>), timeoutMs)
  }

  /** Frames of a type received so far (taken or not). */
  all<K extends ServerFrameType>(type: K): ServerFrameOf<K>[] {
    return this.frames.filter((f) => f.type === type) as ServerFrameOf<K>[]
  }

  send(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame))
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary })
  }

  /** Send `sync` and collect every `messages` batch until `sync.done`. */
  async sync(rid: string, cursors: { conv: string; seq: number }[], timeoutMs = 10_000): Promise<{ batches: ServerFrameOf<'messages'>[]; done: ServerFrameOf<'sync.done'> }> {
    this.send({ type: 'sync', rid, cursors })
    const done = await this.nextOf('sync.done', (f) => f.rid === rid, timeoutMs)
    const batches: ServerFrameOf<'messages'>[] = []
    for (let i = 0; i < this.frames.length; i++) {
      const f = this.frames[i]!
      if (f.type === 'messages' && f.rid === rid) {
        this.taken.add(i)
        batches.push(f)
      }
    }
    return { batches, done }
  }

  async close(): Promise<Closed> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000)
    return this.closed
  }
}

function open(baseUrl: string, token: string | undefined, options: ConnectOptions): WebSocket {
  const url = new URL('/ws', baseUrl.replace(/^http/, 'ws'))
  const version = options.version === undefined ? PROTOCOL_VERSION : options.version
  if (version !== null) url.searchParams.set('v', String(version))
  if (token !== undefined && !options.useHeader) url.searchParams.set('token', token)
  return new WebSocket(url, {
    headers: token !== undefined && options.useHeader ? { authorization: `Bearer ${token}` } : {},
    autoPong: options.autoPong ?? true,
    perMessageDeflate: false,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  })
}

/**
 * An auth endpoint's answer as the tests read it: AuthResponse when the status is 200, ErrorResponse
 * otherwise (each test reads the one its status says).
 */
export type AuthReply = AuthResponse & ErrorResponse

/** POST a JSON body; returns status and parsed body. */
export async function postJson(baseUrl: string, path: string, body: unknown): Promise<{ status: number; body: AuthReply }> {
  const res = await fetch(new URL(path, baseUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as AuthReply }
}

export async function devLogin(baseUrl: string, user: string, name?: string): Promise<AuthResponse> {
  const res = await postJson(baseUrl, '/auth/dev-login', name === undefined ? { user } : { user, name })
  if (res.status !== 200) throw new Error(`dev-login ${user}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Log in with dev-login, connect, and wait for `welcome`. */
export async function connectUser(baseUrl: string, user: string, options: ConnectOptions & { name?: string } = {}): Promise<{ client: TestClient; auth: AuthResponse; welcome: ServerFrameOf<'welcome'> }> {
  const auth = await devLogin(baseUrl, user, options.name)
  const client = await TestClient.connect(baseUrl, auth.token, options)
  const welcome = await client.nextOf('welcome')
  return { client, auth, welcome }
}

let cidCounter = 0
/** A fresh client message id (valid per the schema). */
export function newCid(): string {
  return `cid${Date.now().toString(36)}${(cidCounter++).toString(36).padStart(6, '0')}`
}
