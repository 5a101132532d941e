/**
 * Disconnect bookkeeping (unsubscribe, `leave`, presence count, the offline announcement), bounded
 * and retried (issue 15). Closing 100,000 sockets at once used to start all of that Redis work in
 * the same turn: the commands queued behind each other past the command timeout, tens of thousands
 * failed ("disconnect bookkeeping failed: Command timed out") and their users stayed online for
 * ever. Here at most `concurrency` jobs run at once, the rest wait in order; a job that fails is
 * tried again after a backoff with full jitter, up to `maxAttempts`, and only then logged.
 *
 * Jobs must be idempotent (a command can be applied and still time out): the gateway's presence
 * field is per socket, so a decrement tried twice removes the same field twice, and `leave` and
 * unsubscribe are no-ops the second time.
 *
 * Bound: a job waits behind at most (queued / concurrency) rounds of one job each; with Redis
 * answering, N closes are done within N / concurrency x (one job's round trips), and a Redis
 * that is away delays them by at most the retry schedule (sum of the backoffs, <= maxAttempts x
 * retryMaxMs), after which the job is given up and logged once. A socket's presence decrement is
 * queued only when its offline grace ends (gateway/offline-grace.ts): PRESENCE_OFFLINE_GRACE_MS
 * later than the close, and so is the routing part (`leave`, unsubscribe; at once with no grace).
 */
import { backoffDelay } from '@chat/shared'

export interface BookkeepingLimits {
  /** DISCONNECT_CONCURRENCY: bookkeeping jobs running at once. */
  readonly concurrency: number
  /** Tries per job before it is given up (logged). */
  readonly maxAttempts: number
  /** Backoff window of the first retry and cap of every window, ms (full jitter). */
  readonly retryMinMs: number
  readonly retryMaxMs: number
}

export const DEFAULT_BOOKKEEPING: BookkeepingLimits = { concurrency: 64, maxAttempts: 8, retryMinMs: 100, retryMaxMs: 5000 }

interface Job {
  readonly work: () => Promise<void>
  attempt: number
  readonly done: () => void
}

export class BookkeepingQueue {
  private readonly waiting: Job[] = []
  /** Index of the next job in `waiting` (a head index instead of shift(): O(1) at 100,000). */
  private head = 0
  private running = 0
  /** Jobs waiting out a retry delay. */
  private delayed = 0
  private idle: (() => void)[] = []
  /** Counters (metrics, tests). */
  readonly stats = { done: 0, retried: 0, gaveUp: 0, maxQueued: 0 }

  constructor(
    private readonly limits: BookkeepingLimits,
    private readonly onGiveUp: (err: unknown, attempts: number) => void,
    private readonly random: () => number = Math.random,
  ) {
    if (!(limits.concurrency >= 1) || !(limits.maxAttempts >= 1)) throw new RangeError('bookkeeping limits invalid')
  }

  /** Jobs not finished yet: waiting, running or waiting out a retry. */
  get pending(): number {
    return this.waiting.length - this.head + this.running + this.delayed
  }

  get active(): number {
    return this.running
  }

  /** Queue a job; the promise settles (never rejects) once it succeeded or was given up. */
  push(work: () => Promise<void>): Promise<void> {
    return new Promise<void>((done) => {
      this.waiting.push({ work, attempt: 0, done })
      const queued = this.waiting.length - this.head
      if (queued > this.stats.maxQueued) this.stats.maxQueued = queued
      this.pump()
    })
  }

  /** Resolves when nothing is pending. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise((r) => this.idle.push(r))
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.head < this.waiting.length) {
      const job = this.waiting[this.head]!
      this.waiting[this.head++] = undefined as unknown as Job
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head)
        this.head = 0
      }
      this.run(job)
    }
    if (this.pending === 0 && this.idle.length > 0) {
      const idle = this.idle
      this.idle = []
      for (const r of idle) r()
    }
  }

  private run(job: Job): void {
    this.running++
    job.attempt++
    let p: Promise<void>
    try {
      p = job.work()
    } catch (err) {
      p = Promise.reject(err)
    }
    p.then(
      () => {
        this.running--
        this.stats.done++
        job.done()
        this.pump()
      },
      (err: unknown) => {
        this.running--
        if (job.attempt >= this.limits.maxAttempts) {
          this.stats.gaveUp++
          this.onGiveUp(err, job.attempt)
          job.done()
          return this.pump()
        }
        this.stats.retried++
        this.delayed++
        const delay = this.limits.retryMinMs + backoffDelay(job.attempt - 1, { minDelayMs: this.limits.retryMinMs, maxDelayMs: this.limits.retryMaxMs }, this.random)
        setTimeout(() => {
          this.delayed--
          // Back at the end of the line: the jobs waiting keep their turn.
          this.waiting.push(job)
          this.pump()
        }, delay).unref()
        this.pump()
      },
    )
  }
}
