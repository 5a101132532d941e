/**
 * The Redis engine (production, many processes and machines).
 *
 * Keys (P = REDIS_PREFIX). Everything about one conversation shares the hash tag `{c:<conv>}` and
 * everything about one user shares `{u:<id>}`, so every multi-key script touches one Cluster slot
 * and the engine runs on Redis Cluster unchanged.
 *
 *   P{c:<conv>}:h               hash    kind, title, members (JSON), createdAt, lastSeq, last (message JSON)
 *   P{c:<conv>}:m               zset    message JSON scored by seq (history: the source of truth)
 *   P{c:<conv>}:r               hash    read mark per member
 *   P{c:<conv>}:d:<from>:<cid>  string  seq of a stored (sender, cid), PX = dedup window
 *   P{u:<id>}:c                 zset    the user's conversation ids, scored by creation time
 *   P{u:<id>}:q                 stream  offline queue (MAXLEN bound, MINID retention and acks)
 *   P{u:<id>}:p                 hash    devices per node, `~ls` last seen
 *   P{u:<id>}:i                 hash    profile: name, avatar
 *   Pdir                        zset    lexical directory "<term>\0<id>" for prefix search (terms: directory.ts)
 *   P{u:<id>}:up                zset    upload slots: upload id scored by when its slot frees itself (ms)
 *   P{rf:<family>}:t:<sha256>   string  refresh token: `l:<user>` live or `s:<user>` spent, PX = its lifetime
 *   P{rf:<family>}              string  a live refresh family (absent: revoked or expired), PX = its newest token's lifetime
 *
 * Routing: sharded Pub/Sub (Redis >= 7) on the channel `P{u:<id>}` per user. SPUBLISH goes only to
 * the shard owning the channel's slot (classic PUBLISH is broadcast over the whole cluster bus), and
 * its reply counts the subscribed nodes, which tells "offline" without a presence lookup.
 *
 * Every command fails fast when Redis is away (no offline queue, a command timeout): a send then
 * gets STORE_UNAVAILABLE instead of hanging, and ioredis reconnects by itself.
 */
import { Cluster, Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { AppError } from '@chat/shared'
import type { ConvId, Presence, User, UserId } from '@chat/shared'
import { directoryTerms } from './directory'
import { messageJson, messageJsonParts, messageOf } from './message-json'
import type {
  AppendInput,
  AppendResult,
  Bus,
  ConvRecord,
  ConvState,
  ConvStore,
  Engine,
  EngineOptions,
  MessageStore,
  PresenceStore,
  QueueEntry,
  QueueStore,
  TokenStore,
  UploadSlotStore,
  UserStore,
} from './types'

export interface RedisEngineOptions extends EngineOptions {
  readonly url: string
  readonly clusterNodes: readonly { host: string; port: number }[]
  readonly prefix: string
  readonly commandTimeoutMs: number
  readonly connectTimeoutMs: number
  /** Distinguishes this process in presence counts. */
  readonly node: string
  /** Called on every failed Redis command (metrics). */
  readonly onError?: (err: unknown) => void
}

type Client = Redis | Cluster

// ------------------------------------------------------------------ scripts

/** Dedup, seq, store, last message, sender's read mark: one round trip, one slot. */
const APPEND = `
local known = redis.call('GET', KEYS[3])
if known then
  local m = redis.call('ZRANGE', KEYS[2], known, known, 'BYSCORE')
  return {1, m[1]}
end
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return {2} end
local seq = redis.call('HINCRBY', KEYS[1], 'lastSeq', 1)
local json = ARGV[1] .. seq .. ARGV[2]
redis.call('ZADD', KEYS[2], seq, json)
redis.call('HSET', KEYS[1], 'last', json)
redis.call('HSET', KEYS[4], ARGV[4], seq)
redis.call('SET', KEYS[3], seq, 'PX', ARGV[3])
return {0, seq}
`

const CREATE_CONV = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 1 then
  return redis.call('HMGET', KEYS[1], 'kind', 'title', 'members', 'createdAt')
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'members', ARGV[2], 'createdAt', ARGV[3], 'lastSeq', 0)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'title', ARGV[4]) end
return 0
`

const MARK_READ = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return -1 end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local seq = tonumber(ARGV[2])
if seq > cur then
  redis.call('HSET', KEYS[2], ARGV[1], seq)
  return seq
end
return cur
`

/** Append with both bounds: MAXLEN (oldest dropped) and MINID (retention); idle queues expire whole. */
const QUEUE_PUSH = `
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'm', ARGV[3])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('XLEN', KEYS[1])
`

