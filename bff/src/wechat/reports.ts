/**
 * Reports of abuse (WeChat's review rules for user content ask for a way to report and moderation
 * of what is reported). Any member of a conversation can report one of its messages, and anyone
 * can report a user; a reason from REPORT_REASONS and an optional text of at most
 * REPORT_TEXT_MAX_CHARS. A report of a message keeps a copy of the message as stored (evidence that
 * outlives a withdrawal). Reports are stored in the moderation list `reports` (newest
 * MODERATION_LIST_MAX) and limited to REPORTS_PER_HOUR per reporter (a fixed hour window shared by
 * every process).
 */
import * as v from 'valibot'
import { AppError, schemas } from '@chat/shared'
import type { UserId } from '@chat/shared'
import type { Engine } from '../store/types'

export const REPORT_REASONS = ['spam', 'abuse', 'porn', 'fraud', 'illegal', 'other'] as const
/** Characters of a report's free text. */
export const REPORT_TEXT_MAX_CHARS = 500
const HOUR_MS = 3600_000

const ReportSchema = v.variant('target', [
  v.strictObject({
    target: v.literal('message'),
    conv: schemas.ConvId,
    seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
    reason: v.picklist(REPORT_REASONS),
    text: v.optional(v.pipe(v.string(), v.maxLength(REPORT_TEXT_MAX_CHARS))),
  }),
  v.strictObject({
    target: v.literal('user'),
    user: schemas.UserId,
    reason: v.picklist(REPORT_REASONS),
    text: v.optional(v.pipe(v.string(), v.maxLength(REPORT_TEXT_MAX_CHARS))),
  }),
])
export type ReportInput = v.InferOutput<typeof ReportSchema>

export interface ReportOptions {
  readonly perHour: number
  readonly listMax: number
}

export class Reports {
  constructor(
    private readonly engine: Engine,
    private readonly options: ReportOptions,
  ) {}

  /** Store a report by `reporter`. Throws REPORT_INVALID, NOT_MEMBER, SEQ_RANGE_INVALID, USER_NOT_FOUND, REPORT_RATE_LIMITED. */
  async file(reporter: UserId, body: unknown): Promise<{ id: string }> {
    const parsed = v.safeParse(ReportSchema, body)
    if (!parsed.success) throw new AppError('REPORT_INVALID', `report: ${parsed.issues[0].message}`.slice(0, 200))
    const input = parsed.output
    let evidence: unknown
    if (input.target === 'message') {
      const conv = await this.engine.convs.get(input.conv)
      if (!conv?.members.includes(reporter)) throw new AppError('NOT_MEMBER')
      const [json] = await this.engine.messages.after(input.conv, input.seq - 1, 1)
      const msg = json ? (JSON.parse(json) as { seq: number }) : undefined
      if (!msg || msg.seq !== input.seq) throw new AppError('SEQ_RANGE_INVALID', `no message ${input.seq} in this conversation`)
      evidence = msg
    } else {
      const [user] = await this.engine.users.get([input.user])
      if (!user) throw new AppError('USER_NOT_FOUND')
    }
    // Counted after validation: a malformed report costs nothing but does not consume the budget.
    if ((await this.engine.wechat.hit(`rep:${reporter}`, HOUR_MS)) > this.options.perHour) throw new AppError('REPORT_RATE_LIMITED')
    const id = `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`
    await this.engine.wechat.record('reports', JSON.stringify({ id, reporter, at: Date.now(), ...input, message: evidence }), this.options.listMax)
    return { id }
  }
}
