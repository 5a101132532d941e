/**
 * The storage interfaces of the BFF. Each has a memory implementation (one process, `npm start`)
 * and a Redis implementation (production, many processes), and both pass the one contract suite in
 * bff/test/store/contract.ts.
 *
 * Sequence, message storage and dedup are one operation (`MessageStore.append`) on purpose: the
 * protocol acks a send only once it is stored, and doing dedup, seq and store as three calls would
 * cost three round trips and open windows where a retry is stored twice or a seq is burnt. In Redis
 * it is one Lua script over keys sharing the conversation's hash tag.
 */
import type { WeChatStore } from './wechat'
import type { ConvId, ConvKind, FileBody, ImageBody, Message, MessageKind, Presence, RecallBody, StoredTextBody, SystemBody, TextBody, User, UserId, VoiceBody } from '@chat/shared'

/**
 * What `append` stores: a sent message, a group's membership change (`system`), or the `recall`
 * event of a retraction (recalled tombstones replace, never append).
 */
export type MessageBody = TextBody | StoredTextBody | ImageBody | FileBody | SystemBody | RecallBody | VoiceBody

/** `retract`: replaced, it was a tombstone already (nothing changed), or no message has that seq. */
export type RetractOutcome = 'done' | 'already' | 'missing'

/** The marker of a tombstone in stored message JSON (a body's own quotes are escaped: it cannot fake it). */
export const RECALLED_MARK = '"kind":"recalled"'

export interface AppendInput {
  readonly conv: ConvId
  readonly from: UserId
  readonly cid: string
  /** Server id chosen by the caller (random); kept only if the message is new. */
  readonly mid: string
  /** Server clock, ms. */
  readonly ts: number
  readonly kind: MessageKind | 'system'
  readonly body: MessageBody
  /** How long (sender, cid) stays remembered, ms. */
  readonly dedupWindowMs: number
  /**
   * The conversation's members, whose summaries (`ConvStore.overview`) the append moves: the
   * caller's cached record saves the store a read. Read from the store when absent.
   */
  readonly members?: readonly UserId[] | undefined
}

export interface AppendResult {
  readonly msg: Message
  /** The message as JSON, exactly as stored: sent on without encoding again. */
  readonly json: string
  /** True when (from, cid) was already stored: `msg` is the original. */
  readonly dup: boolean
}

/**
 * A conversation's record. A 1:1's never changes; a group's members, title and roles change by
 * `ConvStore.update` (compare-and-set on `rev`), each change recorded as a `system` message.
 */
export interface ConvRecord {
  readonly id: ConvId
  readonly kind: ConvKind
  readonly title?: string | undefined
  /** Current members, in joining order. */
  readonly members: readonly UserId[]
  readonly createdAt: number
  /** Groups: the owner (absent for 1:1s and for groups created before roles: then the first member). */
  readonly owner?: UserId | undefined
  readonly admins?: readonly UserId[] | undefined
  /** Groups: the seq at which a member added later joined (absent: a founding member, 0). */
  readonly joined?: Readonly<Record<UserId, number>> | undefined
  /** Groups: revision of the mutable part, 0 at creation, +1 per `update`. */
  readonly rev?: number | undefined
}

/** A conversation's moving part, as one user sees it. */
export interface ConvState {
  readonly lastSeq: number
  readonly lastMsg?: Message | undefined
  readonly readSeq: number
}

/** What a summary read needs. */
export interface OverviewOptions {
  /**
   * The last messages (`lastMsg`); default true. False: an engine may leave them out. 'raw': an
   * engine may give them as stored JSON (`lastJson`), for a `convs` frame built without parsing them. `sync` and the
   * presence at connect read only seqs and ids, and parsing 20 last messages per reconnect was the
   * largest item of its CPU profile (issue 15).
   */
  readonly messages?: boolean | 'raw'
}

/** One conversation in a user's summary (`ConvStore.overview`). */
export interface ConvSummary extends ConvState {
  readonly conv: ConvId
  /** A 1:1's other member's read mark (undefined for a group). */
  readonly peerRead?: number | undefined
  /**
   * The user's marks of the conversation kept on the write path (`ConvStore.noteMarks`):
   * "<recall event seqs>|<seqs mentioning the user>", the newest of each, ascending. Absent when
   * the engine does not keep them or did not from the conversation's start: read its messages.
   */
  readonly marks?: string | undefined
  /** The last message as stored JSON, unparsed, when asked with `messages: 'raw'` (an engine may give `lastMsg` instead). */
  readonly lastJson?: string | undefined
  /**
   * The user's setting of the conversation as its store encodes it ("<muted 0|1> <pin time>", ''
   * for the default), when the user's conversation settings are folded into the summary
   * (store/conv-settings.ts: the Redis settings store writes them there too). Absent: not folded
   * (an engine or a store that does not, or a summary not filled yet): read the settings store.
   */
  readonly setting?: string | undefined
  /** With `setting`: the newest seq the user deleted for themself in the conversation (0: none). */
  readonly hiddenSeq?: number | undefined
  /**
   * The conversation's `createdAt`, when the engine's list of the user's conversations holds it
   * (Redis: the list's scores). With it a 1:1's record is known from its id alone (chat/service.ts
   * `listing`): a reconnect reads no record of its 1:1s, whatever the process caches hold.
   */
  readonly createdAt?: number | undefined
}

