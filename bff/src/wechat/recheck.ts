// Over 400 lines on purpose: the sweep is one procedure (resolve, budget, verdict per kind), documented once at the top.
/**
 * Re-checks of content let through unchecked (WX_SECCHECK_UNAVAILABLE=allow: WeChat was down, busy
 * past the retries, or the minute's budget was spent). Such a text (a message's, a group's title,
 * a contact request's note) is stored, delivered and listed `unchecked` in /admin/flags; an image is listed
 * `media-unchecked`. Each is queued here (the store's re-check queue, oldest first) and checked
 * again later through the same path and budget as a live check:
 *   text   the verdict source of live sends (the checker process, or this one), then:
 *            pass    its `unchecked` listing goes;
 *            review  listed `review` instead, as a live review;
 *            risky   the message is withdrawn as a risky image is (the chat's retraction by
 *                    moderation: every member's devices replace it by a notice, history stops
 *                    returning it) and listed `risky` with its seq;
 *            unavailable  stays queued for the next sweep.
 *   title  the same verdicts; risky takes the title back (the chat's `withdrawTitle`: the group is
 *          untitled again, its members told by a `rename` system message `by: moderation`) and
 *          lists it `risky` with the group's revision.
 *   note   the same verdicts; risky takes the note off the request (the relations' `withdrawNote`:
 *          the request stays, without its note, and both users' devices get the changed entry)
 *          and lists it `risky`.
 *   image  submitted to mediaCheckAsync again (media.ts `resubmit`); its verdict arrives at the
 *          push endpoint as a live one's and takes the `media-unchecked` listing off. Unavailable:
 *          stays queued.
 * An item older than the offline retention (QUEUE_RETENTION_MS, 7 days) is dropped from the queue;
 * a text whose message is gone (recalled, withdrawn, never stored), or a title no longer shown
 * (changed again, or its change never applied), is dropped with its listing.
 *
 * Nothing let through unchecked is listed without a queued re-check: a text's item is queued before
 * its listing and before the store (security.ts), when neither its seq nor its revision is known,
 * so it is addressed by what is: a message's by its conversation, sender and cid; a title's by the
 * revision of its group that stores it. A sweep resolves such an item first, costing no budget:
 *   message  the seq the dedup record gives the (sender, cid), as a repeated send finds its
 *            original (`MessageStore.placeOf`): found, the item becomes the same with its seq (the
 *            send itself does this once stored; a sweep does it for a send that died or failed
 *            after its store); not found within RECHECK_SEND_GRACE_MS, the store never took it
 *            (the record is written in the store's own atomic step), and the item goes with its
 *            listing. Past the dedup window the conversation's newest messages are searched for
 *            the cid instead (recheck-place.ts).
 *   title    the group's record at or past that revision shows the title: re-checked; shows another
 *            title: changed again (or the change lost its race), dropped with its listing; below it
 *            past RECHECK_SEND_GRACE_MS: never applied, dropped with its listing.
 *   note     the sender's pending request to the other member of the 1:1 carries the note:
 *            re-checked; it does not (answered, withdrawn, never stored) past RECHECK_SEND_GRACE_MS:
 *            dropped with its listing; within it, the request's store may still be under way.
 *
 * A sweep runs every WX_RECHECK_INTERVAL_MS on one process of the deployment at a time (the
 * store's lock, as the access_token refresh takes it), takes at most WX_RECHECK_BATCH items,
 * oldest first, and only while the minute's budget is less than RECHECK_BUDGET_SHARE used, so
 * re-checks never take what live sends need: an item beyond that waits for a later sweep.
 *
 * Nothing runs while nothing is queued: a process arms its timer when it queues an item (or finds
 * some queued at start) and disarms it when a sweep finds the queue empty. A chat message that
 * passes its check costs nothing here.
 */
