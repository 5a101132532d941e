/**
 * Receiving: catch-up after every (re)connect, gap filling, and delivery acks.
 *
 * - `sync` from the cursor of every conversation held (PROTOCOL.md "Catch-up after (re)connect").
 * - Holes between held seqs are filled with `history` (`before` = the seq after the hole), outside a
 *   sync (whose later batches fill what looks like a hole while it runs). A hole the server answered
 *   with nothing is not asked again until the next sync.
 * - A `sync` or gap `history` refused with a temporary error (STORE_UNAVAILABLE while a server
 *   restarts, SERVER_BUSY, RATE_LIMITED: `temporary: true` in the error table) is asked again on the
 *   same connection after a full-jitter backoff with the reconnect bounds; the attempts start over
 *   at every sync done and every connection. A refusal that is final ends the request: gap filling
 *   resumes (sync) or skips that hole until the next sync (history).
 * - A `sync` the server goes silent on (no batch and no `sync.done` for `requestTimeoutMs`) counts
 *   as refused for a while: it is asked again the same way, so gap filling is never held up by an
 *   answer that will not come. Each batch of the sync restarts the wait (a long catch-up is alive).
 * - Delivery acks (`recv`) are cumulative per conversation and sent at most every `recvBatchMs`;
 *   `sync.done.q` is acknowledged once the sync's batches are in the store.
 */
import { AppError, backoffDelay, LIMITS, randomId, type ConvId, type ServerFrameOf } from '@chat/shared'
import type { TimerId } from '../platform/types'
import { cursorOf, gapsOf } from '../store/selectors'
import { dropUnlisted, mergeServerMessages } from '../store/store'
import type { ClientContext } from './context'
import type { Requests } from './requests'

export class Sync {
  private syncRid?: string
  private readonly gapFilling = new Map<ConvId, string>()
  /** A gap the server answered with nothing: not asked again until the next sync. */
  private readonly gapStuck = new Set<ConvId>()
  private readonly recvSent = new Map<ConvId, number>()
  private recvTimer?: TimerId
  private pendingQ?: string
  /** A refused sync waits out its backoff: no gap filling meanwhile (the sync will fill). */
  private syncRetryTimer?: TimerId
  private syncAttempts = 0
  /** Bounds the silence while a sync runs (restarted by each of its batches). */
  private syncWatch?: TimerId
  /** Gap requests refused as temporary: the retry timer and attempts, per conversation. */
  private readonly gapRetry = new Map<ConvId, { timer?: TimerId; attempts: number }>()

  constructor(
    private readonly ctx: ClientContext,
    private readonly requests: Requests,
  ) {}

  /** `sync` from the cursor of every conversation held. */
  catchUp(): void {
    this.ctx.timers.clearTimeout(this.syncRetryTimer)
    this.syncRetryTimer = undefined
    const s = this.ctx.store.getState()
    const cursors = Object.entries(s.messages)
      .map(([conv, list]) => ({ conv, seq: cursorOf(list) }))
      .filter((c) => c.seq > 0)
      .slice(0, LIMITS.maxSyncConversations)
    const rid = randomId(12)
    if (!this.ctx.connection.send({ type: 'sync', rid, cursors })) return
    this.syncRid = rid
    this.watchSync()
  }

  /** (Re)start the wait for the running sync's next batch or its `sync.done`. */
  private watchSync(): void {
    this.ctx.timers.clearTimeout(this.syncWatch)
    this.syncWatch = this.ctx.timers.setTimeout(() => {
      this.syncWatch = undefined
      if (this.syncRid === undefined) return
      this.ctx.log?.('sync unanswered', { timeoutMs: this.ctx.opts.requestTimeoutMs })
      this.syncRid = undefined
      this.retrySync()
    }, this.ctx.opts.requestTimeoutMs)
  }

  private endSyncWatch(): void {
    this.ctx.timers.clearTimeout(this.syncWatch)
    this.syncWatch = undefined
  }

  /** A page of messages (a sync batch, a history page, a gap filled): into the store. */
  onMessages(f: ServerFrameOf<'messages'>): void {
    this.ctx.store.setState((s) => mergeServerMessages(s, f.conv, f.msgs, this.ctx.opts.maxMessagesInMemory))
    if (f.rid === this.syncRid) this.watchSync()
    if (this.gapFilling.get(f.conv) === f.rid) {
      this.gapFilling.delete(f.conv)
      if (f.msgs.length === 0) this.gapStuck.add(f.conv)
    }
  }

  onSyncDone(f: ServerFrameOf<'sync.done'>): void {
    if (f.rid === this.syncRid) {
      this.syncRid = undefined
      this.syncAttempts = 0
      this.endSyncWatch()
    }
    this.pendingQ = f.q
    this.sendRecv()
    this.gapStuck.clear()
    this.clearGapRetries()
    for (const conv of Object.keys(this.ctx.store.getState().messages)) this.fillGaps(conv)
  }

