/**
 * Presence on Redis (issue 15): who is online, read for any number of users in a fixed number of
 * commands, and kept right when a process dies with its sockets still counted.
 *
 * A reconnect tells the new device the presence of every 1:1 peer. With one hash per user that
 * was one HGETALL per peer (20 of the 24 HGETALLs of a reconnect in 20 conversations). Here every
 * user's presence is one packed field of a bucket hash, so N peers cost one HMGET per bucket they
 * fall in: one command on a standalone Redis (PRESENCE_BUCKETS 1), at most PRESENCE_BUCKETS on
 * Cluster, whatever N.
 *
 * Keys (P = REDIS_PREFIX, b = the user's bucket, FNV-1a of the id modulo PRESENCE_BUCKETS). Each
 * bucket is one hash tag, so every script touches one Cluster slot:
 *
 *   P{pr:<b>}                hash  user -> "<devices>" or "<devices>:<lastSeen ms>" (the packed presence)
 *   P{pr:<b>}:d:<user>       hash  one field per socket, `<node>/<session>` -> 1 (a retried
 *                                  decrement removes the same field again: idempotent)
 *   P{pr:<b>}:n:<node>       set   users of this bucket with a socket counted by <node>
 *   P{pr}:nodes              zset  node -> its last heartbeat (ms)
 *
 * A process that dies (kill -9, a lost machine) leaves its sockets counted. Every process beats
 * (`beat`) and reaps (`reap`) the nodes whose last beat is older than the dead-node bound: their
 * fields go, in batches (SPOP of the node's set), and the users left with no device are returned
 * so their contacts are told. A process reaped while alive (stalled past the bound) sees it on its
 * next beat (`beat` answers true) and counts its sockets again.
 */
import type { Cluster, Redis } from 'ioredis'
import type { Presence, UserId } from '@chat/shared'
import type { PresenceStore } from './types'

type Client = Redis | Cluster
type Guard = <T>(work: () => Promise<T>) => Promise<T>

/** Users reaped per script call: one call holds Redis for about this many users' work. */
const REAP_BATCH = 500

/**
 * Count a socket in or out (KEYS: the user's device hash, its bucket, the node's set; ARGV: user,
 * field, 1 or -1, the time of a disconnect or '', the field's node prefix `<node>/`). Returns the
 * user's devices over every node.
 */
const COUNT = `
local total
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], ARGV[2], 1)
  total = redis.call('HLEN', KEYS[1])
  redis.call('SADD', KEYS[3], ARGV[1])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  local fields = redis.call('HKEYS', KEYS[1])
  total = #fields
  local mine = false
  for i = 1, total do
    if string.sub(fields[i], 1, #ARGV[5]) == ARGV[5] then mine = true break end
  end
  if not mine then redis.call('SREM', KEYS[3], ARGV[1]) end
end
local ls = ARGV[4]
if ls == '' then
  local old = redis.call('HGET', KEYS[2], ARGV[1])
  if old then ls = string.match(old, ':(%d+)$') or '' end
end
if ls == '' then redis.call('HSET', KEYS[2], ARGV[1], total)
else redis.call('HSET', KEYS[2], ARGV[1], total .. ':' .. ls) end
return total
`

/**
 * Reap up to ARGV[4] users of a dead node in one bucket (KEYS: the bucket, the node's set; ARGV:
 * the node's field prefix `<node>/`, its last beat (the users' last seen), the device hash key
 * prefix `P{pr:<b>}:d:` (same slot as KEYS), the batch). Returns {users left in the set, users now
 * offline...}. Idempotent: a user reaped twice has no field of the node the second time.
 */
const REAP = `
local batch = redis.call('SPOP', KEYS[2], ARGV[4])
local out = {0}
for _, u in ipairs(batch) do
  local dk = ARGV[3] .. u
  local fields = redis.call('HKEYS', dk)
  local removed = 0
  for i = 1, #fields do
    if string.sub(fields[i], 1, #ARGV[1]) == ARGV[1] then
      redis.call('HDEL', dk, fields[i])
      removed = removed + 1
    end
  end
  if removed > 0 then
    local total = #fields - removed
    local ls = ARGV[2]
    if total > 0 then
      local old = redis.call('HGET', KEYS[1], u)
      ls = old and string.match(old, ':(%d+)$') or ''
    end
    if ls == '' then redis.call('HSET', KEYS[1], u, total)
    else redis.call('HSET', KEYS[1], u, total .. ':' .. ls) end
    if total == 0 then out[#out + 1] = u end
  end
end
out[1] = redis.call('SCARD', KEYS[2])
return out
`

interface PresenceScripts {
  chatPresenceCount(k1: string, k2: string, k3: string, user: string, field: string, delta: number, at: string, nodePrefix: string): Promise<number>
  chatPresenceReap(k1: string, k2: string, nodePrefix: string, at: number, deviceKeyPrefix: string, batch: number): Promise<[number, ...string[]]>
}

/** FNV-1a (32 bits) of a user id: its bucket, the same on every process. */
export function presenceBucket(user: string, buckets: number): number {
  if (buckets <= 1) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < user.length; i++) {
    h ^= user.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h % buckets
}

