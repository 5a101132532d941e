/**
 * Relations between two users (contacts, pending requests, blocks) and each user's 1:1 setting.
 * Three implementations pass one contract (bff/test/store/relations-contract.ts): memory (one
 * process, no archive), Redis (the Redis engine without an archive) and the archive's SQL tables
 * (bff/src/archive/relations.ts: the system of record wherever there is an archive, the embedded
 * SQLite default included).
 *
 * A pair of users is one record holding both directions, so that every change of a relation (a
 * request accepted makes both sides contacts; a block drops the other's pending request) is one
 * compare-and-set on one record: `put` succeeds only if the record still has the version read.
 * The rules of what may change live in bff/src/social/rules.ts, not here.
 *
 * Redis keys (P = REDIS_PREFIX):
 *   P{r:<a>:<b>}    hash    v (version), d (the pair as JSON: {ab, ba}); a < b
 *   P{u:<id>}:rel   set     users with whom `id` has a record (an index; the pair record decides)
 *   P{u:<id>}:relp  string  `contacts` when only contacts may open a 1:1 with `id`
 *
 * The index folded into the chat engine's per-user summary (store/redis.ts `P{u:<id>}:s`, the same
 * slot), as the conversation settings are (store/conv-settings.ts): once `fold` copied it there (at
 * the first welcome whose summary lacks it), every change of the index writes both, in one script,
 * so a reconnect's presence reads the user's relations with the summary it reads anyway, no
 * SMEMBERS (issue 15):
 *   `u~` "1"  (RELATIONS_MARK) folded: the fields below are the index
 *   `u:<peer>` "1" for each member of `:rel`
 * The set stays the source for everything else (the list, the bound) and for a summary without the
 * mark (written before, or lost: read as before, and folded again).
 */
import { openSideClient, type RedisSideOptions, type SideClient } from './redis-side'
import { AppError } from '@chat/shared'
import { boundedCache } from '../bounded-cache'
import type { DirectPolicy, UserId } from '@chat/shared'

/** One direction of a pair: what `from` did about `to`. */
export interface Edge {
  readonly state: 'contact' | 'requested' | 'blocked'
  /** The request's note. */
  readonly note?: string | undefined
  /** When the edge took this state, ms. */
  readonly at: number
}

/** Both directions between users `a` and `b` (a < b), and the version the record was read at (0: none). */
export interface Pair {
  readonly a: UserId
  readonly b: UserId
  /** What a did about b. */
  readonly ab?: Edge | undefined
  /** What b did about a. */
  readonly ba?: Edge | undefined
  readonly version: number
}

export interface RelationStore {
  /** The record of the two users (in either order), version 0 and no edges when there is none. */
  pair(x: UserId, y: UserId): Promise<Pair>
  /**
   * Store `next` (edges absent: none) if the record still has version `next.version`; the stored
   * version becomes `next.version + 1`. False when another write came first (read again).
   */
  put(next: Pair): Promise<boolean>
  /** Users with whom `user` has at least one edge either way. */
  peers(user: UserId): Promise<UserId[]>
  policy(user: UserId): Promise<DirectPolicy>
  setPolicy(user: UserId, policy: DirectPolicy): Promise<void>
  /**
   * Optional, a store that folds `user`'s peers (`peers`) into the chat engine's summary
   * (`Overview.relations`) and keeps them there from then on: copy them (idempotent, atomic with
   * every change). Only a store with it is trusted with a summary's folded relations.
   */
  fold?(user: UserId): Promise<void>
  close(): Promise<void>
}

/** The two users in record order. */
export function ordered(x: UserId, y: UserId): [UserId, UserId] {
  return x < y ? [x, y] : [y, x]
}

export function emptyPair(x: UserId, y: UserId): Pair {
  const [a, b] = ordered(x, y)
  return { a, b, version: 0 }
}

/** What `user` did about the other one of `pair`, and what the other did about `user`. */
export function sides(pair: Pair, user: UserId): { mine: Edge | undefined; theirs: Edge | undefined } {
  return user === pair.a ? { mine: pair.ab, theirs: pair.ba } : { mine: pair.ba, theirs: pair.ab }
}

