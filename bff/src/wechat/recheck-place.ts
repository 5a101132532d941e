/**
 * Where the content of a queued re-check is now (recheck.ts). An item is queued before its text is
 * listed and stored (security.ts), so it names what is known then: a message's text its
 * conversation, sender and cid; a group title the revision of its group that stores it. Reads only:
 * what to do with the answer is the sweep's.
 */
import { LIMITS } from '@chat/shared'
import type { Message } from '@chat/shared'
import type { ConvStore, MessageStore } from '../store/types'

/**
 * How long after its listing a message's store or a title's change may still be under way, ms: an
 * item not resolved by then was never stored. Far longer than a send or a group change takes (a
 * store's command fails within REDIS_COMMAND_TIMEOUT_MS, 2 s by default; a group change retries
 * GROUP_CHANGE_ATTEMPTS times), and short enough that a listing of nothing goes within minutes.
 */
export const RECHECK_SEND_GRACE_MS = 5 * 60_000
/** Newest messages of a conversation searched for a cid the dedup window no longer remembers. */
export const RESOLVE_SCAN_MAX = 2000

/** The fields of a text's `unchecked` listing (security.ts `listing`). */
export interface ListedText {
  readonly from: string
  readonly conv: string
  readonly cid: string
  readonly text: string
  /** When it was listed, ms: before its store or change. */
  readonly at: number
}

/**
 * A message's place: its seq; `waiting` while its send may still be storing it; `never` when the
 * store never took it; `unknown` when that can no longer be told.
 */
export type MessagePlace = number | 'waiting' | 'never' | 'unknown'
/** A title's: its group shows it; its change may still be under way; no longer shown (changed again, never applied, dissolved). */
export type TitlePlace = 'shown' | 'waiting' | 'gone'

export interface PlacesDeps {
  readonly messages: Pick<MessageStore, 'placeOf' | 'before'>
  readonly convs: Pick<ConvStore, 'get'>
  /** DEDUP_WINDOW_MS: how long `placeOf` remembers a stored cid, ms. */
  readonly dedupWindowMs: number
}

export class Places {
  constructor(private readonly deps: PlacesDeps) {}

  /**
   * Where the message listed as `listed` was stored: the seq the dedup record gives its (sender,
   * cid), as a repeated send finds its original. The record is written in the store's own atomic
   * step, so within the window its absence past the grace means the store never took it; past the
   * window the conversation's newest messages are searched instead.
   */
  async message(listed: ListedText, now: number): Promise<MessagePlace> {
    const seq = await this.deps.messages.placeOf(listed.conv, listed.from, listed.cid)
    if (seq !== undefined) return seq
    const age = now - listed.at
    if (age < RECHECK_SEND_GRACE_MS) return 'waiting'
    // Stored after its listing, with its record: a record younger than the window is still there.
    if (age < this.deps.dedupWindowMs) return 'never'
    return this.scan(listed)
  }

  /**
   * Whether group title `listed`, stored as revision `rev`, is what its group shows: at or past
   * that revision with that title. Another title there: changed again (or its change lost to
   * another); an older revision past the grace: its change never applied.
   */
  async title(listed: ListedText, rev: number, now: number): Promise<TitlePlace> {
    const record = await this.deps.convs.get(listed.conv)
    if (record && (record.rev ?? 0) >= rev) return record.title === listed.text && record.members.length > 0 ? 'shown' : 'gone'
    return now - listed.at < RECHECK_SEND_GRACE_MS ? 'waiting' : 'gone'
  }

  /** Past the dedup window: the cid among its conversation's newest RESOLVE_SCAN_MAX messages, back to its listing's time. */
  private async scan(listed: ListedText): Promise<MessagePlace> {
    let before: number | undefined
    for (let scanned = 0; scanned < RESOLVE_SCAN_MAX; ) {
      const page = await this.deps.messages.before(listed.conv, before, Math.min(LIMITS.maxPageSize, RESOLVE_SCAN_MAX - scanned))
      if (page.length === 0) return 'never'
      scanned += page.length
      const msgs = page.map((json) => JSON.parse(json) as Message)
      const found = msgs.find((m) => m.from === listed.from && m.cid === listed.cid)
      if (found) return found.seq
      // Its ts is taken after its listing, by a clock the grace covers the skew of.
      const oldest = msgs[0]!
      if (oldest.seq <= 1 || oldest.ts < listed.at - RECHECK_SEND_GRACE_MS) return 'never'
      before = oldest.seq
    }
    return 'unknown'
  }
}
