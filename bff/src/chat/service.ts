// Over 400 lines on purpose: the chat domain (conversations, messages, retraction, receipts, presence) shares its caches and its one store composition.
/**
 * (Over 400 lines: conversations, sends, receipts and presence all go through the one conversation cache and membership check here.)
 *
 * The messaging domain: plain objects in, typed frames (frames.ts) out through `Delivery` and the
 * asking client's Outlet (outlet.ts). It knows nothing of sockets or HTTP. Every operation on a conversation first checks membership
 * (NOT_MEMBER); seqs named by a client are checked against the conversation's last seq.
 */
import * as v from 'valibot'
import { AppError, LIMITS, directConvId, directMembers, directPeer, mentionsUser, randomId, schemas } from '@chat/shared'
import type { ConvId, ConvKind, Conversation, GroupOp, Message, Presence, RetractedBy, StoredTextBody, SystemBody, User, UserId } from '@chat/shared'
import type { AppendInput, AppendResult, Engine, ConvRecord, ConvSummary, MessageBody, Overview, QueueEntry } from '../store/types'
import { peekMessage } from '../store/message-json'
import { isTextJson, lastPlace, rawLast, setRawLast } from './conv-json'
import { listTag } from './list-tag'
import type { ListSettings } from './settings'
import { MENTION_SCAN_MAX, QUOTE_SCRUB_SCAN_MAX, checkedMentions, isRich, mentions, quoteOf, scrubbed, type TextInput } from './reply'
import type { Delivery } from './delivery'
import { ReceiptWindow } from './receipts'
import type { FileResolver } from './files'
import { encode } from './frames'
import type { Outlet } from './outlet'
import { CatchUp } from './catch-up'
import type { ConvSeq, HistoryPage, HistoryQuery } from './catch-up'
import { AS_MESSAGE, NO_CHECKS, NO_TEXT_CHECK, shownText, type SendChecks } from '../wechat/security'
import { boundedCache } from '../bounded-cache'

export type { ConvSeq, HistoryPage, HistoryQuery } from './catch-up'

/**
 * The presence of the peers a user's previous device was told (`connected`), read at a new
 * device's connect beside its summary (one round trip to the store for both, not two in a row).
 * `peers`: those users joined by spaces (user ids hold none: shared/src/schemas.ts ID_RE).
 */
export interface EarlyPresence {
  readonly peers: string
  readonly read: Promise<Presence[]>
}

export interface ChatOptions {
  readonly dedupWindowMs: number
  readonly queueMaxLength: number
  readonly presenceFanoutMax: number
  /** Unsent bytes at which a sync waits for the socket to drain before its next batch. */
  readonly syncPauseBytes: number
  /** RECALL_WINDOW_MS: how long after its send a sender may recall a message. Default 2 min. */
  readonly recallWindowMs?: number
}

/** Newest messages of a conversation searched for those carrying a file judged risky. */
const WITHDRAW_SCAN_MAX = 2000
/** No hidden seqs (no settings store composed). */
const NO_SEQS: ReadonlySet<number> = new Set()
const NO_CONVS: ReadonlySet<ConvId> = new Set()
/** RECALL_WINDOW_MS's default. */
export const RECALL_WINDOW_MS = LIMITS.recallWindowMs

/**
 * Most conversation records cached in process. A 1:1's never changes; a group's is dropped here
 * when it changes (locally at once, on other nodes by the bus: `Delivery.convChanged`).
 */
const CONV_CACHE_MAX = 50_000
/** Most user ids shared by the cached records (emptied when full: only sharing is lost). */
const USER_ID_INTERN_MAX = 2 * CONV_CACHE_MAX
/** How long a profile read for a conversation list is used again, ms. */
const PROFILE_CACHE_TTL_MS = 60_000
/** Most profiles cached in process (the least recently used dropped first). */
const PROFILE_CACHE_MAX = 100_000
/** Groups larger than this get no presence pushes (see `contacts`). */
const PRESENCE_GROUP_MAX = 100
/** Users returned by one `users` query. */
const USER_SEARCH_LIMIT = 20
/**
 * Unread counts up to this are exact in a conversation list (`recall` events left out, which
 * costs reading them); a larger count is lastSeq - readSeq, events included.
 */
export const UNREAD_EXACT_MAX = 99
/** The summary read of a `convs`: last messages as stored JSON. */
const RAW_MESSAGES = { messages: 'raw' } as const
/** Newest mentions of a user kept per conversation in their summary marks (`convs` shows the newest unread one). */
const MENTION_MARKS_MAX = 20
/** How a stored `recall` event's JSON reads (message-json.ts builds `"kind":"<kind>","body":`). */
const RECALL_EVENT_MARK = '"kind":"recall","body":'

/** A new conversation: the other members (the creator is added; a 1:1 names exactly one). */
export interface NewConversation {
  readonly kind: ConvKind
  readonly members: readonly UserId[]
  readonly title?: string | undefined
}

/** One group operation (GroupFrame): `users` for add, remove, admin, unadmin, transfer; `title` for rename. */
export interface GroupChange {
  readonly conv: ConvId
  readonly op: Exclude<GroupOp, 'create'>
  readonly users?: readonly UserId[] | undefined
  readonly title?: string | undefined
}

/** A member's role in a group. */
export type Role = 'owner' | 'admin' | 'member'

/** Attempts of a group change against concurrent ones before GROUP_CONFLICT. */
const GROUP_CHANGE_ATTEMPTS = 5
/** The cid under which content security lists a group title it flagged (a title has no cid of its own). */
const TITLE_CID = 'title'

/** A message to store and deliver: its client id, where, and what (a file by its upload id). */
export type NewMessage =
  | { readonly cid: string; readonly conv: ConvId; readonly kind: 'text'; readonly body: TextInput }
  | { readonly cid: string; readonly conv: ConvId; readonly kind: 'image' | 'file'; readonly body: { readonly fileId: string } }
  | { readonly cid: string; readonly conv: ConvId; readonly kind: 'voice'; readonly body: { readonly fileId: string; readonly duration: number } }
  /** A copy of message `from` (PROTOCOL.md, Forwarding): stored as a text, image or file message. */
  | { readonly cid: string; readonly conv: ConvId; readonly kind: 'forward'; readonly body: { readonly from: ConvSeq } }

/** What a send stores: the kind and body of a new message, made from a NewMessage. */
type Content = { readonly kind: 'text' | 'image' | 'file' | 'voice'; readonly body: MessageBody }

export interface ListingOptions {
  /** Last messages may stay stored JSON (chat/conv-json.ts). */
  readonly raw?: boolean | undefined
  /** The asking connection, whose summary read at `welcome` serves if it is still kept (`Outlet.listing`). */
  readonly out?: Outlet | undefined
  /**
   * The user's settings as the list shows them (chat/settings.ts `forList`), given the summary it
   * is built from: with it the list gets its tag (chat/list-tag.ts), which covers them.
   */
  readonly settings?: ((summary: readonly ConvSummary[]) => Promise<ListSettings>) | undefined
  /** The tag of the list the client holds: when it still holds, no list is built (`same`). */
  readonly tag?: string | undefined
  /**
   * A group names at most this many members, its first, and carries `memberCount` (protocol 3:
   * LIMITS.listMembersMax). Unset: every member (versions 1 and 2).
   */
  readonly membersMax?: number | undefined
}

/** A user's list, the summary it was built from and its tag; `same`: the asked tag holds, `items` is empty. */
export interface Listing {
  readonly items: Conversation[]
  readonly summary: readonly ConvSummary[]
  readonly tag?: string | undefined
  readonly same?: true | undefined
  /** What `options.settings` gave, for `decorate`. */
  readonly settings?: ListSettings | undefined
}

export interface Ack {
  readonly msg: Message
  readonly dup: boolean
}

export class ChatService {
  private readonly convCache = boundedCache<ConvId, ConvRecord>({ max: CONV_CACHE_MAX })
  /** One string per user id named by cached records (see `remember`). */
  private readonly userIds = new Map<UserId, UserId>()
  /** Profiles read for conversation lists, each used for PROFILE_CACHE_TTL_MS (see `profiles`). */
  private readonly profileCache = boundedCache<UserId, User>({ max: PROFILE_CACHE_MAX, ttlMs: PROFILE_CACHE_TTL_MS })
  /**
   * Profiles being read, each by the one read that asked for it first (see `profiles`). At most
   * one entry per profile missing from the cache, each gone when its read settles.
   */
  private readonly profileReads = new Map<UserId, Promise<User | undefined>>()
  /** Records being read, each by its first reader (see `record`); gone when the read settles or the record is forgotten. */
  private readonly recordReads = new Map<ConvId, Promise<ConvRecord | undefined>>()
  /**
   * 1:1 conversations being created by a first message, so that the sends racing it (a queued
   * outbox resent at once) wait for the same creation and keep their order: each racing send
   * creating on its own let a later one finish first and take seq 1.
   */
  private readonly implicit = new Map<ConvId, Promise<unknown>>()
  /** Server message ids: a random prefix per process and a counter (no random bytes per message). */
  private readonly midPrefix = randomId(10)
  private midCounter = 0
  private readonly catchUp: CatchUp
  /** Delivery receipts: one per sender and conversation per window at most (receipts.ts). */
  private readonly receipts = new ReceiptWindow()

