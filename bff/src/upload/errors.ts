/**
 * Every error of the upload endpoints leaves as the product's JSON error body
 * (`{ error: { code, message, temporary } }`, PROTOCOL.md "HTTP") with a code from the shared table,
 * including the ones @tus/server produces itself (it answers with text bodies and its own table).
 */
import type { Request, Response } from 'express'
import { AppError, ERRORS, isAppError } from '@chat/shared'
import type { ErrorCode } from '@chat/shared'
import { errorJson } from '../http/errors'

/** The shape @tus/server throws and answers with (`ERRORS` of @tus/utils). */
export interface TusError {
  readonly status_code: number
  readonly body: string
}

export function isTusError(err: unknown): err is TusError {
  return typeof err === 'object' && err !== null && typeof (err as TusError).status_code === 'number'
}

/**
 * A tus status and text body to a code. The tus statuses keep their meaning (tus 1.0: 404/410 for
 * a missing or expired upload, 409 for an offset mismatch, 413 beyond the size, 412 for a protocol
 * version it does not speak); the rest is a malformed request or our fault.
 */
export function codeOfTus(status: number, body: string): ErrorCode {
  switch (status) {
    case 404:
      return 'UPLOAD_NOT_FOUND'
    case 409:
      return 'UPLOAD_OFFSET_CONFLICT'
    case 410:
      return 'UPLOAD_EXPIRED'
    case 413:
      return 'UPLOAD_TOO_LARGE'
    case 400:
      // Another request for the same upload took its lock over (a client retrying after a timeout):
      // the answer the client needs is "ask for the offset", as for a conflict.
      return body.startsWith('Request aborted') ? 'UPLOAD_OFFSET_CONFLICT' : 'UPLOAD_INVALID'
    case 403: // missing Upload-Offset or Content-Type (tus-node-server answers 403 for these)
    case 412:
    case 415:
    case 501: // Upload-Defer-Length, Upload-Concat: extensions not offered
      return 'UPLOAD_INVALID'
    default:
      return status >= 500 ? 'INTERNAL' : 'UPLOAD_INVALID'
  }
}

/** Status and JSON body for anything thrown while handling an upload request. */
export function toErrorResponse(err: unknown): { status: number; code: ErrorCode; body: string } {
  if (isAppError(err)) return { status: err.status, code: err.code, body: errorJson(err.code, err.message) }
  if (isTusError(err)) {
    const code = codeOfTus(err.status_code, err.body ?? '')
    return { status: statusFor(code, err.status_code), code, body: errorJson(code) }
  }
  return { status: 500, code: 'INTERNAL', body: errorJson('INTERNAL') }
}

/**
 * The status sent for a code: the table's, except that a missing or wrong Tus-Resumable keeps tus's
 * 412 (tus 1.0: the server MUST answer 412 Precondition Failed and not process the request).
 */
export function statusFor(code: ErrorCode, tusStatus?: number): number {
  if (code === 'UPLOAD_INVALID' && tusStatus === 412) return 412
  return ERRORS[code].status
}

/** What a browser's tus client must be able to read of an answer (the policy's origin is set app-wide, http/cors.ts). */
const EXPOSED = 'Tus-Resumable, Upload-Offset, Upload-Length, Location'

/**
 * An error answered by the upload endpoints themselves (outside @tus/server's own answers): the JSON
 * body, its code in X-Error-Code, and the tus headers a client reads. Our own faults (5xx) are logged.
 */
export function sendUploadError(res: Response, err: unknown, req: Request, log?: { error(obj: object, msg?: string): void }): void {
  const { status, body, code } = toErrorResponse(err)
  if (status >= 500) log?.error({ err, path: req.path }, 'upload error')
  res.status(status)
  res.set('Tus-Resumable', '1.0.0')
  res.set('Access-Control-Expose-Headers', EXPOSED)
  res.set('Content-Type', 'application/json')
  res.set('X-Error-Code', code)
  res.end(body)
}

export { AppError }
