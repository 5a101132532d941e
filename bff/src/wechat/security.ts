/**
 * Content security of text before it is stored: msgSecCheck version 2 (PLATFORM.md, Text content
 * security). What each verdict does:
 *   pass    stored as sent.
 *   review  stored and delivered, and listed in the moderation list `flags` (kind `review`) with
 *           its sender, conversation, cid, label and text, for a moderator to look at.
 *   risky   refused before it is stored: CONTENT_RISKY (permanent; `details.label` says why), the
 *           client shows the message and keeps the draft; nobody else sees anything.
 *   WeChat unavailable (no answer after the retries, or over WX_TEXT_CHECKS_PER_MIN for the
 *   deployment): WX_SECCHECK_UNAVAILABLE decides: `allow` queues its re-check (recheck.ts: checked
 *   again later, withdrawn if risky), then lists it as `unchecked`, then lets it be stored; a
 *   re-check that could not be queued refuses the send (STORE_UNAVAILABLE, temporary: nothing is
 *   listed, stored or delivered, and the client's outbox resends it). `refuse` answers
 *   SECCHECK_UNAVAILABLE (temporary: the client's outbox resends it later).
 *   A message's text, a group's title and a contact request's note are re-checked (`Recheckable`).
 * A text longer than 2,500 characters (WeChat's bound per call) is checked in parts, in parallel;
 * the worst verdict of the parts counts. A short part WeChat passed within WX_SECCHECK_CACHE_TTL_MS
 * (in the process that checks) passes without a call (verdicts.ts).
 *
 * Two halves: TextChecker reaches a verdict (budget, recent passes, calls, counts, logs), in the
 * checker process by default (WX_CHECKER=process, checker-client.ts) or on this one (`inline`);
 * TextSecurity applies it to a send here (the policy, the moderation list).
 */
import { AppError } from '@chat/shared'
import type { ConvId, User, UserId } from '@chat/shared'
import type { Logger } from '../log'
import type { WeChatStore } from '../store/wechat'
import type { Overview } from '../store/types'
import type { WxApi } from './api'
import { BudgetSpent, SharedBudget, SpentNotice } from './budget'
import type { PassCache } from './verdicts'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'

/** The one call the chat service makes before storing a send. */
export interface SendChecks {
  /**
   * Throws AppError CONTENT_RISKY, SECCHECK_UNAVAILABLE or STORE_UNAVAILABLE (a re-check that
   * could not be queued); resolves when the text may be stored. `as`: what a text let through
   * unchecked is re-checked as (none: listed only); a message's resolves with an `Unchecked`.
   */
  text(user: UserId, conv: ConvId, cid: string, text: string, as?: Recheckable): Promise<void | Unchecked>
  /** Before any send into the 1:1 `conv` (relations: BLOCKED); undefined: allowed, decided without a read. */
  direct?(user: UserId, conv: ConvId): Promise<void> | undefined
  /** Before `user` opens a new 1:1 with `peer` (relations: BLOCKED, NOT_CONTACT). */
  open?(user: UserId, peer: UserId): Promise<void>
  /** The users of a search result `user` may see (relations: not those who blocked `user`). */
  visible?(user: UserId, users: readonly User[]): Promise<User[]>
  /**
   * Who is told `user`'s presence, given the members of its conversations (relations: its
   * contacts too, and never a user `user` blocked).
   */
  presenceAudience?(user: UserId, members: readonly UserId[]): Promise<UserId[]>
  /**
   * Whose presence a new device of `user` is given, given its 1:1 peers (relations: its contacts
   * too, and never someone who blocked `user`). `summary`: the user's summary read at welcome,
   * whose folded relations (`Overview.relations`) stand for a read of the relations index.
   */
  presenceSources?(user: UserId, peers: readonly UserId[], summary?: Pick<Overview, 'relations'>): Promise<UserId[]>
}

/**
 * What a text let through unchecked is re-checked as (recheck.ts): a message's text, found by its
 * conversation, sender and cid; a group's title, stored as revision `rev` of its group (ConvRecord.rev);
 * a contact request's note, found on the sender's pending request to the other member of the 1:1 `conv`.
 */
export type Recheckable = { readonly kind: 'message' } | { readonly kind: 'title'; readonly rev: number } | { readonly kind: 'note' }
export const AS_MESSAGE: Recheckable = { kind: 'message' }
export const AS_NOTE: Recheckable = { kind: 'note' }

/**
 * A message's text let through unchecked (WX_SECCHECK_UNAVAILABLE=allow), queued for its re-check
 * and listed `unchecked` before it is stored. The send says what the store answered when it knows:
 * a send whose store failed says nothing (the store may have taken it all the same; the re-check
 * finds out by the cid).
 */
export interface Unchecked {
  /** Stored as `seq`; undefined: a duplicate of a stored one, not stored by this send (its listing goes). Never rejects. */
  stored(seq: number | undefined): Promise<void>
}

