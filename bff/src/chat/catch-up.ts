/**
 * Catch-up: history pages and the sync after (re)connect, in frames of bounded size, paced to the
 * reader through the outlet (a sync of thousands of messages must not sit in server memory), and
 * never sending a connection the same seq twice (SentSeqs).
 */
import { AppError, LIMITS } from '@chat/shared'
import type { ConvId, UserId } from '@chat/shared'
import { peekMessage } from '../store/message-json'
import type { Engine } from '../store/types'
import { encode } from './frames'
import type { Outlet } from './outlet'
import { SentSeqs } from './sent-seqs'
import { withHidden } from './settings'

/** A sync or history reply frame holds at most this many messages... */
const BATCH_MAX_MSGS = LIMITS.maxPageSize
/** ...and about this many bytes, so one frame stays small for a mini-program to parse. */
const BATCH_MAX_BYTES = 256 * 1024

/** The summary read of a sync: seqs and ids, no last messages (their JSON.parse was the largest item of a reconnect's profile). */
export const SEQS_ONLY = { messages: false } as const

/**
 * Messages after a device's cursor searched for the change that ended its user's membership of a
 * group (see `CatchUp.ending`).
 */
export const ENDING_SCAN_MAX = 1000

/** A position in one conversation: every seq up to `seq`. */
export interface ConvSeq {
  readonly conv: ConvId
  readonly seq: number
}

/** One page of stored message JSON, ascending; `more` when older ones exist. */
export interface HistoryPage {
  readonly conv: ConvId
  readonly msgs: readonly string[]
  readonly more: boolean
}

/** A page of history: before `before` (exclusive; omitted: the newest), at most `limit` (default LIMITS.defaultPageSize). */
export interface HistoryQuery {
  readonly conv: ConvId
  readonly before?: number | undefined
  readonly limit?: number | undefined
}

export interface CatchUpDeps {
  readonly engine: Engine
  /** The seq at which `user` joined `conv` (0: a founding member): nothing up to it is theirs to read. */
  readonly floor: (conv: ConvId, user: UserId) => Promise<number>
  /** Stored message JSON with its file URLs signed afresh. */
  readonly currentUrls: (msgs: readonly string[]) => readonly string[]
  /** Offline queue entries read by one sync. */
  readonly queueMaxLength: number
  /** Unsent bytes at which a sync waits for the outlet to drain before its next batch. */
  readonly syncPauseBytes: number
  /**
   * The process's one string for a conversation id, when it has one (its cached record's): what a
   * connection keeps per conversation is keyed by it rather than by a fresh copy from every reply.
   */
  readonly canonical?: (conv: ConvId) => ConvId
  /** The seqs of `conv` that `user` deleted for themself: returned to them as `hidden` tombstones (chat/settings.ts). */
  readonly hidden?: (user: UserId, conv: ConvId) => Promise<ReadonlySet<number>>
  /** The conversations in which `user` deleted any message for themself: a sync reads `hidden` for those only. */
  readonly hiddenConvs?: (user: UserId) => Promise<ReadonlySet<ConvId>>
}

export class CatchUp {
  constructor(private readonly deps: CatchUpDeps) {}

  /** One page of history before `before` (exclusive), ascending, with file URLs signed afresh. Membership is the caller's check. */
  async history(user: UserId, at: HistoryQuery): Promise<HistoryPage> {
    const [state] = await this.deps.engine.convs.states([at.conv], user)
    if (at.before !== undefined && at.before > state!.lastSeq + 1) {
      throw new AppError('SEQ_RANGE_INVALID', `before ${at.before} is past the last seq ${state!.lastSeq} + 1`)
    }
    const floor = await this.deps.floor(at.conv, user)
    if (at.before !== undefined && at.before <= floor + 1) {
      throw new AppError('SEQ_RANGE_INVALID', `before ${at.before}: this member reads from seq ${floor + 1}`)
    }
    const page = above(await this.deps.engine.messages.before(at.conv, at.before, at.limit ?? LIMITS.defaultPageSize), floor)
    // One frame stays within BATCH_MAX_BYTES like a sync batch: the newest messages of the page
    // that fit (at least one), `more` telling the client to page on from the first of them.
    let start = page.length
    let bytes = 0
    while (start > 0 && (bytes === 0 || bytes + page[start - 1]!.length <= BATCH_MAX_BYTES)) bytes += page[--start]!.length
    const msgs = start === 0 ? page : page.slice(start)
    const first = msgs.length > 0 ? peekMessage(msgs[0]!)!.seq : 1
    const shown = msgs.length > 0 && this.deps.hidden ? withHidden(msgs, await this.deps.hidden(user, at.conv)) : msgs
    return { conv: at.conv, msgs: this.deps.currentUrls(shown), more: first > floor + 1 }
  }

