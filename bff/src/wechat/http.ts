/**
 * The HTTP of WeChat calls: one POST of a JSON text, answered by a status and a body text. What to
 * do with the answer (errcodes, retries, metrics, logs) stays with the caller (api.ts).
 *
 * Two transports, one request function (`postOnce`, undici's `dispatch` with a plain handler):
 * - `inThreadHttp`: on the caller's event loop.
 * - `WxHttpThreads`: on a pool of worker_threads. The event loop posts the calls of one turn (or of
 *   `batchMs`) to a thread in one message and reads that thread's answers the same way: the HTTP
 *   client (request building, socket writes and reads, the parser, its timers) runs on another
 *   thread.
 * What a call costs (bff/bench/wxhttp.ts, 5,000 calls/s, fake answering in 20 ms, one core, net of
 * the driver; µs of CPU, process / event loop): undici `request` 59 / 45, `dispatch` on the loop
 * 32-35 / 25-28, on a thread 41-43 / 4-5, on a thread with batchMs 2 36-38 / 2-3. At 1,000
 * calls/s (no two calls in a turn) the thread's wake-ups make the process total ~1.5x the loop's
 * own, while the event loop's share is a third of what the call costs it on the loop. Threads buy the event loop's time with
 * some CPU: WX_HTTP_THREADS=0 for a deployment with no core to spare.
 *
 * Why `dispatch` rather than undici's `request`: `request` builds a Readable body, an abort signal
 * relay and a promise chain per call; the plain handler keeps one string. An answer longer than
 * WX_ANSWER_MAX_BYTES fails the call (WeChat's answers here are < 1 KB).
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'

export interface WxHttpAnswer {
  readonly status: number
  readonly text: string
}

export interface WxHttp {
  /**
   * POST `body` (JSON text) to `url`. Rejects when the connection fails, when no headers come
   * within `timeoutMs`, then no body within `timeoutMs` (undici's headersTimeout/bodyTimeout), or
   * when the answer is over WX_ANSWER_MAX_BYTES.
   */
  post(url: string, body: string, timeoutMs: number): Promise<WxHttpAnswer>
  close(): Promise<void>
}

/** Connections to WeChat one agent (the process's, or each worker thread's) keeps open, at most. */
export const WX_CONNECTIONS = 256
/** Keep-alive of an idle connection to WeChat, ms. */
export const WX_KEEPALIVE_MS = 30_000
/** Longest answer read from WeChat, bytes. */
export const WX_ANSWER_MAX_BYTES = 1 << 20

/** How the keep-alive pool of WeChat calls connects. */
export interface WxAgentOptions {
  /** Connections kept open at most. Default WX_CONNECTIONS. */
  readonly connections?: number
  /** Requests one connection carries at once (HTTP/1.1 pipelining, undici's `pipelining`). Default 1. */
  readonly pipelining?: number
}

/** The keep-alive pool of WeChat calls. */
export function wxAgent(options: WxAgentOptions = {}): Agent {
  return new Agent({ connections: options.connections ?? WX_CONNECTIONS, pipelining: options.pipelining ?? 1, keepAliveTimeout: WX_KEEPALIVE_MS })
}

type Done = (err: Error | undefined, status: number, text: string) => void

/**
 * One POST through `dispatcher`. Self-contained (no reference outside its body): the worker
 * threads run its source text (`toString`), so it must not use imports or module-level names.
 */
