/**
 * The few platform services the client's core needs. The core (connection, chat client, outbox,
 * store persistence) sees only these interfaces; client/platform/taro.ts implements them on Taro
 * (weapp and h5) and client/platform/fake.ts in memory for tests.
 */

export interface SocketHandlers {
  onOpen(): void
  onMessage(text: string): void
  /** The socket is gone. Called once per connection, after which no other handler is called. */
  onClose(code: number, reason: string): void
}

export interface SocketConnection {
  /** Send one text frame. Returns false if the socket cannot take it (not open, or closing). */
  send(text: string): boolean
  /** Close; the handlers of this connection are not called any more (not even onClose). */
  close(code?: number, reason?: string): void
}

export interface SocketTransport {
  connect(url: string, handlers: SocketHandlers): SocketConnection
}

/**
 * wx storage's limits: a key holds at most 1 MB, a mini-program at most 10 MB in all. A write over
 * either fails (setStorageSync throws) and the key keeps what it held.
 */
export const STORAGE_KEY_MAX_BYTES = 1024 * 1024
export const STORAGE_TOTAL_MAX_BYTES = 10 * 1024 * 1024

/** Synchronous key-value storage of JSON-compatible values (wx storage is synchronous too). */
export interface KeyValueStorage {
  /** The stored value, or undefined. */
  get(key: string): unknown
  /** Store `value`; a write the storage refuses (its limits) is dropped, never thrown: it is only a cache. */
  set(key: string, value: unknown): void
  remove(key: string): void
}

export type TimerId = ReturnType<typeof setTimeout>

export interface Timers {
  /** Milliseconds since the epoch, local clock. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerId
  clearTimeout(id: TimerId | undefined): void
}

/** App-wide lifecycle: going to the background and back, and network reachability. */
export interface AppLifecycle {
  onShow(cb: () => void): () => void
  onHide(cb: () => void): () => void
  onNetworkChange(cb: (online: boolean) => void): () => void
}

export interface HttpResponse {
  readonly status: number
  readonly data: unknown
}

export interface HttpClient {
  /** POST a JSON body; resolves with any HTTP status, rejects only when no response arrived. */
  postJson(url: string, body: unknown, headers?: Record<string, string>): Promise<HttpResponse>
  /** GET; resolves with any HTTP status, rejects when no response arrived within `timeoutMs`. */
  get(url: string, timeoutMs: number, headers?: Record<string, string>): Promise<HttpResponse>
}

export interface Platform {
  readonly transport: SocketTransport
  readonly storage: KeyValueStorage
  readonly timers: Timers
  readonly lifecycle: AppLifecycle
  readonly http: HttpClient
}
