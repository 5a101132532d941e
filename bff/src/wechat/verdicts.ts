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

/** An entry, in a list from the least to the most recently used. */
interface Entry {
  readonly key: string
  expires: number
  prev: Entry | undefined
  next: Entry | undefined
}

export class PassCache {
  /**
   * user, scene:text -> entry, and the entries in a list of their own for recency. Not the Map's
   * own order: dropping its first entry each time (`keys().next()`) walks the deleted slots V8
   * keeps at the front of the table until it rehashes, ~4.5 µs a pass when full (every check of a
   * new text, bench seccheck-loop.ts), against ~0.3 µs with the list.
   */
  private readonly entries = new Map<string, Entry>()
  private oldest: Entry | undefined
  private newest: Entry | undefined
  private readonly now: () => number

  constructor(private readonly options: PassCacheOptions) {
    this.now = options.now ?? Date.now
  }

  get size(): number {
    return this.entries.size
  }

  /** True when `text` of `user` passed in `scene` within the TTL. */
  passed(user: string, scene: number, text: string): boolean {
    if (text.length > VERDICT_CACHE_CHARS || this.entries.size === 0) return false
    const e = this.entries.get(`${user}\n${scene}:${text}`)
    if (e === undefined) return false
    if (e.expires <= this.now()) {
      this.drop(e)
      return false
    }
    this.touch(e)
    return true
  }

  /** WeChat answered `pass` for `text` of `user` in `scene`. */
  pass(user: string, scene: number, text: string): void {
    if (this.options.max <= 0 || text.length > VERDICT_CACHE_CHARS) return
    const key = `${user}\n${scene}:${text}`
    const expires = this.now() + this.options.ttlMs
    const known = this.entries.get(key)
    if (known) {
      known.expires = expires
      this.touch(known)
      return
    }
    const e: Entry = { key, expires, prev: this.newest, next: undefined }
    if (this.newest) this.newest.next = e
    else this.oldest = e
    this.newest = e
    this.entries.set(key, e)
    if (this.entries.size > this.options.max) this.drop(this.oldest!)
  }

  /** `e` becomes the most recently used. */
  private touch(e: Entry): void {
    if (e === this.newest) return
    this.unlink(e)
    e.prev = this.newest
    e.next = undefined
    this.newest!.next = e
    this.newest = e
  }

  private drop(e: Entry): void {
    this.unlink(e)
    this.entries.delete(e.key)
  }

  private unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next
    else this.oldest = e.next
    if (e.next) e.next.prev = e.prev
    else this.newest = e.prev
    e.prev = undefined
    e.next = undefined
  }
}
