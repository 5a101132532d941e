/**
 * Re-checks of content let through unchecked (WX_SECCHECK_UNAVAILABLE=allow: WeChat was down, busy
 * past the retries, or the minute's budget was spent). Such a text is stored, delivered and listed
 * `unchecked` in /admin/flags; an image is listed `media-unchecked`. Both are queued here (the
 * store's re-check queue, oldest first) and checked again later through the same path and budget
 * as a live check:
 *   text   the verdict source of live sends (the checker process, or this one), then:
 *            pass    its `unchecked` listing goes;
 *            review  listed `review` instead, as a live review;
 *            risky   the message is withdrawn as a risky image is (the chat's retraction by
 *                    moderation: every member's devices replace it by a notice, history stops
 *                    returning it) and listed `risky` with its seq;
 *            unavailable  stays queued for the next sweep.
 *   image  submitted to mediaCheckAsync again (media.ts `resubmit`); its verdict arrives at the
 *          push endpoint as a live one's and takes the `media-unchecked` listing off. Unavailable:
 *          stays queued.
 * An item older than the offline retention (QUEUE_RETENTION_MS, 7 days), or a text whose message
 * is gone (recalled, withdrawn, never stored), is dropped from the queue.
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
import { AppError } from '@chat/shared'
import type { Message } from '@chat/shared'
import type { Logger } from '../log'
import type { MessageStore } from '../store/types'
import type { WeChatStore } from '../store/wechat'
import { MEDIA_BUDGET_KEY } from './media'
import type { MediaSecurity, UncheckedFile } from './media'
import { TEXT_BUDGET_KEY, split } from './security'
import type { UncheckedTexts, VerdictSource } from './security'


/** The chat's retraction by moderation (ChatService.withdraw, withdrawFile), set by the composition. */
export interface Retractor {
  message(at: { readonly conv: string; readonly seq: number }): Promise<{ readonly event?: number }>
  file(conv: string, fileId: string): Promise<number>
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
  /** WX_TEXT_CHECKS_PER_MIN and WX_MEDIA_CHECKS_PER_MIN: the budgets re-checks share with live checks. */
  readonly textChecksPerMin: number
  readonly mediaChecksPerMin: number
  readonly listMax: number
}

export interface RecheckDeps {
  readonly store: WeChatStore
  readonly messages: Pick<MessageStore, 'after'>
  /** Where live texts get their verdicts; none: texts are not re-checked (text checks off). */
  readonly verdicts: VerdictSource | undefined
  /** Image checks; none: images are not re-checked. */
  readonly media: MediaSecurity | undefined
  /** The chat's retraction by moderation (set by the composition after this is made). */
  readonly retract: () => Retractor | undefined
  readonly registry: Registry
  readonly log: Logger
}

/** A queued text: its `unchecked` listing (exactly as recorded) and where it was stored. */
interface TextItem {
  readonly t: 'text'
  readonly flag: string
  readonly seq: number
}
/** A queued image: its `media-unchecked` listing and the file as `submit` had it. */
interface ImageItem {
  readonly t: 'image'
  readonly flag: string
  readonly file: UncheckedFile
}
type Item = TextItem | ImageItem
/** The fields of a text's `unchecked` listing (security.ts TextSecurity.flag). */
interface TextFlag {
  readonly from: string
  readonly conv: string
  readonly cid: string
  readonly text: string
  readonly at: number
}

export type RecheckOutcome = 'pass' | 'review' | 'risky' | 'unavailable' | 'submitted' | 'dropped' | 'deferred'

/** What one sweep did; undefined from `sweep` when another process holds the sweep. */
export type SweepReport = Record<'texts' | 'images' | 'left', number> & Partial<Record<RecheckOutcome, number>>