// ------------------------------------------------------------------ memory

export class MemoryRelations implements RelationStore {
  private readonly pairs = new Map<string, Pair>()
  private readonly index = new Map<UserId, Set<UserId>>()
  private readonly policies = new Map<UserId, DirectPolicy>()

  async pair(x: UserId, y: UserId): Promise<Pair> {
    const [a, b] = ordered(x, y)
    return this.pairs.get(`${a}\u0000${b}`) ?? { a, b, version: 0 }
  }

  async put(next: Pair): Promise<boolean> {
    const key = `${next.a}\u0000${next.b}`
    if ((this.pairs.get(key)?.version ?? 0) !== next.version) return false
    this.pairs.set(key, { ...next, version: next.version + 1 })
    const live = next.ab !== undefined || next.ba !== undefined
    for (const [u, v] of [
      [next.a, next.b],
      [next.b, next.a],
    ] as const) {
      let set = this.index.get(u)
      if (live) {
        if (!set) this.index.set(u, (set = new Set()))
        set.add(v)
      } else if (set) {
        set.delete(v)
        if (set.size === 0) this.index.delete(u)
      }
    }
    return true
  }

  async peers(user: UserId): Promise<UserId[]> {
    return [...(this.index.get(user) ?? [])]
  }

  async policy(user: UserId): Promise<DirectPolicy> {
    return this.policies.get(user) ?? 'anyone'
  }

  async setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    if (policy === 'anyone') this.policies.delete(user)
    else this.policies.set(user, policy)
  }

  async close(): Promise<void> {}
}

// ------------------------------------------------------------------ Redis

/** Compare-and-set of a pair record: KEYS[1] the pair; ARGV version read, new JSON ('' for no edges). */
const PUT_PAIR = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'd', ARGV[2])
return 1
`

/** The summary field saying the relations index is folded into it (store/redis.ts reads it). */
export const RELATIONS_MARK = 'u~'

/**
 * Add (ARGV[2] '1') or remove peer ARGV[1] in a user's index KEYS[1], and in the user's summary
 * KEYS[2] once folded: both or neither.
 */
const INDEX = `
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[1], ARGV[1])
  if redis.call('HEXISTS', KEYS[2], '${RELATIONS_MARK}') == 1 then redis.call('HSET', KEYS[2], 'u:' .. ARGV[1], '1') end
