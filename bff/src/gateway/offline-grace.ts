/**
 * The offline grace (issue 15, PRESENCE_OFFLINE_GRACE_MS). A mini-program loses its socket on every
 * trip to the background and is back seconds later; announcing "offline" at the close and
 * "online" at the return cost two presence scripts and two frames per contact, for a change
 * nobody needed to see. Here a closed socket's presence field stays counted for the grace:
 *
 * - a device of the same user back on this process within the grace takes the field over
 *   (`take`): no presence script, nothing announced (neither offline nor online);
 * - a device back on another process counts its own field there: the user has two devices then,
 *   so that process announces nothing, and when the grace here ends the decrement leaves one:
 *   nothing announced either;
 * - no device back: when the grace ends the field is counted out (`expire`, through the bounded
 *   and retried bookkeeping queue) and, with no device left, the contacts are told offline with
 *   the close time as last seen.
 *
 * Around a moment the process was saturated (an upgrade had to wait in admission control's line
 * or was refused, gateway/admission.ts), the grace is the longest one, PRESENCE_OFFLINE_GRACE_MAX_MS
 * (`held.maxMs`): a socket closed before that moment is held that long after its close; one closed
 * after it, until that long after the moment (at least its own grace). A user in a storm waits in
 * the line, or is refused and comes back after the retry delay and their backoff, which grows with
 * each refusal (full jitter, shared/src/backoff.ts); had their grace run out meanwhile, they would
 * have been announced offline and online again, each a presence script and frames to every
 * contact, work the storm added to itself (bench:bff: 695 graces ran out in one storm of 5,000
 * users; at 10,000, 4,547 with graces ending 5 s after the last refusal, and 4,463 with a line
 * long enough that none was refused).
 *
 * A process that dies during a grace leaves its fields counted, as it leaves its live sockets:
 * the liveness reaper counts them out (gateway/liveness.ts). A drain counts them out at once
 * (`flush`). Entries are kept in close order (one timer for all, not one per socket).
 *
 * The routing of a user held here (bus subscription, chat/delivery.ts `keep`) lasts as long:
 * the gateway ends it when the user's last entry ends with no device back.
 */
import type { UserId } from '@chat/shared'

export interface GraceEntry {
  readonly user: UserId
  /** The socket's presence field, `<node>/<session>`. */
  readonly field: string
  /** When the socket closed (ms): the last-seen time if no device comes back. */
  readonly at: number
  /** The peers whose presence the socket was told at its connect, joined by spaces (`ChatService.connected`): a device taking the entry over reads theirs early. */
  readonly peers: string | undefined
  /** Taken over by a new device, expired, or dropped: nothing more to do. */
  done: boolean
}

/** The hold of the graces around a saturated moment (see above). */
export interface GraceHold {
  /** When an upgrade last waited for a slot or was refused (ms, the clock of `now`; 0: never). */
  readonly lastBusy: () => number
  /** PRESENCE_OFFLINE_GRACE_MAX_MS: the grace near that moment, from the earlier of the close and the moment. */
  readonly maxMs: number
}

export class OfflineGrace {
  private readonly fifo: GraceEntry[] = []
  private head = 0
  private readonly byUser = new Map<UserId, GraceEntry[]>()
  private timer: NodeJS.Timeout | undefined
  /** After `flush` (a drain): every close is counted out at once. */
  private flushed = false

  constructor(
    /** PRESENCE_OFFLINE_GRACE_MS; 0 expires every close at once. */
    private readonly graceMs: number,
    /** The grace of a closed socket ended with no device back on this process. */
    private readonly expire: (e: GraceEntry) => void,
    private readonly now: () => number = Date.now,
    private readonly held?: GraceHold,
  ) {
    if (!Number.isInteger(graceMs) || graceMs < 0) throw new RangeError('offline grace must be a non-negative integer')
    if (held && (!Number.isInteger(held.maxMs) || held.maxMs < graceMs)) throw new RangeError('the longest offline grace must be an integer no shorter than the grace')
  }

