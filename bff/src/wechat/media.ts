/**
 * Content security of images and voice audio (PLATFORM.md, Media content security; message push URL).
 *
 * When an image or audio upload finishes, `submit` sends `POST /wxa/media_check_async` (media_type 2, 1 for audio,
 * version 2, scene 2, the uploader's openid) with a signed, short-lived URL of the file on
 * WX_PUBLIC_URL: a file URL signed like any other (bff/src/upload/signed.ts), never a user token.
 * The trace id is remembered in the store (every process may receive the verdict) for
 * MEDIA_VERDICT_WAIT_MS. The verdict arrives at the message-push endpoint:
 *   GET  /wechat/push   WeChat's URL check: signature = sha1(sort(token, timestamp, nonce).join(''))
 *                       with WX_PUSH_TOKEN; answers `echostr`.
 *   POST /wechat/push   events (JSON mode, plain, not "safe mode"), same signature in the query.
 *                       `wxa_media_check` with `result.suggest`: risky withdraws the file (its URLs
 *                       answer 410 FILE_WITHDRAWN, it can no longer be sent) and lists it in
 *                       /admin/flags as `media-risky`; review lists it as `media-review`.
 * Over WX_MEDIA_CHECKS_PER_MIN or WeChat unavailable: WX_SECCHECK_UNAVAILABLE again: `allow`
 * lists the image `media-unchecked` and queues its re-check (recheck.ts: submitted again later,
 * its verdict takes it off the list), `refuse` withdraws it.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { Router } from 'express'
import type { Request } from 'express'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'
import { AppError } from '@chat/shared'
import type { Logger } from '../log'
import type { WeChatStore } from '../store/wechat'
import type { WxApi } from './api'
import { BudgetSpent, SharedBudget, SpentNotice } from './budget'

/** The shared budget's key of media checks (budget.ts). */
export const MEDIA_BUDGET_KEY = 'mediasec'

/** WeChat answers within ~30 min; a verdict later than this finds nothing to act on. */
export const MEDIA_VERDICT_WAIT_MS = 2 * 3600_000

export interface MediaFile {
  readonly id: string
  readonly owner: string
  readonly conv: string
  readonly kind: 'image' | 'file'
  /** Decided from the bytes (bff/src/upload/content.ts): audio (a voice message's recording) is checked too. */
  readonly mime?: string
}

export interface MediaOptions {
  /** https origin WeChat fetches files from (WX_PUBLIC_URL). */
  readonly publicUrl: string
  readonly checksPerMin: number
  readonly unavailablePolicy: 'allow' | 'refuse'
  readonly listMax: number
  /** Path and query of a signed URL of the file's bytes. */
  readonly signedPath: (fileId: string) => string
  readonly withdraw: (fileId: string) => Promise<boolean>
  /** Withdraw the messages of `conv` carrying the file (the chat's retraction, by moderation). Returns how many. */
  readonly retractMessages?: (conv: string, fileId: string) => Promise<number>
  /** An image let through unchecked (policy allow) was listed as `flag` at `at`: queue its re-check (recheck.ts). */
  readonly unchecked?: (file: UncheckedFile, flag: string, at: number) => Promise<void>
}

/** What a re-check of an image needs: the file as `submit` had it. */
export interface UncheckedFile {
  readonly fileId: string
  readonly owner: string
  readonly conv: string
  readonly mime?: string
}

export class MediaSecurity {
  readonly outcomes: Counter<'outcome'>
  private readonly budget: SharedBudget
  private readonly spent = new SpentNotice()

  constructor(
    private readonly api: WxApi,
    private readonly store: WeChatStore,
    private readonly options: MediaOptions,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.budget = new SharedBudget(store, MEDIA_BUDGET_KEY, options.checksPerMin)
    this.outcomes = new Counter({
      name: 'wechat_media_checks_total',
      help: 'Image checks by outcome (submitted, unavailable, pass, review, risky, unknown_trace)',
      labelNames: ['outcome'],
      registers: [registry],
    })
  }

  /** An upload finished: images and audio (voice recordings) are submitted; the returned promise never rejects. */
  async submit(file: MediaFile): Promise<void> {
    if (!checked(file)) return
    const about = { fileId: file.id, owner: file.owner, conv: file.conv, ...(file.mime === undefined ? {} : { mime: file.mime }) }
    if (await this.send(about, undefined)) return
    await this.settle(this.options.unavailablePolicy === 'refuse' ? 'risky' : 'unchecked', about, undefined, file.mime).catch(() => undefined)
  }

  /**
   * The re-check of an image listed `media-unchecked` as `flag` (recheck.ts): submitted again
   * through the same budget; its verdict arrives at the push endpoint as a live one's and takes
   * `flag` off the list. False: still unavailable (nothing changed).
   */
  resubmit(file: UncheckedFile, flag: string): Promise<boolean> {
    return this.send(file, flag)
  }

