/**
 * The messaging domain: plain objects in, frames out through `Delivery` and the `Reply` callbacks.
 * It knows nothing of sockets or HTTP. Every operation on a conversation first checks membership
 * (NOT_MEMBER); seqs named by a client are checked against the conversation's last seq.
 */
import * as v from 'valibot'
import { AppError, LIMITS, directConvId, directMembers, randomId, schemas } from '@chat/shared'
import type { ClientFrameOf, ConvId, Conversation, Message, Presence, User, UserId } from '@chat/shared'
import type { Engine, ConvRecord, MessageBody } from '../store/types'
import type { Delivery, MessageRef } from './delivery'
import { peekMessage } from './delivery'
import type { FileResolver } from './files'
import { SentSeqs, type Connection } from '../gateway/connection'
import { NO_CHECKS, type SendChecks } from '../wechat/security'

export interface ChatOptions {
  readonly dedupWindowMs: number
  readonly queueMaxLength: number
  readonly presenceFanoutMax: number
  /** Unsent bytes at which a sync waits for the socket to drain before its next batch. */
  readonly syncPauseBytes: number
}

/** Most conversation records cached in process (members never change, so entries never go stale). */
const CONV_CACHE_MAX = 50_000
/** A sync or history reply frame holds at most this many messages... */
const BATCH_MAX_MSGS = LIMITS.maxPageSize
/** ...and about this many bytes, so one frame stays small for a mini-program to parse. */
const BATCH_MAX_BYTES = 256 * 1024
/** Groups larger than this get no presence pushes (see `contacts`). */
const PRESENCE_GROUP_MAX = 100
/** Users returned by one `users` query. */
const USER_SEARCH_LIMIT = 20

export interface Ack {
  readonly msg: Message
  readonly dup: boolean
}

export class ChatService {
  private readonly convCache = new Map<ConvId, ConvRecord>()
  /**
   * 1:1 conversations being created by a first message, so that the sends racing it (a queued
   * outbox resent at once) wait for the same creation and keep their order: each racing send
   * creating on its own let a later one finish first and take seq 1.
   */
  private readonly implicit = new Map<ConvId, Promise<unknown>>()
  /** Server message ids: a random prefix per process and a counter (no random bytes per message). */
  private readonly midPrefix = randomId(10)
  private midCounter = 0

  constructor(
    private readonly engine: Engine,
    private readonly delivery: Delivery,
    private readonly files: FileResolver,
    private readonly options: ChatOptions,
    /** Content security of a send before it is stored (bff/src/wechat/security.ts). */
    private readonly checks: SendChecks = NO_CHECKS,
  ) {}

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

  private async record(conv: ConvId): Promise<ConvRecord | undefined> {
    const cached = this.convCache.get(conv)
    if (cached) return cached
    const record = await this.engine.convs.get(conv)
    if (record) this.remember(record)
    return record
  }

  private remember(record: ConvRecord): void {
    if (this.convCache.size >= CONV_CACHE_MAX) {
      const oldest = this.convCache.keys().next().value
      if (oldest !== undefined) this.convCache.delete(oldest)
    }
    this.convCache.set(record.id, record)
  }