  /**
   * Catch-up (PROTOCOL.md, "Catch-up after (re)connect"): for every conversation of the user,
   * everything after the client's cursor in ascending seq (from the conversation's recent window,
   * or the archive below it), or the newest page without a cursor; then
   * `sync.done` with the queue cursor. No seq goes out twice on the connection,
   * whether its live push lands before, during or after the sync (`SentSeqs`), and batches wait for
   * the outlet to drain instead of piling up in memory. Every batch and `sync.done` carry `rid`.
   */
  async sync(user: UserId, rid: string, given: readonly ConvSeq[], out: Outlet): Promise<void> {
    const sent = (out.sent ??= new SentSeqs())
    // The user's summary: every conversation's last seq in a fixed number of store round trips
    // (seqs only: the last messages are not parsed). The first sync of a connection starts from
    // the one read at its `welcome` (`Outlet.summary`): read once the connection was routed, so
    // whatever came after it reaches the connection live, as after a read made here.
    const early = out.summary
    const earlyQueue = out.queued
    out.summary = out.queued = undefined
    let states = early ? await early.catch(() => undefined) : undefined
    // Each conversation's place in `states`: one index serves the check below, membership and the cursors.
    let at = states && indexOf(states)
    // A cursor it does not cover (a conversation new since, or a message the device got live
    // meanwhile): read afresh.
    if (!states || !at || !covers(states, at, given)) {
      // Something changed since that read: the `convs` it was kept for reads afresh too.
      out.listing = undefined
      states = await this.deps.engine.convs.overview(user, SEQS_ONLY)
      at = indexOf(states)
    }
    const canon = this.deps.canonical
    const ids = states.map((s) => (canon ? canon(s.conv) : s.conv))
    // The highest cursor given per conversation of `states`, by index (none given: undefined).
    const cursors = new Array<number | undefined>(states.length)
    const endings: string[] = []
    for (const c of given) {
      const i = at.get(c.conv)
      if (i === undefined) {
        // A group the user left or was removed from: their devices still hold its cursor, and
        // nothing after it is theirs but the change that ended it, which a device away at the time
        // gets here. The rest of the sync goes on (PROTOCOL.md, Groups).
        if (c.conv.startsWith('g:') && (await this.deps.engine.convs.get(c.conv))) {
          const end = await this.ending(user, c.conv, c.seq)
          if (end !== undefined) endings.push(end)
          continue
        }
        throw new AppError('NOT_MEMBER', `not a member of ${c.conv}`)
      }
      cursors[i] = Math.max(cursors[i] ?? 0, c.seq)
    }
    for (let i = 0; i < ids.length; i++) {
      const cursor = cursors[i]
      if (cursor !== undefined && cursor > states[i]!.lastSeq) {
        throw new AppError('SEQ_RANGE_INVALID', `cursor ${cursor} of ${ids[i]} is past its last seq ${states[i]!.lastSeq}`)
      }
    }
    // The client holds everything up to its cursors: a live push of those is not sent again.
    for (let i = 0; i < ids.length; i++) if (cursors[i] !== undefined) sent.raise(ids[i]!, cursors[i]!)

    // The queue holds references only: what it names is read below with everything else, and
    // its last id is the cursor the client acknowledges. The first sync of a connection takes the
    // read made at its `welcome`, after the routing like the summary's (`Outlet.queued`): an entry
    // queued after it is left for the next acknowledgement, its message reaches the connection
    // live or through the cursors. A failed early read is made again here.
    const queued = (earlyQueue && (await earlyQueue.catch(() => undefined))) ?? (await this.deps.engine.queue.read(user, this.deps.queueMaxLength))
    // One read for the whole sync, at its first conversation with something to send: most users
    // hid nothing, and a reconnect whose cursors are all up to date (the usual case) reads nothing.
    let hidingRead: Promise<ReadonlySet<ConvId>> | undefined
    const hider = async (conv: ConvId): Promise<UserId | undefined> => {
      hidingRead ??= this.deps.hiddenConvs ? this.deps.hiddenConvs(user) : Promise.resolve(NO_CONVS)
      return (await hidingRead).has(conv) ? user : undefined
    }

    for (let i = 0; i < ids.length; i++) {
      const conv = ids[i]!
      const lastSeq = states[i]!.lastSeq
      const given = cursors[i]
      // Up to date (a reconnect's usual case): nothing to read, the joining seq cannot matter.
      if (given !== undefined && given >= lastSeq) continue
      const floor = await this.deps.floor(conv, user)
      if (given === undefined) {
        const page = above(await this.deps.engine.messages.before(conv, undefined, LIMITS.defaultPageSize), floor)
        const first = page.length > 0 ? peekMessage(page[0]!)!.seq : floor + 1
        if (page.length > 0) await this.emit(out, rid, conv, page, first > floor + 1, sent, await hider(conv))
        continue
      }
      // A member who joined later starts at their joining seq, whatever the cursor says.
      const cursor = Math.max(given, floor)
      if (cursor >= lastSeq) continue
      // From the window (or the archive below it), page by page up to the last seq seen when the sync began (later ones come live).
      let after = cursor
      while (after < lastSeq) {
        const page = await this.deps.engine.messages.after(conv, after, Math.min(BATCH_MAX_MSGS, lastSeq - after))
        if (page.length === 0) break
        after = peekMessage(page[page.length - 1]!)!.seq
        await this.emit(out, rid, conv, page, after < lastSeq, sent, await hider(conv))
      }
    }
    for (const end of endings) await this.emit(out, rid, peekMessage(end)!.conv, [end], false, sent)
    const lastEntry = queued[queued.length - 1]
    out.reply(encode.syncDone(lastEntry ? { rid, q: lastEntry.id } : { rid }), 'sync.done')
  }

