// Over 400 lines on purpose: one state machine (states, transitions, timers, watchdog) reads best whole.
/**
 * The one socket of the app and its state machine.
 *
 *   disconnected --start/show/online--> connecting --welcome--> connected
 *        ^                                 |                       |
 *        +------ close / error / watchdog (backoff, or stop by code) +
 *
 * - One socket at a time: a new attempt starts only when the previous socket is gone, and every
 *   callback carries the generation of its attempt, so a late event of an old socket is ignored
 *   (PLATFORM.md: duplicate sockets after rapid reconnects, `closeSocket:fail task not found`).
 * - What to do after a close is decided by its close code (PROTOCOL.md "Closing"), never by a message.
 * - Reconnects wait `backoffDelay(attempt)`: full jitter, uniform in [0, min(max, min * 2^attempt)],
 *   with min 500 ms and max 20 s by default (CLIENT_DEFAULTS.reconnect).
 * - Heartbeat: a `ping` when nothing was sent for `heartbeatMs` (the server's, from `welcome`); the
 *   watchdog drops the socket when nothing at all arrived for `heartbeatTimeoutMs`.
 * - While waiting out a long backoff, `probeServer` (an HTTP GET of /healthz) asks every
 *   `reachabilityProbeMs` whether the server is back: once a probe found it unreachable, the first
 *   probe that reaches it again resets the backoff and connects at once (a restarted server is used
 *   within about one probe interval, not after the rest of a backoff of up to 20 s). A server that
 *   answers probes but refuses sockets keeps the backoff: only "was down, is up" skips it.
 * - Background: the platform kills sockets there (PLATFORM.md); we do not reconnect while hidden. Back
 *   in the foreground we reconnect at once, or, if the socket still looks open, probe it with a ping
 *   and drop it if nothing answers within `foregroundProbeMs`.
 */
import {
  backoffDelay,
  CloseCode,
  decodeServerFrame,
  encodeFrame,
  PROTOCOL_VERSION,
  WS_PATH,
  type ClientFrame,
  type ServerFrame,
  type ServerFrameOf,
} from '@chat/shared'
import type { AppLifecycle, SocketConnection, SocketTransport, TimerId, Timers } from '../platform/types'
import { AuthLostError } from './errors'

export type ConnectionState = 'disconnected' | 'connecting' | 'connected'

/** Why the connection is down (state `disconnected`). */
export type DisconnectReason =
  /** Not started, or stopped (logout). */
  | 'stopped'
  /** Waiting for the next attempt (`retryAt`). */
  | 'waiting'
  /** The app is in the background; we reconnect when it returns. */
  | 'background'
  /** The platform says there is no network; we reconnect when it returns. */
  | 'offline'
  /** The server refused our credentials and renewing them failed: log in again. */
  | 'unauthorized'
  /** The server does not speak our protocol version (close 4003): update the app. */
  | 'unsupported'

export interface ConnectionStatus {
  readonly state: ConnectionState
  readonly reason?: DisconnectReason
  /** Consecutive attempts that did not reach `welcome` (0 once connected). */
  readonly attempt: number
  /** When the next attempt starts (clock ms), while `waiting`. */
  readonly retryAt?: number
  /** Close code of the last connection that ended. */
  readonly lastCloseCode?: number
}

export interface ConnectionOptions {
  readonly baseUrl: string
  readonly transport: SocketTransport
  readonly timers: Timers
  readonly lifecycle: AppLifecycle
  /** The access token; `force` renews it first. Throws AuthLostError when a new login is needed. */
  readonly getToken: (force: boolean) => Promise<string>
  readonly onWelcome: (frame: ServerFrameOf<'welcome'>) => void
  readonly onFrame: (frame: ServerFrame) => void
  readonly onStatus?: (status: ConnectionStatus, previous: ConnectionStatus) => void
  /** The app returned to the foreground and the socket is (still) up. */
  readonly onForeground?: () => void
  readonly reconnect: { readonly minDelayMs: number; readonly maxDelayMs: number }
  readonly heartbeatMs: number
  readonly heartbeatTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly foregroundProbeMs: number
  /**
   * Whether the server answers at all (HTTP, not the socket): true if it does. Without it, a
   * reconnect waits out its backoff.
   */
  readonly probeServer?: () => Promise<boolean>
  /** Probe interval while waiting for a reconnect, ms (jittered by ±50%). 0: no probes. */
  readonly reachabilityProbeMs?: number
  /** Uniform in [0, 1): backoff jitter. */
  readonly random?: () => number
  readonly log?: (msg: string, details?: Record<string, unknown>) => void
}

