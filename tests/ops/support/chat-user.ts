/**
 * A chat user for load and failure tests: the protocol test client (bff/test/support/client.ts)
 * plus what a real client does around it, so that a test can kill servers under it and count:
 *  - reconnects after any close with full-jitter backoff (shared `backoffDelay`, the client's own),
 *    to a server picked at random among the candidates (what DNS or a balancer does);
 *  - after every `welcome`: `sync` from the highest seq held without a gap per conversation, then
 *    the outbox again with the same cids (a repeated cid gets the original ack, `dup: true`);
 *  - merges every message by seq; fills a hole in live pushes with `history`;
 *  - acknowledges the offline queue with `recv.q` after each sync.
 * It records everything a test asserts on: acks per cid, messages held per conversation, and the
 * protocol violations it can see by itself (two messages with one seq, one seq pushed twice on one
 * connection, an ack that changes).
 */
import { backoffDelay, RECONNECT, type BackoffOptions, type ConvId, type ServerFrame } from '@chat/shared'
import { devLogin, newCid, TestClient } from '../../../bff/test/support/client'

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
  readonly backoff?: BackoffOptions
  readonly random?: () => number
  readonly localAddress?: string
  /**
   * Give up on an attempt that has not reached `welcome` after this long and retry, ms. Default
   * 15,000, the client's `connectTimeoutMs` (client/config.ts): under a storm a SYN can be dropped by
   * a full listen backlog and the handshake hang for minutes otherwise.
   */
  readonly connectTimeoutMs?: number
}