  constructor(
    private readonly engine: Engine,
    private readonly delivery: Delivery,
    private readonly files: FileResolver,
    private readonly options: ChatOptions,
    /** Content security of a send before it is stored (bff/src/wechat/security.ts). */
    private readonly checks: SendChecks = NO_CHECKS,
  ) {
    this.catchUp = new CatchUp({
      engine,
      floor: (conv, user) => this.floor(conv, user),
      currentUrls: (msgs) => this.currentUrls(msgs),
      queueMaxLength: options.queueMaxLength,
      syncPauseBytes: options.syncPauseBytes,
      canonical: (conv) => this.convCache.get(conv)?.id ?? conv,
      hidden: (user, conv) => (this.hiddenSeqs ? this.hiddenSeqs(user, conv) : Promise.resolve(NO_SEQS)),
      hiddenConvs: (user) => (this.hiddenConvs ? this.hiddenConvs(user) : Promise.resolve(NO_CONVS)),
    })
  }

  /**
   * Set by the composition: the seqs of a conversation a user deleted for themself (chat/settings.ts).
   * History and sync return those to that user as `hidden` tombstones.
   */
  hiddenSeqs: ((user: UserId, conv: ConvId) => Promise<ReadonlySet<number>>) | undefined
  /** Set by the composition: the conversations in which a user deleted any message for themself. */
  hiddenConvs: ((user: UserId) => Promise<ReadonlySet<ConvId>>) | undefined
  /**
   * Set by the composition: a user's own settings of a conversation (`muted`, `pinned`), added to
   * the `conv` frames this user gets (chat/settings.ts `decorate`). A frame without them would show
   * a muted or pinned conversation as neither until the next `convs`.
   */
  withSettings: ((user: UserId, conv: Conversation) => Promise<Conversation>) | undefined

  private nextMid(): string {
    return this.midPrefix + (++this.midCounter).toString(36)
  }

  // ---------------------------------------------------------------- conversations

  /** The conversation if `user` belongs to it: NOT_MEMBER otherwise (also when it does not exist but names someone else). */
  async memberOf(user: UserId, conv: ConvId): Promise<ConvRecord> {
    const direct = directMembers(conv)
    if (direct && !direct.includes(user)) throw new AppError('NOT_MEMBER')
    const record = await this.record(conv)
    if (!record) throw new AppError(direct ? 'CONV_NOT_FOUND' : 'NOT_MEMBER')
    if (!record.members.includes(user)) throw new AppError('NOT_MEMBER')
    return record
  }

  private record(conv: ConvId): Promise<ConvRecord | undefined> {
    const cached = this.convCache.get(conv)
    if (cached) return Promise.resolve(cached)
    // One read at a time per record: a group's members reconnecting together find it missing
    // together (evicted, or forgotten after a change), and each read is the whole member list.
    const reading = this.recordReads.get(conv)
    if (reading) return reading
    const read = this.engine.convs.get(conv).then(
      (record) => {
        // Forgotten while it was read (the group changed): not kept, the next one reads afresh.
        if (this.recordReads.get(conv) !== read) return record
        this.recordReads.delete(conv)
        if (record) this.remember(record)
        return record
      },
      (err: unknown) => {
        if (this.recordReads.get(conv) === read) this.recordReads.delete(conv)
        throw err
      },
    )
    this.recordReads.set(conv, read)
    return read
  }

  /** Forget a cached record (its group changed, here or on another node), and a read of it under way. */
  forget(conv: string): void {
    this.convCache.delete(conv)
    this.recordReads.delete(conv)
  }

  /** The last seq `user` may not read in `conv`: the seq at which they joined (0: founding member). */
  async floor(conv: ConvId, user: UserId): Promise<number> {
    // A 1:1 has no joining seqs: nothing to read for it (a sync after messages came read none).
    if (conv.startsWith('d:')) return 0
    const record = await this.record(conv)
    return record?.joined?.[user] ?? 0
  }

  private remember(record: ConvRecord): void {
    // Member ids shared by every cached record naming them: a user in 20 conversations is one
    // string here, not 20 copies parsed from 20 records (memory per connected user, issue 15).
    if (this.userIds.size >= USER_ID_INTERN_MAX) this.userIds.clear()
    record = { ...record, members: record.members.map((m) => this.userIds.get(m) ?? (this.userIds.set(m, m), m)) }
    this.convCache.set(record.id, record)
  }

  /**
   * Create a 1:1 or group conversation (a 1:1 that exists is returned as it is). Every member's
   * devices get a `conv` frame; the creator's asking outlet gets it with `rid` instead.
   */
  async create(user: User, input: NewConversation, out?: Outlet): Promise<Conversation> {
    if (input.kind === 'direct') {
      const others = input.members.filter((m) => m !== user.id)
      if (others.length !== 1 || input.members.length !== 1) {
        throw new AppError('INVALID_FRAME', 'a direct conversation has exactly one other member')
      }
      return this.createDirect(user, others[0]!, out)
    }
    const others = [...new Set(input.members)].filter((m) => m !== user.id)
    if (others.length + 1 > LIMITS.maxGroupMembers) throw new AppError('INVALID_FRAME', `a group has at most ${LIMITS.maxGroupMembers} members`)
    const group: ConvRecord = { id: `g:${randomId(16)}`, kind: 'group', title: input.title, members: [user.id, ...others], createdAt: Date.now(), owner: user.id, admins: [], joined: {}, rev: 0 }
    await this.checkTitle(user.id, group.id, input.title, group.rev ?? 0)
    return this.store(group, user, out)
  }

  /** The 1:1 of `user` and `other`, created unless it exists (a first message creates it too). */
  async createDirect(user: User, other: UserId, out?: Outlet): Promise<Conversation> {
    const id = directConvId(user.id, other)
    // Opening a new 1:1 is the other's to allow (relations); one that exists stays open.
    if (this.checks.open && !(await this.record(id))) await this.checks.open(user.id, other)
    return this.store({ id, kind: 'direct', members: [user.id, other].sort(), createdAt: Date.now() }, user, out)
  }

  /** Store a new conversation (its members must exist) and tell every member's devices once it is new. */
  private async store(record: ConvRecord, user: User, out?: Outlet): Promise<Conversation> {
    const profiles = await this.engine.users.get(record.members)
    if (profiles.length !== record.members.length) {
      const known = new Set(profiles.map((p) => p.id))
      const missing = record.members.filter((m) => !known.has(m))
      throw new AppError('USER_NOT_FOUND', `unknown users: ${missing.slice(0, 5).join(', ')}`)
    }
    const { record: stored, created } = await this.engine.convs.create(record)
    this.remember(stored)
    const [state] = await this.engine.convs.states([stored.id], user.id)
    const [peerRead] = await this.peerReads([stored], user.id)
    const conv = conversationOf(stored, profiles, state!, peerRead, user.id)
    // An existing conversation (a 1:1 opened again) has this user's settings: the answer carries them.
    const answer = !created && this.withSettings ? await this.withSettings(user.id, conv) : conv
    if (created) {
      // Everyone starts with nothing read, so one frame (without rid) fits every other device.
      const json = encode.conv({ conv: { ...conv, readSeq: 0, unread: 0, ...(conv.peerRead !== undefined ? { peerRead: 0 } : {}) } })
      this.delivery.frame(stored.members, 'conv', json, out)
      // The two met only now: neither got the other's presence at connect. Best effort: a failed
      // read leaves it to the next connect.
      if (stored.kind === 'direct') await this.introduce(stored.members).catch(() => {})
    }
    return answer
  }

  /** Tell each member of a new 1:1 the other's presence. */
  private async introduce(members: readonly UserId[]): Promise<void> {
    for (const p of await this.engine.presence.get(members)) {
      const others = members.filter((m) => m !== p.user)
      this.delivery.frame(others, 'presence', encode.presence(p))
    }
  }

