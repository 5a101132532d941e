/**
 * Client settings. Build-time values come only from `TARO_APP_*` variables (Taro inlines them);
 * everything else is a named constant here, with its unit in the name.
 */
import { HEARTBEAT, LIMITS, RECONNECT } from '@chat/shared'

/**
 * Origin of the BFF (`http(s)://host[:port]`). Empty: the page's own origin (h5 served by the BFF).
 * On weapp it must be an https host on the mini-program's domain whitelist (PLATFORM.md, Network).
 */
export function bffOrigin(): string {
  const configured = (process.env.TARO_APP_BFF_URL ?? '').replace(/\/+$/, '')
  if (configured) return configured
  const loc = (globalThis as { location?: { origin?: string } }).location
  return loc?.origin ?? ''
}

function envNumber(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0) throw new RangeError(`${name} must be a non-negative number of ms, got "${raw}"`)
  return n
}

export const CLIENT_DEFAULTS = {
  /**
   * View batching window, ms: store updates reach a page's view at most once per window, so at most
   * 1000 / 50 = 20 view updates (setData) a second (PLATFORM.md: <= 20 calls/s). The first change
   * after a quiet period is shown `viewBatchMs` later at most. Build-time override:
   * TARO_APP_VIEW_BATCH_MS.
   */
  viewBatchMs: envNumber(process.env.TARO_APP_VIEW_BATCH_MS, 50, 'TARO_APP_VIEW_BATCH_MS'),
  /** Reconnect backoff bounds, ms (full jitter, PROTOCOL.md "Closing"). */
  reconnect: RECONNECT,
  /** Watchdog: drop the socket when nothing arrived for this long, ms (PROTOCOL.md "Heartbeat"). */
  heartbeatTimeoutMs: HEARTBEAT.clientTimeoutMs,
  /** Ping interval used until the server's `welcome` names its own, ms. */
  heartbeatMs: HEARTBEAT.clientIntervalMs,
  /** Give up on a connection attempt that has not reached `welcome` after this long, ms. */
  connectTimeoutMs: 15_000,
  /**
   * After returning to the foreground with a socket that still looks open, wait this long for any
   * frame (the answer to our ping) before treating it as dead, ms. Sockets die silently in the
   * background (PLATFORM.md, Network).
   */
  foregroundProbeMs: 5_000,
  /**
   * While a reconnect waits out a backoff longer than this, the server's /healthz is asked this often
   * (±50% jitter) whether it is back; a server that was unreachable and answers again is reconnected
   * to at once, with the backoff reset, ms. Also the probe's own timeout. Each waiting client costs
   * the server one small GET per interval.
   */
  reachabilityProbeMs: 2_000,
  /** A request (`history`, `convs`, `users`, `conv.create`) without an answer after this long fails, ms. */
  requestTimeoutMs: 15_000,
  /** Delivery acks (`recv`) are cumulative and sent at most this often, ms (PROTOCOL.md "Delivery"). */
  recvBatchMs: 300,
  /** Read marks are debounced by this much, ms. */
  readDebounceMs: 400,
  /** A peer's typing indicator shows for this long after its last `typing` frame, ms (PROTOCOL.md). */
  typingShowMs: 5_000,
  /** We send `typing` at most this often while the user types, ms. */
  typingSendEveryMs: 3_000,
  /** Renew the access token this long before it expires, ms (or at half its lifetime if shorter). */
  tokenRenewMarginMs: 60_000,
  /** History page size, messages (PROTOCOL.md: at most `maxPageSize`). */
  historyPageSize: LIMITS.defaultPageSize,
  /** Most messages of one conversation kept in memory; the oldest are dropped past it (paged back on scroll). */
  maxMessagesInMemory: 20_000,
  /** Storage cache bounds: newest conversations kept, and newest confirmed messages per conversation. */
  cacheConversations: 50,
  cacheMessagesPerConversation: 100,
  /**
   * Send turns into "+" once the text is gone; a tap on "+" within this long after a send is the
   * second tap of a double tap on Send (the button changed under the finger) and is ignored, ms.
   * A double tap is two taps within ~300 ms (Android's ViewConfiguration: 300 ms).
   */
  sendTapGuardMs: 500,
  /** Storage writes of the cache are coalesced over this long, ms (wx storage calls are synchronous). */
  cacheSaveDelayMs: 1_000,
} as const

export type ClientOptions = typeof CLIENT_DEFAULTS
