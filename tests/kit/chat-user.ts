/**
 * A chat user for load and failure tests: the real client (`ChatClient`, client/net/chat-client.ts,
 * with its store, outbox, sync, gap filling and reconnect) on the Node platform
 * (client/platform/node.ts), logged in with its own dev login. Only its public API is used.
 *
 * What the tests assert on is recorded at the platform's socket seam, where every frame in and out
 * passes: acks per cid, messages received per conversation, connection attempts and closes, and
 * the protocol violations visible from there (two messages with one seq, one seq pushed twice on
 * one connection, an ack that changes). The seam also picks the server of each attempt at random
 * among the candidates (what DNS or a balancer does) and can drop the socket as a crashed network.
 */
import { backoffDelay, decodeServerFrame, RECONNECT, type BackoffOptions, type ConvId, type ServerFrame, type ServerFrameOf, type ServerFrameType } from '@chat/shared'
import type { ClientOptions } from '../../client/config'
import { ChatClient } from '../../client/net/chat-client'
import { Auth } from '../../client/net/auth'
import { RequestFailedError } from '../../client/net/errors'
import { createNodePlatform, nodeHttp, NodeSocket, type NodePlatform } from '../../client/platform/node'
import type { HttpClient, SocketConnection, SocketHandlers, SocketTransport } from '../../client/platform/types'
import { createChatStore, type ChatStore } from '../../client/store/store'

export interface Held {
  readonly cid: string
  readonly from: string
  readonly mid: string
}

export interface AckRecord {
  readonly conv: ConvId
  readonly seq: number
  readonly mid: string
  readonly dup: boolean
}

export interface ChatUserOptions {
  /** Servers to (re)connect to; one is picked at random per attempt. */
  readonly urls: () => readonly string[]
  /** The client's reconnect backoff; default the client's own (RECONNECT). */
  readonly backoff?: BackoffOptions
  readonly random?: () => number
  readonly localAddress?: string
  /** Give up on an attempt that has not reached `welcome` after this long, ms; default the client's. */
  readonly connectTimeoutMs?: number
}

/** Dev login attempts before start() gives up. */
const LOGIN_ATTEMPTS = 10

type How = 'live' | 'sync' | 'resync' | 'history' | 'ack'
type Waiter = { pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void; reject: (e: Error) => void }

/** One connection attempt as the seam saw it. */
interface Attempt {
  readonly socket: NodeSocket
  readonly origin: string
  opened: boolean
  welcomed: boolean
  /** The client's syncs on this connection, the first (after welcome) labelled `sync`. */
  syncs: number
  seen: Map<ConvId, Map<number, string>>
}

export class ChatUser {
  readonly chat: ChatClient
  readonly store: ChatStore
  readonly platform: NodePlatform
  online = false
  readonly held = new Map<ConvId, Map<number, Held>>()
  /** Messages sent and not yet acked or refused for good. */
  readonly outbox = new Map<string, { conv: ConvId; text: string }>()
  readonly acks = new Map<string, AckRecord>()
  readonly stats = {
    attempts: 0,
    connects: 0,
    /** Close codes seen, with counts. */
    closes: new Map<number, number>(),
    /** Attempts the client abandoned before the socket opened (upgrade not answered)... */
    openTimeouts: 0,
    /** ...or after it opened but before `welcome`. */
    welcomeTimeouts: 0,
    live: 0,
    synced: 0,
    filled: 0,
    /** error frames by code. */
    errors: new Map<string, number>(),
    /** Time of each connection attempt (ms since epoch), for the spread of retries. */
    attemptTimes: [] as number[],
    /** When the socket last closed, and when the user was last back (welcome + sync done). */
    lastCloseAt: 0,
    lastReadyAt: 0,
  }
  readonly violations: string[] = []

  private readonly auth: Auth
  private current: Attempt | undefined
  private syncing = false
  private syncRid = ''
  private syncLabel: 'sync' | 'resync' = 'sync'
  private readonly historyRids = new Set<string>()
  private readyWaiters: (() => void)[] = []
  private waiters: Waiter[] = []
  private stopped = false

  constructor(
    readonly id: string,
    private readonly options: ChatUserOptions,
  ) {
    this.platform = createNodePlatform({ transport: this.seam(), http: this.balanced(nodeHttp) })
    const baseUrl = this.pick()
    if (!baseUrl) throw new Error(`${id}: no server to connect to`)
    this.auth = new Auth({ baseUrl, http: this.platform.http, storage: this.platform.storage, timers: this.platform.timers, renewMarginMs: 60_000 })
    this.store = createChatStore()
    this.chat = new ChatClient({
      platform: this.platform,
      store: this.store,
      auth: this.auth,
      baseUrl,
      random: options.random,
      // ClientOptions is typed from the defaults' literals (client/config.ts `as const`): widened here.
      options: {
        ...(options.backoff ? { reconnect: options.backoff } : {}),
        ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
      } as Partial<ClientOptions>,
    })
  }

