/**
 * Texts WeChat passed a moment ago, per process: the same short text sent again within
 * WX_SECCHECK_CACHE_TTL_MS is stored without another msgSecCheck call (and without spending the
 * shared budget). Chat repeats itself ("好的", "哈哈哈", "ok", one emoji): those are the texts
 * this saves calls for.
 *
 * Only `pass` is kept: a `review` is flagged every time, a `risky` one is asked again (it may have
 * been the sender's record, not the words). The key is the sender, the scene and the text itself
 * (exact, no hash to collide), only for parts of at most VERDICT_CACHE_CHARS characters, so the
 * memory is bounded by entries x that length. Least recently used entries go first when full.
 *
 * The sender is part of the key because msgSecCheck v2 judges a text with its sender's openid (the
 * sender's record weighs in): a pass given to one user is never reused for another user's same
 * words. WX_SECCHECK_CACHE_MAX=0 turns the cache off.
 */

/** Longest text part kept, in UTF-16 code units (short texts are the ones that repeat). */
export const VERDICT_CACHE_CHARS = 256

export interface PassCacheOptions {
  /** Entries kept, at most (0: nothing is kept). */
  readonly max: number
  /** How long a pass is reused, ms. */
  readonly ttlMs: number
  /** The clock, ms (tests move it). Default Date.now. */
  readonly now?: () => number
}

export class PassCache {
  /** user, scene:text -> expiry (ms). Map order is recency: the first entry is the least recently used. */
  private readonly entries = new Map<string, number>()
  private readonly now: () => number

  constructor(private readonly options: PassCacheOptions) {
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  /** True when `text` of `user` passed in `scene` within the TTL. */
  passed(user: string, scene: number, text: string): boolean {
    if (text.length > VERDICT_CACHE_CHARS) return false
    const key = `${user}\n${scene}:${text}`
    const expires = this.entries.get(key)
    if (expires === undefined) return false
    this.entries.delete(key)
    if (expires <= this.now()) return false
    this.entries.set(key, expires)
    return true
  }

  /** WeChat answered `pass` for `text` of `user` in `scene`. */
  pass(user: string, scene: number, text: string): void {
    if (this.options.max <= 0 || text.length > VERDICT_CACHE_CHARS) return
    const key = `${user}\n${scene}:${text}`
    this.entries.delete(key)
    this.entries.set(key, this.now() + this.options.ttlMs)
    if (this.entries.size > this.options.max) this.entries.delete(this.entries.keys().next().value!)
  }
}