import { randomUUID } from 'node:crypto'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'
import { AppError, directPeer } from '@chat/shared'
import type { ConvId, Message, UserId } from '@chat/shared'
import type { Logger } from '../log'
import type { ConvStore, MessageStore } from '../store/types'
import { Places, RECHECK_SEND_GRACE_MS } from './recheck-place'
import type { ListedText } from './recheck-place'
import type { WeChatStore } from '../store/wechat'
import { MEDIA_BUDGET_KEY } from './media'
import type { MediaSecurity, UncheckedFile } from './media'
import { TEXT_BUDGET_KEY, shownText, split } from './security'
import type { Suggest, Unchecked, UncheckedTexts, VerdictSource } from './security'


/** The chat's retraction by moderation (ChatService.withdraw, withdrawFile, withdrawTitle), set by the composition. */
export interface Retractor {
  message(at: { readonly conv: string; readonly seq: number }): Promise<{ readonly event?: number }>
  file(conv: string, fileId: string): Promise<number>
  /** Untitle group `conv` if its title is still `title` (set by `from`); resolves whether it did. */
  title(conv: ConvId, title: string, from: UserId): Promise<boolean>
  /** Whether `from`'s pending contact request to `to` carries the note `note`. */
  noteShown(from: UserId, to: UserId, note: string): Promise<boolean>
  /** Take the note `note` off `from`'s pending contact request to `to` if it still carries it; resolves whether it did. */
  note(from: UserId, to: UserId, note: string): Promise<boolean>
}

/** Re-checks take budget only while the minute's shared count is below this share of the limit (the rest is for live sends). */
export const RECHECK_BUDGET_SHARE = 0.5
/**
 * Lease of the sweep's lock, ms: longer than a sweep takes (its checks run together, each bounded
 * by WX_CHECKER_TIMEOUT_MS or WX_TIMEOUT_MS over the retries), so that two processes never sweep
 * the same items; a holder that died frees it after this.
 */
export const RECHECK_LOCK_MS = 120_000
const MINUTE_MS = 60_000
export interface RecheckOptions {
  /** WX_RECHECK_INTERVAL_MS: how often a process with queued items sweeps, ms. */
  readonly intervalMs: number
  /** WX_RECHECK_BATCH: items one sweep takes at most. */
  readonly batchMax: number
  /** QUEUE_RETENTION_MS: items older than this are dropped, ms. */
  readonly retentionMs: number
  /** DEDUP_WINDOW_MS: how long the store tells where a (sender, cid) was stored, ms. */
  readonly dedupWindowMs: number
  /** WX_TEXT_CHECKS_PER_MIN and WX_MEDIA_CHECKS_PER_MIN: the budgets re-checks share with live checks. */
  readonly textChecksPerMin: number
  readonly mediaChecksPerMin: number
  readonly listMax: number
}

export interface RecheckDeps {
  readonly store: WeChatStore
  readonly messages: Pick<MessageStore, 'placeOf' | 'after' | 'before'>
  /** Where a title's group is read (its title, its revision). */
  readonly convs: Pick<ConvStore, 'get'>
  /** Where live texts get their verdicts; none: texts are not re-checked (text checks off). */
  readonly verdicts: VerdictSource | undefined
  /** Image checks; none: images are not re-checked. */
  readonly media: MediaSecurity | undefined
  /** The chat's retraction by moderation (set by the composition after this is made). */
  readonly retract: () => Retractor | undefined
  readonly registry: Registry
  readonly log: Logger
}

/**
 * A queued message text: its `unchecked` listing (exactly as recorded) and where it was stored;
 * without `seq` while that is not known (queued before the store: see the top of this file).
 */
interface TextItem {
  readonly t: 'text'
  readonly flag: string
  readonly seq?: number
}
/** A queued group title: its `unchecked` listing and the revision of its group that stores it. */
interface TitleItem {
  readonly t: 'title'
  readonly flag: string
  readonly rev: number
}
/** A queued image: its `media-unchecked` listing and the file as `submit` had it. */
interface ImageItem {
  readonly t: 'image'
  readonly flag: string
  readonly file: UncheckedFile
}
/** A queued contact request's note: its `unchecked` listing (its `conv` is the 1:1 of the two users, `from` the requester). */
interface NoteItem {
  readonly t: 'note'
  readonly flag: string
}
type Item = TextItem | TitleItem | NoteItem | ImageItem

