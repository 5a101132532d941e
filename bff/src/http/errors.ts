/**
 * The HTTP side of the one error table: an AppError becomes `{ error: { code, message, temporary } }`
 * with the status of its entry (PROTOCOL.md, HTTP).
 *
 * A client's mistake is never a server error: the errors Express and body-parser raise for what a
 * request carries (a body that does not inflate or parse, an unknown Content-Encoding, a path that
 * does not decode: http-errors with a 4xx `status`) become the table's 4xx codes, logged at info
 * and at most CLIENT_ERROR_LOGS_PER_MIN times a minute, so nobody can fill the error log from
 * outside. Only what is left, our own faults, is logged at error and answered INTERNAL.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express'
import * as v from 'valibot'
import { AppError, ERRORS } from '@chat/shared'
import type { ErrorCode } from '@chat/shared'
import type { Logger } from '../log'

/** The one JSON error body of every HTTP answer (and refused upgrade): the table's message unless given. */
export function errorJson(code: ErrorCode, message?: string): string {
  const spec = ERRORS[code]
  return JSON.stringify({ error: { code, message: message ?? spec.message, temporary: spec.temporary } })
}

/** Client mistakes logged per minute and process (info level); the rest are counted and the count logged with the next one. */
export const CLIENT_ERROR_LOGS_PER_MIN = 10

export function errorHandler(log: Logger): ErrorRequestHandler {
  const limiter = new LogLimiter(CLIENT_ERROR_LOGS_PER_MIN, 60_000)
  return (err, req, res, next) => {
    if (res.headersSent) return next(err)
    let e: AppError
    if (err instanceof AppError) e = err
    else {
      const code = clientMistake(err)
      if (code) {
        e = new AppError(code, code === 'FRAME_TOO_LARGE' ? 'request body too large' : undefined, { cause: err })
        const suppressed = limiter.take(Date.now())
        if (suppressed !== undefined) {
          log.info({ code, status: e.status, method: req.method, path: req.path.slice(0, 200), reason: String((err as Error).message).slice(0, 200), suppressed }, 'client error')
        }
      } else {
        log.error({ err }, 'request failed')
        e = new AppError('INTERNAL')
      }
    }
    res.status(e.status).type('application/json').send(errorJson(e.code, e.message))
  }
}

/** The last handler: a path nothing answered gets the table's NOT_FOUND, as JSON like every error. */
export function notFound(): RequestHandler {
  return (_req, _res, next) => next(new AppError('NOT_FOUND'))
}

/** The table's code for an error a request caused (http-errors with a 4xx status), or undefined. */
function clientMistake(err: unknown): ErrorCode | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { status, statusCode, type } = err as { status?: unknown; statusCode?: unknown; type?: unknown }
  const s = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined
  if (s === undefined || s < 400 || s >= 500) return undefined
  if (type === 'entity.parse.failed') return 'BAD_JSON'
  if (type === 'entity.too.large' || s === 413) return 'FRAME_TOO_LARGE'
  if (type === 'encoding.unsupported' || type === 'charset.unsupported' || s === 415) return 'UNSUPPORTED_ENCODING'
  return 'BAD_REQUEST'
}

/** At most `max` per window; `take` answers how many were suppressed since the last one allowed, or undefined to suppress. */
class LogLimiter {
  private windowStart = 0
  private used = 0
  private suppressed = 0

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}

  take(now: number): number | undefined {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now
      this.used = 0
    }
    if (this.used >= this.max) {
      this.suppressed++
      return undefined
    }
    this.used++
    const n = this.suppressed
    this.suppressed = 0
    return n
  }
}

/** The request body checked against its schema (INVALID_FRAME naming the first problem). */
export function bodyOf<T>(req: Request, schema: v.GenericSchema<unknown, T>): T {
  const result = v.safeParse(schema, req.body)
  if (result.success) return result.output
  const issue = result.issues[0]
  const path = issue.path?.map((p) => String(p.key)).join('.') ?? ''
  throw new AppError('INVALID_FRAME', `request body${path ? ` at ${path}` : ''}: ${issue.message}`)
}