/** Where texts let through unchecked are queued for their re-check (recheck.ts), before anything else is written. */
export interface UncheckedTexts {
  /** Queue the re-check of a message's text listed as `flag` at `at`. Rejects when it could not be queued. */
  message(flag: string, at: number): Promise<Unchecked>
  /** Queue the re-check of a group title listed as `flag` at `at`, to be stored as revision `rev` of its group. Rejects when it could not be queued. */
  title(flag: string, at: number, rev: number): Promise<void>
  /** Queue the re-check of a contact request's note listed as `flag` at `at`. Rejects when it could not be queued. */
  note(flag: string, at: number): Promise<void>
}

/**
 * The text of a message that other members read and content security checks: a text's text, a
 * file's name (its card and the conversation list show it). Undefined for the rest (an image's or
 * a voice message's name is not shown) and for an empty name.
 */
export function shownText(m: { readonly kind: string; readonly body: unknown }): string | undefined {
  if (m.kind === 'text') return (m.body as { text: string }).text
  if (m.kind === 'file') return (m.body as { name?: string }).name || undefined
  return undefined
}

/** The text check of NO_CHECKS: passes everything (the chat service awaits nothing when it is the one). */
export const NO_TEXT_CHECK = async (): Promise<void> => {}
export const NO_CHECKS: SendChecks = { text: NO_TEXT_CHECK }

/** WeChat checks at most this many characters a call. */
export const SECCHECK_PART_CHARS = 2500
/** msgSecCheck scene of chat messages (2: comment; 1 is for profiles). */
const SCENE_MESSAGE = 2
const MINUTE_MS = 60_000
const RANK = { pass: 0, review: 1, risky: 2 } as const
export type Suggest = keyof typeof RANK

/** What a text's check came to: WeChat's worst verdict of its parts, or no verdict at all. */
export type TextVerdict = { readonly suggest: Suggest; readonly label: number } | { readonly suggest: 'unavailable' }

/**
 * Where a text gets its verdict: this process (TextChecker, WX_CHECKER=inline) or the checker
 * process (checker-client.ts, WX_CHECKER=process). Never throws: a check that could not be made is
 * `unavailable`, and the policy is the caller's.
 */
export interface VerdictSource {
  verdict(user: UserId, text: string): Promise<TextVerdict>
  /**
   * Calls of the current minute counted in the deployment's shared budget (WX_TEXT_CHECKS_PER_MIN),
   * as the store the checks count in holds it: what re-checks may still take (recheck.ts).
   * Resolves undefined when not known now (re-checks wait). Absent: the engine's store holds the count.
   */
  budgetUsed?(): Promise<number | undefined>
}

/** The shared budget's key of text checks (budget.ts). */
export const TEXT_BUDGET_KEY = 'msgsec'

/** The counters of text checks, by these names wherever the checks run (the checker process reports its counts to the BFF's). */
export class TextCheckMetrics {
  readonly verdicts: Counter<'suggest'>
  readonly cacheHits: Counter
  /** `collect`: run before each read of the counters (the checker process's counts added). */
  constructor(registry: Registry, collect?: () => Promise<void>) {
    const c = collect ? { collect } : {}
    this.cacheHits = new Counter({ name: 'wechat_text_check_cache_hits_total', help: 'Texts passed from the recent passes of this process (WX_SECCHECK_CACHE_MAX), without a call', registers: [registry], ...c })
    this.verdicts = new Counter({ name: 'wechat_text_checks_total', help: 'Texts checked before storing, by verdict (pass, review, risky, unavailable)', labelNames: ['suggest'], registers: [registry], ...c })
  }
}

export interface TextCheckerOptions {
  readonly checksPerMin: number
  /** Short texts passed a moment ago (verdicts.ts). Default: none kept. */
  readonly passes?: PassCache
}

/** The checks themselves: the shared budget, the recent passes, the calls to WeChat, their counts and logs. */
export class TextChecker implements VerdictSource {
  private readonly budget: SharedBudget
  private readonly spent = new SpentNotice()

  constructor(
    private readonly api: WxApi,
    private readonly store: WeChatStore,
    private readonly options: TextCheckerOptions,
    private readonly metrics: TextCheckMetrics,
    private readonly log: Logger,
  ) {
    this.budget = new SharedBudget(store, TEXT_BUDGET_KEY, options.checksPerMin)
  }

  async budgetUsed(): Promise<number | undefined> {
    return this.store.hits(TEXT_BUDGET_KEY, MINUTE_MS)
  }