/** Codes after which we do not reconnect by ourselves. */
const FATAL: ReadonlySet<number> = new Set([CloseCode.UNSUPPORTED_VERSION])

export class Connection {
  private status: ConnectionStatus = { state: 'disconnected', reason: 'stopped', attempt: 0 }
  private socket?: SocketConnection
  private generation = 0
  private wanted = false
  private foreground = true
  private online = true
  private forceRenew = false
  private opensFailed = 0
  private retryAfterMs?: number
  private heartbeatMs: number
  private lastSentAt = 0
  private lastReceivedAt = 0
  /** Frames received on the current socket (the foreground probe waits for it to move). */
  private received = 0
  private retryTimer?: TimerId
  private connectTimer?: TimerId
  private pingTimer?: TimerId
  private watchdogTimer?: TimerId
  private probeTimer?: TimerId
  private probeGeneration = -1
  private reachTimer?: TimerId
  /** A reachability probe found the server unreachable since the last welcome. */
  private serverSeenDown = false
  private readonly unsubscribe: Array<() => void> = []

  constructor(private readonly opts: ConnectionOptions) {
    this.heartbeatMs = opts.heartbeatMs
    this.unsubscribe.push(
      opts.lifecycle.onShow(() => this.handleShow()),
      opts.lifecycle.onHide(() => this.handleHide()),
      opts.lifecycle.onNetworkChange((online) => this.handleNetwork(online)),
    )
  }

  getStatus(): ConnectionStatus {
    return this.status
  }

  /** Connect and stay connected until `stop()`. */
  start(): void {
    this.wanted = true
    if (this.status.state === 'disconnected') this.connectNow()
  }

  /** Close the socket and stay disconnected (logout, or the owner going away). */
  stop(): void {
    this.wanted = false
    this.teardown(1000, 'stopped')
    this.setStatus({ state: 'disconnected', reason: 'stopped', attempt: 0 })
  }

  dispose(): void {
    this.stop()
    for (const off of this.unsubscribe.splice(0)) off()
  }

  /** Skip the backoff wait (the user tapped "retry"). */
  retryNow(): void {
    if (!this.wanted || this.status.state !== 'disconnected') return
    this.connectNow()
  }

  /** Send a frame on the open socket (after `welcome`, except `ping`). False if it could not go out. */
  send(frame: ClientFrame): boolean {
    if (!this.socket) return false
    if (this.status.state !== 'connected' && frame.type !== 'ping') return false
    const ok = this.socket.send(encodeFrame(frame))
    if (ok) this.lastSentAt = this.opts.timers.now()
    return ok
  }

  get isConnected(): boolean {
    return this.status.state === 'connected'
  }

  // ------------------------------------------------------------------ attempts