const postOnce = (dispatcher: Dispatcher, url: string, body: string, timeoutMs: number, maxBytes: number, idempotent: boolean, done: Done): void => {
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  const origin = slash < 0 ? url : url.slice(0, slash)
  const path = slash < 0 ? '/' : url.slice(slash)
  let status = 0
  let size = 0
  let text = ''
  let settled = false
  let cancel: ((err: Error) => void) | undefined
  const finish = (err: Error | undefined) => {
    if (settled) return
    settled = true
    done(err, status, text)
  }
  try {
    dispatcher.dispatch(
      // `idempotent` (and not `blocking`): undici pipelines a POST only when told it may (otherwise
      // each waits for the answers before it on its connection), and then retries it on a reset.
      { origin, path, method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, idempotent, blocking: !idempotent },
      // undici's own handler methods (onConnect ... onComplete), not the controller ones
      // (onRequestStart ...): those are adapted to these per call, headers parsed into an object
      // that nothing here reads.
      {
        onConnect: (abort) => {
          cancel = abort
        },
        onHeaders: (statusCode) => {
          status = statusCode
          return true
        },
        onData: (chunk) => {
          size += chunk.length
          if (size > maxBytes) {
            cancel?.(new Error(`answer over ${maxBytes} bytes`))
            return false
          }
          text += chunk.toString()
          return true
        },
        onComplete: () => finish(undefined),
        onError: (err) => finish(err),
      },
    )
  } catch (err) {
    finish(err instanceof Error ? err : new Error(String(err)))
  }
}

/** The calls on the caller's own event loop. */
export function inThreadHttp(agent: Agent = sharedAgent(), pipelined = false): WxHttp {
  return {
    post: (url, body, timeoutMs) =>
      new Promise((resolve, reject) => postOnce(agent, url, body, timeoutMs, WX_ANSWER_MAX_BYTES, pipelined, (err, status, text) => (err ? reject(err) : resolve({ status, text })))),
    close: async () => {},
  }
}

let processAgent: Agent | undefined
function sharedAgent(): Agent {
  processAgent ??= wxAgent()
  return processAgent
}

// ---------------------------------------------------------------- worker threads

/** One call as posted to a worker: id, url, body, timeoutMs. */
type Call = [number, string, string, number]
/** One answer from a worker: id, status (0: failed), body text or the failure's message. */
type Reply = [number, number, string]

interface Waiter {
  readonly resolve: (a: WxHttpAnswer) => void
  readonly reject: (e: Error) => void
}

interface Thread {
  readonly worker: Worker
  readonly waiting: Map<number, Waiter>
}

/**
 * The worker's program, run from its source text. `load` is the worker's dynamic import (the
 * eval'd script is ESM or CommonJS depending on the process, `import()` works in both).
 */
const workerMain = async (load: (specifier: string) => Promise<unknown>, post: typeof postOnce, undiciUrl: string, maxBytes: number, connections: number, pipelining: number, keepAliveMs: number, batchMs: number): Promise<void> => {
  const { parentPort } = (await load('node:worker_threads')) as typeof import('node:worker_threads')
  const undici = (await load(undiciUrl)) as typeof import('undici') & { default?: typeof import('undici') }
  const agent = new (undici.default ?? undici).Agent({ connections, pipelining, keepAliveTimeout: keepAliveMs })
  let out: Reply[] = []
  const flush = () => {
    const batch = out
    out = []
    parentPort!.postMessage(batch)
  }
  parentPort!.on('message', (calls: Call[]) => {
    for (const [id, url, body, timeoutMs] of calls) {
      post(agent, url, body, timeoutMs, maxBytes, pipelining > 1, (err, status, text) => {
        if (out.length === 0) {
          if (batchMs > 0) setTimeout(flush, batchMs)
          else setImmediate(flush)
        }
        out.push(err ? [id, 0, err.message] : [id, status, text])
      })
    }
  })
}

export interface WxHttpThreadsOptions {
  /** Worker threads, at least 1. */
  readonly threads: number
  /** Told once per thread that failed (its calls failed with it; the next calls start a new one). */
  readonly onThreadError?: (err: Error) => void
  /** Calls, and answers, are gathered this long before they are posted, ms. Default 0: one turn of the event loop. */
  readonly batchMs?: number
  /** The threads' connection pools. */
  readonly agent?: WxAgentOptions
}

/**
 * The calls on worker threads. Calls posted in one turn of the event loop go to one thread in one
 * message (threads take turns); each thread answers the calls it finished in a turn in one message.
 * A thread that dies fails its calls (the caller's retries apply) and is replaced on the next call.
 */
