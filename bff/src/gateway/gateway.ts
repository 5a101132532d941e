// Over 400 lines on purpose: upgrade, heartbeat, limits, dispatch and the one error-to-frame place share the connection set.
/**
 * The WebSocket gateway: authenticates upgrades, holds the connections of this process, keeps the
 * heartbeat, enforces frame size, binary refusal, rate limits and slow-consumer cuts, decodes
 * frames and dispatches them to one handler per type. Every error a client causes is turned into
 * an error frame or a close here, in `fail`, and never reaches another connection.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { RawData, WebSocket } from 'ws'
import { AppError, ERRORS, LIMITS, SUPPORTED_VERSIONS, WS_PATH, randomId, refOf } from '@chat/shared'
import type { ClientFrame, ClientFrameType, UserId } from '@chat/shared'
import type { Config } from '../config'
import type { Logger } from '../log'
import type { Metrics } from '../ops/metrics'
import { bearerToken } from '../auth/bearer'
import type { Tokens, TokenClaims } from '../auth/tokens'
import type { Engine } from '../store/types'
import type { ChatService, EarlyPresence } from '../chat/service'
import { encode } from '../chat/frames'
import { KEEPS_LISTING, handlers } from '../chat/handlers'
import type { Handler, HandlerContext } from '../chat/handlers'
import { Connection, corkUpgrade, newBucket } from './connection'
import type { Bucket } from './connection'
import { decodeFrame } from './decode'
import { destroySocket, refuse } from './refuse'
import type { ConnectionLimits } from './connection'
import { LocalDevices } from './devices'
import { Admission } from './admission'
import { BookkeepingQueue, DEFAULT_BOOKKEEPING } from './presence-queue'
import { OfflineGrace } from './offline-grace'
import type { GraceEntry } from './offline-grace'
import type { BookkeepingLimits } from './presence-queue'
import type { Delivery } from '../chat/delivery'
import type { Relations } from '../social/service'
import type { ConvSettings } from '../chat/settings'

export interface GatewayDeps {
  readonly config: Config
  readonly log: Logger
  readonly metrics: Metrics
  readonly tokens: Tokens
  readonly engine: Engine
  readonly chat: ChatService
  readonly relations: Relations
  /** Mute, pin and delete for me. */
  readonly settings: ConvSettings
  readonly devices: LocalDevices
  readonly delivery: Delivery
  /** This process's id in presence counts and bus envelopes. */
  readonly node: string
  /** Throws AppError USER_SUSPENDED for a suspended user: the upgrade is refused (403). */
  readonly admit?: (user: UserId) => Promise<void>
  /** A device of `user` connected (the WeChat integration's absence marks). */
  readonly onOnline?: (user: UserId) => void
  /** Disconnect bookkeeping bounds (gateway/presence-queue.ts); DEFAULT_BOOKKEEPING when absent. */
  readonly bookkeeping?: BookkeepingLimits
}

export class Gateway {
  private readonly wss: WebSocketServer
  private readonly conns = new Set<Connection>()
  /**
   * Work a drain waits for (`track`), counted: a Set of every frame's promise cost an add, a
   * delete, a closure and a promise of its own per message (issue 15).
   */
  private inflight = 0
  /** Resolved when `inflight` comes back to 0. */
  private idleWaiters: (() => void)[] = []
  /** One function for every tracked promise: counts it settled. */
  private readonly settled = (): void => {
    if (--this.inflight > 0) return
    for (const resolve of this.idleWaiters.splice(0)) resolve()
  }
  private readonly limits: ConnectionLimits
  private readonly heartbeat: NodeJS.Timeout
  private draining = false
  /** Upgrades being set up at once, bounded (MAX_UPGRADES_IN_FLIGHT). */
  readonly admission: Admission
  /** Disconnect bookkeeping, bounded in concurrency and retried (gateway/presence-queue.ts). */
  readonly bookkeeping: BookkeepingQueue
  /** Closed sockets still counted online for PRESENCE_OFFLINE_GRACE_MS (gateway/offline-grace.ts). */
  readonly grace: OfflineGrace
  /**
   * One set of socket listeners for all connections (each finds its Connection on the socket):
   * four closures per socket would be a good part of an idle connection's memory.
   */
  private readonly listeners = listenersOf(this)
  /**
   * The rate limit holds per user, not per socket: every connection of a user on this process
   * draws from one bucket (created at the first frame, dropped with the user's last device).
   */
  private readonly buckets = new Map<UserId, Bucket>()
  /** The ack latency of a send received at `t` (performance.now()), observed once it is acked: one function for every frame. */
  private readonly acked = (t: number): void => this.deps.metrics.ackLatency.observe((performance.now() - t) / 1000)
  private readonly userBucket = (user: UserId, now: number): Bucket => {
    let b = this.buckets.get(user)
    if (!b) this.buckets.set(user, (b = newBucket(this.limits, now)))
    return b
  }