else
  redis.call('SREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], 'u:' .. ARGV[1])
end
return 1
`

/**
 * Copy the index KEYS[1] into the summary KEYS[2] and mark it, in one atomic step (every later
 * change of the index then writes both: INDEX). Returns 1 folded (or already).
 */
const FOLD = `
if redis.call('HEXISTS', KEYS[2], '${RELATIONS_MARK}') == 1 then return 1 end
-- Fields left from an earlier fold whose mark was lost may be stale: dropped first.
local fields = redis.call('HKEYS', KEYS[2])
for i = 1, #fields do
  if string.sub(fields[i], 1, 2) == 'u:' then redis.call('HDEL', KEYS[2], fields[i]) end
end
local peers = redis.call('SMEMBERS', KEYS[1])
for i = 1, #peers do redis.call('HSET', KEYS[2], 'u:' .. peers[i], '1') end
redis.call('HSET', KEYS[2], '${RELATIONS_MARK}', '1')
return 1
`

/** Where the store's Redis is (redis-side.ts). */
export type RedisRelationsOptions = RedisSideOptions

type Client = SideClient
type Scripts = {
  chatPutPair(key: string, version: number, json: string): Promise<number>
  chatRelIndex(index: string, summary: string, peer: string, add: '1' | '0'): Promise<number>
  chatFoldRelations(index: string, summary: string): Promise<number>
}

/**
 * Relations in Redis. The record of a pair is never deleted, only emptied: its version keeps
 * counting, so a write that read an older state can never pass for a newer one.
 */
export class RedisRelations implements RelationStore {
  private constructor(
    private readonly client: Client,
    private readonly prefix: string,
  ) {}

  static async open(options: RedisRelationsOptions): Promise<RedisRelations> {
    const client = await openSideClient(
      options,
      { chatPutPair: { numberOfKeys: 1, lua: PUT_PAIR }, chatRelIndex: { numberOfKeys: 2, lua: INDEX }, chatFoldRelations: { numberOfKeys: 2, lua: FOLD } },
      'relations',
    )
    return new RedisRelations(client, options.prefix)
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      if (err instanceof AppError) throw err
      throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err })
    }
  }

  private pairKey(a: UserId, b: UserId): string {
    return `${this.prefix}{r:${a}:${b}}`
  }
  private indexKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:rel`
  }
  private policyKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:relp`
  }
  /** The chat engine's summary of the user (store/redis.ts Keys.summary: same prefix, same slot). */
  private summaryKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:s`
  }
  private get scripts(): Scripts {
    return this.client as unknown as Scripts
  }

  async pair(x: UserId, y: UserId): Promise<Pair> {
    const [a, b] = ordered(x, y)
    const [v, d] = await this.run(() => this.client.hmget(this.pairKey(a, b), 'v', 'd'))
    if (!v) return { a, b, version: 0 }
    const edges = d ? (JSON.parse(d) as { ab?: Edge; ba?: Edge }) : {}
    return { a, b, ...(edges.ab ? { ab: edges.ab } : {}), ...(edges.ba ? { ba: edges.ba } : {}), version: Number(v) }
  }

  async put(next: Pair): Promise<boolean> {
    const live = next.ab !== undefined || next.ba !== undefined
    const json = live ? JSON.stringify({ ab: next.ab, ba: next.ba }) : ''
    const ok = await this.run(() => this.scripts.chatPutPair(this.pairKey(next.a, next.b), next.version, json))
    if (ok !== 1) return false
    // The index lives with each user (another Cluster slot): kept after the record, with the
    // user's summary once folded. A stale entry (a crash between the two) only costs a read:
    // `peers` readers check the record.
    const add = live ? '1' : '0'
    await this.run(() =>
      Promise.all([
        this.scripts.chatRelIndex(this.indexKey(next.a), this.summaryKey(next.a), next.b, add),
        this.scripts.chatRelIndex(this.indexKey(next.b), this.summaryKey(next.b), next.a, add),
      ]),
    )
    return true
  }

  async peers(user: UserId): Promise<UserId[]> {
    return this.run(() => this.client.smembers(this.indexKey(user)))
  }

  async fold(user: UserId): Promise<void> {
    await this.run(() => this.scripts.chatFoldRelations(this.indexKey(user), this.summaryKey(user)))
  }

  async policy(user: UserId): Promise<DirectPolicy> {
    const v = await this.run(() => this.client.get(this.policyKey(user)))
    return v === 'contacts' ? 'contacts' : 'anyone'
  }

  async setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    const key = this.policyKey(user)
    await this.run<unknown>(() => (policy === 'anyone' ? this.client.del(key) : this.client.set(key, policy)))
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => {})
    this.client.disconnect()
  }
}

// ------------------------------------------------------------------ caches in front of the archive

/** Pair records held by a cache: enough for every active 1:1 of a large node. */
const CACHE_PAIRS_MAX = 100_000

/**
 * The archive's relations with the pairs kept in process, written through: for the embedded engine
 * only, where one process is the only writer (a 1:1 send then costs no SQL read). Policies and
 * peers are read from the archive (they are asked for rarely).
 */
export class ProcessCachedRelations implements RelationStore {
  private readonly cache = boundedCache<string, Pair>({ max: CACHE_PAIRS_MAX })

  constructor(private readonly inner: RelationStore) {}

  async pair(x: UserId, y: UserId): Promise<Pair> {
    const [a, b] = ordered(x, y)
    const key = `${a}\u0000${b}`
    const hit = this.cache.get(key)
    if (hit) return hit
    const read = await this.inner.pair(a, b)
    this.keep(key, read)
    return read
  }

