/**
 * The HTTP side of the one error table: an AppError becomes `{ error: { code, message, temporary } }`
 * with the status of its entry (PROTOCOL.md, HTTP); anything else is logged and answered INTERNAL.
 */
import type { ErrorRequestHandler, Request } from 'express'
import * as v from 'valibot'
import { AppError } from '@chat/shared'
import type { Logger } from '../log'

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, next) => {
    if (res.headersSent) return next(err)
    let e: AppError
    if (err instanceof AppError) e = err
    else if ((err as { type?: string }).type === 'entity.parse.failed') e = new AppError('BAD_JSON')
    else if ((err as { type?: string }).type === 'entity.too.large') e = new AppError('FRAME_TOO_LARGE', 'request body too large')
    else {
      log.error({ err }, 'request failed')
      e = new AppError('INTERNAL')
    }
    res.status(e.status).json({ error: { code: e.code, message: e.message, temporary: e.temporary } })
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