  constructor(private readonly deps: GatewayDeps) {
    const { config, metrics } = deps
    // maxPayload: ws closes with 1009 by itself past it (PROTOCOL.md, Frames).
    this.wss = new WebSocketServer({ noServer: true, maxPayload: config.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
    this.limits = {
      rateLimitPerSec: config.rateLimitPerSec,
      rateLimitBurst: config.rateLimitBurst,
      floodMaxRejects: config.floodMaxRejects,
      floodWindowMs: config.floodWindowMs,
      slowConsumerBytes: config.slowConsumerBytes,
      ackWindowMs: config.ackWindowMs,
      acked: this.acked,
      countOut: (type) => metrics.framesOut.inc({ type }),
      countSlow: (unsent) => {
        metrics.slowConsumers.inc()
        metrics.slowConsumerBytes.observe(unsent)
        metrics.errorsOut.inc({ code: 'SLOW_CONSUMER' })
      },
    }
    this.admission = new Admission({
      maxInFlight: config.maxUpgradesInFlight,
      retryAfterS: config.upgradeRetryAfterS,
      maxQueued: config.upgradeQueueMax,
      queueWaitMs: config.upgradeQueueWaitMs,
    })
    this.bookkeeping = new BookkeepingQueue(deps.bookkeeping ?? DEFAULT_BOOKKEEPING, (err, attempts) =>
      deps.log.warn({ err, attempts }, 'disconnect bookkeeping failed'),
    )
    // Held while upgrades wait for a slot or are turned away: a grace outlasts the wait and the retry.
    const admission = this.admission
    this.grace = new OfflineGrace(config.presenceOfflineGraceMs, (e) => this.expireGrace(e), Date.now, {
      lastBusy: () => admission.lastBusyAt,
      maxMs: config.presenceOfflineGraceMaxMs,
    })
    this.heartbeat = setInterval(() => this.beat(), config.heartbeatIntervalMs)
    this.heartbeat.unref()
  }

  get size(): number {
    return this.conns.size
  }

  // ---------------------------------------------------------------- upgrade

  /** The http server's `upgrade` listener. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Until ws takes the socket over (it has its own error handling from then on).
    socket.on('error', destroySocket)
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname !== WS_PATH) return refuse(socket, 404, 'INVALID_FRAME', 'no WebSocket endpoint here')
    if (this.draining) return refuse(socket, 503, 'SHUTTING_DOWN')
    if (this.conns.size >= this.deps.config.maxConnections) return refuse(socket, 503, 'SERVER_BUSY')
    // A storm: beyond the upgrades in flight, a short wait in line, then a fast 503 with
    // Retry-After (gateway/admission.ts).
    this.admission.enter(socket, (release) => {
      if (!release) {
        this.deps.metrics.errorsOut.inc({ code: 'SERVER_BUSY' })
        return this.admission.refuseBusy(socket)
      }
      if (socket.destroyed) return release()
      this.admitted(req, socket, head, url, release)
    })
  }

  /** An upgrade holding an admission slot: token, suspension and device checks, then the handshake. */
  private admitted(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, release: () => void): void {
    socket.once('close', release)
    const header = req.headers.authorization
    const token = url.searchParams.get('token') ?? bearerToken(header)
    const admit = this.deps.admit
    const verified = this.deps.tokens.verify(token ?? undefined)
    // Only a suspension refuses here: with the store away the socket is let through and told
    // STORE_UNAVAILABLE (1013) by the next step, as every device is during an outage.
    const admitted = async (claims: TokenClaims) => {
      await admit!(claims.user.id).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'USER_SUSPENDED') throw err
      })
      return claims
    }
    ;(admit ? verified.then(admitted) : verified).then(
      (claims) => {
        if (socket.destroyed) return
        // Admission is decided here, in the same turn as the connection is counted (ws completes
        // the handshake and calls back synchronously): upgrades racing through `verify` cannot
        // all pass a check made before it.
        if (this.draining) return refuse(socket, 503, 'SHUTTING_DOWN')
        if (this.conns.size >= this.deps.config.maxConnections) return refuse(socket, 503, 'SERVER_BUSY')
        // Oldest wins: the devices already connected keep their sockets, a new one past the cap is
        // refused (temporary: a stale socket is reaped by the heartbeat, then a retry gets in).
        if (this.deps.devices.count(claims.user.id) >= this.deps.config.maxDevicesPerUser) {
          this.deps.metrics.errorsOut.inc({ code: 'TOO_MANY_DEVICES' })
          return refuse(socket, 429, 'TOO_MANY_DEVICES')
        }
        // The 101 and, back within the grace, `welcome` in one write.
        corkUpgrade(socket)
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          socket.removeListener('error', destroySocket)
          socket.removeListener('close', release)
          this.accept(ws, claims, url.searchParams.get('v'), release)
        })
      },
      (err: unknown) => {
        const e = err instanceof AppError ? err : new AppError('UNAUTHORIZED')
        this.deps.metrics.errorsOut.inc({ code: e.code })
        refuse(socket, e.status, e.code, e.message)
      },
    )
  }

  private accept(ws: WebSocket, claims: TokenClaims, version: string | null, release: () => void = () => {}): void {
    const { config, devices, engine, metrics, log, delivery } = this.deps
    const conn = new WelcomedConnection(ws, claims.user.id, randomId(12), this.limits, claims.expiresAt)
    this.conns.add(conn)
    metrics.connections.inc()
    ;(ws as SocketWithConn)[CONN] = conn
    ws.on('error', this.listeners.error)
    ws.on('pong', this.listeners.pong)
    ws.on('message', this.listeners.message)
    ws.on('close', this.listeners.close)

    // PROTOCOL.md, Connecting: an unsupported version gets an error frame, then close 4003.
    if (!SUPPORTED_VERSIONS.includes(Number(version))) {
      release()
      return this.fail(conn, new AppError('UNSUPPORTED_VERSION', `protocol version ${String(version)} is not supported`))
    }
    conn.protocol = Number(version)

    // Counted and reachable before `welcome` (subscribed, routed): once the client can sync, no live
    // message can miss this node. What reaches the device meanwhile (a contact's presence, a push)
    // is held and follows `welcome`, the first frame (PROTOCOL.md, Connecting).
    const welcome = () => {
      release()
      if (!conn.open) return conn.dropHeld()
      const frame = encode.welcome({
        v: conn.protocol,
        user: claims.user,
        session: conn.session,
        serverTime: Date.now(),
        heartbeatMs: config.heartbeatIntervalMs,
        limits: { maxFrameBytes: config.maxFrameBytes, maxTextChars: LIMITS.maxTextChars, maxPageSize: LIMITS.maxPageSize, recallWindowMs: config.recallWindowMs },
      })
      conn.welcome(frame)
      this.track(this.announceOnline(conn).catch((err: unknown) => log.warn({ err, user: conn.user }, 'presence update failed')))
    }
    // A device back within its user's offline grace finds the routing kept (chat/delivery.ts
    // `keep`): welcomed in this turn, without a round trip to Redis.
    if (!devices.add(conn) || delivery.resume(conn.user)) return welcome()
    conn.holdUntilWelcome(config.slowConsumerBytes)
    conn.ready = engine.bus.subscribe(conn.user).then(() => delivery.join(conn.user)).then(
      () => {
        conn.ready = undefined
        welcome()
      },
      (err: unknown) => {
        release()
        log.warn({ err, user: conn.user }, 'subscribe failed')
        conn.ready = undefined
        // No welcome: the error frame and the close are all this socket gets.
        conn.dropHeld()
        this.reportError(conn, new AppError('STORE_UNAVAILABLE'), {})
        conn.close(1013, 'STORE_UNAVAILABLE')
      },
    )
  }

  private async announceOnline(conn: Connection): Promise<void> {
    const { engine, chat, node } = this.deps
    conn.present = true
    // The user's summary, read once for the peers' presence below, the device's first `sync` and
    // its first `convs` (unless a frame about a conversation reaches or leaves the connection first).
    const summary = (conn.summary = conn.listing = chat.summary(conn.user))
    // The offline queue for the first `sync` too, in the same tick: one write to Redis, one round trip.
    conn.queued = chat.queued(conn.user)
    // A socket of the user closed within the grace: its field is still counted, the new one takes
    // it over. No presence script, nothing announced (the contacts never saw the user leave).
    const held = this.grace.take(conn.user)
    // The presence of the peers that socket was told, read in this tick too (the same write to
    // Redis, the same round trip as the summary): taken if they are still the peers, so the
    // `presences` frame no longer waits a round trip after the summary, and can leave in the
    // same socket write as the first `sync.done` and `convs`.
    const early = held?.peers ? earlyPresence(engine, held.peers) : undefined
    let announce = false
    if (held) conn.presenceField = held.field
    else announce = (await engine.presence.connected(conn.user, presenceField(node, conn))) === 1
    this.deps.onOnline?.(conn.user)
    // The peers' presence for the new device (it missed their changes): one frame for all.
    const { items: peers, peers: told } = await chat.connected(conn.user, announce, summary, early)
    conn.peers = told || undefined
    if (peers.length === 0) return
    if (conn.protocol >= 2) conn.reply(encode.presences({ items: peers }), 'presences')
    // A version-1 client (a mini-program not updated yet) knows one frame per peer only.
    else for (const p of peers) conn.reply(encode.presence(p), 'presence')
  }

  /**
   * This process was reaped as dead while alive (gateway/liveness.ts): every socket counted before
   * is counted again, through the bounded bookkeeping queue, and its user announced online anew
   * (the reaper told the contacts it was offline).
   */
  async recountPresence(): Promise<void> {
    const { engine, chat, node } = this.deps
    // The reaper counted out every field of this process, those in their grace too (and told
    // the contacts of users left with none): only their routing is left to end.
    const work: Promise<void>[] = []
    for (const user of this.grace.drop()) work.push(this.bookkeeping.push(() => this.unroute(user)))
    for (const conn of this.conns) {
      if (!conn.present) continue
      work.push(
        this.bookkeeping.push(async () => {
          if (!this.conns.has(conn)) return
          const devices = await engine.presence.connected(conn.user, presenceField(node, conn))
          if (devices === 1) await chat.announcePresence({ user: conn.user, online: true })
        }),
      )
    }
    await Promise.all(work)
  }

  /** Close every socket `user` holds on this process (suspension), with the error's close code. */
  closeUser(user: UserId, code: 'USER_SUSPENDED'): void {
    for (const conn of [...this.conns]) if (conn.user === user) this.fail(conn, new AppError(code), {})
  }

  /** @internal for the shared listeners */
  socketError(conn: Connection, err: Error): void {
    this.deps.log.debug({ err, session: conn.session }, 'socket error')
  }

  /** @internal for the shared listeners */
  onClose(conn: Connection): void {
    const { devices, engine, metrics, node, delivery } = this.deps
    if (!this.conns.delete(conn)) return
    metrics.connections.dec()
    const last = devices.remove(conn)
    const user = conn.user
    if (last) this.buckets.delete(user)
    // Presence: counted out only after the grace, unless a device of the user takes it over.
    if (conn.present) this.grace.hold(user, presenceField(node, conn), Date.now(), conn.peers)
    if (!last) return
    // The routing too: a device back within the grace needs no subscription nor join, and what
    // arrives meanwhile is queued (chat/delivery.ts). It ends with the grace (`expireGrace`).
    if (this.grace.holds(user)) return delivery.keep(user)
    // Queued, bounded and retried: every step is idempotent (see presence-queue.ts).
    const work = this.bookkeeping.push(async () => {
      // A device that arrived meanwhile keeps the routing and the subscription.
      if (devices.has(user)) return
      await delivery.leave(user)
      if (!devices.has(user)) await engine.bus.unsubscribe(user)
    })
    this.track(work)
  }

  /** The grace of a closed socket ended with no device back here: counted out, offline announced with none left. */
  private expireGrace(e: GraceEntry): void {
    const { engine, chat } = this.deps
    const work = this.bookkeeping.push(async () => {
      const left = await engine.presence.disconnected(e.user, e.field, e.at)
      if (left === 0) await chat.announcePresence({ user: e.user, online: false, lastSeen: e.at })
      await this.unroute(e.user)
    })
    this.track(work)
  }

  /**
   * End the routing kept for `user` (chat/delivery.ts `keep`) once no device is here and no closed
   * socket of it is in its grace any more. Idempotent, like every bookkeeping step: a retry after
   * `leave` went through (the kept mark is gone then) still unsubscribes.
   */
  private async unroute(user: UserId): Promise<void> {
    const { devices, delivery, engine } = this.deps
    if (devices.has(user) || this.grace.holds(user)) return
    await delivery.leave(user)
    // A device that arrived meanwhile subscribed again (`leave` ended the kept routing): it stays.
    if (!devices.has(user) && !delivery.keeps(user)) await engine.bus.unsubscribe(user)
  }

  // ---------------------------------------------------------------- frames

  /** @internal for the shared listeners */
  onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.alive = true
    const { metrics } = this.deps
    // A client that does not read what it asked for gets no more answers: it is cut (4009) before
    // its request can add to the unsent bytes held for it.
    if (conn.congested) {
      metrics.framesIn.inc({ type: 'refused' })
      return conn.slowConsumer()
    }
    if (isBinary) {
      metrics.framesIn.inc({ type: 'binary' })
      return this.fail(conn, new AppError('BINARY_UNSUPPORTED'))
    }
    const now = Date.now()
    // PROTOCOL.md: the socket lives as long as its token (the heartbeat closes idle ones).
    if (now >= conn.expiresAt) return this.expire(conn)
    const verdict = conn.take(now, this.userBucket)
    if (verdict !== 'ok') {
      metrics.framesIn.inc({ type: 'limited' })
      return this.fail(conn, new AppError(verdict === 'flooding' ? 'FLOODING' : 'RATE_LIMITED'))
    }
    let frame: ClientFrame
    try {
      // A Buffer: the server's binaryType is ws's default, 'nodebuffer' (fragments arrive joined).
      frame = decodeFrame((data as Buffer).toString())
    } catch (err) {
      metrics.framesIn.inc({ type: 'invalid' })
      const ref = err instanceof AppError ? (err.details?.ref as { rid?: string; cid?: string } | undefined) : undefined
      return this.fail(conn, err, ref ?? {})
    }
    metrics.framesIn.inc({ type: frame.type })
    if (frame.type === 'ping' || conn.ready === undefined) return this.dispatch(conn, frame)
    // PROTOCOL.md: the client sends nothing but ping before `welcome`; be lenient and hold it.
    void conn.ready.then(() => this.dispatch(conn, frame))
  }

  private dispatch(conn: Connection, frame: ClientFrame): void {
    if (this.draining && frame.type !== 'ping') {
      // Refused, never silently dropped: the client retries (same cid) on its next connection.
      return this.reportError(conn, new AppError('SHUTTING_DOWN'), refOf(frame))
    }
    const ctx: HandlerContext = {
      conn,
      user: conn.user,
      chat: this.deps.chat,
      relations: this.deps.relations,
      settings: this.deps.settings,
      receivedAt: performance.now(),
      acked: this.acked,
    }
    // A frame that may change a conversation (a send, a read mark, a setting...): the summary
    // kept for `convs` no longer holds everything.
    if (!KEEPS_LISTING.has(frame.type)) conn.listing = undefined
    const handler = handlers[frame.type] as Handler<ClientFrameType>
    try {
      const result = handler(ctx, frame)
      if (result instanceof Promise) {
        // One `then` per frame (no `catch` chained before the tracking): its failure becomes an
        // error frame before the drain may go on.
        this.inflight++
        result.then(this.settled, (err: unknown) => {
          try {
            this.fail(conn, err, refOf(frame))
          } finally {
            this.settled()
          }
        })
      }
    } catch (err) {
      this.fail(conn, err, refOf(frame))
    }
  }

  /** The one place a client's error becomes an error frame, and a close when its code has one. */
  private fail(conn: Connection, err: unknown, ref: { rid?: string; cid?: string } = {}): void {
    let appErr: AppError
    if (err instanceof AppError) appErr = err
    else {
      this.deps.log.error({ err, user: conn.user, session: conn.session }, 'handler failed')
      appErr = new AppError('INTERNAL', undefined, { cause: err })
    }
    const close = appErr.closeCode
    // A socket closed before its welcome gets the error frame and the close, nothing held.
    if (close !== undefined && conn instanceof WelcomedConnection) conn.dropHeld()
    this.reportError(conn, appErr, ref)
    if (close !== undefined) conn.close(close, appErr.code)
  }

  private reportError(conn: Connection, err: AppError, ref: { rid?: string; cid?: string }): void {
    this.deps.metrics.errorsOut.inc({ code: err.code })
    const frame = encode.error({
      code: err.code,
      message: err.message,
      temporary: err.temporary,
      ...(ref.rid !== undefined ? { rid: ref.rid } : {}),
      ...(ref.cid !== undefined ? { cid: ref.cid } : {}),
    })
    conn.reply(frame, 'error')
  }

  // ---------------------------------------------------------------- heartbeat and drain

  /**
   * PROTOCOL.md, Heartbeat: ping every interval; a connection that has not answered since the
   * previous round is closed with 4010, one whose token expired with 4002 (so within one interval
   * of the expiry). One whose close never completed is destroyed.
   */
  private beat(): void {
    const now = Date.now()
    for (const conn of this.conns) {
      if (conn.closing) {
        conn.ws.terminate()
      } else if (now >= conn.expiresAt) {
        this.expire(conn)
      } else if (!conn.alive) {
        this.deps.metrics.errorsOut.inc({ code: 'HEARTBEAT_TIMEOUT' })
        conn.close(ERRORS.HEARTBEAT_TIMEOUT.close, 'HEARTBEAT_TIMEOUT')
      } else {
        conn.alive = false
        conn.summary = conn.listing = conn.queued = undefined
        conn.ws.ping()
      }
    }
  }

  /** The token of the socket expired: error frame TOKEN_EXPIRED, close 4002 (the client renews and reconnects). */
  private expire(conn: Connection): void {
    this.fail(conn, new AppError('TOKEN_EXPIRED', 'token expired: renew it and reconnect'))
  }

  /** Work a drain waits for. Callers handle its errors; a rejection here is only bookkeeping. */
  private track(p: Promise<unknown>): void {
    this.inflight++
    p.then(this.settled, this.settled)
  }

  /** Resolves once no tracked work is under way (work tracked meanwhile is waited for too). */
  private idle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  get isDraining(): boolean {
    return this.draining
  }

  /**
   * Graceful stop: refuse new sockets and frames, let in-flight work finish (every send already
   * received is acked or refused), then tell every client to reconnect elsewhere (notice
   * SHUTTING_DOWN, close 1012) and wait for the sockets to close, destroying what is left at the
   * deadline.
   */
  async drain(deadline: number, retryAfterMs: number): Promise<void> {
    this.draining = true
    await waitUntil(() => this.idle(), deadline)
    const notice = encode.notice({ code: 'SHUTTING_DOWN', message: ERRORS.SHUTTING_DOWN.message, retryAfterMs })
    for (const conn of this.conns) {
      conn.reply(notice, 'notice')
      conn.close(ERRORS.SHUTTING_DOWN.close, 'SHUTTING_DOWN')
    }
    await waitUntil(async () => {
      while (this.conns.size > 0) await new Promise((r) => setTimeout(r, 20))
    }, deadline)
    for (const conn of this.conns) conn.ws.terminate()
    // This process stops counting its sockets: the closed ones' graces end now.
    this.grace.flush()
    await waitUntil(() => this.idle(), deadline)
    clearInterval(this.heartbeat)
    this.wss.close()
  }
}

