/**
 * The client's platform on Node, for driving the real client against a real BFF in tests and
 * load generators (as client/upload/node.ts does for the uploader): `ws` sockets, real timers,
 * `fetch`, storage in memory, and an app lifecycle the caller drives (the app is in the foreground
 * until told otherwise). Never bundled into the mini-program: nothing in the app imports it.
 */
import WebSocket from 'ws'
import { FakeLifecycle, MemoryStorage } from './fake'
import type { HttpClient, HttpResponse, Platform, SocketConnection, SocketHandlers, SocketTransport, TimerId, Timers } from './types'

export interface NodeSocketOptions {
  /** Source address (127.0.0.x) to spread many connections over more ephemeral ports. */
  readonly localAddress?: string
}

/** A `ws` socket behind the platform's SocketConnection contract. */
export class NodeSocket implements SocketConnection {
  readonly ws: WebSocket
  private closedByClient = false

  constructor(url: string, handlers: SocketHandlers, options: NodeSocketOptions = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...(options.localAddress ? { localAddress: options.localAddress } : {}) })
    this.ws.on('open', () => {
      if (!this.closedByClient) handlers.onOpen()
    })
    this.ws.on('message', (data, isBinary) => {
      if (!this.closedByClient) handlers.onMessage(isBinary ? '' : (data as Buffer).toString()) // a Buffer: ws's default binaryType
    })
    // An error is followed by 'close'; the contract reports only the close.
    this.ws.on('error', () => {})
    this.ws.on('close', (code, reason) => {
      if (!this.closedByClient) handlers.onClose(code, reason.toString())
    })
  }

  send(text: string): boolean {
    if (this.closedByClient || this.ws.readyState !== WebSocket.OPEN) return false
    this.ws.send(text)
    return true
  }

  close(code?: number, reason?: string): void {
    if (this.closedByClient) return
    this.closedByClient = true
    // A socket still connecting has no close handshake to do (ws throws on close() then).
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate()
    else this.ws.close(code, reason)
  }
}

export class NodeTransport implements SocketTransport {
  constructor(private readonly options: NodeSocketOptions = {}) {}

  connect(url: string, handlers: SocketHandlers): NodeSocket {
    return new NodeSocket(url, handlers, this.options)
  }
}

export const nodeTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id: TimerId | undefined) => clearTimeout(id),
}

async function answer(res: Response): Promise<HttpResponse> {
  const text = await res.text()
  let data: unknown = text
  try {
    data = text ? JSON.parse(text) : undefined
  } catch {
    // not JSON: the text as is
  }
  return { status: res.status, data }
}

export const nodeHttp: HttpClient = {
  async postJson(url, body, headers = {}) {
    return answer(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }))
  },
  async get(url, timeoutMs, headers = {}) {
    return answer(await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) }))
  },
}

export interface NodePlatform extends Platform {
  readonly transport: SocketTransport
  readonly storage: MemoryStorage
  /** Driven by the caller: `goBackground()`, `goForeground()`, `network(online)`. */
  readonly lifecycle: FakeLifecycle
}

export function createNodePlatform(options: { transport?: SocketTransport; http?: HttpClient } & NodeSocketOptions = {}): NodePlatform {
  return {
    transport: options.transport ?? new NodeTransport(options),
    storage: new MemoryStorage(),
    timers: nodeTimers,
    lifecycle: new FakeLifecycle(),
    http: options.http ?? nodeHttp,
  }
}
