/**
 * State of the WeChat integration (bff/src/wechat), shared by every process of a deployment: the
 * app's access_token and its refresh lock, fixed-window rate counters (msgSecCheck, reports),
 * subscription-message allowances per user and template, the "already notified" marks of an
 * absence, and the moderation lists (reports, flagged content). Memory (one process) and Redis
 * implementations; both pass the contract suite (bff/test/store/contract.ts).
 *
 * Redis keys (P = REDIS_PREFIX):
 *   P{wx}:token             string  JSON {token, expiresAt}
 *   P{wx}:lock:<name>       string  owner of a lock, PX = its lease
 *   P{wx}:rl:<key>:<window> string  hits in one fixed window, PX = the window
 *   P{wx}:list:<name>       list    newest first, LTRIM to its bound (reports, flags)
 *   P{u:<id>}:sub           hash    template id -> one-time allowances left
 *   P{u:<id>}:nt            set     conversations notified during the current absence
 *   P{u:<id>}:sus           string  the user is suspended by a moderator (no expiry: lifted by a moderator)
 *   P{wx}:trace:<id>        string  what a pending mediaCheckAsync is about (JSON), PX = how long a verdict may take
 *   P{wx}:recheck           zset    content let through unchecked, waiting for its re-check (JSON), score = when it was let through
 */
import type { Cluster, Redis } from 'ioredis'
import type { ConvId, UserId } from '@chat/shared'

export interface WxToken {
  readonly token: string
  /** When WeChat stops accepting it, ms since the epoch. */
  readonly expiresAt: number
}

export interface WeChatStore {
  token(): Promise<WxToken | undefined>
  setToken(token: WxToken): Promise<void>
  /** Take `name` for `owner` for `leaseMs` if nobody holds it. */
  lock(name: string, owner: string, leaseMs: number): Promise<boolean>
  /** Release `name` if `owner` still holds it. */
  unlock(name: string, owner: string): Promise<void>
  /** Count `n` (default 1) hits of `key` in the current fixed window of `windowMs`; returns the window's count after them. */
  hit(key: string, windowMs: number, n?: number): Promise<number>
  /** Add `n` allowances of `template` for `user`, at most `max` kept. Returns the count after. */
  grant(user: UserId, template: string, n: number, max: number): Promise<number>
  /** Spend one allowance if there is one. */
  spend(user: UserId, template: string): Promise<boolean>
  /** Allowances left. */
  allowances(user: UserId, template: string): Promise<number>
  /** No allowance left (WeChat said 43101). */
  zero(user: UserId, template: string): Promise<void>
  /** Mark `conv` notified for this absence of `user`: true the first time only. */
  claimNotice(user: UserId, conv: ConvId): Promise<boolean>
  /** `user` is back: the next absence may notify again. */
  clearNotices(user: UserId): Promise<void>
  /** Prepend one JSON record to list `name`, keeping the newest `max`. */
  record(name: 'reports' | 'flags', json: string, max: number): Promise<void>
  /** Newest first, at most `limit`. */
  records(name: 'reports' | 'flags', limit: number): Promise<string[]>
  /** Remove record `json` (exactly as recorded) from list `name`; false when it is not there. */
  unrecord(name: 'reports' | 'flags', json: string): Promise<boolean>
  /** The hits of `key` in the current fixed window of `windowMs`, counted by `hit` (none: 0). */
  hits(key: string, windowMs: number): Promise<number>
  /** Queue `json` for a re-check (recheck.ts); `at`: when its content was let through, ms (the queue's order). */
  queueRecheck(json: string, at: number): Promise<void>
  /** The oldest `limit` queued re-checks, oldest first. */
  dueRechecks(limit: number): Promise<string[]>
  /** Take `json` off the re-check queue; false when it was not there. */
  unqueueRecheck(json: string): Promise<boolean>
  /** How many re-checks are queued. */
  pendingRechecks(): Promise<number>
  /** Remember what media check `traceId` is about for `ttlMs`. */
  putTrace(traceId: string, json: string, ttlMs: number): Promise<void>
  /** What `traceId` was about, forgotten by this call (a repeated verdict finds nothing). */
  takeTrace(traceId: string): Promise<string | undefined>
  /** Suspend `user` (or lift it). */
  setSuspended(user: UserId, suspended: boolean): Promise<void>
  isSuspended(user: UserId): Promise<boolean>
}