export type RecheckOutcome = 'pass' | 'review' | 'risky' | 'unavailable' | 'submitted' | 'dropped' | 'deferred' | 'waiting'

/** What one sweep did (`texts` counts titles and notes too); undefined from `sweep` when another process holds the sweep. */
export type SweepReport = Record<'texts' | 'images' | 'left', number> & Partial<Record<RecheckOutcome, number>>

/** A text, title or note item as the sweep takes it: a message's resolved to the message (`seq`) it checks. */
type Placed = { readonly json: string; readonly flag: ListedText } & ({ readonly item: TextItem; readonly seq: number } | { readonly item: TitleItem } | { readonly item: NoteItem })

export class Rechecks implements UncheckedTexts {
  private readonly counts: Counter<'kind' | 'outcome'>
  private readonly owner = randomUUID()
  private readonly places: Places
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined
  private ticking = false
  private closed = false

  constructor(
    private readonly deps: RecheckDeps,
    private readonly options: RecheckOptions,
  ) {
    this.counts = new Counter({
      name: 'wechat_rechecks_total',
      help: 'Re-checks of content let through unchecked, by kind (text, title, note, image) and outcome (pass, review, risky, unavailable, submitted, dropped, deferred: left for a later sweep by the budget, waiting: its send, group change or request may still be under way)',
      labelNames: ['kind', 'outcome'],
      registers: [deps.registry],
    })
    this.places = new Places({ messages: deps.messages, convs: deps.convs, dedupWindowMs: options.dedupWindowMs })
  }

  /** At start: sweep if anything is queued (by a process that stopped before its sweep). One read. */
  async start(): Promise<void> {
    if ((await this.deps.store.pendingRechecks()) > 0) this.arm()
  }

  /** Queued before the text is listed and stored (security.ts); rejects when it could not be. */
  async message(flag: string, at: number): Promise<Unchecked> {
    const pending = JSON.stringify({ t: 'text', flag } satisfies TextItem)
    await this.queue(pending, at)
    return { stored: (seq) => this.stored(pending, flag, at, seq) }
  }

  /** Queued before the title is listed and stored (security.ts); rejects when it could not be. */
  async title(flag: string, at: number, rev: number): Promise<void> {
    await this.queue(JSON.stringify({ t: 'title', flag, rev } satisfies TitleItem), at)
  }

  /** Queued before the note is listed and its request stored (security.ts); rejects when it could not be. */
  async note(flag: string, at: number): Promise<void> {
    await this.queue(JSON.stringify({ t: 'note', flag } satisfies NoteItem), at)
  }

  /** A send's news of the item `pending`: stored as `seq` (the item learns it), or a duplicate (the item and its listing go). */
  private async stored(pending: string, flag: string, at: number, seq: number | undefined): Promise<void> {
    const { store } = this.deps
    try {
      if (seq === undefined) {
        // The listing first: an item left without it is harmless, a listing left without its item is what must not be.
        await store.unrecord('flags', flag)
        await store.unqueueRecheck(pending)
      } else {
        await store.queueRecheck(resolved(flag, seq), at)
        await store.unqueueRecheck(pending)
      }
    } catch (err) {
      this.deps.log.warn({ err: errText(err) }, 'recheck: a send could not update its queued re-check (a sweep resolves it by its cid)')
    }
  }

  /** An image was listed `media-unchecked` as `flag` (media.ts). */
  async image(file: UncheckedFile, flag: string, at: number): Promise<void> {
    await this.queue(JSON.stringify({ t: 'image', flag, file } satisfies ImageItem), at)
  }

  /**
   * One sweep, if no other process is sweeping (undefined then). Never rejects: a store that fails
   * ends the sweep (logged); what was not done stays queued. `now`: the clock its ages are read
   * by, ms (default the current time; a test looks past the grace by a later one).
   */
  sweep(now = Date.now()): Promise<SweepReport | undefined> {
    const run = this.sweepOnce(now)
      .catch((err: unknown) => {
        this.deps.log.warn({ err: errText(err) }, 'recheck sweep failed')
        return undefined
      })
      .finally(() => {
        if (this.running === run) this.running = undefined
      })
    this.running = run
    return run
  }