  private connectNow(): void {
    this.opts.timers.clearTimeout(this.retryTimer)
    this.opts.timers.clearTimeout(this.reachTimer)
    this.retryTimer = this.reachTimer = undefined
    if (!this.wanted || this.socket) return
    if (!this.foreground) {
      this.setStatus({ ...this.status, state: 'disconnected', reason: 'background', retryAt: undefined })
      return
    }
    const gen = ++this.generation
    this.setStatus({ state: 'connecting', attempt: this.status.attempt, lastCloseCode: this.status.lastCloseCode })
    const force = this.forceRenew
    this.opts.getToken(force).then(
      (token) => {
        if (gen !== this.generation || !this.wanted) return
        if (force) this.forceRenew = false
        this.open(gen, token)
      },
      (err: unknown) => {
        if (gen !== this.generation) return
        if (err instanceof AuthLostError) {
          this.wanted = false
          this.setStatus({ state: 'disconnected', reason: 'unauthorized', attempt: 0 })
          return
        }
        // The refresh endpoint was unreachable: try again later, like a failed socket.
        this.opts.log?.('token renewal failed', { error: String(err) })
        this.afterFailure(undefined)
      },
    )
  }

  private open(gen: number, token: string): void {
    const url = `${this.opts.baseUrl.replace(/^http/, 'ws')}${WS_PATH}?v=${PROTOCOL_VERSION}&token=${encodeURIComponent(token)}`
    let opened = false
    this.retryAfterMs = undefined
    this.socket = this.opts.transport.connect(url, {
      onOpen: () => {
        if (gen !== this.generation) return
        opened = true
        this.opensFailed = 0
        this.lastReceivedAt = this.opts.timers.now()
      },
      onMessage: (text) => {
        if (gen !== this.generation) return
        this.lastReceivedAt = this.opts.timers.now()
        this.received++
        this.receive(text)
      },
      onClose: (code) => {
        if (gen !== this.generation) return
        this.socket = undefined
        if (!opened) this.opensFailed++
        this.closed(code)
      },
    })
    this.lastSentAt = this.opts.timers.now()
    this.connectTimer = this.opts.timers.setTimeout(() => {
      if (gen !== this.generation || this.status.state === 'connected') return
      this.opts.log?.('connect timeout')
      this.drop(CloseCode.HEARTBEAT_TIMEOUT)
    }, this.opts.connectTimeoutMs)
  }

  private receive(text: string): void {
    let frame: ServerFrame
    try {
      frame = decodeServerFrame(text)
    } catch (err) {
      // A bad frame from the server must not break the client: log it and go on (PROTOCOL.md
      // "Frames": unknown keys are ignored, anything else malformed is dropped).
      this.opts.log?.('invalid frame ignored', { error: String(err), frame: text.slice(0, 200) })
      return
    }
    if (frame.type === 'welcome') {
      this.opts.timers.clearTimeout(this.connectTimer)
      this.heartbeatMs = frame.heartbeatMs > 0 ? frame.heartbeatMs : this.opts.heartbeatMs
      this.serverSeenDown = false
      this.setStatus({ state: 'connected', attempt: 0 })
      this.schedulePing()
      this.scheduleWatchdog()
      this.opts.onWelcome(frame)
      return
    }
    if (frame.type === 'notice') {
      // SHUTTING_DOWN: the close (1012) follows; reconnect after retryAfterMs plus jitter.
      this.retryAfterMs = frame.retryAfterMs
      return
    }
    if (frame.type === 'pong') return
    if (this.status.state !== 'connected') {
      // Before welcome the server sends only an error ahead of a refusal close: the close decides.
      if (frame.type === 'error') this.opts.log?.('refused', { code: frame.code })
      return
    }
    this.opts.onFrame(frame)
  }

  /** End the current socket ourselves and react as if it closed with `code`. */
  private drop(code: number): void {
    this.teardown(1000, 'client reconnect')
    this.closed(code)
  }

  private teardown(code: number, reason: string): void {
    this.generation++
    const socket = this.socket
    this.socket = undefined
    this.clearTimers()
    socket?.close(code, reason)
  }