  /**
   * Create a 1:1 or group conversation (a 1:1 that exists is returned as it is). Every member's
   * devices get a `conv` frame; the creator's asking connection gets it with `rid` instead.
   */
  async create(
    user: User,
    frame: ClientFrameOf<'conv.create'>,
    conn?: Connection,
  ): Promise<Conversation> {
    const others = [...new Set(frame.members)].filter((m) => m !== user.id)
    let record: ConvRecord
    if (frame.kind === 'direct') {
      if (others.length !== 1 || frame.members.length !== 1) {
        throw new AppError('INVALID_FRAME', 'a direct conversation has exactly one other member')
      }
      record = { id: directConvId(user.id, others[0]!), kind: 'direct', members: [user.id, others[0]!].sort(), createdAt: Date.now() }
      // Opening a new 1:1 is the other's to allow (relations); one that exists stays open.
      if (this.checks.open && !(await this.record(record.id))) await this.checks.open(user.id, others[0]!)
    } else {
      if (others.length + 1 > LIMITS.maxGroupMembers) throw new AppError('INVALID_FRAME', `a group has at most ${LIMITS.maxGroupMembers} members`)
      record = { id: `g:${randomId(16)}`, kind: 'group', title: frame.title, members: [user.id, ...others], createdAt: Date.now() }
    }
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
    const conv = conversationOf(stored, profiles, state!, peerRead)
    if (created) {
      // Everyone starts with nothing read, so one frame (without rid) fits every other device.
      const json = JSON.stringify({ type: 'conv', conv: { ...conv, readSeq: 0, unread: 0, ...(conv.peerRead !== undefined ? { peerRead: 0 } : {}) } })
      this.delivery.frame(stored.members, 'conv', json, conn)
      // The two met only now: neither got the other's presence at connect. Best effort: a failed
      // read leaves it to the next connect.
      if (stored.kind === 'direct') await this.introduce(stored.members).catch(() => {})
    }
    return conv
  }

  /** Tell each member of a new 1:1 the other's presence. */
  private async introduce(members: readonly UserId[]): Promise<void> {
    for (const p of await this.engine.presence.get(members)) {
      const others = members.filter((m) => m !== p.user)
      this.delivery.frame(others, 'presence', JSON.stringify({ type: 'presence', ...p }))
    }
  }

  /** The user's conversations, newest activity first. */
  async list(user: UserId): Promise<Conversation[]> {
    const ids = await this.engine.convs.listForUser(user)
    const records = (await Promise.all(ids.map((id) => this.record(id)))).filter((r): r is ConvRecord => r !== undefined)
    const states = await this.engine.convs.states(
      records.map((r) => r.id),
      user,
    )
    const memberIds = [...new Set(records.flatMap((r) => r.members))]
    const profiles = await this.engine.users.get(memberIds)
    const peerReads = await this.peerReads(records, user)
    const convs = records.map((r, i) => conversationOf(r, profiles, states[i]!, peerReads[i]))
    for (const c of convs) {
      if (c.lastMsg && c.lastMsg.kind !== 'text' && this.files.refreshUrls) c.lastMsg = JSON.parse(this.files.refreshUrls(JSON.stringify(c.lastMsg))) as Message
    }
    return convs.sort((a, b) => activity(b) - activity(a))
  }