export class WxHttpThreads implements WxHttp {
  private readonly threads: Array<Thread | undefined>
  private next = 0
  private nextId = 0
  private queue: Call[] = []
  private queueWaiters: Waiter[] = []
  private closed = false
  private readonly source: string

  constructor(private readonly options: WxHttpThreadsOptions) {
    if (!(options.threads >= 1)) throw new Error('WxHttpThreads needs at least one thread')
    this.threads = Array.from({ length: options.threads }, () => undefined)
    const undiciUrl = pathToFileURL(createRequire(import.meta.url).resolve('undici')).href
    // A string, not a module file: the same source runs from the bundle (dist/) and from the
    // TypeScript sources under the tests, with no worker entry point to build or locate.
    this.source = `(${workerMain.toString()})((s) => import(s), (${postOnce.toString()}), ${JSON.stringify(undiciUrl)}, ${WX_ANSWER_MAX_BYTES}, ${options.agent?.connections ?? WX_CONNECTIONS}, ${options.agent?.pipelining ?? 1}, ${WX_KEEPALIVE_MS}, ${options.batchMs ?? 0})`
  }

  post(url: string, body: string, timeoutMs: number): Promise<WxHttpAnswer> {
    if (this.closed) return Promise.reject(new Error('WeChat HTTP threads closed'))
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) {
        if (this.options.batchMs) setTimeout(() => this.flush(), this.options.batchMs)
        else setImmediate(() => this.flush())
      }
      this.queue.push([++this.nextId, url, body, timeoutMs])
      this.queueWaiters.push({ resolve, reject })
    })
  }

  async close(): Promise<void> {
    this.closed = true
    const threads = this.threads.splice(0)
    await Promise.all(
      threads.map(async (t) => {
        if (!t) return
        this.fail(t, new Error('WeChat HTTP threads closed'))
        await t.worker.terminate()
      }),
    )
    this.failQueue(new Error('WeChat HTTP threads closed'))
  }

  private flush(): void {
    const calls = this.queue
    const waiters = this.queueWaiters
    this.queue = []
    this.queueWaiters = []
    if (calls.length === 0) return
    if (this.closed) {
      for (const w of waiters) w.reject(new Error('WeChat HTTP threads closed'))
      return
    }
    const t = this.thread()
    if (t.waiting.size === 0) t.worker.ref()
    for (let i = 0; i < calls.length; i++) t.waiting.set(calls[i]![0], waiters[i]!)
    t.worker.postMessage(calls)
  }

  private failQueue(err: Error): void {
    const waiters = this.queueWaiters
    this.queue = []
    this.queueWaiters = []
    for (const w of waiters) w.reject(err)
  }

  /** The next thread in turn, started if it is not running. */
  private thread(): Thread {
    const i = this.next
    this.next = (i + 1) % this.threads.length
    const existing = this.threads[i]
    if (existing) return existing
    const worker = new Worker(this.source, { eval: true })
    const t: Thread = { worker, waiting: new Map() }
    // Idle threads do not keep the process alive; a thread with calls in flight does.
    worker.unref()
    worker.on('message', (replies: Reply[]) => {
      for (const [id, status, text] of replies) {
        const w = t.waiting.get(id)
        if (!w) continue
        t.waiting.delete(id)
        if (status === 0) w.reject(new Error(text))
        else w.resolve({ status, text })
      }
      if (t.waiting.size === 0) worker.unref()
    })
    let dead = false
    const gone = (err: Error) => {
      if (dead) return
      dead = true
      if (this.threads[i] === t) this.threads[i] = undefined
      if (!this.closed) this.options.onThreadError?.(err)
      this.fail(t, err)
    }
    worker.on('error', gone)
    worker.on('exit', (code) => gone(new Error(`WeChat HTTP thread exited ${code}`)))
    this.threads[i] = t
    return t
  }

  private fail(t: Thread, err: Error): void {
    const waiting = [...t.waiting.values()]
    t.waiting.clear()
    for (const w of waiting) w.reject(err)
  }
}
