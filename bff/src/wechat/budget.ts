/**
 * A per-minute call budget shared by every process (WeChat's limits are per app): the store counts
 * the minute's calls, and each process takes them in blocks of BUDGET_BLOCK, so a check costs a
 * store round trip once per block instead of once per call, and asks for the next block while
 * BUDGET_AHEAD calls of the current one are left, so a check does not wait for the store while
 * the minute has budget (at 5,000 checks a second, one in every block waited a round trip, and
 * the checks that came meanwhile with it). The limit is never exceeded; a process can leave up to
 * a block and BUDGET_AHEAD calls unused at the end of a minute (the budget errs low).
 */
import type { WeChatStore } from '../store/wechat'

/** Calls a process reserves from the shared count at once. */
export const BUDGET_BLOCK = 50
/** The next block is asked for once fewer than this many calls of the current one are left. */
export const BUDGET_AHEAD = BUDGET_BLOCK / 2
const MINUTE_MS = 60_000

/** Thrown by callers when `take` refused: the deployment's calls for this minute are spent. */
export class BudgetSpent extends Error {
  constructor(readonly variable: string) {
    super(`${variable} reached`)
  }
}

/**
 * Logs a spent budget once per minute, not once per refused call: at 5,000 sends/s over a
 * 4,000-a-minute budget the per-call line was tens of thousands of log lines a minute (the metric
 * still counts each one).
 */
export class SpentNotice {
  private minute = -1
  private suppressed = 0

  /** True for the first refusal of a minute (log it, with `suppressed` of the minute before). */
  first(): { log: boolean; suppressed: number } {
    const m = Math.floor(Date.now() / MINUTE_MS)
    if (m === this.minute) {
      this.suppressed++
      return { log: false, suppressed: 0 }
    }
    const suppressed = this.suppressed
    this.minute = m
    this.suppressed = 0
    return { log: true, suppressed }
  }
}

export class SharedBudget {
  private window = -1
  private left = 0
  /** The store refused a block: no calls, and no store calls, until the next minute. */
  private spent = false
  private refill: Promise<void> | undefined

  constructor(
    private readonly store: WeChatStore,
    private readonly key: string,
    private readonly perMin: number,
  ) {}

  /** One call may go out now (false: the minute's budget is spent). Throws when the store does. */
  async take(): Promise<boolean> {
    for (;;) {
      const w = Math.floor(Date.now() / MINUTE_MS)
      if (w !== this.window) {
        this.window = w
        this.left = 0
        this.spent = false
      }
      if (this.left > 0) {
        this.left--
        // The next block, asked for ahead; a store failure here is thrown to the callers that
        // wait for it, if any (the block ran out first), else by the next refill.
        if (this.left < BUDGET_AHEAD && !this.spent && !this.refill) this.next(w).catch(() => {})
        return true
      }
      if (this.spent) return false
      // Every caller waiting on one refill tries again after it: those beyond the block it brought
      // start the next one (a caller refused here while the minute still had budget was a check
      // skipped for nothing: at 5,000 sends/s all but one block of each refill was refused).
      await (this.refill ?? this.next(w))
    }
  }

  private next(w: number): Promise<void> {
    this.refill = this.reserve(w).finally(() => (this.refill = undefined))
    return this.refill
  }

  private async reserve(w: number): Promise<void> {
    const block = Math.min(BUDGET_BLOCK, this.perMin)
    const after = await this.store.hit(this.key, MINUTE_MS, block)
    if (Math.floor(Date.now() / MINUTE_MS) !== w || this.window !== w) return
    const granted = Math.max(0, Math.min(block, this.perMin - (after - block)))
    if (granted > 0) this.left += granted
    else this.spent = true
  }
}
