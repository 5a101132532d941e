/**
 * WX_CHECKER=process (the default when text checks are on): the text checks run in a checker
 * process the BFF starts (dist/checker.js, ../checker.ts) and keeps running, the way the archive's
 * persister runs (persister-child.ts). Why: a check is an HTTP call to WeChat answered in tens of
 * ms, and its client CPU (request, answer, retries, budget, token, cache) on the chat's event loop
 * doubled what a message costs there (bench:bff `secure`: 1.98x with the HTTP on a worker thread,
 * 2.21x on the loop). Here the loop pays a hand-off: the texts of one turn (of up to
 * WX_CHECKER_BATCH_MS of turns, or CHECKER_CHECKS_FULL texts, while they keep coming: checker-wire.ts, Batcher) leave in one binary
 * frame on a pipe to the process, and their verdicts come back the same way, matched by id in a pending map that holds
 * only each text's resolve; the deadlines are kept per message sent, not per text.
 *
 * The checker process holds the HTTP to WeChat, the access_token reads, the shared per-minute
 * budget, the recent passes, the retries and timeouts, and their counters and logs. A scrape of
 * /metrics asks it for its counter increments (the counters' `collect`, counts()) and adds them
 * here to the counters of the same names, so /metrics reads as with checks on this process. It gets its settings from this process in its
 * first message (nothing of the WeChat secret in its argv or environment).
 *
 * Failure: a text not answered within WX_CHECKER_TIMEOUT_MS, every text in flight when the process
 * dies, every text while none runs (between a death and its restart) and texts beyond
 * CHECKER_PENDING_MAX in flight are `unavailable` at once: WX_SECCHECK_UNAVAILABLE decides, never a
 * hang. A process that dies is started again after a full-jitter backoff; its death never takes
 * the BFF down. `close` stops it (SIGTERM, SIGKILL after CHECKER_STOP_GRACE_MS). When the BFF dies,
 * even by kill -9, the IPC channel closes and the checker exits.
 *
 * One checker process per BFF process (with WORKERS, one per worker).
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import type { Socket } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'
import { backoffDelay } from '@chat/shared'
import type { UserId } from '@chat/shared'
import type { Logger } from '../log'
import { stopChild } from '../stop-child'
import { SpentNotice } from './budget'
import { Batcher, CHECKER_CHECKS_FULL, CHECKER_FRAME_MAX_CHARS, CHECKER_PIPE_FD, FrameReader, decodeVerdicts, encodeChecks } from './checker-wire'
import type { CountsRequest, FromChecker, UsedRequest, WireCheck } from './checker-wire'
import type { TextCheckMetrics, TextVerdict, VerdictSource } from './security'
import type { WxApiOptions } from './api'

/** Texts in flight to the checker process at most; beyond, a text is unavailable at once (the process is not keeping up). */
export const CHECKER_PENDING_MAX = 100_000
/** How often texts in flight are looked at for WX_CHECKER_TIMEOUT_MS, ms (a timeout fires up to this late, plus CHECKER_DEADLINE_SLACK_MS). */
export const CHECKER_SWEEP_MS = 100
/**
 * Messages sent within this long share one deadline, the first one's plus this (ms): at most
 * 1,000 / this deadlines a second are kept for WX_CHECKER_TIMEOUT_MS, whatever the rate, and a
 * text is failed up to this much later than its own deadline, never earlier.
 */
export const CHECKER_DEADLINE_SLACK_MS = 10
/** A scrape waits this long at most for the checker process's counts, ms (then shows what it has). */
export const CHECKER_COUNTS_TIMEOUT_MS = 1000
/** A checker process told to stop is killed after this long, ms. */
export const CHECKER_STOP_GRACE_MS = 3000
/** Restart backoff of a checker process that died: full jitter between these, ms. */
const RESTART_BACKOFF = { minDelayMs: 250, maxDelayMs: 10_000 }
/** A checker process up this long resets the backoff, ms. */
const RESTART_STABLE_MS = 30_000

/** The store of the budget and the access_token, as the checker process opens it. */
export type CheckerStore =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'redis'
      readonly url: string
      readonly clusterNodes: readonly { host: string; port: number }[]
      readonly prefix: string
      readonly commandTimeoutMs: number
      readonly connectTimeoutMs: number
    }