/**
 * A user's summary (`ConvStore.overview`): one entry per conversation and, when the engine's
 * summary holds the user's relations index (store/relations.ts `fold`: the Redis relations store
 * writes it there too), `relations`, the users with whom the user has a relation record (as
 * `RelationStore.peers`). Absent: not folded: read the relations store.
 */
export interface Overview extends Array<ConvSummary> {
  relations?: readonly UserId[] | undefined
}

export interface MessageStore {
  /**
   * Atomically: if (from, cid) is known within the dedup window, return the original message with
   * `dup`; otherwise assign the next seq of `conv`, store the message, make it the conversation's
   * last message and move the sender's read mark to it (sending implies having read the
   * conversation, so `unread` = lastSeq - readSeq counts only others' messages).
   * Throws AppError CONV_NOT_FOUND when the conversation does not exist.
   *
   * `onStored`, when given, is called once, synchronously, as soon as the message is stored and
   * before the returned promise settles; never for a duplicate. The caller's fan-out starts there,
   * in the turn of the store's reply, while the rest of the operation (a large group's references
   * in its members' summaries, store/redis.ts) is still under way: the promise resolves once all
   * of it is done.
   */
  append(input: AppendInput, onStored?: (stored: AppendResult) => void): Promise<AppendResult>
  /**
   * The seq at which `from`'s message `cid` was stored in `conv`, while the dedup window remembers
   * it (what a repeated send is answered with); undefined: not stored, or forgotten. Written in the
   * same atomic step as the message itself, so a message stored is never unknown here within the window.
   */
  placeOf(conv: ConvId, from: UserId, cid: string): Promise<number | undefined>
  /** Messages with seq > afterSeq, ascending, at most `limit`, as stored JSON. */
  after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]>
  /** Messages with seq < beforeSeq (or the newest when undefined), ascending, at most `limit`. */
  before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]>
  /**
   * Replace message `seq` of `conv` by `tombstone` (the same message as kind `recalled`, stored
   * JSON) in every tier holding it: the hot window, the conversation's last message, the archive
   * (a row the archive does not hold yet is written as the tombstone, so a late persist of the
   * original is ignored). Atomic per tier: of two retractions racing, one is `done`.
   */
  retract(conv: ConvId, seq: number, tombstone: string): Promise<RetractOutcome>
}

export interface ConvStore {
  /** Create if absent (and add it to every member's list). Returns the stored record and whether it was created. */
  create(record: ConvRecord): Promise<{ record: ConvRecord; created: boolean }>
  get(conv: ConvId): Promise<ConvRecord | undefined>
  /**
   * Replace a group's mutable part (members, title, owner, admins, joined) by `next` if its stored
   * `rev` is still `next.rev - 1`; members added get the conversation in their list, members
   * removed lose it. Returns false (nothing changed) when another update came first.
   */
  update(next: ConvRecord): Promise<boolean>
  /** Ids of the user's conversations. */
  listForUser(user: UserId): Promise<ConvId[]>
  /** Last seq, last message and the user's read mark of each conversation (same order). */
  states(convs: readonly ConvId[], user: UserId): Promise<ConvState[]>
  /**
   * Every conversation of the user with its state and, for a 1:1, the other member's read mark:
   * what a reconnect (`sync`, `convs`) needs, in a number of round trips that does not grow with
   * the number of conversations (Redis: one per-user summary hash kept up to date by `append`,
   * `markRead` and `create`). Same as `listForUser` + `states` (+ the peer's `states`).
   */
  overview(user: UserId, options?: OverviewOptions): Promise<Overview>
  /**
   * Optional: note in `users`' summaries that `seq` of `conv` is a recall event, or mentions them
   * (`remove`: a mention recalled), keeping the newest `cap`. What `overview` returns as `marks`.
   */
  noteMarks?(conv: ConvId, users: readonly UserId[], kind: 'event' | 'mention', op: 'add' | 'remove', seq: number, cap: number): Promise<void>
  /** Move the user's read mark up to `seq` (never back). Returns the mark now stored. */
  markRead(conv: ConvId, user: UserId, seq: number): Promise<number>
}

export interface UserStore {
  /** Create or update a profile. */
  upsert(user: User): Promise<void>
  /** Profiles of the ids that exist (missing ones are left out), in the order asked. */
  get(ids: readonly UserId[]): Promise<User[]>
  /** Users whose id or name starts with `prefix` (case-insensitive), at most `limit`. */
  search(prefix: string, limit: number): Promise<User[]>
}

/** A message named by its place: the body is read from the window or the archive, never copied. */
export interface MessagePlace {
  readonly conv: ConvId
  readonly seq: number
}

export interface QueueEntry extends MessagePlace {
  /** Stream-style id `<ms>-<n>`, increasing: the queue cursor. */
  readonly id: string
}

/**
 * Per-user offline queue: bounded (oldest dropped past maxLength) and retained retentionMs. It
 * holds references (conversation + seq), not bodies: a message to 200 offline members is stored
 * once, not 200 times (issue 12, defect 4).
 */