  /**
   * The user's conversations, newest activity first. `raw`: last messages may stay stored JSON
   * (chat/conv-json.ts: `encodeConvs` splices them into the frame unparsed; `lastMessage` parses).
   * `out`: the asking connection, whose summary read at `welcome` serves if it is still kept
   * (`Outlet.listing`: nothing about a conversation reached or left it since); taken either way.
   */
  async list(user: UserId, options?: { readonly raw?: boolean; readonly out?: Outlet }): Promise<Conversation[]> {
    return (await this.listing(user, options)).items
  }

  /** `list`, with the summary it was built from (settings folded into it: chat/settings.ts `decorate`). */
  async listing(user: UserId, options?: ListingOptions): Promise<Listing> {
    // The user's summary (states and 1:1 peers' read marks), records from the process cache and
    // profiles through the profile cache: a fixed number of store round trips on a warm process.
    const out = options?.out
    const kept = out?.listing
    let early = kept ? await kept.catch(() => undefined) : undefined
    // Dropped while it was awaited (a frame about a conversation came meanwhile): read afresh.
    if (out) {
      if (out.listing !== kept) early = undefined
      out.listing = undefined
    }
    const summary = early ?? (await this.engine.convs.overview(user, options?.raw ? RAW_MESSAGES : undefined))
    // Cached records without a turn through the microtask queue, a 1:1's from its id and creation
    // time when the summary has it (`directRecord`); the others read at once. A process serving
    // more users' 1:1s than CONV_CACHE_MAX would otherwise read ~one record per conversation per
    // reconnect (bench:bff storm of 10,000 users in 20 conversations: 23 HMGET per reconnect).
    const records: Array<ConvRecord | undefined> = summary.map((s) => this.convCache.get(s.conv) ?? directRecord(s))
    const missing: number[] = []
    for (let i = 0; i < records.length; i++) if (!records[i]) missing.push(i)
    if (missing.length > 0) await Promise.all(missing.map(async (i) => (records[i] = await this.record(summary[i]!.conv))))
    // Only the members the list names: with `membersMax`, what a list reads and hashes does not grow
    // with its groups' sizes (5 groups of 2,000: 10,000 profiles, a 421 KB frame, in every list).
    const membersMax = options?.membersMax
    const memberIds = [...new Set(records.flatMap((r) => (r ? listedMembers(r, membersMax) : [])))]
    const profiles = new Map((await this.profiles(memberIds)).map((p) => [p.id, p]))
    // The list's tag (chat/list-tag.ts) from what is in hand; a client's tag that still holds is answered `same`.
    const settings = options?.settings ? await options.settings(summary) : undefined
    const tag = settings ? listTag({ user, summary, records, profiles, files: this.files, settingOf: settings.settingOf, membersMax }) : undefined
    if (tag !== undefined && tag === options?.tag) return { items: [], summary, tag, same: true, settings }
    const convs: Conversation[] = []
    const marks: Array<string | undefined> = []
    records.forEach((r, i) => {
      // A group the user left or was removed from is not theirs any more, whatever a summary still holds.
      if (!r?.members.includes(user)) return
      const c = conversationOf(r, profiles, summary[i]!, r.kind === 'direct' ? (summary[i]!.peerRead ?? 0) : undefined, user, membersMax)
      const json = summary[i]!.lastJson
      if (json !== undefined) setRawLast(c, this.files.refreshUrls && !isTextJson(json) ? this.files.refreshUrls(json) : json)
      convs.push(c)
      marks.push(summary[i]!.marks)
    })
    for (const c of convs) {
      if (c.lastMsg && c.lastMsg.kind !== 'text' && this.files.refreshUrls) c.lastMsg = JSON.parse(this.files.refreshUrls(JSON.stringify(c.lastMsg))) as Message
    }
    // A promise only for a conversation whose messages are read (none on a reconnect with marks).
    const reads: Promise<void>[] = []
    for (let i = 0; i < convs.length; i++) {
      const read = this.unreadMarks(convs[i]!, user, marks[i])
      if (read) reads.push(read)
    }
    if (reads.length > 0) await Promise.all(reads)
    // Each conversation's activity read once, not per comparison (an index sort: no pair per conversation).
    const at = convs.map(activity)
    const order = convs.map((_, i) => i).sort((a, b) => at[b]! - at[a]!)
    return { items: order.map((i) => convs[i]!), summary, tag, settings }
  }

  /**
   * What a conversation list says of the unread part of `c`, from one read of it (none when the
   * only unread message is the last one, which the summary holds):
   * - a `recall` event has a seq of its own but is nothing to read (the message it names shows the
   *   notice): `unread` (lastSeq - readSeq) leaves those events out, exactly up to UNREAD_EXACT_MAX;
   * - groups: `mentionSeq`, the newest unread message mentioning `user` or everyone, among the
   *   newest MENTION_SCAN_MAX (PROTOCOL.md, Mentions).
   * Conversations with nothing unread cost nothing. With the user's `marks` from the summary (the
   * recall events and mentions noted on the write path, store/redis.ts MARKS) nothing is read: a
   * reconnect's `convs` costs the same whatever the number of conversations. Without (a
   * conversation older than the marks, the memory engine) the unread messages are read and looked
   * at as stored JSON (a string test per message; only one naming mentions is parsed).
   */
  private unreadMarks(c: Conversation, user: UserId, marks?: string): Promise<void> | undefined {
    const behind = c.lastSeq - c.readSeq
    if (c.unread === 0 || behind <= 0) return undefined
    const exact = c.unread <= UNREAD_EXACT_MAX
    const group = c.kind === 'group'
    if (!exact && !group) return undefined
    if (marks !== undefined) {
      fromMarks(c, marks, exact, group)
      return undefined
    }
    return this.readUnreadMarks(c, user, behind, exact, group)
  }

  /** `unreadMarks` from the unread messages themselves (no marks in the summary). */
  private async readUnreadMarks(c: Conversation, user: UserId, behind: number, exact: boolean, group: boolean): Promise<void> {
    const n = Math.min(behind, group ? MENTION_SCAN_MAX : UNREAD_EXACT_MAX)
    const page = n === 1 && lastPlace(c)?.seq === c.lastSeq ? [rawLast(c) ?? JSON.stringify(c.lastMsg)] : await this.engine.messages.before(c.id, undefined, n)
    let events = 0
    let mention: number | undefined
    for (let i = page.length - 1; i >= 0; i--) {
      const json = page[i]!
      const seq = peekMessage(json)?.seq ?? 0
      if (seq <= c.readSeq) break
      if (json.includes(RECALL_EVENT_MARK)) events++
      else if (group && mention === undefined && mentions(json, user)) mention = seq
    }
    if (exact && events > 0) c.unread = Math.max(0, c.unread - events)
    if (mention !== undefined) c.mentionSeq = mention
  }

  /** Note (or take back) group message `m` in the marks of the members it mentions. */
  private async noteMentions(record: ConvRecord, m: Message, op: 'add' | 'remove'): Promise<void> {
    if (!this.engine.convs.noteMarks || m.kind !== 'text') return
    const b = m.body as { mentions?: readonly UserId[]; mentionAll?: boolean }
    if (!b.mentionAll && !b.mentions?.length) return
    const users = record.members.filter((u) => mentionsUser(m, u))
    if (users.length > 0) await this.engine.convs.noteMarks(record.id, users, 'mention', op, m.seq, MENTION_MARKS_MAX)
  }

  /**
   * Profiles through a process cache (PROFILE_CACHE_TTL_MS, at most PROFILE_CACHE_MAX): a reconnect
   * lists every member of every conversation, and those names change rarely; a renamed user shows
   * under the old name in others' lists for at most the TTL.
   */
  private async profiles(ids: readonly UserId[]): Promise<User[]> {
    const out: User[] = []
    let missing: UserId[] | undefined
    let pending: Array<Promise<User | undefined>> | undefined
    for (const id of ids) {
      const hit = this.profileCache.get(id)
      if (hit) out.push(hit)
      else {
        // Already being read for another list (a storm's users share their peers, each ~20 times
        // over, and all find the cache cold together): that read serves this one too.
        const reading = this.profileReads.get(id)
        if (reading) (pending ??= []).push(reading)
        else (missing ??= []).push(id)
      }
    }
    if (missing) {
      const read = this.engine.users.get(missing)
      const byId = read.then((found) => new Map(found.map((u): [UserId, User] => [u.id, u])))
      const mine = missing.map((id) => {
        const one = byId.then((m) => m.get(id))
        // The lists waiting on it see a failure through their own await; unwaited, it is not unhandled.
        one.catch(() => {})
        this.profileReads.set(id, one)
        return one
      })
      try {
        for (const u of await read) {
          this.profileCache.set(u.id, u)
          out.push(u)
        }
      } finally {
        missing.forEach((id, i) => {
          if (this.profileReads.get(id) === mine[i]) this.profileReads.delete(id)
        })
      }
    }
    if (pending) for (const u of await Promise.all(pending)) if (u) out.push(u)
    return out
  }