/** What the checker process is told in its first message. */
export interface CheckerSettings {
  readonly api: Omit<WxApiOptions, 'agent' | 'http'>
  /** WX_HTTP_PIPELINING: above 0, its calls are pipelined (pipeline.ts); else undici on its loop. */
  readonly httpPipelining: number
  readonly checksPerMin: number
  readonly cacheMax: number
  readonly cacheTtlMs: number
  /** WX_CHECKER_BATCH_MS: the Batcher's window of both directions (checker-wire.ts: checks also leave at CHECKER_CHECKS_FULL, verdicts once their message's are all reached), ms; 0: one message a turn. */
  readonly batchMs: number
  readonly store: CheckerStore
  readonly logLevel: string
}

/** The first message to the checker process. */
export interface InitMessage {
  readonly t: 'init'
  readonly settings: CheckerSettings
}

export interface CheckerProcessOptions {
  readonly settings: CheckerSettings
  /** WX_CHECKER_TIMEOUT_MS. */
  readonly timeoutMs: number
  /** Where the process's counter increments are added (the BFF's registry). */
  readonly registry: Registry
  /** The text-check counters in `registry` (unavailable answers made here are counted here). */
  readonly metrics: TextCheckMetrics
  readonly log: Logger
}

const UNAVAILABLE: TextVerdict = { suggest: 'unavailable' }
const HERE = fileURLToPath(import.meta.url)

/**
 * How the checker process is started: dist/checker.js beside the BFF's bundle, or, from the
 * TypeScript sources (tests), ../checker.ts through scripts/run-ts.mjs. Undefined: neither exists.
 */
export function checkerEntry(): { readonly file: string; readonly args: string[] } | undefined {
  const dir = path.dirname(HERE)
  const built = path.join(dir, 'checker.js')
  if (existsSync(built)) return { file: built, args: [] }
  const source = path.resolve(dir, '../checker.ts')
  const runTs = path.resolve(dir, '../../../scripts/run-ts.mjs')
  if (HERE.endsWith('.ts') && existsSync(source) && existsSync(runTs)) return { file: runTs, args: [source] }
  return undefined
}

type Resolve = (v: TextVerdict) => void
/** The executor of every check's promise: hands its resolve over without a closure a check. */
let captured: Resolve | undefined
const capture = (resolve: Resolve) => void (captured = resolve)

export class CheckerProcess implements VerdictSource {
  /** `ready` (pid) when a started process takes checks, `exit` (pid) when one died or stopped. */
  readonly events = new EventEmitter()
  private child: ChildProcess | undefined
  /** The running child's end of the checks pipe (checker-wire.ts). */
  private pipe: Socket | undefined
  private readonly entry: { readonly file: string; readonly args: string[] }
  /** Texts in flight by id, in id order (ids ascend). */
  private readonly pending = new Map<number, Resolve>()
  /** [last id, deadline] of the messages sent (or meant to be), in order: ids and deadlines ascend together. */
  private deadlines: Array<[number, number]> = []
  private deadlinesHead = 0
  private nextId = 0
  private readonly batch: Batcher<WireCheck>
  private readonly settle = (id: number, v: TextVerdict) => {
    const resolve = this.pending.get(id)
    if (!resolve) return
    this.pending.delete(id)
    resolve(v)
  }
  private sweeper: NodeJS.Timeout | undefined
  private stopping = false
  private attempt = 0
  private startedAt = 0
  private readonly notice = new SpentNotice()
  private counting: { readonly done: () => void; readonly promise: Promise<void> } | undefined
  /** `budgetUsed` questions waiting for their answer, by id. */
  private readonly used = new Map<number, (n: number | undefined) => void>()
  private usedId = 0
  private readonly started: Promise<void>