export class MemoryWeChatStore implements WeChatStore {
  private current: WxToken | undefined
  private readonly locks = new Map<string, { owner: string; until: number }>()
  private readonly windows = new Map<string, { n: number; until: number }>()
  private readonly subs = new Map<string, number>()
  private readonly notices = new Map<UserId, Set<ConvId>>()
  private readonly lists = { reports: [] as string[], flags: [] as string[] }
  private readonly traces = new Map<string, { json: string; until: number }>()
  private readonly suspended = new Set<UserId>()
  /** Oldest first (by `at`, then by arrival). */
  private readonly rechecks: { json: string; at: number }[] = []

  async token(): Promise<WxToken | undefined> {
    return this.current
  }
  async setToken(token: WxToken): Promise<void> {
    this.current = token
  }
  async lock(name: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = Date.now()
    const held = this.locks.get(name)
    if (held && held.until > now) return false
    this.locks.set(name, { owner, until: now + leaseMs })
    return true
  }
  async unlock(name: string, owner: string): Promise<void> {
    if (this.locks.get(name)?.owner === owner) this.locks.delete(name)
  }
  async hit(key: string, windowMs: number, by = 1): Promise<number> {
    const now = Date.now()
    const w = Math.floor(now / windowMs)
    const k = `${key}:${w}`
    const cur = this.windows.get(k)
    const n = (cur && cur.until > now ? cur.n : 0) + by
    this.windows.set(k, { n, until: (w + 1) * windowMs })
    if (this.windows.size > 10_000) for (const [key2, v] of this.windows) if (v.until <= now) this.windows.delete(key2)
    return n
  }
  async grant(user: UserId, template: string, n: number, max: number): Promise<number> {
    const k = `${user}\0${template}`
    const after = Math.min(max, (this.subs.get(k) ?? 0) + n)
    this.subs.set(k, after)
    return after
  }
  async spend(user: UserId, template: string): Promise<boolean> {
    const k = `${user}\0${template}`
    const n = this.subs.get(k) ?? 0
    if (n <= 0) return false
    if (n === 1) this.subs.delete(k)
    else this.subs.set(k, n - 1)
    return true
  }
  async allowances(user: UserId, template: string): Promise<number> {
    return this.subs.get(`${user}\0${template}`) ?? 0
  }
  async zero(user: UserId, template: string): Promise<void> {
    this.subs.delete(`${user}\0${template}`)
  }
  async claimNotice(user: UserId, conv: ConvId): Promise<boolean> {
    let set = this.notices.get(user)
    if (!set) this.notices.set(user, (set = new Set()))
    if (set.has(conv)) return false
    set.add(conv)
    return true
  }
  async clearNotices(user: UserId): Promise<void> {
    this.notices.delete(user)
  }
  async record(name: 'reports' | 'flags', json: string, max: number): Promise<void> {
    const list = this.lists[name]
    list.unshift(json)
    if (list.length > max) list.length = max
  }
  async records(name: 'reports' | 'flags', limit: number): Promise<string[]> {
    return this.lists[name].slice(0, limit)
  }
  async unrecord(name: 'reports' | 'flags', json: string): Promise<boolean> {
    const list = this.lists[name]
    const i = list.indexOf(json)
    if (i < 0) return false
    list.splice(i, 1)
    return true
  }
  async hits(key: string, windowMs: number): Promise<number> {
    const now = Date.now()
    const cur = this.windows.get(`${key}:${Math.floor(now / windowMs)}`)
    return cur && cur.until > now ? cur.n : 0
  }
  async queueRecheck(json: string, at: number): Promise<void> {
    if (this.rechecks.some((r) => r.json === json)) return
    let i = this.rechecks.length
    while (i > 0 && this.rechecks[i - 1]!.at > at) i--
    this.rechecks.splice(i, 0, { json, at })
  }
  async dueRechecks(limit: number): Promise<string[]> {
    return this.rechecks.slice(0, limit).map((r) => r.json)
  }
  async unqueueRecheck(json: string): Promise<boolean> {
    const i = this.rechecks.findIndex((r) => r.json === json)
    if (i < 0) return false
    this.rechecks.splice(i, 1)
    return true
  }
  async pendingRechecks(): Promise<number> {
    return this.rechecks.length
  }
  async putTrace(traceId: string, json: string, ttlMs: number): Promise<void> {
    const now = Date.now()
    if (this.traces.size > 10_000) for (const [k, v] of this.traces) if (v.until <= now) this.traces.delete(k)
    this.traces.set(traceId, { json, until: now + ttlMs })
  }
  async takeTrace(traceId: string): Promise<string | undefined> {
    const t = this.traces.get(traceId)
    this.traces.delete(traceId)
    return t && t.until > Date.now() ? t.json : undefined
  }
  async setSuspended(user: UserId, suspended: boolean): Promise<void> {
    if (suspended) this.suspended.add(user)
    else this.suspended.delete(user)
  }
  async isSuspended(user: UserId): Promise<boolean> {
    return this.suspended.has(user)
  }
}