  /** Stored messages with their file URLs signed afresh (a stored one keeps the URLs of its send). */
  currentUrls(msgs: readonly string[]): readonly string[] {
    return this.files.refreshUrls ? msgs.map((m) => this.files.refreshUrls!(m)) : msgs
  }

  /**
   * The other member's read mark of each 1:1 in `records` (undefined for groups): read receipts are
   * pushed once, so a device that connects later learns them here.
   */
  private async peerReads(records: readonly ConvRecord[], user: UserId): Promise<Array<number | undefined>> {
    return Promise.all(
      records.map(async (r) => {
        if (r.kind !== 'direct') return undefined
        const peer = directPeer(r.id, user)
        if (peer === undefined) return undefined
        const [state] = await this.engine.convs.states([r.id], peer)
        return state ? Math.min(state.readSeq, state.lastSeq) : 0
      }),
    )
  }

  // ---------------------------------------------------------------- messages

  /**
   * Store a message and deliver it. The ack's promise resolves only once the store has it; a
   * repeated cid resolves with the original and `dup` (and delivers nothing again).
   */
  send(user: UserId, input: NewMessage, out?: Outlet): Promise<Ack> {
    // The conversation is almost always cached: checked without a round through the event loop.
    const cached = this.convCache.get(input.conv)
    if (cached?.members.includes(user) && input.kind === 'text' && !isRich(input.body) && this.checks.text === NO_TEXT_CHECK) {
      try {
        // Mostly decided from the relations' kept pair, with no promise to wait for.
        const relation = cached.kind === 'direct' ? this.checks.direct?.(user, input.conv) : undefined
        const text = input.body.text
        return relation ? relation.then(() => this.sendPlain(user, cached, input, text, out)) : this.sendPlain(user, cached, input, text, out)
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.sendAny(user, input, out, cached)
  }

  /**
   * `send` of a plain text to a cached conversation, nothing to wait for before the store: no async
   * function (issue 15: its frame and its awaits' promises were allocated per message, the most
   * frequent frame there is). The same steps as `sendAny` in the same order: store, deliver in the
   * turn the store answers, ack.
   */
  private sendPlain(user: UserId, record: ConvRecord, input: NewMessage, text: string, out: Outlet | undefined): Promise<Ack> {
    // Every store calls `onStored` for a new message before its promise settles (MessageStore.append):
    // the store's own promise is the ack's, with no step of its own after it in a 1:1 (issue 15:
    // a promise, a closure and the ack object fewer per message). The result is the Ack (its
    // `msg` and `dup`; the stored JSON beside them is not sent).
    const deliver = (stored: AppendResult) => this.delivery.message(record.members, { conv: input.conv, seq: stored.msg.seq, json: stored.json }, user, out)
    const appended = this.engine.messages.append(this.appendInput(user, record, input, { kind: 'text', body: { text } }), deliver)
    if (record.kind !== 'group') return appended
    // A new plain text mentions nobody; a duplicate's original might: its marks are written again (see sendAny).
    return appended.then((result) => (result.dup ? this.noteMentions(record, result.msg, 'add').then(() => result) : result))
  }

  /** What the store gets for `input` from `user`, as `content`. */
  private appendInput(user: UserId, record: ConvRecord, input: NewMessage, content: Content): AppendInput {
    return {
      conv: input.conv,
      from: user,
      cid: input.cid,
      mid: this.nextMid(),
      ts: Date.now(),
      kind: content.kind,
      body: content.body,
      dedupWindowMs: this.options.dedupWindowMs,
      members: record.members,
    }
  }

  private async sendAny(user: UserId, input: NewMessage, out: Outlet | undefined, cached: ConvRecord | undefined): Promise<Ack> {
    const record = cached?.members.includes(user) ? cached : await this.sendTarget(user, input.conv)
    // Mostly decided from the relations' kept pair, with no promise to wait for.
    const relation = record.kind === 'direct' ? this.checks.direct?.(user, input.conv) : undefined
    if (relation) await relation
    const { content, grant } = await this.contentOf(user, record, input)
    // What the other members read of it: a text's text, a file's name (the file card, the list's
    // preview). A text let through unchecked is queued for its re-check before it is stored, and
    // told where it was stored (wechat/recheck.ts). Forwarded content is checked as new: it is new
    // in this conversation.
    const text = shownText(content)
    const unchecked = text !== undefined && this.checks.text !== NO_TEXT_CHECK ? await this.checks.text(user, input.conv, input.cid, text, AS_MESSAGE) : undefined
    // The fan-out starts in the turn the store's reply arrives (`onStored`), before the rest of the
    // append (a large group's references in its members' summaries) is done; a reply waits for its
    // quote's recheck, a forwarded file for its grant.
    const quoting = input.kind === 'text' && input.body.reply !== undefined
    let delivered = false
    const deliver = (stored: AppendResult) => {
      delivered = true
      this.delivery.message(record.members, { conv: input.conv, seq: stored.msg.seq, json: stored.json }, user, out)
    }
    // A store that failed may have stored it all the same (a reply lost after the write): its queued
    // re-check finds out by the cid, and goes with its listing if it was not.
    let result = await this.engine.messages.append(this.appendInput(user, record, input, content), quoting || grant ? undefined : deliver)
    // A forwarded file opens to the target's members once the message is stored, before anyone is
    // sent it: a send refused by a check or lost by the store grants nothing. A grant that failed
    // after the store fails the send, and its retry (the same cid, a duplicate) grants it again.
    if (grant) await grant()
    // A duplicate's original was checked (or queued) when it was stored.
    if (unchecked) await unchecked.stored(result.dup ? undefined : result.msg.seq)
    // A reply whose original was retracted while it was being stored is scrubbed before anyone gets it (reply.ts).
    if (!result.dup && input.kind === 'text' && input.body.reply) result = await this.recheckQuote(result, input.body.reply.seq)
    if (!result.dup && !delivered) deliver(result)
    // The mentioned members' marks, before the ack; a duplicate writes them again (idempotent):
    // a send whose mark write failed is retried by its client with the same cid and repairs them.
    if (record.kind === 'group') await this.noteMentions(record, result.msg, 'add')
    return { msg: result.msg, dup: result.dup }
  }

  /** What `input` stores, checked; a forwarded file's grant to the target, for once the message is stored. */
  private async contentOf(user: UserId, record: ConvRecord, input: NewMessage): Promise<{ content: Content; grant?: () => Promise<void> }> {
    switch (input.kind) {
      case 'text':
        return { content: { kind: 'text', body: isRich(input.body) ? await this.richText(user, record, input.body) : { text: input.body.text } } }
      case 'voice':
        return { content: { kind: 'voice', body: await this.voiceBody(input.body, user, input.conv) } }
      case 'forward':
        return this.forwarded(user, input.body.from, record.id)
      default:
        return { content: { kind: input.kind, body: await this.fileBody(input.body.fileId, user, input.conv, input.kind) } }
    }
  }

  /**
   * A text body with a quote and/or mentions, checked (reply.ts): the quoted message must be one
   * of this conversation the sender may read (REPLY_NOT_FOUND, REPLY_NOT_ALLOWED); mentions name
   * members (MENTION_INVALID), @all only from the owner or an admin (MENTION_ALL_NOT_ALLOWED).
   */
  private async richText(user: UserId, record: ConvRecord, body: TextInput): Promise<StoredTextBody> {
    const out: StoredTextBody = { text: body.text }
    if (body.reply) {
      const original = await this.stored({ conv: record.id, seq: body.reply.seq }).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'SEQ_RANGE_INVALID') return undefined
        throw err
      })
      out.reply = quoteOf(original, body.reply.seq, record.joined?.[user] ?? 0)
    }
    return { ...out, ...checkedMentions(body, record, roleOf(record, user) !== 'member') }
  }

  /** The stored reply `result`, scrubbed if its original is a tombstone now (a retraction raced the send). */
  private async recheckQuote(result: AppendResult, seq: number): Promise<AppendResult> {
    const original = await this.stored({ conv: result.msg.conv, seq })
    if (original.kind !== 'recalled') return result
    const json = scrubbed(result.json, seq)
    if (json === undefined) return result
    await this.engine.messages.retract(result.msg.conv, result.msg.seq, json)
    return { ...result, json, msg: JSON.parse(json) as Message }
  }

  /**
   * Scrub the quotes of retracted message `seq` among the QUOTE_SCRUB_SCAN_MAX messages after it.
   * The store's `retract` replaces a message unless it is a tombstone (then it stays one), which is
   * exactly the rewrite needed here: every tier, the conversation's last message included.
   */
  private async scrubQuotes(conv: ConvId, seq: number): Promise<void> {
    let after = seq
    for (let scanned = 0; scanned < QUOTE_SCRUB_SCAN_MAX; ) {
      const page = await this.engine.messages.after(conv, after, Math.min(LIMITS.maxPageSize, QUOTE_SCRUB_SCAN_MAX - scanned))
      if (page.length === 0) break
      scanned += page.length
      for (const json of page) {
        const clean = scrubbed(json, seq)
        const at = clean !== undefined ? peekMessage(json) : undefined
        if (clean !== undefined && at) await this.engine.messages.retract(conv, at.seq, clean)
      }
      const last = peekMessage(page[page.length - 1]!)?.seq
      if (last === undefined || last <= after) break
      after = last
    }
  }

  /** The conversation `user` sends to, checked (NOT_MEMBER); a 1:1 comes into being with its first message. */
  private async sendTarget(user: UserId, conv: ConvId): Promise<ConvRecord> {
    try {
      return await this.memberOf(user, conv)
    } catch (err) {
      // A 1:1 conversation comes into being with its first message.
      if (!(err instanceof AppError && err.code === 'CONV_NOT_FOUND')) throw err
      let creating = this.implicit.get(conv)
      if (!creating) {
        const other = directPeer(conv, user)
        if (other === undefined) throw err
        creating = this.profile(user)
          .then((me) => this.createDirect(me, other))
          .finally(() => this.implicit.delete(conv))
        this.implicit.set(conv, creating)
      }
      await creating
      return this.memberOf(user, conv)
    }
  }

  private async fileBody(fileId: string, user: UserId, conv: ConvId, kind: 'image' | 'file'): Promise<MessageBody> {
    return checkedFile(await this.files.resolve(fileId, user, conv, kind), fileId, kind)
  }

  /**
   * A forward's content (PROTOCOL.md, Forwarding): a copy of message `from`, which `user` must be
   * able to read: a member of its conversation (NOT_MEMBER), after their joining seq
   * (SEQ_RANGE_INVALID, as a seq that does not exist), not deleted for them, and with content to copy:
   * a text, an image or a file (FORWARD_NOT_ALLOWED: a tombstone, a voice, an event). A text copies
   * its text only (its quote and mentions belong to its conversation); a file comes with the grant
   * that opens it to `to`, for the send to make once its checks passed.
   */
  private async forwarded(user: UserId, from: ConvSeq, to: ConvId): Promise<{ content: Content; grant?: () => Promise<void> }> {
    await this.memberOf(user, from.conv)
    if (from.seq <= (await this.floor(from.conv, user))) throw new AppError('SEQ_RANGE_INVALID', `message ${from.seq} of ${from.conv} is before ${user} joined`)
    const m = await this.stored(from)
    if (m.kind !== 'text' && m.kind !== 'image' && m.kind !== 'file') throw new AppError('FORWARD_NOT_ALLOWED', `a ${m.kind} message is not forwarded`)
    if (this.hiddenSeqs && (await this.hiddenSeqs(user, from.conv)).has(from.seq)) throw new AppError('FORWARD_NOT_ALLOWED', 'the message was deleted for this user')
    if (m.kind === 'text') return { content: { kind: 'text', body: { text: m.body.text } } }
    const shared = await this.files.share(m.body.fileId, from.conv, to, m.kind)
    return { content: { kind: m.kind, body: checkedFile(shared.body, m.body.fileId, m.kind) }, grant: () => shared.grant() }
  }

  /**
   * A voice message's body: its file (an accepted audio type and size) and its duration, the one the
   * resolver measured from the audio rather than the claimed `ref.duration` (the resolver's checks).
   */
  private async voiceBody(ref: { readonly fileId: string; readonly duration: number }, user: UserId, conv: ConvId): Promise<MessageBody> {
    const body = await this.files.voice(ref.fileId, user, conv, ref.duration)
    // The resolver is another component: what it returns is checked like any input.
    const parsed = v.safeParse(schemas.VoiceBody, body)
    if (!parsed.success || parsed.output.fileId !== ref.fileId) throw new AppError('FILE_NOT_FOUND', `file ${ref.fileId} cannot be sent as voice`)
    return parsed.output
  }

  /** One page of history before `before` (exclusive), ascending, with file URLs signed afresh (catch-up.ts). */
  async history(user: UserId, at: HistoryQuery): Promise<HistoryPage> {
    await this.memberOf(user, at.conv)
    return this.catchUp.history(user, at)
  }

  /** Catch-up after (re)connect for every conversation of the user (catch-up.ts). */
  sync(user: UserId, rid: string, cursors: readonly ConvSeq[], out: Outlet): Promise<void> {
    return this.catchUp.sync(user, rid, cursors, out)
  }

  // ---------------------------------------------------------------- groups

  /**
   * Apply one group operation (PROTOCOL.md, Groups) and record it as a `system` message of the
   * group, delivered to every member before and after the change (a removed member learns of
   * the removal, then nothing more). The record changes first (compare-and-set on `rev`, retried
   * against concurrent changes), so a removed member is refused from that moment on; then the
   * message is stored. A member added reads only what comes after the seq at which they joined.
   */
  async group(user: UserId, change: GroupChange, out?: Outlet): Promise<Message> {
    for (let attempt = 0; attempt < GROUP_CHANGE_ATTEMPTS; attempt++) {
      const prev = await this.engine.convs.get(change.conv)
      if (!prev || !prev.members.includes(user)) throw new AppError('NOT_MEMBER')
      if (prev.kind !== 'group') throw new AppError('NOT_GROUP')
      const [state] = await this.engine.convs.states([change.conv], user)
      const planned = await this.plan(user, prev, change, state!.lastSeq)
      const applied = await this.applyChange(prev, planned, user, out)
      if (applied) return applied
    }
    throw new AppError('GROUP_CONFLICT')
  }

  /**
   * Moderation takes group `conv`'s title back (content security judged it risky after it was let
   * through unchecked, wechat/recheck.ts), as a rename by `from`, who set it: the group is untitled
   * again (shown by its default name, as a group created without one), and every member learns it
   * by the `rename` system message a rename sends, marked `by: moderation` as a withdrawn message's
   * event is. Nothing when the title is no longer `title` (renamed meanwhile): resolves false then.
   */
  async withdrawTitle(conv: ConvId, title: string, from: UserId): Promise<boolean> {
    for (let attempt = 0; attempt < GROUP_CHANGE_ATTEMPTS; attempt++) {
      const prev = await this.engine.convs.get(conv)
      if (!prev || prev.kind !== 'group' || prev.title !== title || prev.members.length === 0) return false
      const next: ConvRecord = { ...prev, title: undefined, rev: (prev.rev ?? 0) + 1 }
      if (await this.applyChange(prev, { next, body: { op: 'rename', by: 'moderation' } }, from)) return true
    }
    throw new AppError('GROUP_CONFLICT')
  }

  /**
   * Store group change `planned` of `prev` (compare-and-set on `rev`: undefined when another came
   * first) and record it as a `system` message from `actor`, delivered to every member before and after.
   */
  private async applyChange(prev: ConvRecord, planned: { next: ConvRecord; body: SystemBody }, actor: UserId, out?: Outlet): Promise<Message | undefined> {
    if (!(await this.engine.convs.update(planned.next))) return undefined
    this.forget(prev.id)
    void this.delivery.convChanged(prev.id)
    const result = await this.engine.messages.append({
      conv: prev.id,
      from: actor,
      cid: `sys-${randomId(16)}`,
      mid: this.nextMid(),
      ts: Date.now(),
      kind: 'system',
      body: planned.body,
      dedupWindowMs: this.options.dedupWindowMs,
    })
    // Members added learn the group first, then its message like everyone else.
    const added = planned.next.members.filter((m) => !prev.members.includes(m))
    if (added.length > 0) await this.introduceGroup(planned.next, added)
    const told = [...new Set([...prev.members, ...planned.next.members])]
    this.delivery.message(told, { conv: prev.id, seq: result.msg.seq, json: result.json }, actor, out)
    return result.msg
  }

  /**
   * A group title goes through content security like a message's text before it is stored: risky
   * refuses the create or rename (CONTENT_RISKY), review lists it in the moderation flags with the
   * cid `title`, unavailable follows WX_SECCHECK_UNAVAILABLE; let through unchecked, it is queued
   * for its re-check as revision `rev` of the group (wechat/recheck.ts: taken back by
   * `withdrawTitle` if risky).
   */
  private async checkTitle(user: UserId, conv: ConvId, title: string | undefined, rev: number): Promise<void> {
    if (title !== undefined && this.checks.text !== NO_TEXT_CHECK) await this.checks.text(user, conv, TITLE_CID, title, { kind: 'title', rev })
  }

  /** What `change` makes of `prev`, checked against the actor's role (NOT_ADMIN, NOT_OWNER, GROUP_FULL...). */
  private async plan(user: UserId, prev: ConvRecord, change: GroupChange, lastSeq: number): Promise<{ next: ConvRecord; body: SystemBody }> {
    const role = roleOf(prev, user)
    const admins = prev.admins ?? []
    const owner = ownerOf(prev)
    const one = (): UserId => {
      if (change.users?.length !== 1) throw new AppError('INVALID_FRAME', `${change.op} names exactly one user`)
      const target = change.users[0]!
      if (!prev.members.includes(target)) throw new AppError('NOT_MEMBER', `${target} is not a member`)
      if (target === user) throw new AppError('INVALID_FRAME', `${change.op} names another member`)
      return target
    }
    const ownerOnly = () => {
      if (role !== 'owner') throw new AppError('NOT_OWNER')
    }
    const base = { ...prev, owner, admins, rev: (prev.rev ?? 0) + 1 }
    switch (change.op) {
      case 'add': {
        if (role === 'member') throw new AppError('NOT_ADMIN')
        const added = [...new Set(change.users ?? [])].filter((u) => !prev.members.includes(u))
        if (added.length === 0) throw new AppError('INVALID_FRAME', 'add names no new member')
        if (prev.members.length + added.length > LIMITS.maxGroupMembers) {
          throw new AppError('GROUP_FULL', `a group has at most ${LIMITS.maxGroupMembers} members`)
        }
        const profiles = await this.engine.users.get(added)
        if (profiles.length !== added.length) throw new AppError('USER_NOT_FOUND')
        // Joining at lastSeq: everything after it is theirs, this change's own message included.
        const joined = { ...prev.joined }
        for (const u of added) joined[u] = lastSeq
        return { next: { ...base, members: [...prev.members, ...added], joined }, body: { op: 'add', users: added } }
      }
      case 'remove': {
        const target = one()
        if (role === 'member') throw new AppError('NOT_ADMIN')
        if (target === owner || (role === 'admin' && admins.includes(target))) throw new AppError('NOT_ADMIN', 'an admin cannot remove the owner or another admin')
        return { next: without(base, target), body: { op: 'remove', users: [target] } }
      }
      case 'leave':
        if (role === 'owner') throw new AppError('OWNER_CANNOT_LEAVE')
        return { next: without(base, user), body: { op: 'leave' } }
      case 'rename':
        if (role === 'member') throw new AppError('NOT_ADMIN')
        if (change.title === undefined) throw new AppError('INVALID_FRAME', 'rename needs a title')
        await this.checkTitle(user, prev.id, change.title, base.rev)
        return { next: { ...base, title: change.title }, body: { op: 'rename', title: change.title } }
      case 'admin':
      case 'unadmin': {
        ownerOnly()
        const target = one()
        const next = change.op === 'admin' ? [...new Set([...admins, target])] : admins.filter((a) => a !== target)
        return { next: { ...base, admins: next }, body: { op: change.op, users: [target] } }
      }
      case 'transfer': {
        ownerOnly()
        const target = one()
        return { next: { ...base, owner: target, admins: admins.filter((a) => a !== target) }, body: { op: 'transfer', users: [target] } }
      }
      case 'dissolve':
        ownerOnly()
        return { next: { ...base, members: [], admins: [], joined: {} }, body: { op: 'dissolve' } }
    }
  }

  /** New members learn the group (a `conv` frame each: their own read mark is their joining seq). */
  private async introduceGroup(record: ConvRecord, added: readonly UserId[]): Promise<void> {
    const profiles = await this.engine.users.get(record.members)
    for (const u of added) {
      const [state] = await this.engine.convs.states([record.id], u)
      const conv = conversationOf(record, profiles, state!, undefined, u)
      // Someone added back keeps the settings they had (a mute, a pin) before they were removed.
      this.delivery.frame([u], 'conv', encode.conv({ conv: this.withSettings ? await this.withSettings(u, conv) : conv }))
    }
  }

  /** One page of a group's members: owner, admins, then members in joining order; `next` is the next page's cursor. */
  async members(user: UserId, conv: ConvId, after: number, limit: number): Promise<{ items: Array<{ user: User; role: Role }>; next?: number }> {
    const record = await this.memberOf(user, conv)
    const rank = (m: UserId) => ({ owner: 0, admin: 1, member: 2 })[roleOf(record, m)]
    const ordered = record.members.map((m, i) => ({ m, i })).sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i)
    const page = ordered.slice(after, after + limit).map((e) => e.m)
    const profiles = new Map((await this.engine.users.get(page)).map((p) => [p.id, p]))
    const items = page.map((m) => ({ user: profiles.get(m) ?? { id: m, name: m }, role: roleOf(record, m) }))
    return after + limit < ordered.length ? { items, next: after + limit } : { items }
  }

  /**
   * Those of `users` who are members of `conv`, with their roles, in the order asked (each once):
   * how a client names a sender or a mention its list leaves out (protocol 3 lists name a group's
   * first members only). Profiles through the profile cache, as a list reads them.
   */
  async membersNamed(user: UserId, conv: ConvId, users: readonly UserId[]): Promise<{ items: Array<{ user: User; role: Role }> }> {
    const record = await this.memberOf(user, conv)
    const members = new Set(record.members)
    const asked = [...new Set(users)].filter((u) => members.has(u))
    const profiles = new Map((await this.profiles(asked)).map((p) => [p.id, p]))
    return { items: asked.map((m) => ({ user: profiles.get(m) ?? { id: m, name: m }, role: roleOf(record, m) })) }
  }

  // ---------------------------------------------------------------- recall and withdraw

  /**
   * The sender takes message `seq` back within RECALL_WINDOW_MS of its send (retract). Refusals:
   * NOT_MEMBER, SEQ_RANGE_INVALID (no such seq), RECALL_NOT_ALLOWED (someone else's message, or
   * an event), RECALL_WINDOW_PASSED. A message recalled already answers success with no event.
   */
  async recall(user: UserId, at: ConvSeq): Promise<{ readonly event?: number }> {
    const record = await this.memberOf(user, at.conv)
    const m = await this.stored(at)
    if (m.from !== user || m.kind === 'recall' || m.kind === 'system') throw new AppError('RECALL_NOT_ALLOWED')
    if (m.kind === 'recalled') return {}
    const window = this.options.recallWindowMs ?? RECALL_WINDOW_MS
    if (Date.now() - m.ts > window) throw new AppError('RECALL_WINDOW_PASSED', `messages can be recalled for ${window} ms after their send`)
    return this.retract(record, m, 'sender')
  }

  /**
   * Moderation takes message `seq` back, at any age (content security's risky verdict, the admin
   * API): the same retraction as a recall, `by: moderation`. Throws CONV_NOT_FOUND, SEQ_RANGE_INVALID.
   */
  async withdraw(at: ConvSeq): Promise<{ readonly event?: number }> {
    const record = await this.record(at.conv)
    if (!record) throw new AppError('CONV_NOT_FOUND')
    const m = await this.stored(at)
    if (m.kind === 'recalled') return {}
    if (m.kind === 'recall' || m.kind === 'system') throw new AppError('RECALL_NOT_ALLOWED', 'an event is not withdrawn')
    return this.retract(record, m, 'moderation')
  }

  /**
   * Content security judged an image or file risky: every message of `conv` carrying `fileId`
   * among its newest WITHDRAW_SCAN_MAX is withdrawn (the verdict comes within ~30 min of the
   * upload). A file is sent in the conversation it was uploaded for and forwarded to others: the
   * caller names each of them (app.ts). Returns how many.
   */
  async withdrawFile(conv: ConvId, fileId: string): Promise<number> {
    if (!(await this.record(conv))) return 0
    const needle = `"fileId":${JSON.stringify(fileId)}`
    let withdrawn = 0
    let before: number | undefined
    for (let scanned = 0; scanned < WITHDRAW_SCAN_MAX; ) {
      const page = await this.engine.messages.before(conv, before, Math.min(LIMITS.maxPageSize, WITHDRAW_SCAN_MAX - scanned))
      if (page.length === 0) break
      scanned += page.length
      for (const json of page) {
        if (!json.includes(needle)) continue
        const m = JSON.parse(json) as Message
        if ((m.kind === 'image' || m.kind === 'file' || m.kind === 'voice') && m.body.fileId === fileId && (await this.withdraw({ conv, seq: m.seq })).event !== undefined) withdrawn++
      }
      before = (JSON.parse(page[0]!) as Message).seq
      if (before <= 1) break
    }
    return withdrawn
  }

  /** Message `seq` of `conv` as stored: SEQ_RANGE_INVALID when there is none. */
  private async stored(at: ConvSeq): Promise<Message> {
    const [json] = at.seq >= 1 ? await this.engine.messages.after(at.conv, at.seq - 1, 1) : []
    const m = json === undefined ? undefined : (JSON.parse(json) as Message)
    if (!m || m.seq !== at.seq) throw new AppError('SEQ_RANGE_INVALID', `no message ${at.seq} in ${at.conv}`)
    return m
  }

  /**
   * The one retraction: message `m` becomes a `recalled` tombstone in every tier (the store's
   * `retract`), then a `recall` event with its own seq goes to every member like any message
   * (queued for offline members, returned by sync), so every device learns it in order. Of two
   * racing retractions only the one that replaced the content appends the event.
   */
  private async retract(record: ConvRecord, m: Message, by: RetractedBy): Promise<{ readonly event?: number }> {
    const at = Date.now()
    // Same key order as stored JSON (message-json.ts), so the store can peek at its conv and seq.
    const tombstone = JSON.stringify({ mid: m.mid, cid: m.cid, conv: m.conv, seq: m.seq, from: m.from, ts: m.ts, kind: 'recalled', body: { by, at } })
    const outcome = await this.engine.messages.retract(m.conv, m.seq, tombstone)
    if (outcome === 'missing') throw new AppError('SEQ_RANGE_INVALID', `no message ${m.seq} in ${m.conv}`)
    if (outcome === 'already') return {}
    // Quotes of it are content too: scrubbed before the event, so a device paging history after the event finds none.
    await this.scrubQuotes(m.conv, m.seq)
    const result = await this.engine.messages.append({
      conv: m.conv,
      from: m.from,
      cid: `recall-${randomId(12)}`,
      mid: this.nextMid(),
      ts: at,
      kind: 'recall',
      body: { seq: m.seq, by, at },
      dedupWindowMs: this.options.dedupWindowMs,
    })
    // Every device of every member, the sender's asking one too: it applies the event like the others.
    this.delivery.message(record.members, { conv: m.conv, seq: result.msg.seq, json: result.json }, m.from)
    // Then the members' marks: the event is nothing to read, the recalled message no mention any more.
    await this.engine.convs.noteMarks?.(m.conv, record.members, 'event', 'add', result.msg.seq, UNREAD_EXACT_MAX)
    if (record.kind === 'group') await this.noteMentions(record, m, 'remove')
    return { event: result.msg.seq }
  }

  // ---------------------------------------------------------------- receipts, read, typing

  /**
   * Delivery acks: drop acknowledged queue entries, tell 1:1 senders their messages arrived.
   * What one frame causes is bounded by what it can legitimately mean: entries naming the same
   * conversation are one (its highest seq), every seq is checked against the conversation's last
   * seq before anything happens (SEQ_RANGE_INVALID refuses the whole frame), and a receipt goes
   * out only when the connection's delivered mark of that conversation moves up, so a connection
   * causes at most one receipt per message that exists, however often it repeats itself.
   */
  async recv(user: UserId, acks: { readonly acks: readonly ConvSeq[]; readonly q?: string | undefined }, out?: Outlet): Promise<void> {
    if (acks.q !== undefined && !/^\d{1,15}-\d{1,19}$/.test(acks.q)) throw new AppError('INVALID_FRAME', 'recv.q is not a queue cursor')
    const highest = new Map<ConvId, number>()
    for (const a of acks.acks) highest.set(a.conv, Math.max(highest.get(a.conv) ?? 0, a.seq))
    const convs = [...highest.keys()]
    const records: ConvRecord[] = []
    for (const conv of convs) records.push(await this.memberOf(user, conv))
    const states = convs.length > 0 ? await this.engine.convs.states(convs, user) : []
    convs.forEach((conv, i) => {
      const seq = highest.get(conv)!
      if (seq > states[i]!.lastSeq) throw new AppError('SEQ_RANGE_INVALID', `seq ${seq} of ${conv} is past its last seq ${states[i]!.lastSeq}`)
    })
    if (acks.q !== undefined) await this.engine.queue.ack(user, acks.q)
    records.forEach((record, i) => {
      // Group delivery receipts would cost every member's ack times every member: 1:1 only.
      if (record.kind !== 'direct') return
      const conv = convs[i]!
      const seq = highest.get(conv)!
      if (seq === 0) return
      if (out) {
        const marks = (out.delivered ??= new Map())
        if ((marks.get(conv) ?? 0) >= seq) return
        marks.set(conv, seq)
      }
      const others = record.members.filter((m) => m !== user)
      this.receipts.offer(user, conv, seq, (s) => this.delivery.frame(others, 'receipt', encode.receipt({ kind: 'delivered', conv, user, seq: s })))
    })
  }

  /** Move the read mark (never back) and tell the other members, only when it moved. */
  async read(user: UserId, to: ConvSeq, out?: Outlet): Promise<void> {
    const record = await this.memberOf(user, to.conv)
    const [state] = await this.engine.convs.states([to.conv], user)
    if (to.seq > state!.lastSeq) throw new AppError('SEQ_RANGE_INVALID', `seq ${to.seq} is past the last seq ${state!.lastSeq}`)
    // Already read that far: nothing changes, nobody is told (a repeated read causes nothing).
    // The connection's own mark also covers reads of it still in flight (they all saw the old state).
    if (to.seq <= state!.readSeq) return
    if (out) {
      const marks = (out.readMarks ??= new Map())
      if ((marks.get(to.conv) ?? 0) >= to.seq) return
      marks.set(to.conv, to.seq)
    }
    const mark = await this.engine.convs.markRead(to.conv, user, to.seq)
    const json = encode.receipt({ kind: 'read', conv: to.conv, user, seq: mark })
    this.delivery.frame(record.members, 'receipt', json)
  }

  async typing(user: UserId, conv: ConvId): Promise<void> {
    const record = await this.memberOf(user, conv)
    const json = encode.typing({ conv, user })
    this.delivery.frame(record.members.filter((m) => m !== user), 'typing', json)
  }

  async profile(user: UserId): Promise<User> {
    const [me] = await this.engine.users.get([user])
    return me ?? { id: user, name: user }
  }

  /**
   * Users whose id or name starts with `q`. Privacy (bff/README.md): an empty query lists nobody,
   * so the directory cannot be walked from the empty prefix; one finds people one can name.
   */
  async searchUsers(q: string, by?: UserId): Promise<User[]> {
    const prefix = q.trim()
    if (prefix === '') return []
    const found = await this.engine.users.search(prefix, USER_SEARCH_LIMIT)
    // Someone who blocked the searcher is not found (relations).
    return by !== undefined && this.checks.visible ? this.checks.visible(by, found) : found
  }

  // ---------------------------------------------------------------- presence

  /**
   * The users told about `user`'s presence: members of its conversations, bounded. Privacy
   * (bff/README.md): presence goes only to people who share a conversation with the user.
   */
  async contacts(user: UserId, convIds?: readonly ConvId[]): Promise<UserId[]> {
    const out = new Set<UserId>()
    const max = this.options.presenceFanoutMax
    for (const id of convIds ?? (await this.engine.convs.listForUser(user))) {
      // A 1:1's other member is in its id: no record read (a node whose record cache holds fewer
      // conversations than its users have read one per 1:1 at every disconnect, bench:bff storm of
      // 10,000 users). In a note to self, nobody.
      if (id.startsWith('d:')) {
        const peer = directPeer(id, user)
        if (peer === undefined || peer === user) continue
        if (out.size >= max) return [...out]
        out.add(peer)
        continue
      }
      // Cached records without a turn through the microtask queue (20 per reconnect, twice).
      const record = this.convCache.get(id) ?? (await this.record(id))
      // Large groups are left out: a connect storm would cost every member times every member.
      if (!record || record.members.length > PRESENCE_GROUP_MAX) continue
      for (const m of record.members) {
        if (out.size >= max) return [...out]
        if (m !== user) out.add(m)
      }
    }
    return [...out]
  }

  /**
   * The users told about `user`'s presence: `contacts` and, with relations, the user's own
   * contacts (no shared conversation needed), never a user `user` blocked. Bounded by presenceFanoutMax.
   */
  async presenceAudience(user: UserId, convIds?: readonly ConvId[]): Promise<UserId[]> {
    const members = await this.contacts(user, convIds)
    if (!this.checks.presenceAudience) return members
    return (await this.checks.presenceAudience(user, members)).slice(0, this.options.presenceFanoutMax)
  }

  async announcePresence(p: Presence, convIds?: readonly ConvId[]): Promise<void> {
    const contacts = await this.presenceAudience(p.user, convIds)
    if (contacts.length > 0) this.delivery.audience(contacts, 'presence', encode.presence(p))
  }

  /**
   * The user's summary for a device just routed: what `connected` and a `sync` need
   * (`Outlet.summary`), and a `convs` (`Outlet.listing`). Its rejection is handled here: it may never be awaited.
   */
  summary(user: UserId): Promise<Overview> {
    // Last messages as stored JSON (no parsing: what `sync` needs costs the same), for a `convs` the kept read serves.
    const read = this.engine.convs.overview(user, RAW_MESSAGES)
    read.catch(() => {})
    return read
  }

  /**
   * The user's offline queue for a device just routed, read beside `summary` for its first `sync`
   * (`Outlet.queued`). Its rejection is handled here: it may never be awaited.
   */
  queued(user: UserId): Promise<readonly QueueEntry[]> {
    const read = this.engine.queue.read(user, this.options.queueMaxLength)
    read.catch(() => {})
    return read
  }

  /**
   * A device of `user` connected. Tells the contacts it is online when `announce` (its first
   * device on every node, none in its offline grace), and returns the presence of the user's 1:1
   * peers for the new device (it missed their earlier changes), with those peers joined by spaces
   * (`EarlyPresence.peers` of the next connect). One conversation listing serves both. `early`:
   * the peers' presence read beside the summary for the peers the user's previous device had;
   * taken when they are still the peers (else read again).
   */
  async connected(user: UserId, announce: boolean, summary?: Promise<Overview>, early?: EarlyPresence): Promise<{ items: Presence[]; peers: string }> {
    const peers = await this.presencePeers(user, announce, summary)
    if (peers.length === 0) return { items: [], peers: '' }
    const joined = peers.join(' ')
    const kept = early?.peers === joined ? await early.read.catch(() => undefined) : undefined
    return { items: kept ?? (await this.engine.presence.get(peers)), peers: joined }
  }

  /** The users whose presence a new device of `user` is told (`connected`), after announcing it online when `announce`. */
  private async presencePeers(user: UserId, announce: boolean, summary?: Promise<Overview>): Promise<UserId[]> {
    const read = summary ? await summary : undefined
    const ids = read ? read.map((s) => s.conv) : await this.engine.convs.listForUser(user)
    if (announce) await this.announcePresence({ user, online: true }, ids)
    // One array, not map's, filter's and slice's (once per reconnect). Not the user's own, of a
    // note to self: it would take a place of the bound for a presence the device knows.
    const max = this.options.presenceFanoutMax
    let peers: UserId[] = []
    for (let i = 0; i < ids.length && peers.length < max; i++) {
      const peer = directPeer(ids[i]!, user)
      if (peer !== undefined && peer !== user) peers.push(peer)
    }
    // With relations: contacts too, and never the presence of someone who blocked the user.
    // The relations come from the summary when their store folds them into it (`Overview.relations`).
    if (this.checks.presenceSources) peers = (await this.checks.presenceSources(user, peers, read)).slice(0, max)
    return peers
  }
}

