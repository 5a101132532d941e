/**
 * Client-side errors. Server errors keep their stable code from the shared table (AppError); errors
 * of our own wrap their cause, so a log shows the whole chain (as tus-js-client's DetailedError).
 */
import { AppError, isErrorCode, type ErrorCode } from '@chat/shared'

/** The session cannot be renewed (refresh token refused or missing): the user must log in again. */
export class AuthLostError extends Error {
  constructor(message = 'login required', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AuthLostError'
  }
}

/** A request over the socket or HTTP that did not get an answer: timeout, disconnect, network. */
export class RequestFailedError extends Error {
  constructor(
    message: string,
    readonly reason: 'timeout' | 'disconnected' | 'network' | 'bad-response',
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'RequestFailedError'
  }
}

/** An AppError from an error frame or an HTTP error body; unknown codes become INTERNAL. */
export function appErrorFrom(code: string, message: string): AppError {
  const known: ErrorCode = isErrorCode(code) ? code : 'INTERNAL'
  return new AppError(known, message)
}