  constructor(private readonly options: CheckerProcessOptions) {
    const entry = checkerEntry()
    if (!entry) throw new Error(`WX_CHECKER=process needs ${path.join(path.dirname(HERE), 'checker.js')} (npm run build:bff builds it): build it, or set WX_CHECKER=inline`)
    this.entry = entry
    this.batch = new Batcher((c) => this.sendChecks(c), options.settings.batchMs, CHECKER_FRAME_MAX_CHARS, CHECKER_CHECKS_FULL)
    this.started = new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.options.log.warn({ timeoutMs: options.timeoutMs }, 'checker process not ready within WX_CHECKER_TIMEOUT_MS: starting without it (its texts wait, then are unavailable)')
        resolve()
      }, options.timeoutMs)
      timer.unref()
      this.events.once('ready', () => (clearTimeout(timer), resolve()))
    })
    this.start()
  }

  /** Resolves once the first process takes checks, or after WX_CHECKER_TIMEOUT_MS (the BFF listens after it). */
  ready(): Promise<void> {
    return this.started
  }

  /**
   * Adds the process's counter increments to this process's counters (the `collect` of those
   * counters: a scrape sees them up to date). At most CHECKER_COUNTS_TIMEOUT_MS; one request for
   * every counter of a scrape.
   */
  counts(): Promise<void> {
    const c = this.child
    if (!c?.connected) return Promise.resolve()
    if (this.counting) return this.counting.promise
    let done = () => {}
    const promise = new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), CHECKER_COUNTS_TIMEOUT_MS)
      done = () => {
        clearTimeout(timer)
        this.counting = undefined
        resolve()
      }
    })
    this.counting = { done, promise }
    c.send({ t: 'counts?' } satisfies CountsRequest)
    return promise
  }

  /**
   * The minute's text budget used, as the checker process's store counts it (its own memory store
   * in the embedded default): asked over the IPC channel, at most CHECKER_COUNTS_TIMEOUT_MS;
   * undefined when the process does not answer.
   */
  budgetUsed(): Promise<number | undefined> {
    const c = this.child
    if (!c?.connected) return Promise.resolve(undefined)
    const id = ++this.usedId
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), CHECKER_COUNTS_TIMEOUT_MS)
      const done = (n: number | undefined) => {
        clearTimeout(timer)
        this.used.delete(id)
        resolve(n)
      }
      this.used.set(id, done)
      c.send({ t: 'used?', id } satisfies UsedRequest)
    })
  }

  /** The running process's pid (undefined between a death and its restart). */
  pid(): number | undefined {
    return this.child?.pid
  }

  verdict(user: UserId, text: string): Promise<TextVerdict> {
    if (!this.child) return Promise.resolve(this.unavailable('no checker process running'))
    if (this.pending.size >= CHECKER_PENDING_MAX) return Promise.resolve(this.unavailable(`over CHECKER_PENDING_MAX (${CHECKER_PENDING_MAX}) texts in flight`))
    const id = ++this.nextId
    const promise = new Promise<TextVerdict>(capture)
    this.pending.set(id, captured!)
    captured = undefined
    this.batch.push([id, user, text], text.length)
    this.sweeper ??= setInterval(() => this.sweep(), CHECKER_SWEEP_MS).unref()
    return promise
  }

  async close(): Promise<void> {
    this.stopping = true
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = undefined
    this.failAll('the checker process stopped')
    await stopChild(this.child, CHECKER_STOP_GRACE_MS)
  }

  private start(): void {
    this.startedAt = Date.now()
    // The inspector's flags are not passed on: the child would want the same port.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'))
    // Checks and verdicts on a pipe of their own, in binary frames (checker-wire.ts); the IPC
    // channel (JSON) for the rest. On that channel `serialization: 'advanced'` (V8's serializer)
    // had cost this process ~40% more CPU a check than JSON (bff/bench/checker-handoff.ts).
    const stdio = ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] as const
    const c = fork(this.entry.file, this.entry.args, { execArgv, stdio: [...stdio] })
    const pipe = c.stdio[CHECKER_PIPE_FD] as Socket
    this.child = c
    this.pipe = pipe
    const frames = new FrameReader((body) => {
      if (this.child === c) decodeVerdicts(body, this.settle)
    })
    pipe.on('data', (chunk: Buffer) => frames.push(chunk))
    // A write to a process that just died (EPIPE): its texts are failed by the exit below.
    pipe.on('error', (err) => this.options.log.warn({ err: err.message, checker: c.pid }, 'checker process pipe error'))
    c.on('message', (m: FromChecker) => this.receive(m, c))
    // A send to a process that just died: its texts are failed by the exit below.
    c.on('error', (err) => this.options.log.warn({ err: err.message, checker: c.pid }, 'checker process channel error'))
    c.once('exit', (code, signal) => {
      if (this.child === c) {
        this.child = undefined
        this.pipe = undefined
      }
      this.failAll('the checker process died')
      this.counting?.done()
      for (const done of [...this.used.values()]) done(undefined)
      this.events.emit('exit', c.pid)
      if (this.stopping) return
      if (Date.now() - this.startedAt > RESTART_STABLE_MS) this.attempt = 0
      const delayMs = backoffDelay(this.attempt++, RESTART_BACKOFF)
      this.options.log.error({ checker: c.pid, code, signal, delayMs }, 'checker process died: starting another')
      setTimeout(() => {
        if (!this.stopping) this.start()
      }, delayMs).unref()
    })
    c.send({ t: 'init', settings: this.options.settings } satisfies InitMessage)
    this.options.log.info({ checker: c.pid }, 'checker process started')
  }

  private receive(m: FromChecker, from: ChildProcess): void {
    if (from !== this.child) return
    switch (m.t) {
      case 'counts':
        for (const [name, labels, n] of m.c) {
          const metric = this.options.registry.getSingleMetric(name)
          if (metric instanceof Counter && n > 0) metric.inc(labels, n)
        }
        this.counting?.done()
        return
      case 'ready':
        this.events.emit('ready', from.pid)
        return
      case 'used':
        this.used.get(m.id)?.(m.n)
        return
    }
  }

  private sendChecks(c: WireCheck[]): void {
    const lastId = c[c.length - 1]![0]
    const deadline = Date.now() + this.options.timeoutMs
    const last = this.deadlines.length > this.deadlinesHead ? this.deadlines[this.deadlines.length - 1]! : undefined
    if (last && deadline <= last[1]) last[0] = lastId
    else this.deadlines.push([lastId, deadline + CHECKER_DEADLINE_SLACK_MS])
    // A process that died meanwhile: these texts were failed with the others in flight.
    if (this.child?.connected && this.pipe?.writable) this.pipe.write(encodeChecks(c))
  }

  /**
   * Texts in flight past WX_CHECKER_TIMEOUT_MS are unavailable: those of every message whose
   * deadline passed (the map is in id order, and so are the messages).
   */
  private sweep(): void {
    const now = Date.now()
    let late = 0
    while (this.deadlinesHead < this.deadlines.length && this.deadlines[this.deadlinesHead]![1] <= now) {
      const lastId = this.deadlines[this.deadlinesHead++]![0]
      for (const [id, resolve] of this.pending) {
        if (id > lastId) break
        this.pending.delete(id)
        resolve(UNAVAILABLE)
        late++
      }
    }
    if (this.deadlinesHead > 1024) {
      this.deadlines = this.deadlines.slice(this.deadlinesHead)
      this.deadlinesHead = 0
    }
    if (late > 0) {
      this.options.metrics.verdicts.inc({ suggest: 'unavailable' }, late)
      this.log(`${late} text(s) not answered within WX_CHECKER_TIMEOUT_MS (${this.options.timeoutMs} ms)`)
    }
    if (this.pending.size === 0 && this.batch.size === 0) {
      this.deadlines = []
      this.deadlinesHead = 0
      if (this.sweeper) clearInterval(this.sweeper)
      this.sweeper = undefined
    }
  }

  private failAll(why: string): void {
    this.batch.clear()
    this.deadlines = []
    this.deadlinesHead = 0
    if (this.pending.size === 0) return
    this.options.metrics.verdicts.inc({ suggest: 'unavailable' }, this.pending.size)
    this.log(`${this.pending.size} text(s) in flight failed: ${why}`)
    for (const resolve of this.pending.values()) resolve(UNAVAILABLE)
    this.pending.clear()
  }

  private unavailable(why: string): TextVerdict {
    this.options.metrics.verdicts.inc({ suggest: 'unavailable' })
    this.log(why)
    return UNAVAILABLE
  }

  /** Once a minute at most: while the process is down every send would log. */
  private log(why: string): void {
    const n = this.notice.first()
    if (n.log) this.options.log.warn({ why, suppressedBefore: n.suppressed }, 'text checks unavailable from the checker process')
  }
}