  /**
   * An error answering our sync with NOT_MEMBER: our cache names a conversation this server does
   * not give us (it lost its data, or we left), and the whole sync was refused. The server's
   * conversation list is the truth: confirmed messages of conversations it does not list are
   * dropped (our own pending ones stay, and go out from the outbox), then the sync runs again with
   * the cursors that remain. True when the error was that.
   */
  onSyncRefused(f: ServerFrameOf<'error'>): boolean {
    if (f.rid === undefined || f.rid !== this.syncRid) return false
    this.syncRid = undefined
    this.endSyncWatch()
    if (f.code !== 'NOT_MEMBER') {
      if (f.temporary) this.retrySync()
      else this.ctx.log?.('sync refused', { code: f.code, message: f.message })
      return true
    }
    this.requests
      .send<'convs'>('convs', (rid) => ({ type: 'convs', rid }))
      .then((res) => {
        this.ctx.store.setState((s) => dropUnlisted(s, new Set(res.items.map((c) => c.id))))
        this.catchUp()
      })
      .catch(() => undefined)
    return true
  }

  /** The same sync again after a full-jitter backoff (attempts counted until a sync is done). */
  private retrySync(): void {
    const delay = backoffDelay(this.syncAttempts++, this.ctx.opts.reconnect, this.ctx.random)
    this.syncRetryTimer = this.ctx.timers.setTimeout(() => {
      this.syncRetryTimer = undefined
      this.catchUp()
    }, Math.max(1, delay))
  }

  /** Ask for the newest hole of `conv`, one at a time per conversation. */
  fillGaps(conv: ConvId): void {
    if (this.syncRid || this.syncRetryTimer !== undefined) return
    if (this.gapFilling.has(conv) || this.gapStuck.has(conv) || this.gapRetry.get(conv)?.timer !== undefined) return
    // A group we are no longer in: what we missed before its end is not ours to ask for (NOT_MEMBER).
    if (this.ctx.store.getState().ended?.[conv]) return
    const gaps = gapsOf(this.ctx.store.getState().messages[conv])
    const gap = gaps[gaps.length - 1]
    if (!gap) return
    const limit = Math.min(LIMITS.maxPageSize, gap.to - gap.from + 1)
    const rid = randomId(12)
    this.gapFilling.set(conv, rid)
    if (!this.ctx.connection.send({ type: 'history', rid, conv, before: gap.to + 1, limit })) {
      this.gapFilling.delete(conv)
      return
    }
    const done = (): void => {
      if (this.gapFilling.get(conv) === rid) this.gapFilling.delete(conv)
    }
    const refused = (err: Error): void => {
      if (this.gapFilling.get(conv) !== rid) return
      this.gapFilling.delete(conv)
      // Dropped with the connection: the next sync starts over. Final: not asked until the next sync.
      if (!(err instanceof AppError)) return
      if (!err.temporary) return void this.gapStuck.add(conv)
      const retry = this.gapRetry.get(conv) ?? { attempts: 0 }
      this.gapRetry.set(conv, retry)
      const delay = backoffDelay(retry.attempts++, this.ctx.opts.reconnect, this.ctx.random)
      retry.timer = this.ctx.timers.setTimeout(() => {
        retry.timer = undefined
        this.fillGaps(conv)
      }, Math.max(1, delay))
    }
    // The page itself arrives as `messages` (onMessages); the request only bounds the wait.
    this.requests.track(rid, {
      kind: 'history',
      conv,
      resolve: () => {
        if (this.gapRetry.get(conv)?.timer === undefined) this.gapRetry.delete(conv)
      },
      reject: refused,
      timeout: done,
    })
  }

  private clearGapRetries(): void {
    for (const r of this.gapRetry.values()) this.ctx.timers.clearTimeout(r.timer)
    this.gapRetry.clear()
  }

  scheduleRecv(): void {
    if (this.recvTimer !== undefined) return
    this.recvTimer = this.ctx.timers.setTimeout(() => {
      this.recvTimer = undefined
      this.sendRecv()
    }, this.ctx.opts.recvBatchMs)
  }

  /** Cumulative delivery acks for every conversation whose cursor moved, plus the queue cursor. */
  private sendRecv(): void {
    this.ctx.timers.clearTimeout(this.recvTimer)
    this.recvTimer = undefined
    const acks: Array<{ conv: ConvId; seq: number }> = []
    for (const [conv, list] of Object.entries(this.ctx.store.getState().messages)) {
      const seq = cursorOf(list)
      if (seq > (this.recvSent.get(conv) ?? 0)) acks.push({ conv, seq })
    }
    const q = this.pendingQ
    if (acks.length === 0 && q === undefined) return
    const batch = acks.slice(0, LIMITS.maxSyncConversations)
    if (!this.ctx.connection.send({ type: 'recv', acks: batch, ...(q !== undefined ? { q } : {}) })) return
    for (const a of batch) this.recvSent.set(a.conv, a.seq)
    this.pendingQ = undefined
    if (batch.length < acks.length) this.scheduleRecv()
  }

  /** The connection dropped: no sync or gap request is running any more. */
  disconnected(): void {
    this.gapFilling.clear()
    this.syncRid = undefined
    this.endSyncWatch()
    this.ctx.timers.clearTimeout(this.syncRetryTimer)
    this.syncRetryTimer = undefined
    this.syncAttempts = 0
    this.clearGapRetries()
  }

  /** Another user (or none): their delivery marks start over. */
  reset(): void {
    this.recvSent.clear()
  }

  dispose(): void {
    this.ctx.timers.clearTimeout(this.recvTimer)
    this.ctx.timers.clearTimeout(this.syncRetryTimer)
    this.endSyncWatch()
    this.clearGapRetries()
  }
}
