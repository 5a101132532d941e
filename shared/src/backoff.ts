/**
 * Reconnect and retry delays: exponential with full jitter (uniform in [0, min(max, min * 2^attempt)]),
 * as in "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015). Full jitter spreads a crowd
 * of clients that lost the same server over the whole window instead of letting them return together.
 */
export interface BackoffOptions {
  /** Upper bound of the first window, ms. */
  readonly minDelayMs: number
  /** Cap of every window, ms. */
  readonly maxDelayMs: number
}

/**
 * Delay before retry number `attempt` (0 for the first retry).
 * @param random uniform in [0, 1); injectable for tests.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const { minDelayMs, maxDelayMs } = options
  if (!(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs)) {
    throw new RangeError(`backoff bounds invalid: min ${minDelayMs} ms, max ${maxDelayMs} ms`)
  }
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 30)
  const window = Math.min(maxDelayMs, minDelayMs * 2 ** exp)
  return Math.floor(random() * window)
}