  private closed(code: number): void {
    this.clearTimers()
    if (!this.wanted) {
      this.setStatus({ state: 'disconnected', reason: 'stopped', attempt: 0, lastCloseCode: code })
      return
    }
    if (FATAL.has(code)) {
      this.wanted = false
      this.setStatus({ state: 'disconnected', reason: 'unsupported', attempt: 0, lastCloseCode: code })
      return
    }
    if (code === CloseCode.TOKEN_EXPIRED || code === CloseCode.UNAUTHORIZED) {
      // Renew, then reconnect. If renewing is refused, getToken throws AuthLostError: log in again.
      this.forceRenew = true
    }
    // A refused upgrade (HTTP 401) reaches us only as an abnormal close before open (neither wx nor
    // browsers expose the status): after two such failures in a row, renew the token first.
    if (this.opensFailed >= 2) this.forceRenew = true
    this.afterFailure(code)
  }

  private afterFailure(code: number | undefined): void {
    const attempt = this.status.attempt
    if (!this.foreground) {
      this.setStatus({ state: 'disconnected', reason: 'background', attempt, lastCloseCode: code })
      return
    }
    if (!this.online) {
      this.setStatus({ state: 'disconnected', reason: 'offline', attempt, lastCloseCode: code })
      return
    }
    let delay = backoffDelay(attempt, this.opts.reconnect, this.opts.random)
    if (code === CloseCode.TOKEN_EXPIRED && attempt === 0) delay = 0
    if (code === CloseCode.SERVICE_RESTART && this.retryAfterMs !== undefined) delay += this.retryAfterMs
    const retryAt = this.opts.timers.now() + delay
    this.setStatus({ state: 'disconnected', reason: 'waiting', attempt: attempt + 1, retryAt, lastCloseCode: code })
    this.retryTimer = this.opts.timers.setTimeout(() => {
      this.retryTimer = undefined
      this.connectNow()
    }, delay)
    this.scheduleReachability()
  }

  /** While waiting longer than a probe interval, ask the server whether it is back (see the header). */
  private scheduleReachability(): void {
    const every = this.opts.reachabilityProbeMs ?? 0
    const probe = this.opts.probeServer
    const t = this.opts.timers
    t.clearTimeout(this.reachTimer)
    this.reachTimer = undefined
    if (!probe || every <= 0 || this.status.reason !== 'waiting' || this.status.retryAt === undefined) return
    const wait = Math.round(every * (0.5 + (this.opts.random ?? Math.random)()))
    if (this.status.retryAt - t.now() <= wait) return
    const gen = this.generation
    const still = () => gen === this.generation && this.status.state === 'disconnected' && this.status.reason === 'waiting'
    this.reachTimer = t.setTimeout(() => {
      this.reachTimer = undefined
      if (!still()) return
      probe().then(
        (up) => this.probed(up, still),
        () => this.probed(false, still),
      )
    }, wait)
  }

  private probed(up: boolean, still: () => boolean): void {
    if (!still()) return
    if (!up || !this.serverSeenDown) {
      if (!up) this.serverSeenDown = true
      this.scheduleReachability()
      return
    }
    this.opts.log?.('server reachable again: reconnecting now')
    this.serverSeenDown = false
    this.setStatus({ ...this.status, attempt: 0, retryAt: undefined })
    this.connectNow()
  }

  // ------------------------------------------------------------------ heartbeat

  private schedulePing(): void {
    this.opts.timers.clearTimeout(this.pingTimer)
    const due = this.lastSentAt + this.heartbeatMs - this.opts.timers.now()
    this.pingTimer = this.opts.timers.setTimeout(
      () => {
        if (this.opts.timers.now() - this.lastSentAt >= this.heartbeatMs) {
          this.send({ type: 'ping', ts: this.opts.timers.now() })
        }
        this.schedulePing()
      },
      Math.max(due, 0),
    )
  }

  private scheduleWatchdog(): void {
    this.opts.timers.clearTimeout(this.watchdogTimer)
    const due = this.lastReceivedAt + this.opts.heartbeatTimeoutMs - this.opts.timers.now()
    this.watchdogTimer = this.opts.timers.setTimeout(
      () => {
        if (this.opts.timers.now() - this.lastReceivedAt >= this.opts.heartbeatTimeoutMs) {
          this.opts.log?.('watchdog: nothing received, reconnecting')
          this.drop(CloseCode.HEARTBEAT_TIMEOUT)
          return
        }
        this.scheduleWatchdog()
      },
      Math.max(due, 0),
    )
  }