  /**
   * Log in (dev login) and connect; resolves after the first sync. A login refused as temporary
   * (store or archive busy: many new users at once) is tried again after the client's backoff, as
   * a user would tap again, up to LOGIN_ATTEMPTS times.
   */
  async start(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.auth.loginDev(this.id)
        break
      } catch (err) {
        if (!(err instanceof RequestFailedError) || attempt + 1 >= LOGIN_ATTEMPTS) throw err
        await new Promise((r) => setTimeout(r, backoffDelay(attempt, this.options.backoff ?? RECONNECT, this.options.random)))
      }
    }
    const ready = this.ready()
    this.chat.start()
    await ready
  }

  /** Resolves when online and the sync after the latest welcome is done. */
  ready(): Promise<void> {
    if (this.online && !this.syncing) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  /** Send a text through the client (its outbox); returns the cid. */
  send(conv: ConvId, text: string): string {
    const cid = this.chat.sendText(conv, text)
    this.outbox.set(cid, { conv, text })
    return cid
  }

  /** Highest seq received without a gap. */
  contiguous(conv: ConvId): number {
    const m = this.held.get(conv)
    let s = 0
    while (m?.has(s + 1)) s++
    return s
  }

  /** The URL of the server this user is connected to, if any. */
  get server(): string | undefined {
    return this.online ? this.current?.origin : undefined
  }

  /** The next frame received of a type (optionally matching more). */
  nextOf<K extends ServerFrameType>(type: K, pred: (f: ServerFrameOf<K>) => boolean = () => true, timeoutMs = 5000): Promise<ServerFrameOf<K>> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred: (f) => f.type === type && pred(f as ServerFrameOf<K>),
        resolve: (f) => (clearTimeout(timer), resolve(f as ServerFrameOf<K>)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`${this.id}: no ${type} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  /** Come back to the foreground: the client probes its socket and syncs from its cursors. */
  async resync(): Promise<void> {
    if (!this.online || this.syncing) await this.ready()
    this.syncing = true
    const done = this.ready()
    this.platform.lifecycle.goBackground()
    this.platform.lifecycle.goForeground()
    await done
  }

  /** Close for good (no reconnect). */
  async stop(): Promise<void> {
    this.stopped = true
    this.online = false
    this.chat.dispose()
    this.auth.logout()
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.id}: stopped`))
  }

  /** Drop the socket without a close handshake, as a crashed network would; the client reconnects. */
  drop(): void {
    this.current?.socket.ws.terminate()
  }

  /** A candidate at random, or undefined when there is none right now. */
  private pick(): string | undefined {
    const urls = this.options.urls()
    return urls[Math.floor((this.options.random ?? Math.random)() * urls.length)]
  }

  /**
   * `url` sent to a server picked at random, as one host name behind a balancer would be; with no
   * candidate at all, where the client meant it (a server that may be gone: the attempt fails).
   */
  private route(url: string): string {
    const picked = this.pick()
    if (!picked) return url
    const target = new URL(url)
    target.host = new URL(picked).host
    return target.toString()
  }

  /** The client's HTTP calls (token renewal, /healthz) go where its sockets go: any candidate. */
  private balanced(http: HttpClient): HttpClient {
    return {
      postJson: (url, body, headers) => http.postJson(this.route(url), body, headers),
      get: (url, timeoutMs, headers) => http.get(this.route(url), timeoutMs, headers),
    }
  }

  /** The transport the client gets: a Node socket to a randomly picked server, watched both ways. */
  private seam(): SocketTransport {
    return {
      connect: (url: string, handlers: SocketHandlers): SocketConnection => {
        const target = new URL(this.route(url))
        this.stats.attempts++
        this.stats.attemptTimes.push(Date.now())
        let attempt: Attempt | undefined
        const socket = new NodeSocket(
          target.toString(),
          {
            onOpen: () => {
              attempt!.opened = true
              handlers.onOpen()
            },
            onMessage: (text) => {
              this.received(attempt!, text)
              handlers.onMessage(text)
            },
            onClose: (code, reason) => {
              this.closed(attempt!, code)
              handlers.onClose(code, reason)
            },
          },
          this.options.localAddress ? { localAddress: this.options.localAddress } : {},
        )
        attempt = { socket, origin: target.origin.replace(/^ws/, 'http'), opened: false, welcomed: false, syncs: 0, seen: new Map() }
        this.current = attempt
        return {
          send: (text) => {
            const ok = socket.send(text)
            if (ok) this.sent(attempt, text)
            return ok
          },
          close: (code, reason) => {
            // The client gives up on this socket: a connect timeout, a dead heartbeat, or stop.
            if (!this.stopped && !attempt.welcomed) {
              if (attempt.opened) this.stats.welcomeTimeouts++
              else this.stats.openTimeouts++
            }
            if (this.current === attempt) this.online = false
            socket.close(code, reason)
          },
        }
      },
    }
  }

  private sent(attempt: Attempt, text: string): void {
    const f = JSON.parse(text) as { type: string; rid?: string }
    if (f.type === 'sync' && f.rid) {
      this.syncRid = f.rid
      this.syncLabel = attempt.syncs++ === 0 ? 'sync' : 'resync'
      this.syncing = true
    } else if (f.type === 'history' && f.rid) {
      this.historyRids.add(f.rid)
    }
  }

  private closed(attempt: Attempt, code: number): void {
    if (this.current !== attempt) return
    this.online = false
    this.syncing = false
    this.stats.lastCloseAt = Date.now()
    this.stats.closes.set(code, (this.stats.closes.get(code) ?? 0) + 1)
  }

  private received(attempt: Attempt, text: string): void {
    let f: ServerFrame
    try {
      f = decodeServerFrame(text)
    } catch {
      this.violations.push(`${this.id}: invalid frame ${text.slice(0, 200)}`)
      return
    }
    this.handle(attempt, f)
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(f)) return true
      w.resolve(f)
      return false
    })
  }

  private handle(attempt: Attempt, f: ServerFrame): void {
    // PROTOCOL.md, Connecting: `welcome` is the first frame; only a refusal (error, notice) may
    // come before it, ahead of the close.
    if (!attempt.welcomed && f.type !== 'welcome' && f.type !== 'error' && f.type !== 'notice') {
      this.violations.push(`${this.id}: ${f.type} before welcome`)
    }
    switch (f.type) {
      case 'welcome':
        attempt.welcomed = true
        this.online = true
        // The client sends its sync right after this frame (ChatClient.onWelcome).
        this.syncing = true
        this.stats.connects++
        break
      case 'messages': {
        // The sync after a welcome is checked for repeats of live pushes. A later sync on the same
        // connection (back to the foreground) asks again for everything above the cursors, pushes
        // already in flight included: like history, what it repeats was asked for.
        const how: How = f.rid === this.syncRid ? this.syncLabel : 'history'
        for (const m of f.msgs) this.merge(attempt, f.conv, m.seq, { cid: m.cid, from: m.from, mid: m.mid }, how)
        break
      }
      case 'sync.done': {
        if (f.rid !== this.syncRid) break
        this.syncing = false
        this.stats.lastReadyAt = Date.now()
        const waiters = this.readyWaiters
        this.readyWaiters = []
        for (const w of waiters) w()
        break
      }
      case 'msg':
        this.merge(attempt, f.m.conv, f.m.seq, { cid: f.m.cid, from: f.m.from, mid: f.m.mid }, 'live')
        break
      case 'ack': {
        const prev = this.acks.get(f.cid)
        const entry = this.outbox.get(f.cid)
        if (prev && (prev.seq !== f.seq || prev.mid !== f.mid)) this.violations.push(`${this.id}: ack of ${f.cid} changed from ${prev.seq}/${prev.mid} to ${f.seq}/${f.mid}`)
        if (!prev && entry) this.acks.set(f.cid, { conv: entry.conv, seq: f.seq, mid: f.mid, dup: f.dup === true })
        this.outbox.delete(f.cid)
        if (entry) this.merge(attempt, entry.conv, f.seq, { cid: f.cid, from: this.id, mid: f.mid }, 'ack')
        break
      }
      case 'error':
        this.stats.errors.set(f.code, (this.stats.errors.get(f.code) ?? 0) + 1)
        // A final refusal: the client will not send it again.
        if (f.cid !== undefined && !f.temporary) this.outbox.delete(f.cid)
        break
      default:
        break
    }
  }

  private merge(attempt: Attempt, conv: ConvId, seq: number, msg: Held, how: How): void {
    let m = this.held.get(conv)
    if (!m) this.held.set(conv, (m = new Map<number, Held>()))
    const prev = m.get(seq)
    if (prev && prev.mid !== msg.mid) this.violations.push(`${this.id}: ${conv} seq ${seq} is ${prev.mid} and ${msg.mid}`)
    if (how === 'live' || how === 'sync') {
      let seen = attempt.seen.get(conv)
      if (!seen) attempt.seen.set(conv, (seen = new Map<number, string>()))
      // PROTOCOL.md: the server never sends one connection the same seq twice.
      const first = seen.get(seq)
      if (first !== undefined && msg.from !== this.id) {
        this.violations.push(`${this.id}: ${conv} seq ${seq} sent twice on one connection (${first}, then ${how}${how === 'sync' ? ` ${this.syncRid}` : ''})`)
      }
      seen.set(seq, how === 'sync' ? `sync ${this.syncRid}` : how)
    }
    if (!prev) {
      m.set(seq, msg)
      if (how === 'live') this.stats.live++
      else if (how === 'sync' || how === 'resync') this.stats.synced++
      else if (how === 'history') this.stats.filled++
    }
  }
}