/** ioredis' Redis or Cluster. */
type RedisLike = Redis | Cluster

type Guard = <T>(work: () => Promise<T>) => Promise<T>

/** Subscription allowances expire with the user's inactivity: WeChat keeps them, we keep them 30 days past the last grant. */
const SUB_TTL_MS = 30 * 24 * 3600_000
/** An absence mark outlives any absence worth a notification. */
const NOTICE_TTL_MS = 7 * 24 * 3600_000

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
const HIT = `local n = redis.call('INCRBY', KEYS[1], ARGV[2]) if n == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`
const GRANT = `local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n > tonumber(ARGV[3]) then n = tonumber(ARGV[3]) redis.call('HSET', KEYS[1], ARGV[1], n) end
redis.call('PEXPIRE', KEYS[1], ARGV[4]) return n`
const SPEND = `local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 0 then return 0 end
if n == 1 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end return 1`
const CLAIM = `local n = redis.call('SADD', KEYS[1], ARGV[1]) redis.call('PEXPIRE', KEYS[1], ARGV[2]) return n`
const RECORD = `redis.call('LPUSH', KEYS[1], ARGV[1]) redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1) return 1`

export class RedisWeChatStore implements WeChatStore {
  private readonly p: string
  constructor(
    private readonly r: RedisLike,
    prefix: string,
    private readonly guard: Guard,
  ) {
    this.p = prefix
  }
  async token(): Promise<WxToken | undefined> {
    const raw = await this.guard(() => this.r.get(`${this.p}{wx}:token`))
    if (!raw) return undefined
    const t = JSON.parse(raw) as WxToken
    return typeof t.token === 'string' && typeof t.expiresAt === 'number' ? t : undefined
  }
  async setToken(token: WxToken): Promise<void> {
    const ttl = Math.max(1, token.expiresAt - Date.now())
    await this.guard(() => this.r.set(`${this.p}{wx}:token`, JSON.stringify(token), 'PX', ttl))
  }
  async lock(name: string, owner: string, leaseMs: number): Promise<boolean> {
    return (await this.guard(() => this.r.set(`${this.p}{wx}:lock:${name}`, owner, 'PX', leaseMs, 'NX'))) === 'OK'
  }
  async unlock(name: string, owner: string): Promise<void> {
    await this.guard(() => this.r.eval(UNLOCK, 1, `${this.p}{wx}:lock:${name}`, owner))
  }
  async hit(key: string, windowMs: number, by = 1): Promise<number> {
    const w = Math.floor(Date.now() / windowMs)
    return Number(await this.guard(() => this.r.eval(HIT, 1, `${this.p}{wx}:rl:${key}:${w}`, windowMs, by)))
  }
  async grant(user: UserId, template: string, n: number, max: number): Promise<number> {
    return Number(await this.guard(() => this.r.eval(GRANT, 1, `${this.p}{u:${user}}:sub`, template, n, max, SUB_TTL_MS)))
  }
  async spend(user: UserId, template: string): Promise<boolean> {
    return Number(await this.guard(() => this.r.eval(SPEND, 1, `${this.p}{u:${user}}:sub`, template))) === 1
  }
  async allowances(user: UserId, template: string): Promise<number> {
    return Number((await this.guard(() => this.r.hget(`${this.p}{u:${user}}:sub`, template))) ?? 0)
  }
  async zero(user: UserId, template: string): Promise<void> {
    await this.guard(() => this.r.hdel(`${this.p}{u:${user}}:sub`, template))
  }
  async claimNotice(user: UserId, conv: ConvId): Promise<boolean> {
    return Number(await this.guard(() => this.r.eval(CLAIM, 1, `${this.p}{u:${user}}:nt`, conv, NOTICE_TTL_MS))) === 1
  }
  async clearNotices(user: UserId): Promise<void> {
    await this.guard(() => this.r.del(`${this.p}{u:${user}}:nt`))
  }
  async record(name: 'reports' | 'flags', json: string, max: number): Promise<void> {
    await this.guard(() => this.r.eval(RECORD, 1, `${this.p}{wx}:list:${name}`, json, max))
  }
  async records(name: 'reports' | 'flags', limit: number): Promise<string[]> {
    return this.guard(() => this.r.lrange(`${this.p}{wx}:list:${name}`, 0, limit - 1))
  }
  async unrecord(name: 'reports' | 'flags', json: string): Promise<boolean> {
    return (await this.guard(() => this.r.lrem(`${this.p}{wx}:list:${name}`, 1, json))) > 0
  }
  async hits(key: string, windowMs: number): Promise<number> {
    const w = Math.floor(Date.now() / windowMs)
    return Number((await this.guard(() => this.r.get(`${this.p}{wx}:rl:${key}:${w}`))) ?? 0)
  }
  async queueRecheck(json: string, at: number): Promise<void> {
    await this.guard(() => this.r.zadd(`${this.p}{wx}:recheck`, at, json))
  }
  async dueRechecks(limit: number): Promise<string[]> {
    return this.guard(() => this.r.zrange(`${this.p}{wx}:recheck`, 0, limit - 1))
  }
  async unqueueRecheck(json: string): Promise<boolean> {
    return (await this.guard(() => this.r.zrem(`${this.p}{wx}:recheck`, json))) > 0
  }
  async pendingRechecks(): Promise<number> {
    return this.guard(() => this.r.zcard(`${this.p}{wx}:recheck`))
  }
  async putTrace(traceId: string, json: string, ttlMs: number): Promise<void> {
    await this.guard(() => this.r.set(`${this.p}{wx}:trace:${traceId}`, json, 'PX', ttlMs))
  }
  async takeTrace(traceId: string): Promise<string | undefined> {
    return (await this.guard(() => this.r.getdel(`${this.p}{wx}:trace:${traceId}`))) ?? undefined
  }
  async setSuspended(user: UserId, suspended: boolean): Promise<void> {
    const key = `${this.p}{u:${user}}:sus`
    await this.guard<unknown>(() => (suspended ? this.r.set(key, String(Date.now())) : this.r.del(key)))
  }
  async isSuspended(user: UserId): Promise<boolean> {
    return (await this.guard(() => this.r.exists(`${this.p}{u:${user}}:sus`))) === 1
  }
}