/** Count devices per node; returns the user's devices over all nodes. */
const PRESENCE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], '~ls', ARGV[3]) end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= '~ls' then total = total + tonumber(all[i + 1]) end
end
return total
`

/** Spend a refresh token (KEYS: token, family): see TokenStore.take. */
const TAKE_REFRESH = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local user = string.sub(v, 3)
if string.sub(v, 1, 1) == 's' then
  redis.call('DEL', KEYS[2])
  return {'reused', user}
end
redis.call('SET', KEYS[1], 's:' .. user, 'KEEPTTL')
if redis.call('EXISTS', KEYS[2]) == 0 then return {'revoked', user} end
return {'ok', user}
`

/** Take an upload slot (KEYS: the user's slots; ARGV: id, max, now, idleMs): 1 taken, 0 all taken. */
const ACQUIRE_SLOT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[3]) + tonumber(ARGV[4]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`

interface Scripted {
  chatAppend(k1: string, k2: string, k3: string, k4: string, ...args: (string | number)[]): Promise<[number, string | number] | [number]>
  chatCreateConv(k1: string, ...args: (string | number)[]): Promise<0 | (string | null)[]>
  chatMarkRead(k1: string, k2: string, ...args: (string | number)[]): Promise<number>
  chatQueuePush(k1: string, ...args: (string | number)[]): Promise<number>
  chatPresence(k1: string, ...args: (string | number)[]): Promise<number>
  chatTakeRefresh(k1: string, k2: string): Promise<[string, string] | null>
  chatAcquireSlot(k1: string, id: string, max: number, now: number, idleMs: number): Promise<number>
}

function defineScripts(client: Client): Client & Scripted {
  client.defineCommand('chatAppend', { numberOfKeys: 4, lua: APPEND })
  client.defineCommand('chatCreateConv', { numberOfKeys: 1, lua: CREATE_CONV })
  client.defineCommand('chatMarkRead', { numberOfKeys: 2, lua: MARK_READ })
  client.defineCommand('chatQueuePush', { numberOfKeys: 1, lua: QUEUE_PUSH })
  client.defineCommand('chatPresence', { numberOfKeys: 1, lua: PRESENCE })
  client.defineCommand('chatTakeRefresh', { numberOfKeys: 2, lua: TAKE_REFRESH })
  client.defineCommand('chatAcquireSlot', { numberOfKeys: 1, lua: ACQUIRE_SLOT })
  return client as Client & Scripted
}

// ------------------------------------------------------------------ keys

class Keys {
  constructor(readonly p: string) {}
  convMeta = (c: ConvId) => `${this.p}{c:${c}}:h`
  convMsgs = (c: ConvId) => `${this.p}{c:${c}}:m`
  convReads = (c: ConvId) => `${this.p}{c:${c}}:r`
  dedup = (c: ConvId, from: UserId, cid: string) => `${this.p}{c:${c}}:d:${from}:${cid}`
  userConvs = (u: UserId) => `${this.p}{u:${u}}:c`
  queue = (u: UserId) => `${this.p}{u:${u}}:q`
  presence = (u: UserId) => `${this.p}{u:${u}}:p`
  profile = (u: UserId) => `${this.p}{u:${u}}:i`
  uploadSlots = (u: UserId) => `${this.p}{u:${u}}:up`
  directory = () => `${this.p}dir`
  refresh = (family: string, hash: string) => `${this.p}{rf:${family}}:t:${hash}`
  refreshFamily = (family: string) => `${this.p}{rf:${family}}`
  channel = (u: UserId) => `${this.p}{u:${u}}`
}

// ------------------------------------------------------------------ stores

/** Turns any Redis failure into the temporary STORE_UNAVAILABLE the protocol promises. */
type Guard = <T>(work: () => Promise<T>) => Promise<T>

class RedisMessages implements MessageStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}

  async append(input: AppendInput): Promise<AppendResult> {
    const parts = messageJsonParts(input)
    const { conv } = input
    const res = await this.guard(() =>
      this.r.chatAppend(
        this.k.convMeta(conv),
        this.k.convMsgs(conv),
        this.k.dedup(conv, input.from, input.cid),
        this.k.convReads(conv),
        parts.head,
        parts.tail,
        input.dedupWindowMs,
        input.from,
      ),
    )
    if (res[0] === 2) throw new AppError('CONV_NOT_FOUND')
    if (res[0] === 1) {
      const json = String(res[1])
      return { msg: JSON.parse(json), json, dup: true }
    }
    const seq = Number(res[1])
    return { msg: messageOf(input, seq), json: messageJson(parts, seq), dup: false }
  }

  async after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
    return this.guard(() => this.r.zrangebyscore(this.k.convMsgs(conv), `(${afterSeq}`, '+inf', 'LIMIT', 0, limit))
  }

  async before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]> {
    const max = beforeSeq === undefined ? '+inf' : `(${beforeSeq}`
    const newestFirst = await this.guard(() =>
      this.r.zrevrangebyscore(this.k.convMsgs(conv), max, '-inf', 'LIMIT', 0, limit),
    )
    return newestFirst.reverse()
  }
}

class RedisConvs implements ConvStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}

  async create(record: ConvRecord): Promise<{ record: ConvRecord; created: boolean }> {
    const res = await this.guard(() =>
      this.r.chatCreateConv(
        this.k.convMeta(record.id),
        record.kind,
        JSON.stringify(record.members),
        record.createdAt,
        record.title ?? '',
      ),
    )
    const stored = res === 0 ? record : recordOf(record.id, res)
    // Always (re)written: idempotent, and it repairs a list left short by a failure half-way.
    await this.guard(() =>
      Promise.all(stored.members.map((m) => this.r.zadd(this.k.userConvs(m), stored.createdAt, stored.id))),
    )
    return { record: stored, created: res === 0 }
  }

  async get(conv: ConvId): Promise<ConvRecord | undefined> {
    const res = await this.guard(() => this.r.hmget(this.k.convMeta(conv), 'kind', 'title', 'members', 'createdAt'))
    return res[0] ? recordOf(conv, res) : undefined
  }

  async listForUser(user: UserId): Promise<ConvId[]> {
    return this.guard(() => this.r.zrange(this.k.userConvs(user), 0, -1))
  }

  async states(convs: readonly ConvId[], user: UserId): Promise<ConvState[]> {
    return this.guard(() =>
      Promise.all(
        convs.map(async (c) => {
          const [[lastSeq, last], read] = await Promise.all([
            this.r.hmget(this.k.convMeta(c), 'lastSeq', 'last'),
            this.r.hget(this.k.convReads(c), user),
          ])
          return { lastSeq: Number(lastSeq ?? 0), lastMsg: last ? JSON.parse(last) : undefined, readSeq: Number(read ?? 0) }
        }),
      ),
    )
  }

  async markRead(conv: ConvId, user: UserId, seq: number): Promise<number> {
    const res = await this.guard(() => this.r.chatMarkRead(this.k.convMeta(conv), this.k.convReads(conv), user, seq))
    if (res < 0) throw new AppError('CONV_NOT_FOUND')
    return res
  }
}

function recordOf(id: ConvId, fields: (string | null)[]): ConvRecord {
  const [kind, title, members, createdAt] = fields
  return {
    id,
    kind: kind === 'group' ? 'group' : 'direct',
    ...(title ? { title } : {}),
    members: JSON.parse(members ?? '[]'),
    createdAt: Number(createdAt ?? 0),
  }
}

class RedisUsers implements UserStore {
  constructor(
    private readonly r: Client,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}

  async upsert(user: User): Promise<void> {
    await this.guard(async () => {
      const oldName = await this.r.hget(this.k.profile(user.id), 'name')
      const fields: Record<string, string> = { name: user.name }
      if (user.avatar !== undefined) fields.avatar = user.avatar
      await this.r.hset(this.k.profile(user.id), fields)
      const terms = directoryTerms(user)
      if (oldName !== null && oldName !== user.name) {
        const stale = directoryTerms({ id: user.id, name: oldName }).filter((t) => !terms.includes(t))
        if (stale.length > 0) await this.r.zrem(this.k.directory(), ...stale.map((t) => `${t}\u0000${user.id}`))
      }
      await this.r.zadd(this.k.directory(), ...terms.flatMap((t) => [0, `${t}\u0000${user.id}`]))
    })
  }

  async get(ids: readonly UserId[]): Promise<User[]> {
    const rows = await this.guard(() => Promise.all(ids.map((id) => this.r.hmget(this.k.profile(id), 'name', 'avatar'))))
    const out: User[] = []
    rows.forEach(([name, avatar], i) => {
      if (name === null || name === undefined) return
      out.push(avatar ? { id: ids[i]!, name, avatar } : { id: ids[i]!, name })
    })
    return out
  }

  async search(prefix: string, limit: number): Promise<User[]> {
    const p = prefix.toLowerCase()
    // U+10FFFF encodes as F4 8F BF BF, above every byte that can follow the prefix in UTF-8.
    const entries = await this.guard(() =>
      this.r.zrangebylex(this.k.directory(), `[${p}`, `(${p}\u{10FFFF}`, 'LIMIT', 0, limit * 2),
    )
    const ids = [...new Set(entries.map((e) => e.slice(e.indexOf('\u0000') + 1)))].sort().slice(0, limit)
    return this.get(ids)
  }
}

class RedisQueue implements QueueStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
    private readonly options: EngineOptions,
  ) {}

  async push(user: UserId, msgJson: string): Promise<number> {
    const minId = Date.now() - this.options.queueRetentionMs
    return this.guard(() =>
      this.r.chatQueuePush(this.k.queue(user), this.options.queueMaxLength, minId, msgJson, this.options.queueRetentionMs),
    )
  }

  async read(user: UserId, limit: number): Promise<QueueEntry[]> {
    const minId = Date.now() - this.options.queueRetentionMs
    const rows = await this.guard(() => this.r.xrange(this.k.queue(user), `${minId}`, '+', 'COUNT', limit))
    return rows.map(([id, fields]) => ({ id, msg: fields[1] ?? '' }))
  }

  async ack(user: UserId, upTo: string): Promise<void> {
    const [ms, n] = upTo.split('-')
    // MINID keeps ids >= the bound: the bound is the id right after the acknowledged one.
    await this.guard(() => this.r.xtrim(this.k.queue(user), 'MINID', `${ms}-${BigInt(n ?? '0') + 1n}`))
  }

  async length(user: UserId): Promise<number> {
    return this.guard(() => this.r.xlen(this.k.queue(user)))
  }
}

class RedisPresence implements PresenceStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}
  async connected(user: UserId, node: string): Promise<number> {
    return this.guard(() => this.r.chatPresence(this.k.presence(user), node, 1, ''))
  }
  async disconnected(user: UserId, node: string, at: number): Promise<number> {
    return this.guard(() => this.r.chatPresence(this.k.presence(user), node, -1, at))
  }
  async get(users: readonly UserId[]): Promise<Presence[]> {
    const rows = await this.guard(() => Promise.all(users.map((u) => this.r.hgetall(this.k.presence(u)))))
    return rows.map((h, i) => {
      let devices = 0
      for (const [field, value] of Object.entries(h)) if (field !== '~ls') devices += Number(value)
      const p: Presence = { user: users[i]!, online: devices > 0 }
      return h['~ls'] ? { ...p, lastSeen: Number(h['~ls']) } : p
    })
  }
}

class RedisTokens implements TokenStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}
  async put(family: string, tokenHash: string, user: UserId, ttlMs: number): Promise<void> {
    // One slot (the family's hash tag): one MULTI.
    await this.guard(() =>
      this.r.multi().set(this.k.refresh(family, tokenHash), `l:${user}`, 'PX', ttlMs).set(this.k.refreshFamily(family), '1', 'PX', ttlMs).exec(),
    )
  }
  async take(family: string, tokenHash: string): Promise<{ outcome: 'ok' | 'reused' | 'revoked'; user: UserId } | undefined> {
    // One script: single use even when two refreshes race, and a reuse revokes the family at once.
    const r = await this.guard(() => this.r.chatTakeRefresh(this.k.refresh(family, tokenHash), this.k.refreshFamily(family)))
    if (!r) return undefined
    return { outcome: r[0] as 'ok' | 'reused' | 'revoked', user: r[1] }
  }
}

class RedisUploadSlots implements UploadSlotStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
  ) {}
  async acquire(user: UserId, id: string, max: number, idleMs: number): Promise<boolean> {
    // One script: the count and the take cannot interleave with another process's.
    return (await this.guard(() => this.r.chatAcquireSlot(this.k.uploadSlots(user), id, max, Date.now(), idleMs))) === 1
  }
  async touch(user: UserId, id: string, idleMs: number): Promise<void> {
    const key = this.k.uploadSlots(user)
    await this.guard(() => this.r.multi().zadd(key, 'XX', Date.now() + idleMs, id).pexpire(key, idleMs).exec())
  }
  async release(user: UserId, id: string): Promise<void> {
    await this.guard(() => this.r.zrem(this.k.uploadSlots(user), id))
  }
  async count(user: UserId): Promise<number> {
    return this.guard(() => this.r.zcount(this.k.uploadSlots(user), Date.now() + 1, '+inf'))
  }
}

class RedisBus implements Bus {
  private handler: (user: UserId, payload: string) => void = () => {}
  private readonly channelPrefix: string

  constructor(
    private readonly pub: Client,
    private readonly sub: Client,
    private readonly k: Keys,
    private readonly guard: Guard,
    private readonly subGuard: Guard,
  ) {
    this.channelPrefix = `${k.p}{u:`
    const strip = this.channelPrefix.length
    sub.on('smessage', (channel: string, message: string) => {
      if (!channel.startsWith(this.channelPrefix)) return
      this.handler(channel.slice(strip, -1), message)
    })
  }
  async subscribe(user: UserId): Promise<void> {
    await this.subGuard(() => this.sub.ssubscribe(this.k.channel(user)))
  }
  async unsubscribe(user: UserId): Promise<void> {
    await this.subGuard(() => this.sub.sunsubscribe(this.k.channel(user)))
  }
  async publish(user: UserId, payload: string): Promise<number> {
    return this.guard(async () => Number(await this.pub.spublish(this.k.channel(user), payload)))
  }
  onMessage(handler: (user: UserId, payload: string) => void): void {
    this.handler = handler
  }
  onReconnect(handler: () => void): void {
    let first = true
    this.sub.on('ready', () => {
      if (first) first = false
      else handler()
    })
  }
}

// ------------------------------------------------------------------ engine

export async function createRedisEngine(options: RedisEngineOptions): Promise<Engine> {
  const base: RedisOptions = {
    // Fail fast instead of queueing commands while disconnected: a send must get
    // STORE_UNAVAILABLE, never hang. ioredis keeps reconnecting in the background.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    lazyConnect: true,
    // Off for a standalone Redis: its Pipeline per tick cost more CPU than the commands themselves
    // (a Pipeline object, a promise and callbacks per batch, mostly of one command). `batched`
    // below groups the commands issued in one tick into one socket write instead.
    enableAutoPipelining: false,
  }
  const make = (sharded: boolean): Client =>
    options.clusterNodes.length > 0
      ? new Cluster([...options.clusterNodes], {
          enableOfflineQueue: false,
          enableAutoPipelining: true,
          lazyConnect: true,
          shardedSubscribers: sharded,
          redisOptions: { ...base, enableAutoPipelining: false },
        })
      : new Redis(options.url, base)

  const cmd = defineScripts(make(false))
  const sub = make(true)
  const onError = options.onError ?? (() => {})
  for (const c of [cmd, sub]) c.on('error', onError)

  const unavailable = (err: unknown): never => {
    if (err instanceof AppError) throw err
    onError(err)
    throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err })
  }
  /**
   * Every command goes through here. One `.catch` per command rather than an async wrapper: this
   * runs several times per message. For a standalone Redis, the commands issued in one tick (a
   * fan-out, a connect storm, a sync) leave in one socket write: the first corks the socket and a
   * nextTick uncorks it.
   */
  const guardOf = (client: Client): Guard => {
    let corked = false
    const uncork = (stream: { uncork(): void }) => {
      corked = false
      stream.uncork()
    }
    return (work) => {
      if (!corked && client instanceof Redis) {
        const stream = client.stream
        if (stream?.writable) {
          corked = true
          stream.cork()
          process.nextTick(uncork, stream)
        }
      }
      try {
        return work().catch(unavailable)
      } catch (err) {
        return Promise.reject(unavailable(err))
      }
    }
  }
  const guard = guardOf(cmd)

  // The reason a start fails names Redis and its last socket error (ECONNREFUSED ...), not only
  // ioredis' "Connection is closed".
  let lastError: Error | undefined
  const remember = (err: Error) => void (lastError = err)
  cmd.on('error', remember)
  try {
    await withTimeout(Promise.all([cmd.connect(), sub.connect()]), options.connectTimeoutMs, () => {
      cmd.disconnect()
      sub.disconnect()
    })
  } catch (err) {
    cmd.disconnect()
    sub.disconnect()
    const why = [err instanceof Error ? err.message : String(err), lastError?.message].filter(Boolean).join(': ')
    throw new Error(`Redis unreachable at start: ${why}`, { cause: err })
  } finally {
    cmd.off('error', remember)
  }

  const keys = new Keys(options.prefix)
  return {
    kind: 'redis',
    messages: new RedisMessages(cmd, keys, guard),
    convs: new RedisConvs(cmd, keys, guard),
    users: new RedisUsers(cmd, keys, guard),
    queue: new RedisQueue(cmd, keys, guard, options),
    presence: new RedisPresence(cmd, keys, guard),
    tokens: new RedisTokens(cmd, keys, guard),
    uploadSlots: new RedisUploadSlots(cmd, keys, guard),
    bus: new RedisBus(cmd, sub, keys, guard, guardOf(sub)),
    async ping() {
      await guard(() => cmd.ping())
    },
    async close() {
      await Promise.allSettled([cmd.quit(), sub.quit()])
      cmd.disconnect()
      sub.disconnect()
    },
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout()
      reject(new Error(`Redis not reachable within ${ms} ms`))
    }, ms)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}