  async close(): Promise<void> {
    this.closed = true
    this.disarm()
    await this.running
  }

  private async queue(json: string, at: number): Promise<void> {
    await this.deps.store.queueRecheck(json, at)
    this.arm()
  }

  private arm(): void {
    if (this.timer || this.closed) return
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs).unref()
  }

  private disarm(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
  }

  private async tick(): Promise<void> {
    if (this.running || this.ticking || this.closed) return
    this.ticking = true
    try {
      // Another process may have emptied the queue: then this one stops looking.
      if ((await this.deps.store.pendingRechecks()) === 0) return this.disarm()
      await this.sweep()
    } catch (err) {
      this.deps.log.warn({ err: errText(err) }, 'recheck: the queue could not be read')
    } finally {
      this.ticking = false
    }
  }

  private async sweepOnce(now: number): Promise<SweepReport | undefined> {
    const { store } = this.deps
    if (!(await store.lock('recheck', this.owner, RECHECK_LOCK_MS))) return undefined
    try {
      const due = await store.dueRechecks(this.options.batchMax)
      const report: SweepReport = { texts: 0, images: 0, left: 0 }
      const count = (kind: Item['t'], outcome: RecheckOutcome) => {
        report[outcome] = (report[outcome] ?? 0) + 1
        this.counts.inc({ kind, outcome })
      }
      // First what costs no budget: items past the retention go, texts and titles are resolved to
      // what they check (or dropped, or left waiting for their send).
      const queued = new Set(due)
      const texts: Placed[] = []
      const images: Array<{ json: string; item: ImageItem }> = []
      for (const json of due) {
        const item = JSON.parse(json) as Item
        if (item.t === 'image') report.images++
        else report.texts++
        const flag = JSON.parse(item.flag) as ListedText
        if (now - flag.at > this.options.retentionMs) {
          await store.unqueueRecheck(json)
          count(item.t, 'dropped')
          continue
        }
        if (item.t === 'image') {
          images.push({ json, item })
          continue
        }
        const placed =
          item.t === 'title' ? await this.placeTitle(json, item, flag, now) : item.t === 'note' ? await this.placeNote(json, item, flag, now) : await this.placeText(json, item, flag, now, queued)
        if (placed === undefined) continue
        if (typeof placed === 'string') count(item.t, placed)
        else texts.push(placed)
      }
      // What the minute's budgets leave to re-checks, read once a sweep and only for a kind queued.
      const verdicts = this.deps.verdicts
      let textRoom = verdicts && texts.length > 0 ? room(await (verdicts.budgetUsed?.() ?? store.hits(TEXT_BUDGET_KEY, MINUTE_MS)), this.options.textChecksPerMin) : 0
      let imageRoom = images.length > 0 ? room(await store.hits(MEDIA_BUDGET_KEY, MINUTE_MS), this.options.mediaChecksPerMin) : 0
      const work: Promise<void>[] = []
      for (const placed of texts) {
        const kind = placed.item.t
        // Oldest first: once the budget's share is used, this and every later text wait.
        const parts = split(placed.flag.text).length
        if (parts > textRoom || !verdicts) {
          textRoom = 0
          count(kind, 'deferred')
          continue
        }
        textRoom -= parts
        const recheck =
          'seq' in placed
            ? this.recheckText(placed.json, placed.item.flag, placed.flag, placed.seq, verdicts)
            : placed.item.t === 'title'
              ? this.recheckTitle(placed.json, placed.item, placed.flag, verdicts)
              : this.recheckNote(placed.json, placed.item, placed.flag, verdicts)
        work.push(this.settled(recheck).then((outcome) => count(kind, outcome)))
      }
      for (const { json, item } of images) {
        if (imageRoom < 1 || !this.deps.media) {
          imageRoom = 0
          count('image', 'deferred')
          continue
        }
        imageRoom--
        work.push(this.settled(this.resubmit(json, item)).then((outcome) => count('image', outcome)))
      }
      await Promise.all(work)
      report.left = await store.pendingRechecks()
      if (report.left === 0) this.disarm()
      if (due.length > 0) this.deps.log.info(report, 'recheck sweep')
      return report
    } finally {
      await store.unlock('recheck', this.owner)
    }
  }

  /**
   * A message text's item with its seq: the one it carries, or the one its cid was stored at (see
   * the top of this file), written into the queue in its place. An outcome when there is nothing
   * to check now; undefined when its resolved twin is in this batch already (a send that stopped
   * between writing the one and taking off the other).
   */
  private async placeText(json: string, item: TextItem, flag: ListedText, now: number, queued: ReadonlySet<string>): Promise<Placed | RecheckOutcome | undefined> {
    if (item.seq !== undefined) return { json, item, flag, seq: item.seq }
    const { store } = this.deps
    const seq = await this.places.message(flag, now)
    if (seq === 'waiting') return 'waiting'
    if (seq === 'never') {
      await this.drop(json, item.flag)
      return 'dropped'
    }
    if (seq === 'unknown') {
      // Neither the dedup record nor the newest messages tell: a moderator still sees it listed.
      await store.unqueueRecheck(json)
      this.deps.log.warn({ conv: flag.conv, cid: flag.cid }, 'recheck: where an unchecked text was stored is no longer known: it stays listed, not re-checked')
      return 'dropped'
    }
    const twin = resolved(item.flag, seq)
    if (!queued.has(twin)) await store.queueRecheck(twin, flag.at)
    await store.unqueueRecheck(json)
    return queued.has(twin) ? undefined : { json: twin, item: { t: 'text', flag: item.flag, seq }, flag, seq }
  }

  /** A title's item if its group shows it (recheck-place.ts); one no longer shown goes with its listing. */
  private async placeTitle(json: string, item: TitleItem, flag: ListedText, now: number): Promise<Placed | RecheckOutcome> {
    const place = await this.places.title(flag, item.rev, now)
    if (place === 'shown') return { json, item, flag }
    if (place === 'waiting') return 'waiting'
    await this.drop(json, item.flag)
    return 'dropped'
  }

  /**
   * A note's item if the sender's request still carries it. One that does not past the grace goes
   * with its listing (answered, withdrawn, or never stored: the check comes before the request's
   * store); within it the store may still be under way. Waits while the relations are not composed yet.
   */
  private async placeNote(json: string, item: NoteItem, flag: ListedText, now: number): Promise<Placed | RecheckOutcome> {
    const retract = this.deps.retract()
    const to = directPeer(flag.conv, flag.from)
    if (!retract) return 'waiting'
    if (to !== undefined && (await retract.noteShown(flag.from, to, flag.text))) return { json, item, flag }
    if (to !== undefined && now - flag.at < RECHECK_SEND_GRACE_MS) return 'waiting'
    await this.drop(json, item.flag)
    return 'dropped'
  }

  /** One item's re-check; a store or chat that failed it leaves it queued for the next sweep (`unavailable`). */
  private settled(recheck: Promise<RecheckOutcome>): Promise<RecheckOutcome> {
    return recheck.catch((err: unknown) => {
      this.deps.log.warn({ err: errText(err) }, 'recheck of an item failed: it stays queued')
      return 'unavailable' as const
    })
  }

  private async recheckText(json: string, listing: string, flag: ListedText, seq: number, verdicts: VerdictSource): Promise<RecheckOutcome> {
    const [stored] = await this.deps.messages.after(flag.conv, seq - 1, 1)
    const m = stored === undefined ? undefined : (JSON.parse(stored) as Message)
    // Gone: recalled by its sender or withdrawn meanwhile (a tombstone), or no longer stored; or
    // not this text (a duplicate's cid, sent with another text, found its original).
    if (!m || m.seq !== seq || m.from !== flag.from || m.cid !== flag.cid || shownText(m) !== flag.text) {
      await this.drop(json, listing)
      return 'dropped'
    }
    const verdict = await verdicts.verdict(flag.from, flag.text)
    if (verdict.suggest === 'unavailable') return 'unavailable'
    if (verdict.suggest === 'risky') {
      const retract = this.deps.retract()
      if (!retract) return 'unavailable'
      try {
        await retract.message({ conv: flag.conv, seq })
      } catch (err) {
        if (!(err instanceof AppError && (err.code === 'SEQ_RANGE_INVALID' || err.code === 'CONV_NOT_FOUND'))) throw err
      }
      this.deps.log.info({ conv: flag.conv, seq, label: verdict.label }, 'moderation: risky text withdrawn on its re-check')
    }
    return this.judged(json, listing, verdict, { seq })
  }

  private async recheckTitle(json: string, item: TitleItem, flag: ListedText, verdicts: VerdictSource): Promise<RecheckOutcome> {
    const verdict = await verdicts.verdict(flag.from, flag.text)
    if (verdict.suggest === 'unavailable') return 'unavailable'
    if (verdict.suggest === 'risky') {
      const retract = this.deps.retract()
      if (!retract) return 'unavailable'
      // Renamed meanwhile: the title is shown no more, nothing to take back or list.
      if (!(await retract.title(flag.conv, flag.text, flag.from))) {
        await this.drop(json, item.flag)
        return 'dropped'
      }
      this.deps.log.info({ conv: flag.conv, rev: item.rev, label: verdict.label }, 'moderation: risky group title taken back on its re-check')
    }
    return this.judged(json, item.flag, verdict, { rev: item.rev })
  }

  private async recheckNote(json: string, item: NoteItem, flag: ListedText, verdicts: VerdictSource): Promise<RecheckOutcome> {
    const verdict = await verdicts.verdict(flag.from, flag.text)
    if (verdict.suggest === 'unavailable') return 'unavailable'
    if (verdict.suggest === 'risky') {
      const retract = this.deps.retract()
      const to = directPeer(flag.conv, flag.from)
      if (!retract || to === undefined) return 'unavailable'
      // Answered or withdrawn meanwhile: the note is shown no more, nothing to take back or list.
      if (!(await retract.note(flag.from, to, flag.text))) {
        await this.drop(json, item.flag)
        return 'dropped'
      }
      this.deps.log.info({ conv: flag.conv, from: flag.from, label: verdict.label }, 'moderation: risky contact request note taken off on its re-check')
    }
    return this.judged(json, item.flag, verdict, {})
  }

  /** The verdict's listing in place of the `unchecked` one, as a live verdict's (`kind` first), with where it was found; then the item goes. */
  private async judged(json: string, listing: string, verdict: { readonly suggest: Suggest; readonly label: number }, where: { seq: number } | { rev: number } | Record<string, never>): Promise<RecheckOutcome> {
    const { store } = this.deps
    if (verdict.suggest !== 'pass') {
      const listed = { ...(JSON.parse(listing) as Record<string, unknown>), kind: verdict.suggest, label: verdict.label, ...where, at: Date.now(), rechecked: true }
      await store.record('flags', JSON.stringify(listed), this.options.listMax)
    }
    await store.unrecord('flags', listing)
    await store.unqueueRecheck(json)
    return verdict.suggest
  }

  /** An item with nothing left to check goes with its listing (the listing first: an item without it is harmless, never the reverse). */
  private async drop(json: string, listing: string): Promise<void> {
    await this.deps.store.unrecord('flags', listing)
    await this.deps.store.unqueueRecheck(json)
  }

  private async resubmit(json: string, item: ImageItem): Promise<RecheckOutcome> {
    if (!(await this.deps.media!.resubmit(item.file, item.flag))) return 'unavailable'
    await this.deps.store.unqueueRecheck(json)
    return 'submitted'
  }
}

/** The queue item of the text listed as `flag`, stored as `seq` (the same JSON whoever writes it: the send or a sweep). */
function resolved(flag: string, seq: number): string {
  return JSON.stringify({ t: 'text', flag, seq } satisfies TextItem)
}

/** Checks a budget of `perMin` with `used` of this minute spent may still give re-checks (none when `used` is not known). */
function room(used: number | undefined, perMin: number): number {
  return used === undefined ? 0 : Math.max(0, Math.floor(perMin * RECHECK_BUDGET_SHARE) - used)
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