  private clearTimers(): void {
    const t = this.opts.timers
    t.clearTimeout(this.connectTimer)
    t.clearTimeout(this.pingTimer)
    t.clearTimeout(this.watchdogTimer)
    t.clearTimeout(this.probeTimer)
    t.clearTimeout(this.retryTimer)
    t.clearTimeout(this.reachTimer)
    this.connectTimer = this.pingTimer = this.watchdogTimer = this.probeTimer = this.retryTimer = this.reachTimer = undefined
  }

  // ------------------------------------------------------------------ app lifecycle

  private handleShow(): void {
    this.foreground = true
    if (!this.wanted) return
    if (this.socket && this.status.state === 'connected') {
      // The socket may have died silently in the background: probe it, and catch up meanwhile.
      this.probe('foreground')
      this.opts.onForeground?.()
      return
    }
    if (this.status.state === 'disconnected') {
      this.setStatus({ ...this.status, attempt: 0 })
      this.connectNow()
    }
  }

  /**
   * Ping, and reconnect at once if nothing at all arrives within `foregroundProbeMs`: a socket that
   * lived through the background or a network change may be dead without a close event.
   */
  private probe(why: string): void {
    // One probe at a time: the network going away and back within it is still one question.
    if (this.probeTimer !== undefined && this.probeGeneration === this.generation) return
    const before = this.received
    this.send({ type: 'ping', ts: this.opts.timers.now() })
    const gen = (this.probeGeneration = this.generation)
    this.probeTimer = this.opts.timers.setTimeout(() => {
      this.probeTimer = undefined
      if (gen !== this.generation || this.received > before) return
      this.teardown(1000, 'probe timeout')
      if (!this.online) {
        this.opts.log?.(`${why} probe unanswered, offline: waiting for the network`)
        this.setStatus({ state: 'disconnected', reason: 'offline', attempt: 0, lastCloseCode: CloseCode.HEARTBEAT_TIMEOUT })
        return
      }
      this.opts.log?.(`${why} probe unanswered, reconnecting`)
      this.setStatus({ state: 'disconnected', reason: 'waiting', attempt: 0, lastCloseCode: CloseCode.HEARTBEAT_TIMEOUT })
      this.connectNow()
    }, this.opts.foregroundProbeMs)
  }

  private handleHide(): void {
    this.foreground = false
    if (this.status.state === 'disconnected' && this.retryTimer !== undefined) {
      this.opts.timers.clearTimeout(this.retryTimer)
      this.retryTimer = undefined
      this.setStatus({ ...this.status, reason: 'background', retryAt: undefined })
    }
  }

  private handleNetwork(online: boolean): void {
    this.online = online
    if (!this.wanted || !this.foreground) return
    if (!online) {
      // The socket is likely dead already: know it within the probe time, not the watchdog's, so
      // the user sees "No network connection" and writes into the outbox knowingly.
      if (this.socket && this.status.state === 'connected') this.probe('offline')
      return
    }
    if (this.socket && this.status.state === 'connected') {
      // The network came back (or changed): the old socket may be a dead one.
      this.probe('network')
      this.opts.onForeground?.()
      return
    }
    if (this.status.state === 'disconnected') {
      this.opts.timers.clearTimeout(this.retryTimer)
      this.retryTimer = undefined
      this.setStatus({ ...this.status, attempt: 0 })
      this.connectNow()
    }
  }

  private setStatus(next: ConnectionStatus): void {
    const prev = this.status
    this.status = next
    if (
      prev.state === next.state &&
      prev.reason === next.reason &&
      prev.attempt === next.attempt &&
      prev.retryAt === next.retryAt &&
      prev.lastCloseCode === next.lastCloseCode
    ) {
      return
    }
    this.opts.onStatus?.(next, prev)
  }
}