  async put(next: Pair): Promise<boolean> {
    const key = `${next.a}\u0000${next.b}`
    const ok = await this.inner.put(next)
    if (ok) this.keep(key, { ...next, version: next.version + 1 })
    else this.cache.delete(key)
    return ok
  }

  private keep(key: string, pair: Pair): void {
    const cached = this.cache.peek(key)
    if (cached && cached.version > pair.version) return
    this.cache.set(key, pair)
  }

  peers(user: UserId): Promise<UserId[]> {
    return this.inner.peers(user)
  }
  policy(user: UserId): Promise<DirectPolicy> {
    return this.inner.policy(user)
  }
  setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    return this.inner.setPolicy(user, policy)
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

/**
 * Keep `pair` in the cache key unless it holds a newer version: KEYS[1]; ARGV version, JSON, ttl ms.
 * A reader that read the archive before a write cannot put the older record back over the
 * writer's newer one.
 */
const CACHE_PAIR = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if cur > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`

/**
 * The archive's relations with the pairs cached in Redis, shared by every node of the Redis
 * engine: read through (a miss reads the archive and caches it), written through after the
 * archive's compare-and-set (the record at its new version). Key `P{rc:<a>:<b>}` hash v, d;
 * PX `ttlMs`: should a write reach the archive but not Redis (Redis down at that instant), the
 * cache is stale for at most that long.
 */
export class RedisCachedRelations implements RelationStore {
  private constructor(
    private readonly inner: RelationStore,
    private readonly client: Client,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  static async open(inner: RelationStore, options: RedisRelationsOptions & { readonly ttlMs?: number }): Promise<RedisCachedRelations> {
    const redis = await RedisRelations.open(options)
    const client = (redis as unknown as { client: Client }).client
    client.defineCommand('chatCachePair', { numberOfKeys: 1, lua: CACHE_PAIR })
    return new RedisCachedRelations(inner, client, options.prefix, options.ttlMs ?? 60_000)
  }

  private key(a: UserId, b: UserId): string {
    return `${this.prefix}{rc:${a}:${b}}`
  }

  private async keep(pair: Pair): Promise<void> {
    const json = JSON.stringify({ ab: pair.ab, ba: pair.ba })
    await (this.client as unknown as { chatCachePair(k: string, v: number, d: string, ttl: number): Promise<number> }).chatCachePair(this.key(pair.a, pair.b), pair.version, json, this.ttlMs)
  }

  async pair(x: UserId, y: UserId): Promise<Pair> {
    const [a, b] = ordered(x, y)
    try {
      const [v, d] = await this.client.hmget(this.key(a, b), 'v', 'd')
      if (typeof v === 'string' && typeof d === 'string') {
        const edges = JSON.parse(d) as { ab?: Edge; ba?: Edge }
        return { a, b, ...(edges.ab ? { ab: edges.ab } : {}), ...(edges.ba ? { ba: edges.ba } : {}), version: Number(v) }
      }
    } catch {
      // Redis away: the archive answers.
    }
    const read = await this.inner.pair(a, b)
    await this.keep(read).catch(() => {})
    return read
  }

  async put(next: Pair): Promise<boolean> {
    const ok = await this.inner.put(next)
    if (ok) await this.keep({ ...next, version: next.version + 1 }).catch(() => {})
    // Lost: the cache may be behind the archive; what the archive holds now replaces it (by version).
    else await this.keep(await this.inner.pair(next.a, next.b)).catch(() => {})
    return ok
  }

  peers(user: UserId): Promise<UserId[]> {
    return this.inner.peers(user)
  }
  policy(user: UserId): Promise<DirectPolicy> {
    return this.inner.policy(user)
  }
  setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    return this.inner.setPolicy(user, policy)
  }
  async close(): Promise<void> {
    await this.client.quit().catch(() => {})
    this.client.disconnect()
  }
}
