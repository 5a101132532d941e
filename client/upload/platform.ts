/**
 * What the uploader needs from its platform, and nothing more: one HTTP call at a time with an
 * ArrayBuffer body, positional reads of a file, and the app's key-value storage. Implemented on
 * Taro (taro.ts: wx.request / fetch, FileSystemManager.readFile / File.slice), on Node (node.ts: the
 * benchmark and the integration tests against the real BFF) and in memory (fake.ts: unit tests).
 *
 * The uploader's core (tus.ts, queue.ts) imports no platform API, DOM or Node, so it runs unchanged
 * in the mini-program, the browser and Node.
 */
import type { KeyValueStorage } from '../platform/types'

/** Methods a tus client needs. No PATCH: WeChat's wx.request has none (PLATFORM.md); see tus.ts. */
export type UploadMethod = 'POST' | 'HEAD' | 'DELETE' | 'GET'

export interface UploadHttpRequest {
  readonly method: UploadMethod
  /** Absolute URL. */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** Raw bytes, sent as they are. */
  readonly body?: ArrayBuffer
  /** The call fails (as a network error) when no response arrived within this time, ms. */
  readonly timeoutMs: number
}

export interface UploadHttpResponse {
  readonly status: number
  /** A response header, by case-insensitive name. */
  header(name: string): string | undefined
  /** The body as text ('' when none). */
  readonly text: string
}

export interface UploadHttpCall {
  /** Resolves with any HTTP status; rejects (UploadNetworkError) only when no response arrived. */
  readonly response: Promise<UploadHttpResponse>
  /** Stops the call: the connection is dropped and `response` rejects. */
  abort(): void
}

export interface UploadHttp {
  send(request: UploadHttpRequest): UploadHttpCall
}

/** A file to upload, read piece by piece. */
export interface FileSource {
  readonly size: number
  /**
   * Bytes [start, end). Implementations read only that range (wx FileSystemManager.readFile with
   * position/length, File.slice, fs.read): a 100 MB file is never held in memory at once.
   */
  read(start: number, end: number): Promise<ArrayBuffer>
}

/** Synchronous key-value storage of JSON values: the app platform's own (client/platform/types.ts). */
export type UploadStorage = KeyValueStorage

/** The call failed without an HTTP response: no network, DNS, reset, timeout, or aborted by us. */
export class UploadNetworkError extends Error {
  constructor(
    message: string,
    readonly reason: 'network' | 'timeout' | 'aborted',
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'UploadNetworkError'
  }
}
