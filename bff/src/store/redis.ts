// Over 400 lines on purpose: the Redis engine's key layout and its scripts are one design, documented once at the top.
/**
 * The Redis engine (production, many processes and machines).
 *
 * Keys (P = REDIS_PREFIX). Everything about one conversation shares the hash tag `{c:<conv>}` and
 * everything about one user shares `{u:<id>}`, so every multi-key script touches one Cluster slot
 * and the engine runs on Redis Cluster unchanged.
 *
 *   P{c:<conv>}:h               hash    kind, title, members (JSON), createdAt, lastSeq, last (message JSON),
 *                                       `r:<user>` read mark per member (in this hash: a send writes it with `last`)
 *   P{c:<conv>}:m               zset    message JSON scored by seq (history: the source of truth)
 *   P{c:<conv>}:r               hash    read marks written before they moved into `:h` (read, taken the
 *                                       higher of the two, never written)
 *   P{c:<conv>}:d:<from>:<cid>  string  seq of a stored (sender, cid), PX = dedup window
 *   P{u:<id>}:c                 zset    the user's conversation ids, scored by creation time
 *   P{u:<id>}:s                 hash    the user's summary, what a reconnect needs of every conversation (ConvStore.overview):
 *                                       `l:<conv>` "<lastSeq> <last message JSON>", `r:<conv>` own read mark,
 *                                       `p:<conv>` a 1:1 peer's read mark; each field only moves up (SUMMARY); a group
 *                                       of more than SUMMARIES_IN_SCRIPT_MAX members has `l:<conv>` "*" (read it from `:h`);
 *                                       `k:<conv>` "<recall event seqs>|<seqs mentioning the user>" (MARKS), the
 *                                       newest of each, written from the conversation's creation (or the user's
 *                                       joining) on: absent for one older than that (`convs` then reads its messages);
 *                                       `c~` "1": the user's conversation settings and hidden messages are folded in
 *                                       (store/conv-settings.ts SUMMARY_MARK, written by that store, never here):
 *                                       `c:<conv>` the setting "<muted> <pin time>", `h:<conv>` the newest seq hidden
 *                                       for the user (`convs` reads neither `:cs` nor `:hdc` then);
 *                                       `u~` "1": the user's relations index is folded in (store/relations.ts
 *                                       RELATIONS_MARK, written by that store, never here): `u:<peer>` "1" per
 *                                       member of `{u:<id>}:rel` (a welcome's presence reads no SMEMBERS then)
 *   P{u:<id>}:q                 stream  offline queue of references c <conv> s <seq> (MAXLEN bound, MINID retention and acks)
 *   P{pr:<b>}...                        presence, bucketed: see store/redis-presence.ts
 *   P{u:<id>}:i                 hash    profile: name, avatar
 *   Pdir                        zset    lexical directory "<term>\0<id>" for prefix search (terms: directory.ts)
 *   P{u:<id>}:up                zset    upload slots: upload id scored by when its slot frees itself (ms)
 *   P{rf:<family>}:t:<sha256>   string  refresh token: `l:<user>` live or `s:<user>` spent, PX = its lifetime
 *   P{wx}:..., P{u:<id>}:sub, P{u:<id>}:nt   the WeChat integration's state (store/wechat.ts)
 *   P{rf:<family>}              string  a live refresh family (absent: revoked or expired), PX = its newest token's lifetime
 *
 * Routing: sharded Pub/Sub (Redis >= 7) on the channel `P{u:<id>}` per user. SPUBLISH goes only to
 * the shard owning the channel's slot (classic PUBLISH is broadcast over the whole cluster bus), and
 * its reply counts the subscribed nodes, which tells "offline" without a presence lookup.
 *
 * Every command fails fast when Redis is away (no offline queue, a command timeout): a send then
 * gets STORE_UNAVAILABLE instead of hanging, and ioredis reconnects by itself.
 */
import { createHash } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { AppError, directConvId, directMembers, directPeer } from '@chat/shared'
import type { ConvId, Message, User, UserId } from '@chat/shared'
import type { Archive } from '../archive/archive'
import type { Logger } from '../log'
import { directoryTerms } from './directory'
import { groupFields, groupJson } from './group-json'
import { messageJson, messageJsonParts, messageOf } from './message-json'
import { Persister } from './redis-persister'
import { RedisPresence } from './redis-presence'
import type { BatchStats } from './redis-persister'
import { windowAfter, windowBefore } from './window'
import { BacklogGate } from './backlog-gate'
import type { ColdMessages } from './window'
import { RedisWeChatStore } from './wechat'
import { RECALLED_MARK } from './types'
import { EncodedCommand, arrayHeader, encodeParts, encodeText } from './resp'
import { AppendBatcher } from './append-batch'
import type { AppendParts } from './append-batch'
import type {
  AppendInput,
  AppendResult,
  Bus,
  ConvRecord,
  ConvState,
  ConvSummary,
  ConvStore,
  Engine,
  EngineOptions,
  MessagePlace,
  MessageStore,
  Overview,
  OverviewOptions,
  RetractOutcome,
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
  /** PRESENCE_BUCKETS: hashes presence is spread over (store/redis-presence.ts). Default 1. */
  readonly presenceBuckets?: number
  /** Called on every failed Redis command (metrics). */
  readonly onError?: (err: unknown) => void
  /** The system of record under Redis; absent: Redis alone keeps every message, unbounded. */
  readonly archive?: RedisArchiveOptions
}

export interface RedisArchiveOptions {
  readonly archive: Archive
  /** WINDOW_MESSAGES: newest messages per conversation kept in Redis. */
  readonly windowMessages: number
  /** ARCHIVE_BACKLOG_MAX: messages in the persister's stream beyond which sends are refused. */
  readonly backlogMax: number
  /** ARCHIVE_BACKLOG_CHECK_MS: how old the stream length a send is admitted on may be (backlog-gate.ts). Default 100. */
  readonly backlogCheckMs?: number
  /** WINDOW_TRIM_EVERY: a conversation's window is trimmed once per this many of its messages (redis-persister.ts). Default windowMessages / 10, rounded up. */
  readonly trimEvery?: number
  readonly batchMax: number
  readonly claimIdleMs: number
  /** ARCHIVE_WRITES_IN_FLIGHT: batches the persister writes at once. Default 4. */
  readonly writesInFlight?: number
  /**
   * ARCHIVE_PERSISTER: `inline` runs the persister in this engine, on this event loop (default,
   * and what in-process tests use); `elsewhere`: a persister process does (bff/src/persister.ts).
   */
  readonly persister?: 'inline' | 'elsewhere'
  readonly log?: Logger
  /** After each persisted batch (metrics). */
  readonly onBatch?: (batch: BatchStats) => void
}

/** The archive as the stores use it: any failure is the temporary STORE_UNAVAILABLE. */
class ArchiveLink implements ColdMessages {
  constructor(readonly archive: Archive) {}
  call<T>(work: (a: Archive) => Promise<T>): Promise<T> {
    return work(this.archive).catch((err: unknown) => {
      if (err instanceof AppError) throw err
      throw new AppError('STORE_UNAVAILABLE', 'archive unavailable', { cause: err })
    })
  }
  after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
    return this.call((a) => a.after(conv, afterSeq, limit))
  }
  before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]> {
    return this.call((a) => a.before(conv, beforeSeq, limit))
  }
}

type Client = Redis | Cluster

// ------------------------------------------------------------------ scripts