/**
 * A 1:1's record from its summary: a 1:1 never changes, and its id and creation time are the whole
 * of it (members the two ids in the id's order, as `createDirect` stores them; no title, roles or
 * revision), so it equals the stored record field for field and hashes alike (list-tag.ts).
 * Undefined for a group, or when the engine's summary has no creation time: read the record then.
 */
function directRecord(s: ConvSummary): ConvRecord | undefined {
  if (s.createdAt === undefined) return undefined
  const members = directMembers(s.conv)
  return members ? { id: s.conv, kind: 'direct', members, createdAt: s.createdAt } : undefined
}

/** The members a list names of `record`: a group's first `max` when it has more (protocol 3), else all. */
function listedMembers(record: ConvRecord, max: number | undefined): readonly UserId[] {
  return max !== undefined && record.kind === 'group' && record.members.length > max ? record.members.slice(0, max) : record.members
}

function conversationOf(
  record: ConvRecord,
  profiles: readonly User[] | ReadonlyMap<UserId, User>,
  state: { lastSeq: number; lastMsg?: Message | undefined; readSeq: number },
  peerRead?: number,
  viewer?: UserId,
  membersMax?: number,
): Conversation {
  // A list passes one map for all its conversations (one per conversation cost a reconnect 20).
  const byId: ReadonlyMap<UserId, User> = isProfileList(profiles) ? new Map(profiles.map((p): [UserId, User] => [p.id, p])) : profiles
  // A member who joined later has nothing before their joining seq to read (nor unread).
  const joinedSeq = viewer !== undefined ? (record.joined?.[viewer] ?? 0) : 0
  // Not a copy of `state` (a summary entry, a dozen fields) per listed conversation: its read mark alone.
  const readSeq = Math.max(state.readSeq, joinedSeq)
  const conv: Conversation = {
    id: record.id,
    kind: record.kind,
    members: listedMembers(record, membersMax).map((m) => byId.get(m) ?? { id: m, name: m }),
    createdAt: record.createdAt,
    lastSeq: state.lastSeq,
    readSeq: Math.min(readSeq, state.lastSeq),
    unread: Math.max(0, state.lastSeq - readSeq),
  }
  if (conv.members.length < record.members.length) conv.memberCount = record.members.length
  if (record.title !== undefined) conv.title = record.title
  if (state.lastMsg) conv.lastMsg = state.lastMsg
  if (peerRead !== undefined) conv.peerRead = peerRead
  if (record.kind === 'group') {
    conv.owner = ownerOf(record)
    conv.admins = [...(record.admins ?? [])]
    conv.joinedSeq = joinedSeq
  }
  return conv
}

