/**
 * Live-on-WeChat features of the client, framework-free (pages adapt them):
 *  - Subscription messages: the templates the BFF may notify with (GET /wechat/subscriptions), asked
 *    with `wx.requestSubscribeMessage` (WeChat accepts that call only from a tap, at most 3 ids), and
 *    the answers reported back (POST /wechat/subscriptions): each "accept" is one notification the
 *    BFF may send while the app is closed. h5 has no subscription messages: `available` is false.
 *  - Reports of a message or a user (POST /reports), with a reason from the BFF's fixed list, and
 *    the report actions the pages share (`reportMessage`, `reportUser`).
 */
import { AppError } from '@chat/shared'
import type { ConvId, UserId } from '@chat/shared'
import type { HttpClient, HttpResponse } from '../platform/types'
import { RequestFailedError, appErrorFrom } from './errors'

/** WeChat's bound on template ids per requestSubscribeMessage call. */
export const SUBSCRIBE_MAX_IDS = 3
const TIMEOUT_MS = 10_000

/** The same list as the BFF's REPORT_REASONS (what the user reads is the catalogue's `report.reason.<id>`). */
export const REPORT_REASONS = ['spam', 'abuse', 'porn', 'fraud', 'illegal', 'other'] as const
export type ReportReason = (typeof REPORT_REASONS)[number]

export type ReportTarget = { target: 'message'; conv: ConvId; seq: number } | { target: 'user'; user: UserId }

export interface ModerationOptions {
  readonly baseUrl: string
  readonly http: HttpClient
  readonly getToken: () => Promise<string>
  /** `wx.requestSubscribeMessage` (weapp), or undefined where it does not exist (h5). */
  readonly requestSubscribe: ((tmplIds: string[]) => Promise<Record<string, string>>) | undefined
}

export interface SubscriptionState {
  readonly templateIds: readonly string[]
  /** Notifications the BFF may still send, per template. */
  readonly allowances: Readonly<Record<string, number>>
}

export class Moderation {
  constructor(private readonly opts: ModerationOptions) {}

  /** Subscription messages exist on this platform (weapp). */
  get available(): boolean {
    return this.opts.requestSubscribe !== undefined
  }

  /** What the BFF offers and what this user holds. Nothing on h5 (no request is made). */
  async subscriptions(): Promise<SubscriptionState> {
    if (!this.available) return { templateIds: [], allowances: {} }
    const res = await this.call(() => this.authed((h) => this.opts.http.get(`${this.opts.baseUrl}/wechat/subscriptions`, TIMEOUT_MS, h)))
    const data = res as { templateIds?: unknown; allowances?: unknown }
    return {
      templateIds: Array.isArray(data.templateIds) ? data.templateIds.filter((x): x is string => typeof x === 'string') : [],
      allowances: typeof data.allowances === 'object' && data.allowances !== null ? (data.allowances as Record<string, number>) : {},
    }
  }

  /**
   * Ask the user (call from a tap handler: WeChat refuses it otherwise) and tell the BFF what was
   * accepted. Returns the allowances now held.
   */
  async subscribe(templateIds: readonly string[]): Promise<Record<string, number>> {
    const ask = this.opts.requestSubscribe
    if (!ask || templateIds.length === 0) return {}
    const results = await ask(templateIds.slice(0, SUBSCRIBE_MAX_IDS))
    const res = await this.call(() => this.authed((h) => this.opts.http.postJson(`${this.opts.baseUrl}/wechat/subscriptions`, { results }, h)))
    return (res as { allowances?: Record<string, number> }).allowances ?? {}
  }

  /** File a report. Throws AppError with the server's code (REPORT_RATE_LIMITED, REPORT_INVALID, ...). */
  async report(target: ReportTarget, reason: ReportReason, text?: string): Promise<string> {
    const body = text ? { ...target, reason, text } : { ...target, reason }
    const res = await this.call(() => this.authed((h) => this.opts.http.postJson(`${this.opts.baseUrl}/reports`, body, h)))
    const { id } = res as { id?: unknown }
    return typeof id === 'string' ? id : ''
  }

  private async authed(send: (headers: Record<string, string>) => Promise<HttpResponse>): Promise<HttpResponse> {
    return send({ authorization: `Bearer ${await this.opts.getToken()}` })
  }

  private async call(send: () => Promise<HttpResponse>): Promise<unknown> {
    let res: HttpResponse
    try {
      res = await send()
    } catch (err) {
      if (err instanceof AppError) throw err
      throw new RequestFailedError('request failed', 'network', { cause: err })
    }
    if (res.status >= 200 && res.status < 300) return res.data
    const e = (res.data as { error?: { code?: string; message?: string } } | undefined)?.error
    throw appErrorFrom(e?.code ?? 'INTERNAL', e?.message ?? `HTTP ${res.status}`)
  }
}

/** The chat page shows the "notify me" banner: weapp, templates offered, and no notification left to send. */
export function showSubscribePrompt(available: boolean, state: SubscriptionState | undefined): boolean {
  if (!available || !state || state.templateIds.length === 0) return false
  return state.templateIds.every((id) => (state.allowances[id] ?? 0) === 0)
}

/** How a report ended, for the screen to say. */
export type ReportOutcome = 'reported' | 'rate-limited' | 'failed'

/** What the report action needs from the screen: a choice among reasons (undefined: cancelled) and a short notice. */
export interface ReportUi {
  choose(reasons: readonly ReportReason[]): Promise<number | undefined>
  notice(outcome: ReportOutcome): void
}

/**
 * The report action of a message (long press): the user picks a reason, the report is filed, and
 * the outcome is said. Only others' stored messages can be reported (a pending one has no seq).
 * Returns the report id, or undefined when nothing was filed.
 */
export async function reportMessage(
  moderation: Moderation,
  ui: ReportUi,
  m: { readonly conv: ConvId; readonly seq?: number | undefined; readonly from: UserId },
  me: UserId | undefined,
): Promise<string | undefined> {
  if (m.seq === undefined || m.from === me) return undefined
  return fileReport(moderation, ui, { target: 'message', conv: m.conv, seq: m.seq })
}

/**
 * The report action of a person ("投诉" on a contact's or a group member's row): the same reasons
 * and notices as a message's. Never oneself. Returns the report id, or undefined when nothing was filed.
 */
export async function reportUser(moderation: Moderation, ui: ReportUi, user: UserId, me: UserId | undefined): Promise<string | undefined> {
  if (user === me) return undefined
  return fileReport(moderation, ui, { target: 'user', user })
}

async function fileReport(moderation: Moderation, ui: ReportUi, target: ReportTarget): Promise<string | undefined> {
  const i = await ui.choose(REPORT_REASONS)
  const reason = i === undefined ? undefined : REPORT_REASONS[i]
  if (!reason) return undefined
  try {
    const id = await moderation.report(target, reason)
    ui.notice('reported')
    return id
  } catch (err) {
    const code = err instanceof AppError ? err.code : undefined
    ui.notice(code === 'REPORT_RATE_LIMITED' ? 'rate-limited' : 'failed')
    return undefined
  }
}