/** "<devices>" or "<devices>:<lastSeen>" (absent: never seen) as a Presence. */
export function unpackPresence(user: UserId, packed: string | null | undefined): Presence {
  if (!packed) return { user, online: false }
  const colon = packed.indexOf(':')
  const devices = Number(colon < 0 ? packed : packed.slice(0, colon))
  const p: Presence = { user, online: devices > 0 }
  return colon < 0 ? p : { ...p, lastSeen: Number(packed.slice(colon + 1)) }
}

/** A socket field's node: what comes before its `/` (the whole field when it has none). */
const nodeOf = (field: string) => {
  const slash = field.indexOf('/')
  return slash < 0 ? field : field.slice(0, slash)
}

export class RedisPresence implements PresenceStore {
  private readonly r: Client & PresenceScripts

  constructor(
    client: Client,
    private readonly prefix: string,
    private readonly guard: Guard,
    /** PRESENCE_BUCKETS: hashes the users' presence is spread over (Cluster: about the number of shards). */
    private readonly buckets = 1,
  ) {
    if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError('presence buckets must be a positive integer')
    client.defineCommand('chatPresenceCount', { numberOfKeys: 3, lua: COUNT })
    client.defineCommand('chatPresenceReap', { numberOfKeys: 2, lua: REAP })
    this.r = client as Client & PresenceScripts
  }

  private bucket(b: number): string {
    return `${this.prefix}{pr:${b}}`
  }

  private count(user: UserId, field: string, delta: 1 | -1, at: string): Promise<number> {
    const bucket = this.bucket(presenceBucket(user, this.buckets))
    const node = nodeOf(field)
    return this.guard(() => this.r.chatPresenceCount(`${bucket}:d:${user}`, bucket, `${bucket}:n:${node}`, user, field, delta, at, `${node}/`))
  }

  connected(user: UserId, field: string): Promise<number> {
    return this.count(user, field, 1, '')
  }

  disconnected(user: UserId, field: string, at: number): Promise<number> {
    return this.count(user, field, -1, String(at))
  }

  async get(users: readonly UserId[]): Promise<Presence[]> {
    if (users.length === 0) return []
    if (this.buckets === 1) {
      const packed = await this.guard(() => this.r.hmget(this.bucket(0), ...users))
      return users.map((u, i) => unpackPresence(u, packed[i]))
    }
    // One HMGET per bucket the users fall in (at most PRESENCE_BUCKETS), all in one round trip.
    const byBucket = new Map<number, number[]>()
    users.forEach((u, i) => {
      const b = presenceBucket(u, this.buckets)
      const list = byBucket.get(b)
      if (list) list.push(i)
      else byBucket.set(b, [i])
    })
    const out: Presence[] = new Array<Presence>(users.length)
    await this.guard(() =>
      Promise.all(
        [...byBucket].map(async ([b, at]) => {
          const packed = await this.r.hmget(this.bucket(b), ...at.map((i) => users[i]!))
          at.forEach((i, j) => (out[i] = unpackPresence(users[i]!, packed[j])))
        }),
      ),
    )
    return out
  }

  /** Nodes this process has beaten for (a first beat adds the node: not a sign of having been reaped). */
  private readonly known = new Set<string>()

  /** `node` is alive at `at` (ms). True when it had been reaped as dead meanwhile: its sockets must be counted again. */
  async beat(node: string, at: number): Promise<boolean> {
    const added = await this.guard(() => this.r.zadd(this.nodesKey(), at, node))
    const known = this.known.has(node)
    this.known.add(node)
    return known && Number(added) === 1
  }

  /**
   * Nodes whose last beat is older than `deadBefore` (ms): each one's sockets are no longer
   * counted, and it is forgotten. Returns the users that left with no device, last seen at the
   * node's last beat. Safe on several processes at once: each user is reaped once (SPOP).
   */
  async reap(deadBefore: number): Promise<Presence[]> {
    const key = this.nodesKey()
    const dead = await this.guard(() => this.r.zrangebyscore(key, '-inf', `(${deadBefore}`, 'WITHSCORES'))
    const offline: Presence[] = []
    for (let i = 0; i < dead.length; i += 2) {
      const node = dead[i]!
      const lastBeat = Number(dead[i + 1])
      for (let b = 0; b < this.buckets; b++) {
        const bucket = this.bucket(b)
        for (;;) {
          const [left, ...users] = await this.guard(() => this.r.chatPresenceReap(bucket, `${bucket}:n:${node}`, `${node}/`, lastBeat, `${bucket}:d:`, REAP_BATCH))
          for (const user of users) offline.push({ user, online: false, lastSeen: lastBeat })
          if (Number(left) === 0) break
        }
      }
      // Forgotten only once every bucket is clean: a reaper that fails midway leaves it for the next.
      await this.guard(() => this.r.zrem(key, node))
    }
    return offline
  }

  private nodesKey(): string {
    return `${this.prefix}{pr}:nodes`
  }
}