/** The presence of `peers` (joined by spaces), read now; its rejection is handled here (it may never be awaited). */
function earlyPresence(engine: Engine, peers: string): EarlyPresence {
  const read = engine.presence.get(peers.split(' '))
  read.catch(() => {})
  return { peers, read }
}

/**
 * The presence field of a socket: one per socket (not one counter per node), so that a retried
 * decrement cannot take away another socket's count.
 */
function presenceField(node: string, conn: Connection): string {
  return conn.presenceField ?? `${node}/${conn.session}`
}

/**
 * A Connection that holds the frames written to it between being counted (devices.add) and its
 * `welcome`, then writes them after it, in order. PROTOCOL.md, Connecting: `welcome` is the first
 * frame. What is held is bounded like any unsent bytes (SLOW_CONSUMER_BYTES: cut 4009 beyond); the
 * holder exists only while the connection is set up, so an established connection carries one
 * empty field. Exported for its tests (connection-writes.test.ts).
 */
export class WelcomedConnection extends Connection {
  private held: { frames: Array<Buffer | string>; bytes: number; maxBytes: number } | undefined

  /** From now until `welcome` (or `dropHeld`), writes are held. */
  holdUntilWelcome(maxBytes: number): void {
    this.held = { frames: [], bytes: 0, maxBytes }
  }

