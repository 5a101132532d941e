/**
 * Requests that expect an answer with the same `rid` (history, convs, users, conv.create): each
 * waits at most `requestTimeoutMs`, and all of them fail at once when the connection drops (the
 * server forgets them with the socket).
 */
import { randomId, type ConvId, type ServerFrame } from '@chat/shared'
import type { TimerId } from '../platform/types'
import type { Connection } from './connection'
import type { ClientContext } from './context'
import { appErrorFrom, RequestFailedError } from './errors'

export type RequestKind = 'history' | 'convs' | 'users' | 'conv.create' | 'contacts' | 'relation' | 'contacts.policy' | 'group' | 'members' | 'recall' | 'conv.settings' | 'hide'

type ClientFrame = Parameters<Connection['send']>[0]

/** What a request started with `track` does when answered, refused, timed out or dropped. */
export interface TrackedRequest {
  readonly kind: RequestKind
  readonly conv?: ConvId
  resolve(frame: ServerFrame): void
  /** Refused by the server (an AppError), or dropped with the connection. */
  reject(err: Error): void
  /** No answer within `requestTimeoutMs`. */
  timeout(): void
}

export class Requests {
  private readonly pending = new Map<string, { readonly r: TrackedRequest; readonly timer: TimerId }>()

  constructor(private readonly ctx: ClientContext) {}

  /** Send a request and wait for its answer (an `error` with its rid rejects with an AppError). */
  send<T extends ServerFrame['type']>(kind: RequestKind, build: (rid: string) => ClientFrame, conv?: ConvId): Promise<Extract<ServerFrame, { type: T }>> {
    return new Promise((resolve, reject) => {
      const rid = randomId(12)
      if (!this.ctx.connection.send(build(rid))) {
        reject(new RequestFailedError(`${kind}: not connected`, 'disconnected'))
        return
      }
      this.track(rid, {
        kind,
        conv,
        resolve: resolve as (f: ServerFrame) => void,
        reject,
        timeout: () => reject(new RequestFailedError(`${kind}: no answer`, 'timeout')),
      })
    })
  }

  /** Wait for the answer to a frame already sent with `rid`. */
  track(rid: string, r: TrackedRequest): void {
    const timer = this.ctx.timers.setTimeout(() => {
      this.pending.delete(rid)
      r.timeout()
    }, this.ctx.opts.requestTimeoutMs)
    this.pending.set(rid, { r, timer })
  }

  /** The answer to `rid` arrived: settle its request. False when no request waits for it. */
  settle(rid: string | undefined, frame: ServerFrame): boolean {
    if (!rid) return false
    const p = this.pending.get(rid)
    if (!p) return false
    this.pending.delete(rid)
    this.ctx.timers.clearTimeout(p.timer)
    if (frame.type === 'error') p.r.reject(appErrorFrom(frame.code, frame.message))
    else p.r.resolve(frame)
    return true
  }

  /** The connection dropped: every request fails. */
  failAll(reason: 'disconnected'): void {
    for (const [rid, p] of this.pending) {
      this.ctx.timers.clearTimeout(p.timer)
      p.r.reject(new RequestFailedError(`${p.r.kind}: ${reason}`, reason))
      this.pending.delete(rid)
    }
  }
}
