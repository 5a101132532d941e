/**
 * The process's bounded caches (token verdicts, conversation records, profiles, send checks,
 * relation pairs): one least-recently-used cache, lru-cache's. A full cache drops its least
 * recently used entry in constant time: the Map-order eviction it replaces (`keys().next()` on
 * the oldest entry) walked the deleted slots V8 keeps at the head of a Map's table until it
 * rehashes, microseconds per eviction once full (wechat/verdicts.ts measured it). Its bookkeeping
 * is a few typed arrays allocated once for `max` entries, and an entry is its key and value only:
 * no object per entry.
 */
import { LRUCache } from 'lru-cache'

export interface BoundedCacheOptions {
  /** Entries kept, at most: the least recently used goes first. */
  readonly max: number
  /** How long an entry is used, ms (unset: until evicted or deleted). A stale entry reads as absent. */
  readonly ttlMs?: number | undefined
  /** The clock of `ttlMs`, ms (tests move it). Default `performance.now`. */
  readonly now?: (() => number) | undefined
}

/** What lru-cache holds: any value but null and undefined (an absent entry reads as undefined). */
type Present = NonNullable<unknown>

export function boundedCache<K extends Present, V extends Present>(options: BoundedCacheOptions): LRUCache<K, V> {
  return new LRUCache<K, V>({
    max: options.max,
    ...(options.ttlMs !== undefined ? { ttl: options.ttlMs, ttlAutopurge: false, ttlResolution: 0 } : {}),
    ...(options.now ? { perf: { now: options.now } } : {}),
  })
}