  override write(data: Buffer | string, now = false): boolean {
    const held = this.held
    // `now` passed on: dropped here, a group's frame was corked for the turn like any other and
    // every member's write waited for the whole fan-out loop (issue 15, group of 1,000).
    if (held === undefined) return super.write(data, now)
    if (!this.open) return false
    held.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length
    if (held.bytes > held.maxBytes) {
      this.dropHeld()
      this.slowConsumer()
      return false
    }
    held.frames.push(data)
    return true
  }

  /** Write `welcome`, then what was held. */
  welcome(frame: Buffer | string): boolean {
    const frames = this.held?.frames ?? []
    this.held = undefined
    if (!this.reply(frame, 'welcome')) return false
    for (const f of frames) if (!super.write(f)) return false
    return true
  }

  /** Forget what was held: the socket closes without a welcome, or is gone. */
  dropHeld(): void {
    this.held = undefined
  }
}

const CONN = Symbol('connection')
type SocketWithConn = WebSocket & { [CONN]: Connection }

/** Listeners ws calls with `this` bound to the socket (EventEmitter's calling convention). */
interface SocketListeners {
  error: (this: WebSocket, err: Error) => void
  pong: (this: WebSocket) => void
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
  close: (this: WebSocket) => void
}

function listenersOf(gateway: Gateway): SocketListeners {
  return {
    error(this: WebSocket, err: Error) {
      gateway.socketError((this as SocketWithConn)[CONN], err)
    },
    pong(this: WebSocket) {
      ;(this as SocketWithConn)[CONN].alive = true
    },
    message(this: WebSocket, data: RawData, isBinary: boolean) {
      gateway.onMessage((this as SocketWithConn)[CONN], data, isBinary)
    },
    close(this: WebSocket) {
      gateway.onClose((this as SocketWithConn)[CONN])
    },
  }
}

async function waitUntil(work: () => Promise<void>, deadline: number): Promise<void> {
  const left = deadline - Date.now()
  if (left <= 0) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([work(), new Promise<void>((r) => (timer = setTimeout(r, left)))])
  clearTimeout(timer)
}