  /** Stored messages with their file URLs signed afresh (a stored one keeps the URLs of its send). */
  private currentUrls(msgs: string[]): string[] {
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
        const peer = r.members.find((m) => m !== user) ?? user
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
  async send(user: UserId, frame: ClientFrameOf<'send'>, conn?: Connection): Promise<Ack> {
    // The conversation is almost always cached: checked without a round through the event loop.
    const cached = this.convCache.get(frame.conv)
    const record = cached?.members.includes(user) ? cached : await this.sendTarget(user, frame.conv)
    if (this.checks.direct && record.kind === 'direct') await this.checks.direct(user, frame.conv)
    const body = frame.kind === 'text' ? { text: frame.body.text } : await this.fileBody(frame.body.fileId, user, frame.conv, frame.kind)
    if (frame.kind === 'text' && this.checks !== NO_CHECKS) await this.checks.text(user, frame.conv, frame.cid, frame.body.text)
    const result = await this.engine.messages.append({
      conv: frame.conv,
      from: user,
      cid: frame.cid,
      mid: this.nextMid(),
      ts: Date.now(),
      kind: frame.kind,
      body,
      dedupWindowMs: this.options.dedupWindowMs,
    })
    if (!result.dup) {
      const ref: MessageRef = { conv: frame.conv, seq: result.msg.seq, json: result.json }
      this.delivery.message(record.members, ref, user, conn)
    }
    return { msg: result.msg, dup: result.dup }
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
        const other = directMembers(conv)!.find((m) => m !== user) ?? user
        creating = this.profile(user)
          .then((me) => this.create(me, { type: 'conv.create', rid: 'implicit', kind: 'direct', members: [other] }))
          .finally(() => this.implicit.delete(conv))
        this.implicit.set(conv, creating)
      }
      await creating
      return this.memberOf(user, conv)
    }
  }

  private async fileBody(fileId: string, user: UserId, conv: ConvId, kind: 'image' | 'file'): Promise<MessageBody> {
    const body = await this.files.resolve(fileId, user, conv, kind)
    // The resolver is another component: what it returns is checked like any input.
    const schema = kind === 'image' ? schemas.ImageBody : schemas.FileBody
    const parsed = v.safeParse(schema, body)
    if (!parsed.success || parsed.output.fileId !== fileId) throw new AppError('FILE_NOT_FOUND', `file ${fileId} cannot be sent as ${kind}`)
    return parsed.output
  }

  /** One page of history before `before` (exclusive), ascending. Returns the reply frame JSON. */
  async history(user: UserId, frame: ClientFrameOf<'history'>): Promise<string> {
    await this.memberOf(user, frame.conv)
    const [state] = await this.engine.convs.states([frame.conv], user)
    if (frame.before !== undefined && frame.before > state!.lastSeq + 1) {
      throw new AppError('SEQ_RANGE_INVALID', `before ${frame.before} is past the last seq ${state!.lastSeq} + 1`)
    }
    const page = await this.engine.messages.before(frame.conv, frame.before, frame.limit ?? LIMITS.defaultPageSize)
    // One frame stays within BATCH_MAX_BYTES like a sync batch: the newest messages of the page
    // that fit (at least one), `more` telling the client to page on from the first of them.
    let start = page.length
    let bytes = 0
    while (start > 0 && (bytes === 0 || bytes + page[start - 1]!.length <= BATCH_MAX_BYTES)) bytes += page[--start]!.length
    const msgs = start === 0 ? page : page.slice(start)
    const first = msgs.length > 0 ? peekMessage(msgs[0]!)!.seq : 1
    return messagesFrame(frame.rid, frame.conv, this.currentUrls(msgs), first > 1)
  }

  /**
   * Catch-up (PROTOCOL.md, "Catch-up after (re)connect"): for every conversation of the user,
   * everything after the client's cursor in ascending seq (from the conversation's recent window,
   * or the archive below it), or the newest page without a cursor; then
   * `sync.done` with the queue cursor. No seq goes out twice on the connection,
   * whether its live push lands before, during or after the sync (`SentSeqs`), and batches wait for
   * the socket to drain instead of piling up in memory.
   */
  async sync(user: UserId, frame: ClientFrameOf<'sync'>, conn: Connection): Promise<void> {
    const sent = (conn.sent ??= new SentSeqs())
    const ids = await this.engine.convs.listForUser(user)
    const mine = new Set(ids)
    const cursors = new Map<ConvId, number>()
    for (const c of frame.cursors) {
      if (!mine.has(c.conv)) throw new AppError('NOT_MEMBER', `not a member of ${c.conv}`)
      cursors.set(c.conv, Math.max(cursors.get(c.conv) ?? 0, c.seq))
    }
    const states = await this.engine.convs.states(ids, user)
    ids.forEach((id, i) => {
      const cursor = cursors.get(id)
      if (cursor !== undefined && cursor > states[i]!.lastSeq) {
        throw new AppError('SEQ_RANGE_INVALID', `cursor ${cursor} of ${id} is past its last seq ${states[i]!.lastSeq}`)
      }
    })
    // The client holds everything up to its cursors: a live push of those is not sent again.
    for (const [conv, cursor] of cursors) sent.raise(conv, cursor)

    // The queue holds references only: what it names is read below with everything else, and
    // its last id is the cursor the client acknowledges.
    const queued = await this.engine.queue.read(user, this.options.queueMaxLength)

    for (let i = 0; i < ids.length; i++) {
      const conv = ids[i]!
      const lastSeq = states[i]!.lastSeq
      const cursor = cursors.get(conv)
      if (cursor === undefined) {
        const page = await this.engine.messages.before(conv, undefined, LIMITS.defaultPageSize)
        const first = page.length > 0 ? peekMessage(page[0]!)!.seq : 1
        await this.emit(conn, frame.rid, conv, page, first > 1, sent)
        continue
      }
      if (cursor >= lastSeq) continue
      // From the window (or the archive below it), page by page up to the last seq seen when the sync began (later ones come live).
      let after = cursor
      while (after < lastSeq) {
        const page = await this.engine.messages.after(conv, after, Math.min(BATCH_MAX_MSGS, lastSeq - after))
        if (page.length === 0) break
        after = peekMessage(page[page.length - 1]!)!.seq
        await this.emit(conn, frame.rid, conv, page, after < lastSeq, sent)
      }
    }
    const done: { type: 'sync.done'; rid: string; q?: string } = { type: 'sync.done', rid: frame.rid }
    const lastEntry = queued[queued.length - 1]
    if (lastEntry) done.q = lastEntry.id
    conn.reply(JSON.stringify(done), 'sync.done')
  }

  /** Send `msgs` (a contiguous seq range) of one conversation in batches, skipping seqs already pushed live. */
  private async emit(conn: Connection, rid: string, conv: ConvId, msgs: string[], more: boolean, sent: SentSeqs): Promise<void> {
    if (msgs.length === 0) return
    const keep = this.currentUrls(msgs.filter((m) => !sent.has(conv, peekMessage(m)!.seq)))
    // From here on, live pushes of this range are dropped: the batches below carry them.
    sent.raise(conv, peekMessage(msgs[msgs.length - 1]!)!.seq)
    let start = 0
    while (start < keep.length) {
      let end = start
      let bytes = 0
      while (end < keep.length && end - start < BATCH_MAX_MSGS && (bytes === 0 || bytes + keep[end]!.length <= BATCH_MAX_BYTES)) {
        bytes += keep[end]!.length
        end++
      }
      const json = messagesFrame(rid, conv, keep.slice(start, end), end < keep.length ? true : more)
      // Pace to the reader: a sync of thousands of messages must not sit in server memory.
      const written = conn.ws.bufferedAmount > this.options.syncPauseBytes ? await conn.writeAndWait(json, 'messages') : conn.reply(json, 'messages')
      if (!written) throw new AppError('INTERNAL', 'connection closed during sync')
      start = end
    }
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
  async recv(user: UserId, frame: ClientFrameOf<'recv'>, conn?: Connection): Promise<void> {
    if (frame.q !== undefined && !/^\d{1,15}-\d{1,19}$/.test(frame.q)) throw new AppError('INVALID_FRAME', 'recv.q is not a queue cursor')
    const highest = new Map<ConvId, number>()
    for (const a of frame.acks) highest.set(a.conv, Math.max(highest.get(a.conv) ?? 0, a.seq))
    const convs = [...highest.keys()]
    const records: ConvRecord[] = []
    for (const conv of convs) records.push(await this.memberOf(user, conv))
    const states = convs.length > 0 ? await this.engine.convs.states(convs, user) : []
    convs.forEach((conv, i) => {
      const seq = highest.get(conv)!
      if (seq > states[i]!.lastSeq) throw new AppError('SEQ_RANGE_INVALID', `seq ${seq} of ${conv} is past its last seq ${states[i]!.lastSeq}`)
    })
    if (frame.q !== undefined) await this.engine.queue.ack(user, frame.q)
    records.forEach((record, i) => {
      // Group delivery receipts would cost every member's ack times every member: 1:1 only.
      if (record.kind !== 'direct') return
      const conv = convs[i]!
      const seq = highest.get(conv)!
      if (seq === 0) return
      if (conn) {
        const marks = (conn.delivered ??= new Map())
        if ((marks.get(conv) ?? 0) >= seq) return
        marks.set(conv, seq)
      }
      const json = JSON.stringify({ type: 'receipt', kind: 'delivered', conv, user, seq })
      this.delivery.frame(record.members.filter((m) => m !== user), 'receipt', json)
    })
  }

  /** Move the read mark (never back) and tell the other members, only when it moved. */
  async read(user: UserId, frame: ClientFrameOf<'read'>, conn?: Connection): Promise<void> {
    const record = await this.memberOf(user, frame.conv)
    const [state] = await this.engine.convs.states([frame.conv], user)
    if (frame.seq > state!.lastSeq) throw new AppError('SEQ_RANGE_INVALID', `seq ${frame.seq} is past the last seq ${state!.lastSeq}`)
    // Already read that far: nothing changes, nobody is told (a repeated read causes nothing).
    // The connection's own mark also covers reads of it still in flight (they all saw the old state).
    if (frame.seq <= state!.readSeq) return
    if (conn) {
      const marks = (conn.readMarks ??= new Map())
      if ((marks.get(frame.conv) ?? 0) >= frame.seq) return
      marks.set(frame.conv, frame.seq)
    }
    const mark = await this.engine.convs.markRead(frame.conv, user, frame.seq)
    const json = JSON.stringify({ type: 'receipt', kind: 'read', conv: frame.conv, user, seq: mark })
    this.delivery.frame(record.members, 'receipt', json)
  }

  async typing(user: UserId, frame: ClientFrameOf<'typing'>): Promise<void> {
    const record = await this.memberOf(user, frame.conv)
    const json = JSON.stringify({ type: 'typing', conv: frame.conv, user })
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
      const record = await this.record(id)
      // Large groups are left out: a connect storm would cost every member times every member.
      if (!record || record.members.length > PRESENCE_GROUP_MAX) continue
      for (const m of record.members) {
        if (out.size >= max) return [...out]
        if (m !== user) out.add(m)
      }
    }
    return [...out]
  }

  async announcePresence(p: Presence, convIds?: readonly ConvId[]): Promise<void> {
    const contacts = await this.contacts(p.user, convIds)
    if (contacts.length > 0) this.delivery.frame(contacts, 'presence', JSON.stringify({ type: 'presence', ...p }))
  }

  /**
   * A device of `user` connected (`devices`: the user's devices on every node now). Tells the
   * contacts when it is the first, and returns the presence of the user's 1:1 peers for the new
   * device (it missed their earlier changes). One conversation listing serves both.
   */
  async connected(user: UserId, devices: number): Promise<Presence[]> {
    const ids = await this.engine.convs.listForUser(user)
    if (devices === 1) await this.announcePresence({ user, online: true }, ids)
    const peers = ids
      .map((id) => directMembers(id))
      .filter((m): m is [UserId, UserId] => m !== undefined)
      .map(([a, b]) => (a === user ? b : a))
      .slice(0, this.options.presenceFanoutMax)
    return peers.length > 0 ? this.engine.presence.get(peers) : []
  }
}

/** `messages` frame around stored message JSON, without parsing it. */
export function messagesFrame(rid: string, conv: ConvId, msgs: readonly string[], more: boolean): string {
  return `{"type":"messages","rid":${JSON.stringify(rid)},"conv":"${conv}","msgs":[${msgs.join(',')}],"more":${more}}`
}

function conversationOf(
  record: ConvRecord,
  profiles: readonly User[],
  state: { lastSeq: number; lastMsg?: Message | undefined; readSeq: number },
  peerRead?: number,
): Conversation {
  const byId = new Map(profiles.map((p) => [p.id, p]))
  const conv: Conversation = {
    id: record.id,
    kind: record.kind,
    members: record.members.map((m) => byId.get(m) ?? { id: m, name: m }),
    createdAt: record.createdAt,
    lastSeq: state.lastSeq,
    readSeq: Math.min(state.readSeq, state.lastSeq),
    unread: Math.max(0, state.lastSeq - state.readSeq),
  }
  if (record.title !== undefined) conv.title = record.title
  if (state.lastMsg) conv.lastMsg = state.lastMsg
  if (peerRead !== undefined) conv.peerRead = peerRead
  return conv
}

function activity(c: Conversation): number {
  return c.lastMsg?.ts ?? c.createdAt
}