export interface QueueStore {
  /** Append; trims by length and age. Returns the queue length after. */
  push(user: UserId, ref: MessagePlace): Promise<number>
  /** Entries in id order, at most `limit`. */
  read(user: UserId, limit: number): Promise<QueueEntry[]>
  /** Drop every entry with id <= `upTo` (the client acknowledged them). */
  ack(user: UserId, upTo: string): Promise<void>
  length(user: UserId): Promise<number>
}

/** Who is connected, counted per node so several processes can hold one user's devices. */
export interface PresenceStore {
  /** A device of `user` connected on `node`. Returns the user's device count over all nodes. */
  connected(user: UserId, node: string): Promise<number>
  /** A device disconnected at `at` (ms). Returns the user's remaining device count. */
  disconnected(user: UserId, node: string, at: number): Promise<number>
  get(users: readonly UserId[]): Promise<Presence[]>
  /**
   * `node` (a process) is alive at `at` (ms). True when it had been reaped as dead since its last
   * beat: the caller counts its sockets again (`connected` for each).
   */
  beat(node: string, at: number): Promise<boolean>
  /**
   * Every node whose last beat is older than `deadBefore` (ms) is dead: its sockets stop counting.
   * Returns the users left with no device (their contacts are told). One process: nothing to reap.
   */
  reap(deadBefore: number): Promise<Presence[]>
}

/** Opaque refresh tokens, single use (rotation): consuming one deletes it. */
/**
 * Upload admission (UPLOAD_MAX_ACTIVE_PER_USER): the slots of a user's uploads in progress, shared
 * by every process. Taking one is a single atomic step, so simultaneous creations on any number of
 * processes never admit more than the limit; a slot whose upload received nothing for `idleMs` is
 * free again (an app killed mid-upload does not block its user).
 */
export interface UploadSlotStore {
  /** Take a slot of `user` for upload `id` if fewer than `max` are taken (idle ones do not count). */
  acquire(user: UserId, id: string, max: number, idleMs: number): Promise<boolean>
  /** Upload `id` received bytes: its slot stays taken for another `idleMs` (no-op if it holds none). */
  touch(user: UserId, id: string, idleMs: number): Promise<void>
  /** Upload `id` ended (finished, rejected, terminated): its slot is free. */
  release(user: UserId, id: string): Promise<void>
  /** Slots of `user` taken now. */
  count(user: UserId): Promise<number>
}

/**
 * Refresh tokens by family: a login starts a family, each refresh spends a token and puts the next
 * one in the same family. A spent token is remembered (until its own expiry) so that presenting it
 * again is seen as what it is, a copy in someone else's hands: the whole family is revoked.
 */
export interface TokenStore {
  /** Store a live token of `family` and keep the family alive for `ttlMs` from now. */
  put(family: string, tokenHash: string, user: UserId, ttlMs: number): Promise<void>
  /**
   * Spend a token, atomically: `ok` (it was live and is spent now), `reused` (it was spent
   * already: the family is revoked by this call), `revoked` (its family was revoked), or
   * undefined when unknown or expired.
   */
  take(family: string, tokenHash: string): Promise<{ readonly outcome: 'ok' | 'reused' | 'revoked'; readonly user: UserId } | undefined>
}

/**
 * Routing between processes: a channel per user, subscribed by the nodes holding a device of that
 * user. `publish` answers how many nodes received it (0: nobody holds the user: queue it).
 */
export interface Bus {
  subscribe(user: UserId): Promise<void>
  unsubscribe(user: UserId): Promise<void>
  publish(user: UserId, payload: string): Promise<number>
  /**
   * One publication every node receives (a node-wide channel, subscribed at start): an ephemeral
   * frame for an audience of users (presence) costs one publish whatever the audience's size.
   * Answers how many nodes received it.
   */
  broadcast(payload: string): Promise<number>
  /** The one receiver of every broadcast (this node's own included). */
  onBroadcast(handler: (payload: string) => void): void
  /** The one receiver of everything published to users this node subscribed. */
  onMessage(handler: (user: UserId, payload: string) => void): void
  /** Called when the subscription link came back after a loss (publications may have been missed). */
  onReconnect(handler: () => void): void
}

export interface Engine {
  readonly kind: 'memory' | 'redis'
  readonly messages: MessageStore
  readonly convs: ConvStore
  readonly users: UserStore
  readonly queue: QueueStore
  readonly presence: PresenceStore
  readonly tokens: TokenStore
  readonly uploadSlots: UploadSlotStore
  /** The WeChat integration's shared state (bff/src/store/wechat.ts). */
  readonly wechat: WeChatStore
  readonly bus: Bus
  /** Throws AppError STORE_UNAVAILABLE when the store cannot be reached (or cannot take sends). */
  ping(): Promise<void>
  /** What /readyz reports beside `ok` (the archive's state, when there is one). */
  status?(): Promise<Record<string, unknown>>
  close(): Promise<void>
}

export interface EngineOptions {
  readonly queueMaxLength: number
  readonly queueRetentionMs: number
}
