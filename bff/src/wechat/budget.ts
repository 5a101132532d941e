/**
 * A per-minute call budget shared by every process (WeChat's limits are per app): the store counts
 * the minute's calls, and each process takes them in blocks of BUDGET_BLOCK, so a check costs a
 * store round trip once per block instead of once per call. The limit is never exceeded; a
 * process can leave up to a block unused at the end of a minute (the budget errs low).
 */
import type { WeChatStore } from '../store/wechat'

/** Calls a process reserves from the shared count at once. */
export const BUDGET_BLOCK = 50
const MINUTE_MS = 60_000

export class SharedBudget {
  private window = -1
  private left = 0
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
      }
      if (this.left > 0) {
        this.left--
        return true
      }
      if (this.left < 0) return false
      this.refill ??= this.reserve(w).finally(() => (this.refill = undefined))
      await this.refill
      if (this.window === w && this.left === 0) return false
    }
  }

  private async reserve(w: number): Promise<void> {
    const block = Math.min(BUDGET_BLOCK, this.perMin)
    const after = await this.store.hit(this.key, MINUTE_MS, block)
    if (Math.floor(Date.now() / MINUTE_MS) !== w) return
    const granted = Math.max(0, Math.min(block, this.perMin - (after - block)))
    // -1: spent for this minute (no more store calls until the next one).
    this.left = granted > 0 ? granted : -1
  }
}