export class ChatUser {
  client: TestClient | undefined
  online = false
  readonly convs = new Set<ConvId>()
  readonly held = new Map<ConvId, Map<number, Held>>()
  readonly outbox = new Map<string, { conv: ConvId; text: string }>()
  readonly acks = new Map<string, AckRecord>()
  readonly stats = {
    attempts: 0,
    connects: 0,
    /** Close codes seen, with counts. */
    closes: new Map<number, number>(),
    /** Attempts abandoned after connectTimeoutMs: the socket never opened (upgrade not answered)... */
    openTimeouts: 0,
    /** ...or it opened but no `welcome` came. */
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

  private token = ''
  private attempt = 0
  private stopped = false
  private processed = 0
  private syncRid = ''
  private syncing = false
  private historyRequests = 0
  private resyncs = 0
  private seenOnConn = new Map<ConvId, Map<number, string>>()
  private readyWaiters: (() => void)[] = []
  private retryTimer: NodeJS.Timeout | undefined
  private resendTimer: NodeJS.Timeout | undefined

  constructor(
    readonly id: string,
    private readonly options: ChatUserOptions,
  ) {}

  private get backoff(): BackoffOptions {
    return this.options.backoff ?? RECONNECT
  }

  /** Log in (dev login) and connect; resolves after the first sync. */
  async start(): Promise<void> {
    const urls = this.options.urls()
    this.token = (await devLogin(urls[Math.floor(Math.random() * urls.length)]!, this.id)).token
    const ready = this.ready()
    void this.connect()
    await ready
  }

  /** Resolves when online and the sync after the latest welcome is done. */
  ready(): Promise<void> {
    if (this.online && !this.syncing) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  send(conv: ConvId, text: string): string {
    const cid = newCid()
    this.convs.add(conv)
    this.outbox.set(cid, { conv, text })
    if (this.online) this.client!.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return cid
  }

  /** Highest seq held without a gap. */
  contiguous(conv: ConvId): number {
    const m = this.held.get(conv)
    let s = 0
    while (m?.has(s + 1)) s++
    return s
  }

  /** The URL of the server this user is connected to, if any. */
  get server(): string | undefined {
    if (!this.online || !this.client) return undefined
    return new URL(this.client.ws.url).origin.replace(/^ws/, 'http')
  }

  /** Sync again from the cursors held, as a client does when it comes back to the foreground. */
  async resync(): Promise<void> {
    if (!this.online || this.syncing) await this.ready()
    this.syncing = true
    this.syncRid = `r${++this.resyncs}`

    const done = this.ready()
    this.client!.send({ type: 'sync', rid: this.syncRid, cursors: [...this.convs].map((conv) => ({ conv, seq: this.contiguous(conv) })) })
    await done
  }

  /** Close for good (no reconnect). */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    clearTimeout(this.resendTimer)
    this.online = false
    await this.client?.close()
  }

  /** Drop the socket without a close handshake, as a crashed network would; the user reconnects. */
  drop(): void {
    this.client?.ws.terminate()
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    const urls = this.options.urls()
    const url = urls[Math.floor((this.options.random ?? Math.random)() * urls.length)]!
    this.stats.attempts++
    this.stats.attemptTimes.push(Date.now())
    // The attempt ends once: opened and welcomed, failed, or timed out (then a late open is closed).
    let settled = false
    const timeout = setTimeout(() => {
      if (settled) return
      settled = true
      this.stats.openTimeouts++
      this.scheduleReconnect()
    }, this.options.connectTimeoutMs ?? 15_000)
    let client: TestClient
    try {
      client = await TestClient.connect(url, this.token, this.options.localAddress ? { localAddress: this.options.localAddress } : {})
    } catch {
      if (settled) return
      settled = true
      clearTimeout(timeout)
      this.scheduleReconnect()
      return
    }
    if (this.stopped || settled) {
      client.ws.terminate()
      return
    }
    clearTimeout(timeout)
    // Open, but the attempt only succeeds with `welcome`: a server too busy to send it is left
    // (terminating the socket, whose close then schedules the next attempt).
    const left = Math.max(1, (this.options.connectTimeoutMs ?? 15_000) - (Date.now() - this.stats.attemptTimes.at(-1)!))
    client.nextOf('welcome', () => true, left).then(
      () => {
        settled = true
      },
      () => {
        settled = true
        if (client.ws.readyState !== client.ws.OPEN) return
        this.stats.welcomeTimeouts++
        client.ws.terminate()
      },
    )
    this.client = client
    this.processed = 0
    this.seenOnConn = new Map()
    client.ws.on('message', () => this.drain(client))
    void client.closed.then((c) => {
      if (this.client !== client) return
      this.online = false
      this.syncing = false
      this.stats.lastCloseAt = Date.now()
      this.stats.closes.set(c.code, (this.stats.closes.get(c.code) ?? 0) + 1)
      this.scheduleReconnect()
    })
    this.drain(client)
  }

  private scheduleReconnect(): void {
    if (this.stopped) return
    const delay = backoffDelay(this.attempt++, this.backoff, this.options.random)
    this.retryTimer = setTimeout(() => void this.connect(), delay)
  }

  /** TestClient keeps every frame in order; handle the ones not yet seen. */
  private drain(client: TestClient): void {
    if (this.client !== client) return
    while (this.processed < client.frames.length) this.handle(client, client.frames[this.processed++]!)
  }

  private handle(client: TestClient, f: ServerFrame): void {
    switch (f.type) {
      case 'welcome': {
        this.attempt = 0
        this.online = true
        this.syncing = true
        this.stats.connects++
        this.syncRid = `s${this.stats.connects}`
        client.send({ type: 'sync', rid: this.syncRid, cursors: [...this.convs].map((conv) => ({ conv, seq: this.contiguous(conv) })) })
        for (const [cid, e] of this.outbox) client.send({ type: 'send', cid, conv: e.conv, kind: 'text', body: { text: e.text } })
        break
      }
      case 'messages': {
        // The sync after a welcome is checked for repeats of live pushes. An explicit resync asks
        // again for everything above the cursors, pushes already in flight included: like history,
        // what it repeats was asked for.
        const how = f.rid === this.syncRid ? (this.syncRid.startsWith('s') ? 'sync' : 'resync') : 'history'
        for (const m of f.msgs) this.merge(f.conv, m.seq, { cid: m.cid, from: m.from, mid: m.mid }, how)
        break
      }
      case 'sync.done': {
        if (f.rid !== this.syncRid) break
        this.syncing = false
        this.stats.lastReadyAt = Date.now()
        const acks = [...this.convs].map((conv) => ({ conv, seq: this.contiguous(conv) })).filter((a) => a.seq > 0)
        client.send({ type: 'recv', acks, ...(f.q ? { q: f.q } : {}) })
        for (const conv of this.convs) this.fillGap(client, conv)
        const waiters = this.readyWaiters
        this.readyWaiters = []
        for (const w of waiters) w()
        break
      }
      case 'msg': {
        const m = f.m
        this.convs.add(m.conv)
        this.merge(m.conv, m.seq, { cid: m.cid, from: m.from, mid: m.mid }, 'live')
        // A hole below a live push (a push lost with a crashed node): fetch it, as the client does.
        if (!this.syncing) this.fillGap(client, m.conv)
        break
      }
      case 'ack': {
        const prev = this.acks.get(f.cid)
        const entry = this.outbox.get(f.cid)
        if (prev && (prev.seq !== f.seq || prev.mid !== f.mid)) this.violations.push(`${this.id}: ack of ${f.cid} changed from ${prev.seq}/${prev.mid} to ${f.seq}/${f.mid}`)
        if (!prev && entry) this.acks.set(f.cid, { conv: entry.conv, seq: f.seq, mid: f.mid, dup: f.dup === true })
        this.outbox.delete(f.cid)
        if (entry) this.merge(entry.conv, f.seq, { cid: f.cid, from: this.id, mid: f.mid }, 'ack')
        break
      }
      case 'error': {
        this.stats.errors.set(f.code, (this.stats.errors.get(f.code) ?? 0) + 1)
        if (f.cid !== undefined && this.outbox.has(f.cid)) {
          if (f.temporary) this.scheduleResend()
          else this.outbox.delete(f.cid)
        }
        break
      }
      default:
        break
    }
  }

  /** After a temporary refusal (store unavailable, rate limited), resend the outbox with backoff. */
  private scheduleResend(): void {
    if (this.resendTimer) return
    this.resendTimer = setTimeout(() => {
      this.resendTimer = undefined
      if (!this.online) return // the next welcome resends
      for (const [cid, e] of this.outbox) this.client!.send({ type: 'send', cid, conv: e.conv, kind: 'text', body: { text: e.text } })
    }, 100 + backoffDelay(1, this.backoff, this.options.random))
  }

  private fillGap(client: TestClient, conv: ConvId): void {
    const m = this.held.get(conv)
    if (!m) return
    const top = Math.max(...m.keys())
    const low = this.contiguous(conv)
    if (top > low + 1) {
      // Everything in (low, top) that is missing: `history` pages backwards from `before`.
      let before = low + 1
      while (before <= top && m.has(before)) before++
      let end = before
      while (end <= top && !m.has(end)) end++
      client.send({ type: 'history', rid: `h${++this.historyRequests}`, conv, before: end, limit: Math.min(200, end - low - 1) })
    }
  }

  private merge(conv: ConvId, seq: number, msg: Held, how: 'live' | 'sync' | 'resync' | 'history' | 'ack'): void {
    let m = this.held.get(conv)
    if (!m) this.held.set(conv, (m = new Map()))
    const prev = m.get(seq)
    if (prev && prev.mid !== msg.mid) this.violations.push(`${this.id}: ${conv} seq ${seq} is ${prev.mid} and ${msg.mid}`)
    if (how === 'live' || how === 'sync') {
      let seen = this.seenOnConn.get(conv)
      if (!seen) this.seenOnConn.set(conv, (seen = new Map()))
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
