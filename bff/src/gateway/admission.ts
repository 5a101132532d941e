/**
 * Admission control for reconnect storms (docs/SCALING.md, Limits): at most `maxInFlight` upgrades
 * are being worked on at once (token check, suspension check, handshake, subscription, `welcome`).
 * One beyond waits in a short line (`enter`): at most `maxQueued` upgrades, each at most
 * `queueWaitMs`, nothing done for them but holding the socket, and they take the slots in order as
 * they free. Beyond the line, or past its wait, a fast 503 SERVER_BUSY with `Retry-After` instead
 * of queueing behind the others until it and they time out. The mini-program cannot read the
 * status or the header (wx and browsers report a refused upgrade as an abnormal close), so it
 * retries after its own backoff with full jitter (shared/src/backoff.ts, 0.5 s and up); the line
 * spares a storm's clients that second-long backoff when the slots free within the wait (issue 15:
 * a storm of 1,000 refused most of them once, and the refusals set the time until all were back).
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { ERRORS } from '@chat/shared'

export interface AdmissionLimits {
  /** MAX_UPGRADES_IN_FLIGHT. */
  readonly maxInFlight: number
  /** UPGRADE_RETRY_AFTER_S: the `Retry-After` of a refusal, seconds. */
  readonly retryAfterS: number
  /** UPGRADE_QUEUE_MAX: upgrades waiting for a slot at once; 0: none wait (refused at once). */
  readonly maxQueued?: number
  /** UPGRADE_QUEUE_WAIT_MS: longest wait for a slot before the 503. */
  readonly queueWaitMs?: number
}

/** One upgrade waiting for a slot. */
interface Waiter {
  readonly since: number
  readonly socket: Duplex
  readonly grant: (release: (() => void) | undefined) => void
  /** Its socket closed while waiting (the listener marks it). */
  readonly gone: () => void
  done: boolean
}

export class Admission {
  private inFlight = 0
  /** Upgrades refused busy since start (metrics, tests). */
  refused = 0
  /**
   * When an upgrade last had to wait in the line or was refused busy (ms since the epoch; 0: never):
   * the process was saturated, and the offline grace is held around it (gateway/offline-grace.ts).
   */
  lastBusyAt = 0
  private readonly waiting: Waiter[] = []
  /** Index of the first waiter in `waiting` (a head index rather than shift(): O(1) per grant). */
  private head = 0
  /** Refuses the waiters past their wait; runs only while some wait. */
  private sweeper: NodeJS.Timeout | undefined

  constructor(private readonly limits: AdmissionLimits) {}

  get size(): number {
    return this.inFlight
  }

  /** Upgrades waiting in the line now (those whose socket closed meanwhile included until their turn). */
  get queued(): number {
    return this.waiting.length - this.head
  }

  /**
   * A slot for one upgrade, or undefined when `maxInFlight` are taken (the caller refuses it with
   * `refuseBusy`). The returned release is idempotent: call it on every way the upgrade ends.
   */
  take(): (() => void) | undefined {
    const release = this.slot()
    if (!release) this.refuse()
    return release
  }

  /**
   * A slot for one upgrade: at once when one is free and nobody waits (`granted` is called
   * synchronously), else after waiting in the line, in order; `granted(undefined)` when the line
   * is full or the wait ran out (the caller refuses it with `refuseBusy`). A socket closed while
   * waiting gives its place up.
   */
  enter(socket: Duplex, granted: (release: (() => void) | undefined) => void): void {
    const maxQueued = this.limits.maxQueued ?? 0
    if (this.queued === 0) {
      const release = this.slot()
      if (release || maxQueued === 0) {
        if (!release) this.refuse()
        return granted(release)
      }
    }
    if (this.queued >= maxQueued) {
      this.refuse()
      return granted(undefined)
    }
    const since = Date.now()
    this.lastBusyAt = since
    const waiter: Waiter = { since, socket, grant: granted, gone: () => void (waiter.done = true), done: false }
    socket.once('close', waiter.gone)
    this.waiting.push(waiter)
    if (!this.sweeper) {
      const waitMs = this.limits.queueWaitMs ?? 0
      this.sweeper = setInterval(() => this.expire(), Math.max(10, Math.min(100, waitMs / 4)))
      this.sweeper.unref()
    }
  }

  private refuse(): void {
    this.refused++
    this.lastBusyAt = Date.now()
  }

  private slot(): (() => void) | undefined {
    if (this.inFlight >= this.limits.maxInFlight) return undefined
    this.inFlight++
    let held = true
    return () => {
      if (!held) return
      held = false
      this.inFlight--
      if (this.head < this.waiting.length) this.next()
    }
  }

  /** A slot freed: the next living waiters take the free slots. */
  private next(): void {
    while (this.head < this.waiting.length && this.inFlight < this.limits.maxInFlight) {
      const w = this.shift()
      if (w.done) continue
      w.done = true
      w.grant(this.slot())
    }
    this.compact()
  }

  /** Waiters past UPGRADE_QUEUE_WAIT_MS are refused; they are at the head (the line is in order). */
  private expire(): void {
    const oldest = Date.now() - (this.limits.queueWaitMs ?? 0)
    while (this.head < this.waiting.length && this.waiting[this.head]!.since <= oldest) {
      const w = this.shift()
      if (w.done) continue
      w.done = true
      this.refuse()
      w.grant(undefined)
    }
    this.compact()
  }

  /**
   * The first waiter, out of the line. Its close listener goes with it: left on the socket it would
   * keep the waiter, and the upgrade request its grant holds, for the whole life of the connection.
   */
  private shift(): Waiter {
    const w = this.waiting[this.head]!
    this.waiting[this.head++] = undefined as unknown as Waiter
    w.socket.removeListener('close', w.gone)
    return w
  }

  private compact(): void {
    if (this.head === this.waiting.length) {
      this.waiting.length = 0
      this.head = 0
      clearInterval(this.sweeper)
      this.sweeper = undefined
    } else if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head)
      this.head = 0
    }
  }

  /** 503 SERVER_BUSY with `Retry-After`, written and closed at once. */
  refuseBusy(socket: Duplex): void {
    if (socket.destroyed) return
    const spec = ERRORS.SERVER_BUSY
    const body = JSON.stringify({ error: { code: 'SERVER_BUSY', message: 'too many connections being set up: retry later', temporary: spec.temporary } })
    socket.end(
      `HTTP/1.1 503 ${STATUS_CODES[503]}\r\n` +
        `Retry-After: ${this.limits.retryAfterS}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    )
  }
}