  /**
   * When `e`'s grace ends: `graceMs` after its close, or, near the last busy moment, `held.maxMs`
   * after the earlier of its close and that moment. Never earlier for a later close (the larger of two
   * non-decreasing terms), so the entries, kept in close order, end in that order too.
   */
  private due(e: GraceEntry): number {
    if (!this.held) return e.at + this.graceMs
    return Math.max(e.at + this.graceMs, Math.min(e.at, this.held.lastBusy()) + this.held.maxMs)
  }

  /** Closed sockets still in their grace. */
  get size(): number {
    let n = 0
    for (const list of this.byUser.values()) n += list.length
    return n
  }

  /** A socket of `user` counted as `field` closed at `at`; `peers`: see GraceEntry. */
  hold(user: UserId, field: string, at: number, peers?: string): void {
    const e: GraceEntry = { user, field, at, peers, done: false }
    if (this.graceMs === 0 || this.flushed) {
      e.done = true
      return this.expire(e)
    }
    this.fifo.push(e)
    const list = this.byUser.get(user)
    if (list) list.push(e)
    else this.byUser.set(user, [e])
    if (!this.timer) this.arm()
  }

  /** Whether a closed socket of `user` is still in its grace here. */
  holds(user: UserId): boolean {
    return this.byUser.has(user)
  }

  /** The newest closed socket of `user` still in its grace, taken over by a new device (its field stays counted). */
  take(user: UserId): GraceEntry | undefined {
    const list = this.byUser.get(user)
    const e = list?.pop()
    if (!e) return undefined
    if (list!.length === 0) this.byUser.delete(user)
    e.done = true
    return e
  }

  /** Expire every entry now, and every close from now on at once (a drain: this process stops counting its sockets). */
  flush(): void {
    this.flushed = true
    const pending = this.pending()
    this.clear()
    for (const e of pending) this.expire(e)
  }

  /**
   * Forget every entry without expiring it (the reaper already counted this process's fields out).
   * Returns the users that were held: their routing is the caller's to end.
   */
  drop(): UserId[] {
    const users = [...this.byUser.keys()]
    this.clear()
    return users
  }

  private pending(): GraceEntry[] {
    const out: GraceEntry[] = []
    for (let i = this.head; i < this.fifo.length; i++) {
      const e = this.fifo[i]!
      if (!e.done) {
        e.done = true
        out.push(e)
      }
    }
    return out
  }

  private clear(): void {
    for (let i = this.head; i < this.fifo.length; i++) this.fifo[i]!.done = true
    this.fifo.length = 0
    this.head = 0
    this.byUser.clear()
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm(): void {
    // Skip what was taken over meanwhile: the timer waits for the oldest entry still pending.
    while (this.head < this.fifo.length && this.fifo[this.head]!.done) this.head++
    if (this.head >= this.fifo.length) {
      this.fifo.length = 0
      this.head = 0
      this.timer = undefined
      return
    }
    const due = this.due(this.fifo[this.head]!)
    this.timer = setTimeout(() => this.sweep(), Math.max(0, due - this.now()))
    this.timer.unref()
  }

  private sweep(): void {
    const now = this.now()
    while (this.head < this.fifo.length) {
      const e = this.fifo[this.head]!
      if (!e.done && this.due(e) > now) break
      this.head++
      if (e.done) continue
      e.done = true
      const list = this.byUser.get(e.user)
      if (list) {
        const i = list.indexOf(e)
        if (i >= 0) list.splice(i, 1)
        if (list.length === 0) this.byUser.delete(e.user)
      }
      this.expire(e)
    }
    // O(1) per entry: the consumed head is cut off once it is most of the array.
    if (this.head > 1024 && this.head * 2 > this.fifo.length) {
      this.fifo.splice(0, this.head)
      this.head = 0
    }
    this.arm()
  }
}
