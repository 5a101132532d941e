/**
 * What the chat client's parts share: the store they change, the clock and timers, the connection
 * they write frames to, the options, and who is logged in. Each part (requests, sync, sender,
 * receipts, file sink) owns its own timers and maps; only these are common.
 */
import type { UserId } from '@chat/shared'
import type { ClientOptions } from '../config'
import type { Timers } from '../platform/types'
import type { ChatStore } from '../store/store'
import type { Connection } from './connection'

export type ClientLog = (msg: string, details?: Record<string, unknown>) => void

export interface ClientContext {
  readonly store: ChatStore
  readonly timers: Timers
  /** Only `send`: the parts write frames; the socket's life is the ChatClient's business. */
  readonly connection: Pick<Connection, 'send'>
  readonly opts: ClientOptions
  /** Uniform in [0, 1): backoff jitter. */
  readonly random?: () => number
  readonly log?: ClientLog
  /** The logged-in user, or undefined. */
  me(): UserId | undefined
}

/** The logged-in user; throws when nobody is (a user action before login is a programming error). */
export function requireUser(ctx: ClientContext): UserId {
  const me = ctx.me()
  if (!me) throw new Error('not logged in')
  return me
}