  /** Submit `file`; false when WeChat or the budget could not take it (counted and logged here). */
  private async send(file: UncheckedFile, flag: string | undefined): Promise<boolean> {
    const audio = file.mime?.startsWith('audio/') === true
    try {
      if (!(await this.budget.take())) throw new BudgetSpent('WX_MEDIA_CHECKS_PER_MIN')
      const body = await this.api.call('media_check_async', '/wxa/media_check_async', {
        media_url: `${this.options.publicUrl}${this.options.signedPath(file.fileId)}`,
        // WeChat's media types: 1 audio, 2 image (PLATFORM.md, Media content security).
        media_type: audio ? 1 : 2,
        version: 2,
        scene: 2,
        openid: file.owner,
      })
      const trace = body.trace_id
      if (typeof trace !== 'string' || trace === '') throw new Error('media_check_async answered without trace_id')
      const about: TraceAbout = { fileId: file.fileId, owner: file.owner, conv: file.conv, ...(flag === undefined ? {} : { flag }) }
      await this.store.putTrace(trace, JSON.stringify(about), MEDIA_VERDICT_WAIT_MS)
      this.outcomes.inc({ outcome: 'submitted' })
      return true
    } catch (err) {
      this.outcomes.inc({ outcome: 'unavailable' })
      if (!(err instanceof BudgetSpent)) this.log.warn({ err: err instanceof Error ? err.message : String(err), file: file.fileId }, 'image check unavailable')
      else {
        const notice = this.spent.first()
        if (notice.log) this.log.warn({ err: err.message, policy: this.options.unavailablePolicy, suppressedBefore: notice.suppressed }, 'image checks over budget for this minute')
      }
      return false
    }
  }

  /** A `wxa_media_check` event. */
  async verdict(event: Record<string, unknown>): Promise<void> {
    const trace = typeof event.trace_id === 'string' ? event.trace_id : ''
    const result = (event.result ?? {}) as { suggest?: unknown; label?: unknown }
    const json = trace ? await this.store.takeTrace(trace) : undefined
    if (!json) return void this.outcomes.inc({ outcome: 'unknown_trace' })
    const about = JSON.parse(json) as TraceAbout
    const suggest = result.suggest === 'risky' || result.suggest === 'review' ? result.suggest : 'pass'
    this.outcomes.inc({ outcome: suggest })
    // A re-checked image has its verdict now: it is no longer `media-unchecked`.
    if (about.flag !== undefined) await this.store.unrecord('flags', about.flag)
    if (suggest !== 'pass') await this.settle(suggest, about, typeof result.label === 'number' ? result.label : undefined, undefined)
  }

  private async settle(what: 'risky' | 'review' | 'unchecked', about: TraceAbout, label: number | undefined, mime: string | undefined): Promise<void> {
    if (what === 'risky') {
      await this.options.withdraw(about.fileId)
      // Every member's devices replace the message by a notice; history stops returning it.
      const messages = await this.options.retractMessages?.(about.conv, about.fileId)
      if (messages) this.log.info({ file: about.fileId, conv: about.conv, messages }, 'moderation: risky image withdrawn from the conversation')
    }
    const at = Date.now()
    const flag = JSON.stringify({ kind: `media-${what}`, from: about.owner, conv: about.conv, fileId: about.fileId, label, at })
    await this.store.record('flags', flag, this.options.listMax)
    if (what === 'unchecked') await this.options.unchecked?.({ fileId: about.fileId, owner: about.owner, conv: about.conv, ...(mime === undefined ? {} : { mime }) }, flag, at)
  }
}

/** What a pending mediaCheckAsync is about (the store's trace); `flag`: the `media-unchecked` record a re-check answers. */
interface TraceAbout {
  readonly fileId: string
  readonly owner: string
  readonly conv: string
  readonly flag?: string
}

/** Images and audio (voice recordings) are checked; other files are not. */
function checked(file: { readonly kind: string; readonly mime?: string | undefined }): boolean {
  return file.kind === 'image' || file.mime?.startsWith('audio/') === true
}

/** sha1 of the sorted token, timestamp and nonce, as WeChat signs the push URL's requests. */
export function pushSignature(token: string, timestamp: string, nonce: string): string {
  return createHash('sha1').update([token, timestamp, nonce].sort().join('')).digest('hex')
}

export function pushRouter(token: string | undefined, media: MediaSecurity | undefined, log: Logger): Router {
  const router = Router()
  const verify = (req: Request) => {
    if (!token) throw new AppError('NOT_FOUND')
    const q = req.query as Record<string, unknown>
    const [sig, ts, nonce] = [q.signature, q.timestamp, q.nonce].map((x) => (typeof x === 'string' ? x : ''))
    const want = Buffer.from(pushSignature(token, ts!, nonce!))
    const given = Buffer.from(sig!)
    if (given.length !== want.length || !timingSafeEqual(given, want)) throw new AppError('FORBIDDEN', 'push signature does not verify')
  }
  router.get('/wechat/push', (req, res) => {
    verify(req)
    res.type('text/plain').send(typeof req.query.echostr === 'string' ? req.query.echostr : '')
  })
  router.post('/wechat/push', async (req, res) => {
    verify(req)
    const event = (req.body ?? {}) as Record<string, unknown>
    if (event.Event === 'wxa_media_check' && media) await media.verdict(event)
    else log.info({ event: typeof event.Event === 'string' ? event.Event.slice(0, 40) : undefined }, 'wechat push ignored')
    res.type('text/plain').send('success')
  })
  return router
}