/**
 * `unreadMarks` from the summary's marks "<events>|<mentions>" (seqs, ascending): the recall events
 * among the unread seqs leave `unread`, and the newest unread mention among the newest
 * MENTION_SCAN_MAX is the group's `mentionSeq`, as a read of those messages would find them.
 */
function fromMarks(c: Conversation, marks: string, exact: boolean, group: boolean): void {
  const bar = marks.indexOf('|')
  if (exact && bar > 0) {
    let events = 0
    for (const s of marks.slice(0, bar).split(' ')) {
      const seq = Number(s)
      if (seq > c.readSeq && seq <= c.lastSeq) events++
    }
    if (events > 0) c.unread = Math.max(0, c.unread - events)
  }
  if (!group || bar < 0 || bar === marks.length - 1) return
  const floor = Math.max(c.readSeq, c.lastSeq - MENTION_SCAN_MAX)
  const list = marks.slice(bar + 1).split(' ')
  for (let i = list.length - 1; i >= 0; i--) {
    const seq = Number(list[i])
    if (seq <= floor) break
    if (seq <= c.lastSeq) {
      c.mentionSeq = seq
      break
    }
  }
}

/** A file message's body from the resolver, another component: checked like any input (FILE_NOT_FOUND). */
function checkedFile(body: unknown, fileId: string, kind: 'image' | 'file'): MessageBody {
  const parsed = v.safeParse(kind === 'image' ? schemas.ImageBody : schemas.FileBody, body)
  if (!parsed.success || parsed.output.fileId !== fileId) throw new AppError('FILE_NOT_FOUND', `file ${fileId} cannot be sent as ${kind}`)
  return parsed.output
}

function isProfileList(profiles: readonly User[] | ReadonlyMap<UserId, User>): profiles is readonly User[] {
  return Array.isArray(profiles)
}

/** A group's owner: its record's, or the first member for a group stored before roles. */
function ownerOf(record: ConvRecord): UserId | undefined {
  return record.owner ?? record.members[0]
}

function roleOf(record: ConvRecord, user: UserId): Role {
  if (ownerOf(record) === user) return 'owner'
  return record.admins?.includes(user) ? 'admin' : 'member'
}

/** The record without `user` (as member, admin and joiner). */
function without(record: ConvRecord, user: UserId): ConvRecord {
  const joined = { ...record.joined }
  delete joined[user]
  return { ...record, members: record.members.filter((m) => m !== user), admins: (record.admins ?? []).filter((a) => a !== user), joined }
}

function activity(c: Conversation): number {
  return lastPlace(c)?.ts ?? c.createdAt
}