export class Rechecks implements UncheckedTexts {
  private readonly counts: Counter<'kind' | 'outcome'>
  private readonly owner = randomUUID()
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
      help: 'Re-checks of content let through unchecked, by kind (text, image) and outcome (pass, review, risky, unavailable, submitted, dropped, deferred: left for a later sweep by the budget)',
      labelNames: ['kind', 'outcome'],
      registers: [deps.registry],
    })
  }

  /** At start: sweep if anything is queued (by a process that stopped before its sweep). One read. */
  async start(): Promise<void> {
    if ((await this.deps.store.pendingRechecks()) > 0) this.arm()
  }

  async stored(flag: string, at: number, seq: number | undefined): Promise<void> {
    try {
      if (seq === undefined) await this.deps.store.unrecord('flags', flag)
      else await this.queue({ t: 'text', flag, seq }, at)
    } catch (err) {
      this.deps.log.warn({ err: errText(err) }, 'recheck: an unchecked text was not queued (it stays listed)')
    }
  }

  /** An image was listed `media-unchecked` as `flag` (media.ts). */
  async image(file: UncheckedFile, flag: string, at: number): Promise<void> {
    await this.queue({ t: 'image', flag, file }, at)
  }

  /**
   * One sweep, if no other process is sweeping (undefined then). Never rejects: a store that fails
   * ends the sweep (logged); what was not done stays queued.
   */
  sweep(): Promise<SweepReport | undefined> {
    const run = this.sweepOnce()
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

  private async queue(item: Item, at: number): Promise<void> {
    await this.deps.store.queueRecheck(JSON.stringify(item), at)
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

  private async sweepOnce(): Promise<SweepReport | undefined> {
    const { store } = this.deps
    if (!(await store.lock('recheck', this.owner, RECHECK_LOCK_MS))) return undefined
    try {
      const due = await store.dueRechecks(this.options.batchMax)
      const report: SweepReport = { texts: 0, images: 0, left: 0 }
      const count = (kind: 'text' | 'image', outcome: RecheckOutcome) => {
        report[outcome] = (report[outcome] ?? 0) + 1
        this.counts.inc({ kind, outcome })
      }
      // What the minute's budgets leave to re-checks, read once a sweep and only for a kind queued.
      const items = due.map((json) => ({ json, item: JSON.parse(json) as Item }))
      const verdicts = this.deps.verdicts
      let textRoom = verdicts && items.some((i) => i.item.t === 'text') ? room(await (verdicts.budgetUsed?.() ?? store.hits(TEXT_BUDGET_KEY, MINUTE_MS)), this.options.textChecksPerMin) : 0
      let imageRoom = items.some((i) => i.item.t === 'image') ? room(await store.hits(MEDIA_BUDGET_KEY, MINUTE_MS), this.options.mediaChecksPerMin) : 0
      const work: Promise<void>[] = []
      for (const { json, item } of items) {
        if (item.t === 'text') {
          report.texts++
          const flag = JSON.parse(item.flag) as TextFlag
          if (Date.now() - flag.at > this.options.retentionMs) {
            await store.unqueueRecheck(json)
            count('text', 'dropped')
            continue
          }
          // Oldest first: once the budget's share is used, this and every later text wait.
          const parts = split(flag.text).length
          if (parts > textRoom || !this.deps.verdicts) {
            textRoom = 0
            count('text', 'deferred')
            continue
          }
          textRoom -= parts
          work.push(this.settled(this.text(json, item, flag)).then((outcome) => count('text', outcome)))
        } else {
          report.images++
          const at = (JSON.parse(item.flag) as { at: number }).at
          if (Date.now() - at > this.options.retentionMs) {
            await store.unqueueRecheck(json)
            count('image', 'dropped')
            continue
          }
          if (imageRoom < 1 || !this.deps.media) {
            imageRoom = 0
            count('image', 'deferred')
            continue
          }
          imageRoom--
          work.push(this.settled(this.resubmit(json, item)).then((outcome) => count('image', outcome)))
        }
      }
      await Promise.all(work)
      report.left = await store.pendingRechecks()
      if (report.left === 0) this.disarm()
      if (items.length > 0) this.deps.log.info(report, 'recheck sweep')
      return report
    } finally {
      await store.unlock('recheck', this.owner)
    }
  }

  /** One item's re-check; a store or chat that failed it leaves it queued for the next sweep (`unavailable`). */
  private settled(recheck: Promise<RecheckOutcome>): Promise<RecheckOutcome> {
    return recheck.catch((err: unknown) => {
      this.deps.log.warn({ err: errText(err) }, 'recheck of an item failed: it stays queued')
      return 'unavailable' as const
    })
  }

  private async text(json: string, item: TextItem, flag: TextFlag): Promise<RecheckOutcome> {
    const { store } = this.deps
    const [stored] = await this.deps.messages.after(flag.conv, item.seq - 1, 1)
    const m = stored === undefined ? undefined : (JSON.parse(stored) as Message)
    // Gone: recalled by its sender or withdrawn meanwhile (a tombstone), or no longer stored.
    if (!m || m.seq !== item.seq || m.kind !== 'text' || m.from !== flag.from || m.cid !== flag.cid) {
      await store.unqueueRecheck(json)
      await store.unrecord('flags', item.flag)
      return 'dropped'
    }
    const verdict = await this.deps.verdicts!.verdict(flag.from, flag.text)
    if (verdict.suggest === 'unavailable') return 'unavailable'
    if (verdict.suggest === 'risky') {
      const retract = this.deps.retract()
      if (!retract) return 'unavailable'
      try {
        await retract.message({ conv: flag.conv, seq: item.seq })
      } catch (err) {
        if (!(err instanceof AppError && (err.code === 'SEQ_RANGE_INVALID' || err.code === 'CONV_NOT_FOUND'))) throw err
      }
      this.deps.log.info({ conv: flag.conv, seq: item.seq, label: verdict.label }, 'moderation: risky text withdrawn on its re-check')
    }
    if (verdict.suggest !== 'pass') {
      // The listing as a live verdict's (`kind` first), with the seq it was found at.
      const listed = { ...(JSON.parse(item.flag) as Record<string, unknown>), kind: verdict.suggest, label: verdict.label, seq: item.seq, at: Date.now(), rechecked: true }
      await store.record('flags', JSON.stringify(listed), this.options.listMax)
    }
    await store.unrecord('flags', item.flag)
    await store.unqueueRecheck(json)
    return verdict.suggest
  }

  private async resubmit(json: string, item: ImageItem): Promise<RecheckOutcome> {
    if (!(await this.deps.media!.resubmit(item.file, item.flag))) return 'unavailable'
    await this.deps.store.unqueueRecheck(json)
    return 'submitted'
  }
}

/** Checks a budget of `perMin` with `used` of this minute spent may still give re-checks (none when `used` is not known). */
function room(used: number | undefined, perMin: number): number {
  return used === undefined ? 0 : Math.max(0, Math.floor(perMin * RECHECK_BUDGET_SHARE) - used)
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