/**
 * Dedup, seq, store, last message, sender's read mark and, with an archive, the persister's
 * stream (KEYS[3], when the archive flag is '1'; without one KEYS[3] is KEYS[1] again): one round trip, one
 * atomic step. The dedup key is the last key (KEYS[#KEYS]). The read mark is a field of the
 * conversation's hash (`r:<user>`), written by the HSET of the last message. Replies: the seq, an
 * integer, stored (a table {0, seq} per message was 9% of Redis' instructions per append); {1,
 * json} a duplicate; {2} no such conversation; {4, seq} a duplicate whose original left the
 * window (read it from the archive). The stream's bound (ARCHIVE_BACKLOG_MAX) is checked
 * before the script, not in it (backlog-gate.ts): an XLEN per send was one of the commands that
 * made a send with the archive slower than without.
 *
 * With a standalone Redis, the members' summaries (`{u:<id>}:s`, KEYS[4] the sender's, KEYS[5..]
 * the others'; `p:<conv>` only in a 1:1) are written here too, in the same
 * atomic step: one HSET per member, no round trip more, and never behind the message; a group of
 * more than SUMMARIES_IN_SCRIPT_MAX members passes none (its members' name it by reference). On
 * Redis Cluster they live in other slots than the conversation, so the caller writes them after
 * the script (`RedisConvs.noteMessage`).
 *
 * Four commands for a new message, plus one HSET per member's summary on a standalone Redis (issue
 * 15; seven before, then five: the read mark had a hash of its own): the seq is taken first and the dedup
 * key written with it in one SET NX GET, which also tells a duplicate; the rare outcomes undo the
 * seq inside the script (nobody sees it: a script is atomic). The conversation's existence is
 * checked only when the seq taken is 1: HINCRBY on a missing hash creates it with lastSeq 1, an
 * existing conversation has `kind` (written by create and restore).
 *
 * One Lua function, `append(K, k, A, a, nk)`, run by the single script (APPEND, on KEYS and ARGV)
 * and by the batch script (APPEND_BATCH, once per append of a turn: store/append-batch.ts), so both
 * store exactly the same way. It reads its nk keys at K[k + 1 ..] and its arguments at A[a + 1 ..]
 * in place: the batch copied every append's keys and arguments into two tables of their own, and
 * the summaries' field names were concatenated per message. They come encoded by the caller now
 * (kept per 1:1 sender: redis.ts `wireOf`), as are the sender's read mark field and the peer's
 * (empty in a group). Issue 15: Redis' instructions per 1:1 append in a batch of four (callgrind,
 * Redis 7.0) went from 121k to 111k with these, to 97k with the seq turned into text once (below)
 * and to 90k with the seq replied as an integer; the six commands themselves are the same.
 *
 * Arguments: head, tail, dedup window (ms), `r:<sender>` (the conversation's read mark field),
 * archive flag, `l:<conv>`, `r:<conv>`, `p:<conv>` in a 1:1 or '' (APPEND_ARGS).
 */
const APPEND_FN = `
local function append(K, k, A, a, nk)
  local meta = K[k + 1]
  local seq = redis.call('HINCRBY', meta, 'lastSeq', 1)
  if seq == 1 and redis.call('HEXISTS', meta, 'kind') == 0 then
    redis.call('HDEL', meta, 'lastSeq')
    return {2}
  end
  -- The seq as text once: Lua turns a number into text by sprintf at each use (an argument of
  -- redis.call, a concatenation), seven per message, an eighth of Redis' work per append.
  local s = tostring(seq)
  local known = redis.call('SET', K[k + nk], s, 'NX', 'GET', 'PX', A[a + 3])
  if known then
    redis.call('HINCRBY', meta, 'lastSeq', -1)
    local m = redis.call('ZRANGE', K[k + 2], known, known, 'BYSCORE')
    if m[1] then return {1, m[1]} end
    return {4, known}
  end
  local json = A[a + 1] .. s .. A[a + 2]
  redis.call('ZADD', K[k + 2], s, json)
  redis.call('HSET', meta, 'last', json, A[a + 4], s)
  if A[a + 5] == '1' then redis.call('XADD', K[k + 3], '*', 'j', json) end
  if nk > 4 then
    local l = A[a + 6]
    local v = s .. ' ' .. json
    redis.call('HSET', K[k + 4], l, v, A[a + 7], s)
    local p = A[a + 8]
    for i = k + 5, k + nk - 1 do
      if p ~= '' then redis.call('HSET', K[i], l, v, p, s)
      else redis.call('HSET', K[i], l, v) end
    end
  end
  return seq
end
`

const APPEND = `${APPEND_FN}
return append(KEYS, 0, ARGV, 0, #KEYS)
`

/** Arguments of the append script after the keys (see APPEND_FN). */
const APPEND_ARGS = 8

/** Arguments per append in the batch script: its key count, then the append script's (APPEND_ARGS). */
const BATCH_STRIDE = 1 + APPEND_ARGS

/**
 * Several appends in one atomic step, in order (store/append-batch.ts): KEYS every append's keys one
 * after the other; ARGV per append its key count and its arguments (BATCH_STRIDE). The replies in order.
 */
const APPEND_BATCH = `${APPEND_FN}
local out = {}
local k = 0
local n = #ARGV
for a = 0, n - 1, ${BATCH_STRIDE} do
  local nk = tonumber(ARGV[a + 1])
  out[#out + 1] = append(KEYS, k, ARGV, a + 1, nk)
  k = k + nk
end
return out
`

/** The append script's sha1, as EVALSHA names it (RedisMessages sends that command encoded by itself). */
const APPEND_SHA = createHash('sha1').update(APPEND).digest('hex')
const APPEND_BATCH_SHA = createHash('sha1').update(APPEND_BATCH).digest('hex')

/**
 * A group of more than this many members is named in its members' summaries by reference
 * (`l:<conv>` = BY_REFERENCE): none of them is written per message, and `overview` reads such a
 * conversation's last message and the user's read mark from the conversation itself (two commands
 * per large group of the user). Issue 15, a group of 1,000: the append script's 1,000 HSETs (one
 * per member's summary, ~0.4 ms of Redis on a quiet one, 1.6 ms on the bench's shared core, and
 * 0.2 ms in the BFF to encode their keys) came before the fan-out's first write, where the raw
 * router has nothing. Up to this many, the summaries are written by the script: a few
 * microseconds, and a reconnect reads them in its one HGETALL.
 */
export const SUMMARIES_IN_SCRIPT_MAX = 32

/** A summary's `l:<conv>` of a large group: read the conversation (never a seq, so SUMMARY leaves it). */
const BY_REFERENCE = '*'

/**
 * A large group's members' summaries set to BY_REFERENCE (KEYS: every member's summary; ARGV: the
 * field). Sent once per member list and process, before the first fan-out of that list.
 */
const MARK_BY_REFERENCE = `
for i = 1, #KEYS do redis.call('HSET', KEYS[i], ARGV[1], ARGV[2]) end
return 0
`

/**
 * A conversation brought back from the archive (Redis lost it): its record, its last seq (seqs
 * continue from there, none reused), last message and read marks. Nothing if Redis has it.
 */
const RESTORE_CONV = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'members', ARGV[2], 'createdAt', ARGV[3], 'lastSeq', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'title', ARGV[4]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'last', ARGV[6]) end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[1], 'r:' .. ARGV[i], ARGV[i + 1]) end
return 1
`

/** Trim a window to ARGV[2] messages, never dropping one above ARGV[1] (not in the archive yet). */
const TRIM_WINDOW = `
local last = tonumber(redis.call('HGET', KEYS[1], 'lastSeq') or '0')
local bound = math.min(tonumber(ARGV[1]), last - tonumber(ARGV[2]))
if bound > 0 then return redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', bound) end
return 0
`

/**
 * Replace message ARGV[1] of the window by the tombstone ARGV[2], and the conversation's last
 * message when it is that one (KEYS: meta, messages). 0 replaced, 1 a tombstone already (ARGV[3]
 * is the marker), 2 not in the window (the archive may hold it).
 */
const RETRACT = `
local m = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[1], 'BYSCORE')
if not m[1] then return 2 end
if string.find(m[1], ARGV[3], 1, true) then return 1 end
redis.call('ZREM', KEYS[2], m[1])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
if redis.call('HGET', KEYS[1], 'last') == m[1] then redis.call('HSET', KEYS[1], 'last', ARGV[2]) end
return 0
`

const CREATE_CONV = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 1 then
  return redis.call('HMGET', KEYS[1], 'kind', 'title', 'members', 'createdAt', 'grp', 'rev')
end
redis.call('HSET', KEYS[1], 'kind', ARGV[1], 'members', ARGV[2], 'createdAt', ARGV[3], 'lastSeq', 0, 'rev', 0)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'title', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'grp', ARGV[5]) end
return 0
`