  async verdict(user: UserId, text: string): Promise<TextVerdict> {
    const all = split(text)
    // Parts passed a moment ago are not asked again (verdicts.ts).
    const passes = this.options.passes
    const parts = passes ? all.filter((p) => !passes.passed(user, SCENE_MESSAGE, p)) : all
    if (parts.length === 0) {
      this.metrics.cacheHits.inc()
      this.metrics.verdicts.inc({ suggest: 'pass' })
      return PASS
    }
    try {
      // The deployment-wide budget counts calls, one per part.
      const granted = await Promise.all(parts.map(() => this.budget.take()))
      if (granted.includes(false)) throw new BudgetSpent('WX_TEXT_CHECKS_PER_MIN')
      const results = await Promise.all(parts.map((content) => this.checkPart(user, content)))
      if (passes) results.forEach((r, i) => r.suggest === 'pass' && passes.pass(user, SCENE_MESSAGE, parts[i]!))
      const verdict = results.reduce((a, b) => (RANK[b.suggest] > RANK[a.suggest] ? b : a))
      this.metrics.verdicts.inc({ suggest: verdict.suggest })
      return verdict
    } catch (err) {
      this.metrics.verdicts.inc({ suggest: 'unavailable' })
      if (!(err instanceof BudgetSpent)) this.log.warn({ err: err instanceof Error ? err.message : String(err), user }, 'text check unavailable')
      else {
        const notice = this.spent.first()
        if (notice.log) this.log.warn({ err: err.message, suppressedBefore: notice.suppressed }, 'text checks over budget for this minute')
      }
      return UNAVAILABLE
    }
  }

  private async checkPart(openid: string, content: string): Promise<{ suggest: Suggest; label: number }> {
    const body = await this.api.call('msg_sec_check', '/wxa/msg_sec_check', { version: 2, openid, scene: SCENE_MESSAGE, content })
    const result = (body.result ?? {}) as { suggest?: unknown; label?: unknown }
    const suggest = result.suggest
    if (suggest !== 'pass' && suggest !== 'review' && suggest !== 'risky') throw new Error('msg_sec_check answered without a verdict')
    return { suggest, label: typeof result.label === 'number' ? result.label : 0 }
  }
}

const PASS: TextVerdict = { suggest: 'pass', label: 0 }
const UNAVAILABLE: TextVerdict = { suggest: 'unavailable' }

export interface TextCheckOptions {
  readonly unavailablePolicy: 'allow' | 'refuse'
  readonly listMax: number
}

/** The policy of a verdict: what the send does, what moderators see. */
export class TextSecurity implements SendChecks {
  constructor(
    private readonly source: VerdictSource,
    private readonly store: WeChatStore,
    private readonly options: TextCheckOptions,
    /** Re-checks of unchecked texts (recheck.ts); none: an unchecked text stays listed only. */
    private readonly rechecks?: UncheckedTexts,
  ) {}

  async text(user: UserId, conv: ConvId, cid: string, text: string, as?: Recheckable): Promise<void | Unchecked> {
    const verdict = await this.source.verdict(user, text)
    switch (verdict.suggest) {
      case 'pass':
        return
      case 'risky':
        throw new AppError('CONTENT_RISKY', undefined, { details: { label: verdict.label } })
      case 'review':
        return void (await this.store.record('flags', listing('review', user, conv, cid, text, verdict.label, Date.now()), this.options.listMax))
      case 'unavailable': {
        if (this.options.unavailablePolicy === 'refuse') throw new AppError('SECCHECK_UNAVAILABLE')
        const at = Date.now()
        const json = listing('unchecked', user, conv, cid, text, undefined, at)
        // The re-check is queued before the listing and the store: no moment holds a listing that
        // no re-check will take off (a process that dies after this leaves the queued item, which
        // a sweep resolves to the stored message, or drops with its listing: recheck.ts).
        const unchecked = await this.queue(json, at, as)
        await this.store.record('flags', json, this.options.listMax)
        return unchecked
      }
    }
  }

  /** Queue the re-check of the text listed as `json`: STORE_UNAVAILABLE when it could not be (nothing is listed then). */
  private async queue(json: string, at: number, as: Recheckable | undefined): Promise<Unchecked | undefined> {
    const rechecks = this.rechecks
    if (!rechecks || !as) return undefined
    try {
      if (as.kind === 'message') return await rechecks.message(json, at)
      if (as.kind === 'title') await rechecks.title(json, at, as.rev)
      else await rechecks.note(json, at)
      return undefined
    } catch (err) {
      throw err instanceof AppError && err.code === 'STORE_UNAVAILABLE' ? err : new AppError('STORE_UNAVAILABLE', 'the re-check of an unchecked text could not be queued', { cause: err })
    }
  }
}

/** A moderation listing of a text (`kind` first: what the admin API and the re-checks read). */
function listing(kind: 'review' | 'unchecked', from: UserId, conv: ConvId, cid: string, text: string, label: number | undefined, at: number): string {
  return JSON.stringify({ kind, from, conv, cid, label, text, at })
}

/** Parts of at most SECCHECK_PART_CHARS characters (code points: a surrogate pair is never cut). */
export function split(text: string): string[] {
  // Code points never outnumber UTF-16 units: a short text needs no array of its characters.
  if (text.length <= SECCHECK_PART_CHARS) return [text]
  const chars = Array.from(text)
  if (chars.length <= SECCHECK_PART_CHARS) return [text]
  const parts: string[] = []
  for (let i = 0; i < chars.length; i += SECCHECK_PART_CHARS) parts.push(chars.slice(i, i + SECCHECK_PART_CHARS).join(''))
  return parts
}