  /**
   * The `system` message after `cursor` that ended `user`'s membership of `conv` (removed, left,
   * dissolved while a member), the last one among the ENDING_SCAN_MAX messages from the cursor on;
   * undefined when there is none there. Only that message: what came between the cursor and it is not sent (the
   * device was away), and nothing after it is theirs. A group id is random, so a cursor for it
   * comes from a device that was in it.
   */
  private async ending(user: UserId, conv: ConvId, cursor: number): Promise<string | undefined> {
    let found: string | undefined
    // From the cursor's own message: a device that holds its removal is not told of a later dissolve.
    let member = true
    let after = Math.max(0, cursor - 1)
    for (let scanned = 0; scanned < ENDING_SCAN_MAX; ) {
      const page = await this.deps.engine.messages.after(conv, after, Math.min(BATCH_MAX_MSGS, ENDING_SCAN_MAX - scanned))
      if (page.length === 0) break
      scanned += page.length
      for (const json of page) {
        if (!json.includes('"kind":"system"')) continue
        const m = JSON.parse(json) as { seq: number; from: UserId; body: { op?: string; users?: UserId[] } }
        const b = m.body
        const named = b.users?.includes(user) === true
        if (b.op === 'add' && named) member = true
        else if (member && ((b.op === 'remove' && named) || (b.op === 'leave' && m.from === user) || b.op === 'dissolve')) {
          member = false
          found = m.seq > cursor ? json : undefined
        }
      }
      after = peekMessage(page[page.length - 1]!)!.seq
    }
    return found
  }

  /**
   * Send `msgs` (a contiguous seq range) of one conversation in batches, skipping seqs already
   * pushed live; `hider`: the user whose hidden messages of `conv` go out as tombstones (absent: none hidden).
   */
  private async emit(out: Outlet, rid: string, conv: ConvId, msgs: string[], more: boolean, sent: SentSeqs, hider?: UserId): Promise<void> {
    if (msgs.length === 0) return
    // Read before the filter below: between it and `sent.raise` nothing may wait (a live push would go out twice).
    const hidden = hider !== undefined && this.deps.hidden ? await this.deps.hidden(hider, conv) : undefined
    const fresh = msgs.filter((m) => !sent.has(conv, peekMessage(m)!.seq))
    const keep = this.deps.currentUrls(hidden ? withHidden(fresh, hidden) : fresh)
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
      const json = encode.messages(rid, conv, keep.slice(start, end), end < keep.length ? true : more)
      // Pace to the reader: a sync of thousands of messages must not sit in server memory.
      const written = out.backlogged(this.deps.syncPauseBytes) ? await out.replyAndDrain(json, 'messages') : out.reply(json, 'messages')
      if (!written) throw new AppError('INTERNAL', 'connection closed during sync')
      start = end
    }
  }
}

const NO_CONVS: ReadonlySet<ConvId> = new Set()

/** Each conversation's index in `states` (a conversation listed twice: its first). */
function indexOf(states: readonly ConvSeqState[]): Map<ConvId, number> {
  const at = new Map<ConvId, number>()
  for (let i = 0; i < states.length; i++) if (!at.has(states[i]!.conv)) at.set(states[i]!.conv, i)
  return at
}

/** Whether every cursor names a conversation of `states` (indexed by `at`) at or below its last seq. */
function covers(states: readonly ConvSeqState[], at: ReadonlyMap<ConvId, number>, given: readonly ConvSeq[]): boolean {
  for (const c of given) {
    const i = at.get(c.conv)
    if (i === undefined || c.seq > states[i]!.lastSeq) return false
  }
  return true
}

interface ConvSeqState {
  readonly conv: ConvId
  readonly lastSeq: number
}

/** The messages of an ascending page with seq above `floor`. */
function above(page: string[], floor: number): string[] {
  if (floor === 0) return page
  return page.filter((m) => peekMessage(m)!.seq > floor)
}