/** A group's mutable part replaced if its rev is still ARGV[1] (compare-and-set): 1, else 0; -1 when unknown. */
const UPDATE_CONV = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'rev') or '0') ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rev', tonumber(ARGV[1]) + 1, 'members', ARGV[2], 'grp', ARGV[4])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'title', ARGV[3]) else redis.call('HDEL', KEYS[1], 'title') end
return 1
`

/** Move a read mark up (KEYS: the conversation's hash, the former read marks' hash, read only). */
const MARK_READ = `
if redis.call('HEXISTS', KEYS[1], 'kind') == 0 then return -1 end
local field = 'r:' .. ARGV[1]
local cur = math.max(tonumber(redis.call('HGET', KEYS[1], field) or '0'), tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0'))
local seq = tonumber(ARGV[2])
if seq > cur then
  redis.call('HSET', KEYS[1], field, seq)
  return seq
end
return cur
`

/**
 * A user's summary fields, each moved only up (ARGV: field, seq, value triples; a value starts
 * with its seq; one without a seq, a large group's BY_REFERENCE, is left as it is). The summary is
 * in the user's slot, the conversation in its own: Redis Cluster forbids one script over both, so the append's caller writes it after the append script (one
 * call per member, in the same socket write as the delivery) and concurrent appends landing out
 * of order cannot move it back.
 */
const SUMMARY = `
for i = 1, #ARGV, 3 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local n = cur and tonumber(string.match(cur, '^%d+'))
  if not cur or (n and n < tonumber(ARGV[i + 1])) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
return 0
`

/**
 * A user's marks of one conversation (`k:<conv>`, "<events>|<mentions>", each a space-separated
 * ascending list of seqs): what `convs` needs of the unread part (recall events left out of
 * `unread`, the newest mention) without reading its messages. ARGV: the field, 'e' or 'm', '+'
 * (add the seq, keep the newest ARGV[5]) or '-' (remove it: a recalled mention), the seq, the cap.
 * Only a field that exists is changed: one absent was not kept from the start, and a partial
 * list would be taken for a complete one. Idempotent.
 */
const MARKS = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
local bar = string.find(cur, '|', 1, true)
if not bar then return 0 end
local e = string.sub(cur, 1, bar - 1)
local m = string.sub(cur, bar + 1)
local seq = tonumber(ARGV[4])
local out = {}
local found = false
for s in string.gmatch(ARGV[2] == 'e' and e or m, '%d+') do
  local n = tonumber(s)
  if n == seq then found = true end
  if n ~= seq or ARGV[3] ~= '-' then out[#out + 1] = n end
end
if ARGV[3] == '+' then
  if found then return 0 end
  out[#out + 1] = seq
  table.sort(out)
  local cap = tonumber(ARGV[5])
  while #out > cap do table.remove(out, 1) end
elseif not found then
  return 0
end
local parts = {}
for i = 1, #out do parts[i] = string.format('%d', out[i]) end
if ARGV[2] == 'e' then e = table.concat(parts, ' ') else m = table.concat(parts, ' ') end
redis.call('HSET', KEYS[1], ARGV[1], e .. '|' .. m)
return 1
`

/** Append with both bounds: MAXLEN (oldest dropped) and MINID (retention); idle queues expire whole. */
const QUEUE_PUSH = `
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'c', ARGV[3], 's', ARGV[5])
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return redis.call('XLEN', KEYS[1])
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

/** {0, seq} stored, {1, json} a duplicate, {2} no such conversation, {4, seq} a duplicate out of the window. */
/** A new message's seq; the rarer outcomes as a table (APPEND's doc). */
type AppendReply = number | AppendOther
type AppendOther = [number, string | number] | [number]

interface Scripted {
  chatAppend(k1: string, k2: string, k3: string, k4: string, ...args: (string | number)[]): Promise<AppendReply>
  chatRestoreConv(k1: string, k2: string, ...args: (string | number)[]): Promise<number>
  chatTrimWindow(k1: string, k2: string, ...args: (string | number)[]): Promise<number>
  chatCreateConv(k1: string, ...args: (string | number)[]): Promise<0 | (string | null)[]>
  chatUpdateConv(k1: string, ...args: (string | number)[]): Promise<number>
  chatRetract(k1: string, k2: string, seq: number, tombstone: string, mark: string): Promise<number>
  chatMarkRead(k1: string, k2: string, ...args: (string | number)[]): Promise<number>
  chatSummary(k1: string, ...args: (string | number)[]): Promise<number>
  chatMarks(k1: string, field: string, kind: 'e' | 'm', op: '+' | '-', seq: number, cap: number): Promise<number>
  chatQueuePush(k1: string, ...args: (string | number)[]): Promise<number>
  chatTakeRefresh(k1: string, k2: string): Promise<[string, string] | null>
  chatAcquireSlot(k1: string, id: string, max: number, now: number, idleMs: number): Promise<number>
}

function defineScripts(client: Client): Client & Scripted {
  client.defineCommand('chatAppend', { numberOfKeys: 4, lua: APPEND })
  client.defineCommand('chatRestoreConv', { numberOfKeys: 2, lua: RESTORE_CONV })
  client.defineCommand('chatTrimWindow', { numberOfKeys: 2, lua: TRIM_WINDOW })
  client.defineCommand('chatCreateConv', { numberOfKeys: 1, lua: CREATE_CONV })
  client.defineCommand('chatUpdateConv', { numberOfKeys: 1, lua: UPDATE_CONV })
  client.defineCommand('chatRetract', { numberOfKeys: 2, lua: RETRACT })
  client.defineCommand('chatMarkRead', { numberOfKeys: 2, lua: MARK_READ })
  client.defineCommand('chatSummary', { numberOfKeys: 1, lua: SUMMARY })
  client.defineCommand('chatMarks', { numberOfKeys: 1, lua: MARKS })
  client.defineCommand('chatQueuePush', { numberOfKeys: 1, lua: QUEUE_PUSH })
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
  summary = (u: UserId) => `${this.p}{u:${u}}:s`
  queue = (u: UserId) => `${this.p}{u:${u}}:q`
  profile = (u: UserId) => `${this.p}{u:${u}}:i`
  uploadSlots = (u: UserId) => `${this.p}{u:${u}}:up`
  directory = () => `${this.p}dir`
  refresh = (family: string, hash: string) => `${this.p}{rf:${family}}:t:${hash}`
  refreshFamily = (family: string) => `${this.p}{rf:${family}}`
  /** The persister's stream (only with an archive). */
  archiveStream = () => `${this.p}archive`
  channel = (u: UserId) => `${this.p}{u:${u}}`
  /** The node-wide channel (Bus.broadcast). */
  broadcast = () => `${this.p}{all}`
}

// ------------------------------------------------------------------ stores

/** Turns any Redis failure into the temporary STORE_UNAVAILABLE the protocol promises. */
type Guard = <T>(work: () => Promise<T>) => Promise<T>

/**
 * Conversations and users whose append keys are kept built (each map emptied when full). A 1:1's
 * entry also keeps its encoded command parts per sender: ~1 KB per conversation with both senders
 * (issue 15: 2.26 KB when they were Buffers), 10 MB at most.
 */
const APPEND_KEYS_MAX = 10_000

/**
 * What a conversation's appends keep: its kind and a 1:1's encoded append parts. Not its keys as
 * strings: a 1:1's are inside its parts, and a group's parts are built per message anyway (two
 * key strings of ~100 B each were a third of a 1:1's entry, issue 15).
 */
interface ConvKeys {
  readonly direct: boolean
  /**
   * A 1:1's append command around the message's own parts, one per sender (built at its first
   * message; two fields, not a Map: a small Map's hash table was ~300 B per conversation).
   */
  wire1: AppendWire | undefined
  wire2: AppendWire | undefined
  /** A large group's member list whose summaries this process set to BY_REFERENCE. */
  byReference: readonly UserId[] | undefined
}

/**
 * The parts of an append command (standalone Redis) that are the same for every message of one
 * sender in one conversation (AppendParts). Valid for that sender, member list and dedup window.
 */
interface AppendWire extends AppendParts {
  readonly from: UserId
  readonly members: readonly UserId[]
  readonly windowMs: number
}

/** The single append command's start and its key count as a bulk string, per key count (a few dozen at most). */
const commandStarts = new Map<number, { start: string; count: string }>()

function commandStart(numKeys: number): { start: string; count: string } {
  let s = commandStarts.get(numKeys)
  if (!s) {
    s = { start: encodeText(arrayHeader(3 + numKeys + APPEND_ARGS), ['EVALSHA', APPEND_SHA, String(numKeys)]), count: encodeText('', [String(numKeys)]) }
    commandStarts.set(numKeys, s)
  }
  return s
}

class RedisMessages implements MessageStore {
  /**
   * Keys built once per conversation and per user rather than per message: every append named
   * five or more of them, each a fresh string for ioredis to measure and copy (issue 15: bytes
   * allocated per message are what the young generation's collections pay for).
   */
  private readonly convKeys = new Map<ConvId, ConvKeys>()
  private readonly summaryKeys = new Map<UserId, string>()
  /** Standalone Redis: the appends of one turn leave as one script call (append-batch.ts). */
  readonly batcher: AppendBatcher<AppendReply>

  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
    private readonly cold: ArchiveLink | undefined,
    private readonly backlog: BacklogGate | undefined,
    private readonly convs: RedisConvs,
    /** Redis Cluster: summaries are written after the script, not in it. */
    private readonly cluster: boolean,
  ) {
    this.batcher = new AppendBatcher<AppendReply>({
      single: (wire) => this.sendScript(wire, APPEND) as Promise<AppendReply>,
      batch: (wire) => this.sendScript(wire, APPEND_BATCH) as Promise<AppendReply[]>,
      batchSha: APPEND_BATCH_SHA,
    })
  }

  private keysOf(conv: ConvId): ConvKeys {
    let keys = this.convKeys.get(conv)
    if (!keys) {
      if (this.convKeys.size >= APPEND_KEYS_MAX) this.convKeys.clear()
      keys = { direct: directMembers(conv) !== undefined, wire1: undefined, wire2: undefined, byReference: undefined }
      this.convKeys.set(conv, keys)
    }
    return keys
  }

  private summaryOf(user: UserId): string {
    let key = this.summaryKeys.get(user)
    if (key === undefined) {
      if (this.summaryKeys.size >= APPEND_KEYS_MAX) this.summaryKeys.clear()
      key = this.k.summary(user)
      this.summaryKeys.set(user, key)
    }
    return key
  }

  /** The stream key with an archive; without one the script writes no stream: any key of the slot will do. */
  private streamOr(meta: string): string {
    return this.cold ? this.k.archiveStream() : meta
  }

  /**
   * The common case (standalone Redis, no archive gate, the sender a member of a conversation of at
   * most SUMMARIES_IN_SCRIPT_MAX members, its member list given) without an async function: its
   * frame and the promises of its awaits were allocated per message, and the reply is handled in
   * the turn it arrives, one promise hop earlier (issue 15: allocation per message is what the
   * young generation's collections pay for). Every other case, and every reply but a new seq, take
   * `appendAny`.
   */
  append(input: AppendInput, onStored?: (stored: AppendResult) => void): Promise<AppendResult> {
    const members = input.members
    if (this.cluster || this.backlog || !members || members.length > SUMMARIES_IN_SCRIPT_MAX || !members.includes(input.from)) return this.appendAny(input, onStored)
    const parts = messageJsonParts(input)
    const ck = this.keysOf(input.conv)
    const dedup = this.k.dedup(input.conv, input.from, input.cid)
    // Not through `guard` on the way out (the batch is written at the end of the turn, not in this
    // tick, so there is nothing to cork): only a failure takes it, to become STORE_UNAVAILABLE.
    return this.batcher.add(this.wireOf(ck, input, members), dedup, parts.head, parts.tail).then(
      (res) => {
        if (typeof res !== 'number') return this.appendReplied(input, onStored, res, false, ck, members)
        const seq = res
        const stored: AppendResult = { msg: messageOf(input, seq), json: messageJson(parts, seq), dup: false }
        onStored?.(stored)
        return stored
      },
      this.failed,
    )
  }

  /** A failed append as the guard turns it (STORE_UNAVAILABLE): one function for every message. */
  private readonly failed = (err: unknown): Promise<never> => this.guard(() => Promise.reject(err))

  private async appendAny(input: AppendInput, onStored?: (stored: AppendResult) => void, restored = false): Promise<AppendResult> {
    const parts = messageJsonParts(input)
    const { conv } = input
    const ck = this.keysOf(conv)
    const dedup = this.k.dedup(conv, input.from, input.cid)
    // Standalone: the summaries in the script (members known: the caller's record, else read).
    const members = this.cluster ? undefined : (input.members ?? (await this.convs.get(conv))?.members)
    // A large group: no summary written per message (its members' name it BY_REFERENCE).
    const large = members !== undefined && members.length > SUMMARIES_IN_SCRIPT_MAX
    // In the script only when the sender is a member (its summary is KEYS[4]): not for the `system`
    // message of a member who left, nor a `recall` event of a former member's message.
    const inScript = !large && members !== undefined && members.includes(input.from)
    const after = !inScript && !large
    // Without an archive there is no gate: nothing to wait for (no turn through the microtask queue).
    if (this.backlog) await this.backlog.admit()
    const res = await this.guard(() => {
      const meta = this.k.convMeta(conv)
      if (!inScript) return this.r.chatAppend(meta, this.k.convMsgs(conv), this.streamOr(meta), dedup, parts.head, parts.tail, input.dedupWindowMs, `r:${input.from}`, this.cold ? '1' : '')
      return this.batcher.add(this.wireOf(ck, input, members), dedup, parts.head, parts.tail)
    })
    if (typeof res !== 'number') return this.appendReplied(input, onStored, res, restored, ck, members)
    const seq = res
    const json = messageJson(parts, seq)
    const stored: AppendResult = { msg: messageOf(input, seq), json, dup: false }
    // Cluster: resolved (and so acknowledged) only once the summaries have it: a send that fails
    // here is retried by its client with the same cid, which lands above and repairs them.
    if (after) await this.convs.noteMessage(conv, members ?? input.members, input.from, seq, json)
    // A large group's first message from this process since its member list changed: the members'
    // summaries get their reference before the caller's fan-out (`onStored`: its publishes, every
    // command this process issues from here on) on the same connection, so Redis runs it first and
    // a device routed after this turn finds the reference (its welcome's read comes later on this
    // connection, or on another process after the publish). Acknowledged once written; a failure
    // fails the send, whose retry (a duplicate, above) writes it again.
    const marking = large ? this.markByReference(ck, conv, members) : undefined
    onStored?.(stored)
    if (marking) await marking
    return stored
  }

  /** The append script's rarer replies: the conversation missing (2), a duplicate (1, or 4: its seq only). */
  private async appendReplied(
    input: AppendInput,
    onStored: ((stored: AppendResult) => void) | undefined,
    res: AppendOther,
    restored: boolean,
    ck: ConvKeys,
    members: readonly UserId[] | undefined,
  ): Promise<AppendResult> {
    const { conv } = input
    if (res[0] === 2) {
      // Redis may have lost it (flushed, a new Redis): the archive has the conversation.
      if (this.cold && !restored && (await this.convs.restore(conv))) return this.appendAny(input, onStored, true)
      throw new AppError('CONV_NOT_FOUND')
    }
    const json = res[0] === 1 ? String(res[1]) : (await this.after(conv, Number(res[1]) - 1, 1))[0]
    if (json === undefined) throw new AppError('STORE_UNAVAILABLE', 'original message not found')
    const msg = JSON.parse(json) as Message
    // Cluster: a retry after a failure between the script and the summaries repairs them
    // (idempotent); a large group: its references, if their write failed.
    const large = members !== undefined && members.length > SUMMARIES_IN_SCRIPT_MAX
    const inScript = !large && members !== undefined && members.includes(input.from)
    if (!inScript && !large) await this.convs.noteMessage(conv, members ?? input.members, msg.from, msg.seq, json)
    else if (large) await this.markByReference(ck, conv, members)
    return { msg, json, dup: true }
  }

  /**
   * MARK_BY_REFERENCE over `members`, unless this process did it for that member list already (a
   * list changes with every membership change: a member who joined has no field, and one left over
   * from a smaller group holds a seq). Sent in this turn, as EVAL with the script's text (a few
   * hundred bytes beside the keys), not EVALSHA: a Redis without the script would answer NOSCRIPT
   * and the command sent again land after the fan-out's publishes.
   */
  private markByReference(ck: ConvKeys, conv: ConvId, members: readonly UserId[]): Promise<void> | undefined {
    if (ck.byReference === members) return undefined
    const keys = members.map((m) => this.summaryOf(m))
    const wire = encodeParts(arrayHeader(3 + keys.length + 2), ['EVAL', MARK_BY_REFERENCE, String(keys.length), ...keys, `l:${conv}`, BY_REFERENCE])
    return this.guard(() => this.sendEncoded(wire, 'eval')).then(() => void (ck.byReference = members))
  }

  /**
   * The encoded parts of a standalone append around the message's own (AppendWire): KEYS meta, messages, stream, the sender's summary, the others' summaries, then the dedup
   * key; ARGV head, tail, then these. Kept for a 1:1 (two senders, a few hundred bytes each); a
   * group's grows with its members and is built per message.
   */
  private wireOf(ck: ConvKeys, input: AppendInput, members: readonly UserId[]): AppendWire {
    const from = input.from
    let w = ck.wire1?.from === from ? ck.wire1 : ck.wire2?.from === from ? ck.wire2 : undefined
    if (!w || w.members !== members || w.windowMs !== input.dedupWindowMs) {
      const conv = input.conv
      const meta = this.k.convMeta(conv)
      const keys = [meta, this.k.convMsgs(conv), this.streamOr(meta), this.summaryOf(from), ...othersOf(members, from, (m) => this.summaryOf(m))]
      const numKeys = keys.length + 1
      const post = [String(input.dedupWindowMs), `r:${from}`, this.cold ? '1' : '', `l:${conv}`, `r:${conv}`, ck.direct ? `p:${conv}` : '']
      const { start, count } = commandStart(numKeys)
      w = { start, keys: encodeText('', keys), numKeys, count, post: encodeText('', post), postArgs: post.length, from, members, windowMs: input.dedupWindowMs }
      // A 1:1 has two senders: the first in wire1, the other in wire2 (a sender found in neither
      // replaces wire2: only after the conversation's member list changed, which a 1:1's does not).
      if (ck.direct) {
        if (!ck.wire1 || ck.wire1.from === from) ck.wire1 = w
        else ck.wire2 = w
      }
    }
    return w
  }

  /**
   * Send an encoded EVALSHA of `script` (the append script or its batch). A Redis that does not
   * have the script (restarted, flushed) answers NOSCRIPT: it is loaded and the command sent once more.
   */
  private sendScript(wire: Buffer, script: string): Promise<unknown> {
    return this.sendEncoded(wire).then(undefined, async (err: unknown) => {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      await this.r.script('LOAD', script)
      return this.sendEncoded(wire)
    })
  }

  private sendEncoded(wire: Buffer, name = 'evalsha'): Promise<unknown> {
    const command = new EncodedCommand(name, wire)
    void this.r.sendCommand(command)
    return command.promise
  }

  async placeOf(conv: ConvId, from: UserId, cid: string): Promise<number | undefined> {
    const seq = await this.guard(() => this.r.get(this.k.dedup(conv, from, cid)))
    return seq === null ? undefined : Number(seq)
  }

  async after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
    const hot = await this.guard(() => this.r.zrangebyscore(this.k.convMsgs(conv), `(${afterSeq}`, '+inf', 'LIMIT', 0, limit))
    return windowAfter(hot, this.cold, conv, afterSeq, limit)
  }

  async before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]> {
    const max = beforeSeq === undefined ? '+inf' : `(${beforeSeq}`
    const newestFirst = await this.guard(() =>
      this.r.zrevrangebyscore(this.k.convMsgs(conv), max, '-inf', 'LIMIT', 0, limit),
    )
    return windowBefore(newestFirst.reverse(), this.cold, conv, beforeSeq, limit)
  }

  async retract(conv: ConvId, seq: number, tombstone: string): Promise<RetractOutcome> {
    const res = await this.guard(() => this.r.chatRetract(this.k.convMeta(conv), this.k.convMsgs(conv), seq, tombstone, RECALLED_MARK))
    if (res === 1) return 'already'
    if (res === 0) {
      // The persister may not have written the original yet: the archive gets the tombstone now,
      // and the original's INSERT IGNORE then leaves it.
      if (this.cold) await this.cold.call((a) => a.retract(tombstone, true))
      return 'done'
    }
    if (!this.cold) return 'missing'
    const outcome = await this.cold.call((a) => a.retract(tombstone, false))
    // A last message restored from the archive before the retraction still holds the content.
    if (outcome === 'done') {
      await this.guard(() =>
        this.r.eval(
          `if redis.call('HGET', KEYS[1], 'last') and string.find(redis.call('HGET', KEYS[1], 'last'), ARGV[1], 1, true) then redis.call('HSET', KEYS[1], 'last', ARGV[2]) end return 0`,
          1,
          this.k.convMeta(conv),
          `"seq":${seq},`,
          tombstone,
        ),
      )
    }
    return outcome
  }
}

/**
 * A user's summary fields by kind (`l:`, `r:`, `p:`, `k:`, and the folded settings `c:`, `h:` +
 * conversation id), each indexed like `ids`; `folded`: the summary holds the settings (`c~`).
 */
interface SummaryFields {
  readonly l: Array<string | undefined>
  readonly r: Array<string | undefined>
  readonly p: Array<string | undefined>
  readonly k: Array<string | undefined>
  readonly c: Array<string | undefined>
  readonly h: Array<string | undefined>
  folded: boolean
  /** The `u:` fields' peers, when the relations index is folded (`u~`); undefined otherwise. */
  relations: UserId[] | undefined
}

/** The field saying the settings are folded into the summary (store/conv-settings.ts SUMMARY_MARK). */
const FOLDED_MARK = 'c~'
/** The field saying the relations index is folded into the summary (store/relations.ts RELATIONS_MARK). */
const RELATIONS_MARK = 'u~'

/** The flat HGETALL reply of a summary, by kind and conversation (fields of conversations not in `ids` left out). */
function summaryFields(ids: readonly ConvId[], flat: readonly string[]): SummaryFields {
  const at = new Map<string, number>()
  for (let i = 0; i < ids.length; i++) at.set(ids[i]!, i)
  const n = ids.length
  const out: SummaryFields = {
    l: new Array<string | undefined>(n),
    r: new Array<string | undefined>(n),
    p: new Array<string | undefined>(n),
    k: new Array<string | undefined>(n),
    c: new Array<string | undefined>(n),
    h: new Array<string | undefined>(n),
    folded: false,
    relations: undefined,
  }
  let relations: UserId[] | undefined
  let relationsFolded = false
  for (let j = 0; j + 1 < flat.length; j += 2) {
    const field = flat[j]!
    const kind = field[0]
    if (field[1] !== ':' || (kind !== 'l' && kind !== 'r' && kind !== 'p' && kind !== 'k' && kind !== 'c' && kind !== 'h')) {
      if (field === FOLDED_MARK) out.folded = true
      else if (field === RELATIONS_MARK) relationsFolded = true
      else if (kind === 'u' && field[1] === ':') (relations ??= []).push(field.slice(2))
      continue
    }
    const i = at.get(field.slice(2))
    if (i !== undefined) out[kind][i] = flat[j + 1]
  }
  if (relationsFolded) out.relations = relations ?? []
  return out
}

class RedisConvs implements ConvStore {
  constructor(
    private readonly r: Client & Scripted,
    private readonly k: Keys,
    private readonly guard: Guard,
    private readonly cold: ArchiveLink | undefined,
    /** Redis Cluster: summaries written after the script, per member, large groups too. */
    private readonly cluster: boolean,
  ) {}

  /**
   * Bring a conversation back from the archive into Redis (which lost it): its last seq, last
   * message and read marks, and its place in every member's list. Returns the record, or
   * undefined when the archive does not know it either.
   */
  async restore(conv: ConvId): Promise<ConvRecord | undefined> {
    if (!this.cold) return undefined
    const record = await this.cold.call((a) => a.getConv(conv))
    if (!record) return undefined
    const state = await this.cold.call((a) => a.convState(conv))
    const reads = [...state.reads].flat()
    await this.guard(() =>
      this.r.chatRestoreConv(
        this.k.convMeta(conv),
        this.k.convReads(conv),
        record.kind,
        JSON.stringify(record.members),
        record.createdAt,
        record.title ?? '',
        state.lastSeq,
        state.lastJson ?? '',
        ...reads,
      ),
    )
    const grp = groupJson(record)
    if (grp !== null) await this.guard(() => this.r.hset(this.k.convMeta(conv), 'grp', grp, 'rev', record.rev ?? 0))
    await this.guard(() => Promise.all(record.members.map((m) => this.r.zadd(this.k.userConvs(m), record.createdAt, record.id))))
    return record
  }

  async create(record: ConvRecord): Promise<{ record: ConvRecord; created: boolean }> {
    if (this.cold) {
      // The archive first: it decides whether this is new. One it knew already is restored (with
      // its seqs), never created again at seq 0.
      const archived = await this.cold.call((a) => a.createConv(record))
      if (!archived.created) {
        const known = (await this.get(archived.record.id)) ?? archived.record
        return { record: known, created: false }
      }
      record = archived.record
    }
    const res = await this.guard(() =>
      this.r.chatCreateConv(
        this.k.convMeta(record.id),
        record.kind,
        JSON.stringify(record.members),
        record.createdAt,
        record.title ?? '',
        groupJson(record) ?? '',
      ),
    )
    const stored = res === 0 ? record : recordOf(record.id, res)
    // Always (re)written: idempotent, and it repairs a list left short by a failure half-way. A new
    // conversation enters every member's summary at seq 0 (one that existed may have moved on: a
    // member's missing entry is filled by `overview` from the conversation itself).
    await this.guard(() =>
      Promise.all(
        stored.members.flatMap((m) => [
          this.r.zadd(this.k.userConvs(m), stored.createdAt, stored.id),
          ...(res === 0 ? [this.r.chatSummary(this.k.summary(m), `l:${stored.id}`, 0, '0 '), this.r.hsetnx(this.k.summary(m), `k:${stored.id}`, '|')] : []),
        ]),
      ),
    )
    return { record: stored, created: res === 0 }
  }

  async get(conv: ConvId): Promise<ConvRecord | undefined> {
    const res = await this.guard(() => this.r.hmget(this.k.convMeta(conv), 'kind', 'title', 'members', 'createdAt', 'grp', 'rev'))
    if (res[0]) return recordOf(conv, res)
    return this.restore(conv)
  }

  async update(next: ConvRecord): Promise<boolean> {
    const prev = await this.get(next.id)
    if (!prev) throw new AppError('CONV_NOT_FOUND')
    if ((prev.rev ?? 0) !== (next.rev ?? 0) - 1) return false
    // The archive first (the system of record decides), then Redis with the same compare-and-set.
    if (this.cold && !(await this.cold.call((a) => a.updateConv(next)))) return false
    const res = await this.guard(() =>
      this.r.chatUpdateConv(this.k.convMeta(next.id), (next.rev ?? 0) - 1, JSON.stringify(next.members), next.title ?? '', groupJson(next) ?? ''),
    )
    if (res < 0) throw new AppError('CONV_NOT_FOUND')
    if (res === 0) return false
    const now = new Set(next.members)
    const gone = prev.members.filter((m) => !now.has(m))
    const was = new Set(prev.members)
    await this.guard(() =>
      Promise.all([
        ...gone.map((m) => this.r.zrem(this.k.userConvs(m), next.id)),
        // Their summary entry goes too (`overview` lists only the zset's ids; a member added again starts afresh).
        ...gone.map((m) => this.r.hdel(this.k.summary(m), `l:${next.id}`, `r:${next.id}`, `p:${next.id}`, `k:${next.id}`)),
        // A member added reads nothing from before their joining seq: their marks start empty now.
        ...next.members.filter((m) => !was.has(m)).map((m) => this.r.hsetnx(this.k.summary(m), `k:${next.id}`, '|')),
        ...next.members.map((m) => this.r.zadd(this.k.userConvs(m), 'NX', next.createdAt, next.id)),
      ]),
    )
    return true
  }

  async listForUser(user: UserId): Promise<ConvId[]> {
    const ids = await this.guard(() => this.r.zrange(this.k.userConvs(user), 0, -1))
    if (ids.length > 0 || !this.cold) return ids
    // Nothing in Redis: a new user, or a Redis that lost everything. The archive tells.
    const archived = await this.cold.call((a) => a.listConvs(user))
    for (const id of archived) await this.get(id)
    return archived
  }

  async states(convs: readonly ConvId[], user: UserId): Promise<ConvState[]> {
    const read = () =>
      this.guard(() =>
        Promise.all(
          convs.map(async (c) => {
            // The read mark: the conversation hash's, or one written before marks moved there.
            const [[lastSeq, last, read], before] = await Promise.all([
              this.r.hmget(this.k.convMeta(c), 'lastSeq', 'last', `r:${user}`),
              this.r.hget(this.k.convReads(c), user),
            ])
            const readSeq = Math.max(Number(read ?? 0), Number(before ?? 0))
            return { lastSeq: Number(lastSeq ?? 0), lastMsg: last ? (JSON.parse(last) as Message) : undefined, readSeq, known: lastSeq !== null }
          }),
        ),
      )
    let states = await read()
    if (this.cold && states.some((s) => !s.known)) {
      for (let i = 0; i < convs.length; i++) if (!states[i]!.known) await this.restore(convs[i]!)
      states = await read()
    }
    return states.map(({ known: _known, ...s }) => s)
  }

  /**
   * Every conversation of the user from its summary: two commands on the user's slot, sent in one
   * write, whatever the number of conversations (and two per group of more than
   * SUMMARIES_IN_SCRIPT_MAX members, which the summary names by reference). A conversation missing
   * from the summary (created before summaries existed, or a Redis that lost them) is read from
   * the conversation itself and written into the summary for the next time (a large group's
   * reference, on a standalone Redis).
   */
  async overview(user: UserId, options?: OverviewOptions): Promise<Overview> {
    const messages = options?.messages ?? true
    // HGETALL under its upper-case name: ioredis looks its reply transformers up by the exact
    // command name, and the one for `hgetall` builds an object with a `key in obj` check per field
    // (a third of the command's client CPU for a summary of 20 conversations). The flat
    // [field, value, ...] reply is read below instead.
    // The list's scores are the conversations' creation times (every ZADD of it gives the record's
    // `createdAt`): with them a 1:1's record is known from its id, without reading it (ConvSummary).
    const [listed, flat] = await this.guard(() => Promise.all([this.r.zrange(this.k.userConvs(user), 0, -1, 'WITHSCORES'), this.r.call('HGETALL', this.k.summary(user)) as Promise<string[]>]))
    let ids: ConvId[]
    let created: number[] | undefined
    if (listed.length === 0 && this.cold) ids = await this.listForUser(user)
    else {
      ids = new Array<ConvId>(listed.length >> 1)
      created = new Array<number>(ids.length)
      for (let i = 0; i < ids.length; i++) {
        ids[i] = listed[2 * i]!
        created[i] = Number(listed[2 * i + 1])
      }
    }
    const fields = summaryFields(ids, flat)
    const out: Overview = new Array<ConvSummary>(ids.length)
    if (fields.relations) out.relations = fields.relations
    const missing: number[] = []
    const selfChat = directConvId(user, user)
    /** Large groups: read from the conversation (SUMMARIES_IN_SCRIPT_MAX). */
    const byReference: number[] = []
    // A plain loop, the peer's mark assigned rather than spread in: this runs for every
    // conversation of every reconnect (half its cost was the spread, without last messages).
    for (let i = 0; i < ids.length; i++) {
      const conv = ids[i]!
      const l = fields.l[i]
      if (l === undefined) {
        missing.push(i)
        continue
      }
      if (l === BY_REFERENCE) {
        byReference.push(i)
        continue
      }
      const space = l.indexOf(' ')
      const lastSeq = Number(space < 0 ? l : l.slice(0, space))
      const last = space < 0 ? '' : l.slice(space + 1)
      const summary: { -readonly [K in keyof ConvSummary]: ConvSummary[K] } = {
        conv,
        lastSeq,
        lastMsg: messages === true && last ? (JSON.parse(last) as Message) : undefined,
        readSeq: Number(fields.r[i] ?? 0),
        createdAt: created?.[i],
      }
      if (messages === 'raw' && last) summary.lastJson = last
      // A listed id is a valid one: its prefix tells a 1:1 (no split per conversation). In a note
      // to self the peer is the user: its own mark (the script writes no peer's view of it).
      if (conv.startsWith('d:')) summary.peerRead = Math.min(Number((conv === selfChat ? fields.r[i] : fields.p[i]) ?? 0), lastSeq)
      const marks = fields.k[i]
      if (marks !== undefined) summary.marks = marks
      if (fields.folded) {
        summary.setting = fields.c[i] ?? ''
        summary.hiddenSeq = Number(fields.h[i] ?? 0)
      }
      out[i] = summary
    }
    if (byReference.length > 0) {
      const states = await this.states(byReference.map((i) => ids[i]!), user)
      byReference.forEach((i, j) => {
        const marks = fields.k[i]
        out[i] = {
          conv: ids[i]!,
          ...states[j]!,
          createdAt: created?.[i],
          ...(marks !== undefined ? { marks } : {}),
          ...(fields.folded ? { setting: fields.c[i] ?? '', hiddenSeq: Number(fields.h[i] ?? 0) } : {}),
        }
      })
    }
    if (missing.length > 0) {
      const convs = missing.map((i) => ids[i]!)
      const states = await this.states(convs, user)
      // A large group's is filled with its reference, not a seq no message would move again (on
      // Cluster every summary is written per message: no references).
      const large = await Promise.all(convs.map(async (c) => !this.cluster && c.startsWith('g:') && ((await this.get(c))?.members.length ?? 0) > SUMMARIES_IN_SCRIPT_MAX))
      const peers = convs.map((c) => directPeer(c, user))
      const peerStates = await Promise.all(peers.map((p, j) => (p === undefined ? Promise.resolve(undefined) : this.states([convs[j]!], p).then((s) => s[0]))))
      const repairs: Promise<number>[] = []
      missing.forEach((i, j) => {
        const conv = convs[j]!
        const st = states[j]!
        const peer = peerStates[j]
        const peerRead = peer ? Math.min(peer.readSeq, st.lastSeq) : undefined
        out[i] = { conv, ...st, createdAt: created?.[i], ...(peerRead !== undefined ? { peerRead } : {}), ...(fields.folded ? { setting: fields.c[i] ?? '', hiddenSeq: Number(fields.h[i] ?? 0) } : {}) }
        const last = large[j] ? BY_REFERENCE : `${st.lastSeq} ${st.lastMsg ? JSON.stringify(st.lastMsg) : ''}`
        const args: (string | number)[] = [`l:${conv}`, st.lastSeq, last, `r:${conv}`, st.readSeq, st.readSeq]
        if (peerRead !== undefined) args.push(`p:${conv}`, peerRead, peerRead)
        repairs.push(this.r.chatSummary(this.k.summary(user), ...args))
      })
      await this.guard(() => Promise.all(repairs))
    }
    return out
  }

  /**
   * A stored message moves every member's summary: its seq and JSON, the sender's read mark (sending
   * implies reading) and, in a 1:1, the peer's view of that mark. One call per member, issued in
   * one tick (one socket write).
   */
  async noteMessage(conv: ConvId, members: readonly UserId[] | undefined, from: UserId, seq: number, json: string): Promise<void> {
    const who = members ?? (await this.get(conv))?.members ?? []
    const direct = directMembers(conv) !== undefined
    const last = `${seq} ${json}`
    await this.guard(() =>
      Promise.all(
        who.map((m) =>
          m === from
            ? this.r.chatSummary(this.k.summary(m), `l:${conv}`, seq, last, `r:${conv}`, seq, seq)
            : direct
              ? this.r.chatSummary(this.k.summary(m), `l:${conv}`, seq, last, `p:${conv}`, seq, seq)
              : this.r.chatSummary(this.k.summary(m), `l:${conv}`, seq, last),
        ),
      ),
    )
  }

  async noteMarks(conv: ConvId, users: readonly UserId[], kind: 'event' | 'mention', op: 'add' | 'remove', seq: number, cap: number): Promise<void> {
    const field = `k:${conv}`
    const k = kind === 'event' ? 'e' : 'm'
    const o = op === 'add' ? '+' : '-'
    await this.guard(() => Promise.all(users.map((u) => this.r.chatMarks(this.k.summary(u), field, k, o, seq, cap))))
  }

  async markRead(conv: ConvId, user: UserId, seq: number, restored = false): Promise<number> {
    const res = await this.guard(() => this.r.chatMarkRead(this.k.convMeta(conv), this.k.convReads(conv), user, seq))
    if (res < 0) {
      if (!restored && (await this.restore(conv))) return this.markRead(conv, user, seq, true)
      throw new AppError('CONV_NOT_FOUND')
    }
    // The user's summary and, in a 1:1, the peer's (its `peerRead`), before the reply.
    const peer = directPeer(conv, user)
    await this.guard(() =>
      Promise.all([
        this.r.chatSummary(this.k.summary(user), `r:${conv}`, res, res),
        ...(peer !== undefined ? [this.r.chatSummary(this.k.summary(peer), `p:${conv}`, res, res)] : []),
      ]),
    )
    // The mark as Redis now holds it, to the archive through the persister's stream like messages
    // (marks only move up in both): read receipts go on while the archive is away. A failure here
    // fails the `read` (the client sends it again; the mark is idempotent).
    if (this.cold) await this.guard(() => this.r.xadd(this.k.archiveStream(), '*', 'r', conv, 'u', user, 's', String(res)))
    return res
  }
}

/** `key(m)` of every member but `from`, in order, without the intermediate array of a filter. */
function othersOf(members: readonly UserId[], from: UserId, key: (m: UserId) => string): string[] {
  const out: string[] = []
  for (const m of members) if (m !== from) out.push(key(m))
  return out
}

function recordOf(id: ConvId, fields: (string | null)[]): ConvRecord {
  const [kind, title, members, createdAt, grp, rev] = fields
  return {
    id,
    kind: kind === 'group' ? 'group' : 'direct',
    ...(title ? { title } : {}),
    members: JSON.parse(members ?? '[]') as UserId[],
    createdAt: Number(createdAt ?? 0),
    ...groupFields(grp, Number(rev ?? 0)),
  }
}


class RedisUsers implements UserStore {
  constructor(
    private readonly r: Client,
    private readonly k: Keys,
    private readonly guard: Guard,
    private readonly cold: ArchiveLink | undefined,
  ) {}

  async upsert(user: User): Promise<void> {
    if (this.cold) await this.cold.call((a) => a.upsertUser(user))
    await this.cache(user)
  }

  /** The profile and directory entries in Redis. */
  private async cache(user: User): Promise<void> {
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
    const missing: UserId[] = []
    rows.forEach(([name, avatar], i) => {
      if (name === null || name === undefined) return void missing.push(ids[i]!)
      out.push(avatar ? { id: ids[i]!, name, avatar } : { id: ids[i]!, name })
    })
    if (missing.length === 0 || !this.cold) return out
    // Profiles Redis lost come back from the archive (and are cached again).
    const found = await this.cold.call((a) => a.getUsers(missing))
    for (const u of found) await this.cache(u)
    const byId = new Map([...out, ...found].map((u) => [u.id, u]))
    return ids.map((id) => byId.get(id)).filter((u): u is User => u !== undefined)
  }

  async search(prefix: string, limit: number): Promise<User[]> {
    // The archive has every user; Redis's directory only those seen since it was last emptied.
    if (this.cold) return this.cold.call((a) => a.searchUsers(prefix, limit))
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

  async push(user: UserId, ref: MessagePlace): Promise<number> {
    const minId = Date.now() - this.options.queueRetentionMs
    return this.guard(() =>
      this.r.chatQueuePush(this.k.queue(user), this.options.queueMaxLength, minId, ref.conv, this.options.queueRetentionMs, ref.seq),
    )
  }

  async read(user: UserId, limit: number): Promise<QueueEntry[]> {
    const minId = Date.now() - this.options.queueRetentionMs
    const rows = await this.guard(() => this.r.xrange(this.k.queue(user), `${minId}`, '+', 'COUNT', limit))
    // Fields as QUEUE_PUSH writes them: c <conv> s <seq>.
    return rows.map(([id, fields]) => ({ id, conv: fields[1] ?? '', seq: Number(fields[3] ?? 0) }))
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
    const all = k.broadcast()
    sub.on('smessage', (channel: string, message: string) => {
      if (channel.startsWith(this.channelPrefix)) this.handler(channel.slice(strip, -1), message)
      else if (channel === all) this.broadcastHandler(message)
    })
  }
  private broadcastHandler: (payload: string) => void = () => {}
  /** Subscribe the node-wide channel (once, at start; ioredis subscribes again after a reconnect). */
  async start(): Promise<void> {
    await this.subGuard(() => this.sub.ssubscribe(this.k.broadcast()))
  }
  async broadcast(payload: string): Promise<number> {
    return this.guard(async () => Number(await this.pub.spublish(this.k.broadcast(), payload)))
  }
  onBroadcast(handler: (payload: string) => void): void {
    this.broadcastHandler = handler
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
        return unavailable(err)
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
  const arch = options.archive
  const cold = arch && new ArchiveLink(arch.archive)
  const convs = new RedisConvs(cmd, keys, guard, cold, options.clusterNodes.length > 0)
  let persister: Persister | undefined
  if (arch && (arch.persister ?? 'inline') === 'inline') {
    persister = await startPersister(cmd as Redis & Scripted, keys, base, options, arch)
  }
  const bus = new RedisBus(cmd, sub, keys, guard, guardOf(sub))
  await bus.start()
  const backlog = async () => (arch ? await guard(() => cmd.xlen(keys.archiveStream())) : 0)
  const gate = arch && new BacklogGate(backlog, arch.backlogMax, arch.backlogCheckMs ?? 100)
  return {
    kind: 'redis',
    messages: new RedisMessages(cmd, keys, guard, cold, gate, convs, options.clusterNodes.length > 0),
    convs,
    users: new RedisUsers(cmd, keys, guard, cold),
    queue: new RedisQueue(cmd, keys, guard, options),
    presence: new RedisPresence(cmd, options.prefix, guard, options.presenceBuckets),
    tokens: new RedisTokens(cmd, keys, guard),
    uploadSlots: new RedisUploadSlots(cmd, keys, guard),
    wechat: new RedisWeChatStore(cmd, options.prefix, guard),
    bus,
    async ping() {
      await guard(() => cmd.ping())
      // Sends are refused past the backlog bound: not ready then.
      if (arch && (await backlog()) >= arch.backlogMax) throw new AppError('STORE_UNAVAILABLE', 'archive backlog full')
    },
    async status() {
      if (!arch) return {}
      const ok = await arch.archive.ping().then(
        () => true,
        () => false,
      )
      let archive: { ok: boolean; backlog: number; lagMs: number; error?: string }
      if (persister) {
        archive = { ok: ok && persister.archiveOk, backlog: await backlog(), lagMs: persister.lastLagMs, ...(persister.lastError ? { error: persister.lastError } : {}) }
      } else {
        // The persister runs in another process: its lag is the age of the oldest message it has not written.
        const [first] = (await guard(() => cmd.xrange(keys.archiveStream(), '-', '+', 'COUNT', 1))) as [string, string[]][]
        const lagMs = first ? Math.max(0, Date.now() - Number(first[0].slice(0, first[0].indexOf('-')))) : 0
        archive = { ok, backlog: await backlog(), lagMs }
      }
      // Still ready (sends are acked, lists and syncs answered from Redis), but not whole.
      return archive.ok ? { archive } : { degraded: true, archive }
    },
    async close() {
      await persister?.stop()
      await arch?.archive.close()
      await Promise.allSettled([cmd.quit(), sub.quit()])
      cmd.disconnect()
      sub.disconnect()
    },
  }
}

// ------------------------------------------------------------------ persister

/** The consumer group every persister of one Redis (one REDIS_PREFIX) belongs to. */
const PERSISTER_GROUP = 'archivers'

/** A persister over `cmd` (acks, trims) and a blocking connection of its own; started. */
async function startPersister(
  cmd: Redis & Scripted,
  keys: Keys,
  base: RedisOptions,
  options: Pick<RedisEngineOptions, 'url' | 'node' | 'connectTimeoutMs' | 'onError'>,
  arch: Omit<RedisArchiveOptions, 'backlogMax'>,
): Promise<Persister> {
  // Its own connection: XREADGROUP blocks. No command timeout (it blocks on purpose), the
  // offline queue off like the others so a lost Redis fails the read and the loop retries.
  const blocking = new Redis(options.url, { ...base, commandTimeout: undefined })
  blocking.on('error', options.onError ?? (() => {}))
  await withTimeout(blocking.connect(), options.connectTimeoutMs, () => blocking.disconnect())
  const persister = new Persister(blocking, cmd, arch.archive, {
    stream: keys.archiveStream(),
    group: PERSISTER_GROUP,
    consumer: options.node,
    batchMax: arch.batchMax,
    claimIdleMs: arch.claimIdleMs,
    windowMessages: arch.windowMessages,
    trimEvery: arch.trimEvery ?? Math.ceil(arch.windowMessages / 10),
    writesInFlight: arch.writesInFlight ?? 4,
    trim: (tx, conv, seq, window) => void (tx as unknown as Scripted).chatTrimWindow(keys.convMeta(conv), keys.convMsgs(conv), seq, window),
    ...(arch.onBatch ? { onBatch: arch.onBatch } : {}),
    ...(arch.log ? { log: arch.log } : {}),
  })
  persister.start()
  return persister
}

export interface RedisPersisterOptions extends Pick<RedisEngineOptions, 'url' | 'prefix' | 'commandTimeoutMs' | 'connectTimeoutMs' | 'node' | 'onError'> {
  readonly archive: Omit<RedisArchiveOptions, 'backlogMax' | 'persister'>
}

export interface RedisPersister {
  /** The persister's state: archive reachable, last batch's lag, last error. */
  status(): { ok: boolean; lagMs: number; error?: string }
  /** Stop reading, finish (write and ack) the batches read, close the connections and the archive. */
  close(): Promise<void>
}

/**
 * A persister on its own (the persister process, bff/src/persister.ts): two Redis connections of
 * its own (a blocking one for XREADGROUP, one for acks and trims), no chat engine. The BFFs then
 * run with ARCHIVE_PERSISTER=process or none.
 */
export async function createRedisPersister(options: RedisPersisterOptions): Promise<RedisPersister> {
  const base: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    lazyConnect: true,
  }
  const cmd = defineScripts(new Redis(options.url, base)) as Redis & Scripted
  cmd.on('error', options.onError ?? (() => {}))
  try {
    await withTimeout(cmd.connect(), options.connectTimeoutMs, () => cmd.disconnect())
  } catch (err) {
    cmd.disconnect()
    throw new Error(`Redis unreachable at start: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  const persister = await startPersister(cmd, new Keys(options.prefix), base, options, options.archive).catch((err: unknown) => {
    cmd.disconnect()
    throw err
  })
  return {
    status: () => ({ ok: persister.archiveOk, lagMs: persister.lastLagMs, ...(persister.lastError ? { error: persister.lastError } : {}) }),
    async close() {
      await persister.stop()
      await options.archive.archive.close()
      await cmd.quit().catch(() => {})
      cmd.disconnect()
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
