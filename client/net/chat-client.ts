/**
 * The chat client: turns frames into store updates and user actions into frames.
 *
 * - After every `welcome`: `sync` from the cursors held (PROTOCOL.md "Catch-up"), a fresh `convs`,
 *   then every outbox entry again with its cid (the server answers a repeated cid with the original
 *   ack, `dup: true`, so nothing is stored twice).
 * - Every message enters the store through `mergeMessages`: pushes racing a sync, a duplicate push,
 *   an ack and the echo of the same message all end up as one message, in seq order.
 * - Holes between held seqs are filled with `history` (`before` = the seq after the hole), outside a
 *   sync (whose later batches fill what looks like a hole while it runs).
 * - Delivery acks (`recv`) are cumulative per conversation and sent at most every `recvBatchMs`;
 *   `sync.done.q` is acknowledged once the sync's batches are in the store.
 */
import {
  backoffDelay,
  directConvId,
  LIMITS,
  randomId,
  type Conversation,
  type ConvId,
  type ConvKind,
  type FileBody,
  type ImageBody,
  type ClientFrameOf,
  type ServerFrame,
  type ServerFrameOf,
  type User,
  type UserId,
} from '@chat/shared'
import { CLIENT_DEFAULTS, type ClientOptions } from '../config'
import type { Platform, TimerId } from '../platform/types'
import { loadCache, persistCache, type CacheWriter } from '../store/persist'
import { cursorOf, gapsOf, hasOlder, uploadRefused } from '../store/selectors'
import {
  addPending,
  applyReceipt,
  confirmPending,
  dropUnlisted,
  expireTyping,
  initialState,
  markReadLocal,
  mergeServerMessages,
  patchPending,
  removePending,
  setConn,
  setConvs,
  setConvsError,
  setMe,
  setOlder,
  setPresence,
  setTyping,
  setUploadProgress,
  setUsers,
  update,
  upsertConv,
  type ChatStore,
} from '../store/store'
import type { ChatMessage } from '../store/types'
import type { FileMessageKind, FileMessageSink, FileMessageUploads, PickedFile, UploadFailure } from '../upload/types'
import type { Auth } from './auth'
import { Connection, type ConnectionStatus } from './connection'
import { appErrorFrom, RequestFailedError } from './errors'
import { Outbox, type OutboxEntry } from './outbox'

export interface ChatClientDeps {
  readonly platform: Platform
  readonly store: ChatStore
  readonly auth: Auth
  readonly baseUrl: string
  readonly options?: Partial<ClientOptions>
  /** Uniform in [0, 1): backoff jitter (tests make it deterministic). */
  readonly random?: () => number
  readonly log?: (msg: string, details?: Record<string, unknown>) => void
}

type RequestKind = 'history' | 'convs' | 'users' | 'conv.create' | 'contacts' | 'relation' | 'contacts.policy'

/** A request the pages make through `request` (the relation frames): its `rid` is added here. */
export type RequestFrame = DistributiveOmit<ClientFrameOf<'contacts'> | ClientFrameOf<'relation'> | ClientFrameOf<'contacts.policy'>, 'rid'>
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

interface PendingRequest {
  readonly kind: RequestKind
  readonly conv?: ConvId
  readonly resolve: (frame: ServerFrame) => void
  readonly reject: (err: Error) => void
  readonly timer: TimerId
}

/** What the chat page tells the client about what the user sees. */
export interface Viewing {
  readonly conv: ConvId
  /**
   * The highest seq of a message whose row has been on screen while the page was visible: the read
   * mark goes up to it and never past it (a message below the viewport is not read).
   */
  readonly seenSeq: number
}

export class ChatClient {
  readonly connection: Connection
  readonly opts: ClientOptions
  private readonly store: ChatStore
  private readonly platform: Platform
  private readonly auth: Auth
  private outbox?: Outbox
  private cache?: CacheWriter
  private user?: UserId
  private uploads?: FileMessageUploads
  private readonly requests = new Map<string, PendingRequest>()
  private relationListener?: (f: ServerFrameOf<'relation'>) => void
  private syncRid?: string
  private readonly gapFilling = new Map<ConvId, string>()
  /** A gap the server answered with nothing: not asked again until the next sync. */
  private readonly gapStuck = new Set<ConvId>()
  private readonly recvSent = new Map<ConvId, number>()
  private recvTimer?: TimerId
  private pendingQ?: string
  private readonly readSent = new Map<ConvId, number>()
  private readTimer?: TimerId
  private readonly typingSentAt = new Map<ConvId, number>()
  private typingTimer?: TimerId
  private readonly resendTimers = new Map<string, TimerId>()
  private readonly resendAttempts = new Map<string, number>()
  private convsSoonTimer?: TimerId
  private viewing?: Viewing
  private foreground = true
  private readonly offLifecycle: Array<() => void> = []

  constructor(private readonly deps: ChatClientDeps) {
    this.opts = { ...CLIENT_DEFAULTS, ...deps.options }
    this.store = deps.store
    this.platform = deps.platform
    this.auth = deps.auth
    this.connection = new Connection({
      baseUrl: deps.baseUrl,
      transport: deps.platform.transport,
      timers: deps.platform.timers,
      lifecycle: deps.platform.lifecycle,
      getToken: (force) => this.auth.getToken(force),
      onWelcome: (f) => this.onWelcome(f),
      onFrame: (f) => this.onFrame(f),
      onStatus: (s, prev) => this.onStatus(s, prev),
      onForeground: () => this.catchUp(),
      reconnect: this.opts.reconnect,
      heartbeatMs: this.opts.heartbeatMs,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      foregroundProbeMs: this.opts.foregroundProbeMs,
      probeServer: () =>
        deps.platform.http.get(`${deps.baseUrl}/healthz`, this.opts.reachabilityProbeMs).then(
          (res) => res.status === 200,
          () => false,
        ),
      reachabilityProbeMs: this.opts.reachabilityProbeMs,
      random: deps.random,
      log: deps.log,
    })
    this.offLifecycle.push(
      deps.platform.lifecycle.onHide(() => {
        this.foreground = false
        this.cache?.flush()
      }),
      deps.platform.lifecycle.onShow(() => {
        this.foreground = true
      }),
    )
  }

  get me(): UserId | undefined {
    return this.user
  }

  /** Open the logged-in user's cached state, then connect. */
  start(): void {
    const me = this.auth.user
    if (!me) return
    if (this.user !== me.id) {
      this.cache?.stop()
      this.user = me.id
      this.outbox = new Outbox(this.platform.storage, `chat.outbox.${me.id}`)
      this.store.setState({ ...initialState, ...loadCache(this.platform.storage, me.id), conn: this.connection.getStatus() }, true)
      update(this.store, setMe, me)
      this.markOutboxPending()
      this.cache = persistCache(this.store, this.platform.storage, this.platform.timers, me.id, this.opts)
    }
    this.connection.start()
  }

  /** Log out: disconnect, forget the session and the in-memory state (the cache stays per user). */
  logout(): void {
    this.connection.stop()
    this.cache?.flush()
    this.cache?.stop()
    this.cache = undefined
    this.user = undefined
    this.outbox = undefined
    this.recvSent.clear()
    this.readSent.clear()
    this.auth.logout()
    this.store.setState({ ...initialState }, true)
  }

  dispose(): void {
    this.connection.dispose()
    this.cache?.stop()
    for (const off of this.offLifecycle.splice(0)) off()
    const t = this.platform.timers
    for (const timer of [this.recvTimer, this.readTimer, this.typingTimer, this.convsSoonTimer]) t.clearTimeout(timer)
    for (const timer of this.resendTimers.values()) t.clearTimeout(timer)
    this.failRequests('disconnected')
  }

  /** The uploads module (client/upload) registers itself here. */
  setUploads(uploads: FileMessageUploads): void {
    this.uploads = uploads
  }

  get hasUploads(): boolean {
    return this.uploads !== undefined
  }

  pickAndSend(conv: ConvId, kind: FileMessageKind): Promise<void> {
    if (!this.uploads) return Promise.reject(new Error('uploads are not available in this build'))
    return this.uploads.pickAndSend(conv, kind)
  }

  // ------------------------------------------------------------------------------------ sending

  /** Show the message at once, queue it, and send it if connected. Returns its cid. */
  sendText(conv: ConvId, text: string): string {
    const me = this.requireUser()
    const trimmed = text.slice(0, LIMITS.maxTextChars)
    const cid = randomId(21)
    const ts = this.platform.timers.now()
    update(this.store, addPending, { cid, from: me, conv, kind: 'text', body: { text: trimmed }, ts, status: 'sending' })
    this.enqueue({ cid, conv, kind: 'text', body: { text: trimmed }, ts })
    return cid
  }

  /** Remove a message the server refused for good (uploadRefused): it was never stored, nothing is left to send. */
  dismiss(conv: ConvId, cid: string): void {
    const m = this.store.getState().messages[conv]?.find((x) => x.cid === cid && x.seq === undefined)
    // Final refusals only: a refused upload, or a text content security refused (CONTENT_RISKY).
    if (!m || !(uploadRefused(m) || (m.status === 'failed' && m.error === 'CONTENT_RISKY'))) return
    update(this.store, removePending, conv, cid)
  }

  /** Send a failed message again, with the same cid. */
  retry(conv: ConvId, cid: string): void {
    const m = this.store.getState().messages[conv]?.find((x) => x.cid === cid && x.seq === undefined)
    if (!m) return
    // The server refused the file itself: a refusal is final (the same bytes would be refused again).
    if (uploadRefused(m)) return
    if (m.upload && !m.upload.done) {
      update(this.store, patchPending, conv, cid, (x) => ({
        ...x,
        status: 'sending',
        error: undefined,
        upload: x.upload ? { ...x.upload, failure: undefined } : undefined,
      }))
      this.uploads?.retry(cid)
      return
    }
    const body = m.kind === 'text' && 'text' in m.body ? { text: m.body.text } : 'fileId' in m.body ? { fileId: m.body.fileId } : undefined
    if (!body) return
    update(this.store, patchPending, conv, cid, (x) => ({ ...x, status: 'sending', error: undefined }))
    this.enqueue({ cid, conv, kind: m.kind, body, ts: m.ts })
  }

  private enqueue(entry: OutboxEntry): void {
    this.outbox?.add(entry)
    this.resendAttempts.delete(entry.cid)
    this.transmit(entry)
  }

  private transmit(entry: OutboxEntry): void {
    const frame =
      entry.kind === 'text'
        ? { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: 'text' as const, body: entry.body as { text: string } }
        : { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: entry.kind, body: { fileId: (entry.body as { fileId: string }).fileId } }
    this.connection.send(frame)
  }

  /**
   * Messages still in the outbox after a restart are "sending" (they go out on connect); a text the
   * cache did not keep (the app died before the cache write) is shown again from the outbox.
   */
  private markOutboxPending(): void {
    const outbox = this.outbox
    const me = this.user
    if (!outbox || !me) return
    const queued = new Set(outbox.list().map((e) => e.cid))
    for (const e of outbox.list()) {
      const list = this.store.getState().messages[e.conv]
      if (list?.some((m) => m.cid === e.cid && m.from === me)) continue
      if (e.kind === 'text' && 'text' in e.body) {
        update(this.store, addPending, { cid: e.cid, from: me, conv: e.conv, kind: 'text', body: e.body, ts: e.ts, status: 'sending' })
      }
    }
    const s = this.store.getState()
    for (const [conv, list] of Object.entries(s.messages)) {
      for (const m of list) {
        if (m.seq !== undefined || m.upload) continue
        const status = queued.has(m.cid) ? 'sending' : 'failed'
        if (m.status !== status) update(this.store, patchPending, conv, m.cid, (x) => ({ ...x, status }))
      }
    }
  }

  // ------------------------------------------------------------------------------------ requests

  /** Page back: the page of messages before the oldest one held. */
  loadOlder(conv: ConvId): Promise<void> {
    const s = this.store.getState()
    const list = s.messages[conv]
    if ((s.older[conv] ?? 'idle') === 'loading') return Promise.resolve()
    if (list?.length && !hasOlder(list)) return Promise.resolve()
    const first = list?.[0]?.seq
    update(this.store, setOlder, conv, 'loading')
    return this.request<'messages'>(
      'history',
      (rid) => ({ type: 'history', rid, conv, limit: this.opts.historyPageSize, ...(first !== undefined ? { before: first } : {}) }),
      conv,
    ).then(
      () => update(this.store, setOlder, conv, 'idle'),
      (err: Error) => {
        update(this.store, setOlder, conv, 'error')
        throw err
      },
    )
  }

  /** Pull to refresh: the conversation list again. */
  refreshConvs(): Promise<void> {
    return this.request<'convs'>('convs', (rid) => ({ type: 'convs', rid })).then(
      () => undefined,
      (err: Error) => {
        update(this.store, setConvsError, err.message)
        throw err
      },
    )
  }

  searchUsers(q: string): Promise<User[]> {
    return this.request<'users'>('users', (rid) => ({ type: 'users', rid, q: q.slice(0, 64) })).then((f) => {
      update(this.store, setUsers, f.items)
      return f.items
    })
  }

  createConv(kind: ConvKind, members: UserId[], title?: string): Promise<Conversation> {
    return this.request<'conv'>('conv.create', (rid) => ({
      type: 'conv.create',
      rid,
      kind,
      members,
      ...(title ? { title } : {}),
    })).then((f) => f.conv)
  }

  /** The 1:1 conversation with `user`: the one we know, or a new one. */
  async openDirect(user: UserId): Promise<ConvId> {
    const me = this.requireUser()
    const id = directConvId(me, user)
    if (this.store.getState().convs[id]) return id
    return (await this.createConv('direct', [user])).id
  }

  /**
   * A request the client has no method of its own for (the relation frames): resolves with the
   * answer carrying its rid, rejects with the error's AppError (or RequestFailedError when not
   * connected or not answered). A `relation` frame the server pushes without rid goes to
   * `onRelation`, given with the request that wants to hear of later changes.
   */
  sendRequest(frame: RequestFrame, onRelation?: (f: ServerFrameOf<'relation'>) => void): Promise<ServerFrame> {
    if (onRelation) this.relationListener = onRelation
    return this.request(frame.type, (rid) => ({ ...frame, rid }) as Parameters<Connection['send']>[0])
  }

  private request<T extends ServerFrame['type']>(
    kind: RequestKind,
    build: (rid: string) => Parameters<Connection['send']>[0],
    conv?: ConvId,
  ): Promise<Extract<ServerFrame, { type: T }>> {
    return new Promise((resolve, reject) => {
      const rid = randomId(12)
      if (!this.connection.send(build(rid))) {
        reject(new RequestFailedError(`${kind}: not connected`, 'disconnected'))
        return
      }
      const timer = this.platform.timers.setTimeout(() => {
        this.requests.delete(rid)
        reject(new RequestFailedError(`${kind}: no answer`, 'timeout'))
      }, this.opts.requestTimeoutMs)
      this.requests.set(rid, {
        kind,
        conv,
        resolve: resolve as (f: ServerFrame) => void,
        reject,
        timer,
      })
    })
  }

  private settle(rid: string | undefined, frame: ServerFrame): boolean {
    if (!rid) return false
    const r = this.requests.get(rid)
    if (!r) return false
    this.requests.delete(rid)
    this.platform.timers.clearTimeout(r.timer)
    if (frame.type === 'error') r.reject(appErrorFrom(frame.code, frame.message))
    else r.resolve(frame)
    return true
  }

  private failRequests(reason: 'disconnected'): void {
    for (const [rid, r] of this.requests) {
      this.platform.timers.clearTimeout(r.timer)
      r.reject(new RequestFailedError(`${r.kind}: ${reason}`, reason))
      this.requests.delete(rid)
    }
    this.gapFilling.clear()
    this.syncRid = undefined
  }

  // ------------------------------------------------------------------------------------ reading, typing

  /** The chat page reports what is on screen (undefined: no chat open). */
  setViewing(viewing: Viewing | undefined): void {
    this.viewing = viewing
    if (viewing && viewing.seenSeq > 0) this.scheduleRead()
  }

  /** The user types in `conv`: tell the others, at most every `typingSendEveryMs`. */
  typing(conv: ConvId): void {
    const now = this.platform.timers.now()
    if (now - (this.typingSentAt.get(conv) ?? -Infinity) < this.opts.typingSendEveryMs) return
    if (this.connection.send({ type: 'typing', conv })) this.typingSentAt.set(conv, now)
  }

  private scheduleRead(): void {
    if (this.readTimer !== undefined) return
    this.readTimer = this.platform.timers.setTimeout(() => {
      this.readTimer = undefined
      const v = this.viewing
      if (!v || !this.foreground) return
      const seq = Math.min(v.seenSeq, cursorOf(this.store.getState().messages[v.conv]))
      if (seq <= 0) return
      update(this.store, markReadLocal, v.conv, seq)
      if (seq <= (this.readSent.get(v.conv) ?? 0)) return
      if (this.connection.send({ type: 'read', conv: v.conv, seq })) this.readSent.set(v.conv, seq)
    }, this.opts.readDebounceMs)
  }

  // ------------------------------------------------------------------------------------ uploads seam

  /** What the uploads module uses to show and send image/file messages (client/upload/types.ts). */
  fileSink(): FileMessageSink {
    const convOf = (cid: string): ConvId | undefined => {
      for (const [conv, list] of Object.entries(this.store.getState().messages)) {
        for (let i = list.length - 1; i >= 0 && list[i]!.seq === undefined; i--) if (list[i]!.cid === cid) return conv
      }
      return undefined
    }
    return {
      bffUrl: this.deps.baseUrl,
      getToken: () => this.auth.getToken(false),
      addPendingFile: (conv: ConvId, kind: FileMessageKind, file: PickedFile) => {
        const me = this.requireUser()
        const cid = randomId(21)
        const body = {
          name: file.name,
          size: file.size,
          ...(file.mime ? { mime: file.mime } : {}),
          ...(file.width && file.height ? { width: file.width, height: file.height } : {}),
        }
        update(this.store, addPending, {
          cid,
          from: me,
          conv,
          kind,
          body,
          ts: this.platform.timers.now(),
          status: 'sending',
          upload: { localPath: file.path, sentBytes: 0, totalBytes: file.size, done: false },
        })
        return cid
      },
      setProgress: (cid: string, sentBytes: number) => {
        const conv = convOf(cid)
        if (!conv) return
        const m = this.store.getState().messages[conv]?.find((x) => x.cid === cid)
        if (!m?.upload) return
        update(this.store, setUploadProgress, conv, cid, { ...m.upload, sentBytes })
      },
      failUpload: (cid: string, failure: UploadFailure) => {
        const conv = convOf(cid)
        if (!conv) return
        update(this.store, patchPending, conv, cid, (m) => ({
          ...m,
          status: 'failed',
          error: failure.code,
          upload: m.upload ? { ...m.upload, failure } : m.upload,
        }))
      },
      completeUpload: (cid: string, body: ImageBody | FileBody) => {
        const conv = convOf(cid)
        if (!conv) return
        let kind: ChatMessage['kind'] = 'file'
        let ts = this.platform.timers.now()
        update(this.store, patchPending, conv, cid, (m) => {
          kind = m.kind
          ts = m.ts
          return {
            ...m,
            body,
            status: 'sending',
            error: undefined,
            upload: m.upload ? { ...m.upload, sentBytes: m.upload.totalBytes, done: true, failure: undefined } : undefined,
          }
        })
        this.enqueue({ cid, conv, kind, body: { fileId: body.fileId }, ts })
      },
      removePending: (cid: string) => {
        const conv = convOf(cid)
        if (!conv) return
        this.outbox?.remove(cid)
        update(this.store, removePending, conv, cid)
      },
    }
  }

  // ------------------------------------------------------------------------------------ frames

  private onStatus(status: ConnectionStatus, prev: ConnectionStatus): void {
    update(this.store, setConn, status)
    if (prev.state === 'connected' && status.state !== 'connected') this.failRequests('disconnected')
  }

  private onWelcome(f: ServerFrameOf<'welcome'>): void {
    this.auth.setServerTime(f.serverTime)
    update(this.store, setMe, f.user)
    this.catchUp()
    this.request<'convs'>('convs', (rid) => ({ type: 'convs', rid })).catch(() => undefined)
    for (const entry of this.outbox?.list() ?? []) this.transmit(entry)
  }

  /**
   * After a sync refused with NOT_MEMBER: the server's conversation list is the truth. Confirmed
   * messages of conversations it does not list are dropped (our own pending ones stay, and go out
   * from the outbox), then the sync runs again with the cursors that remain.
   */
  private resyncWithoutStale(): void {
    this.request<'convs'>('convs', (rid) => ({ type: 'convs', rid }))
      .then((res) => {
        update(this.store, dropUnlisted, new Set(res.items.map((c) => c.id)))
        this.catchUp()
      })
      .catch(() => undefined)
  }

  /** `sync` from the cursor of every conversation held (PROTOCOL.md "Catch-up after (re)connect"). */
  private catchUp(): void {
    const s = this.store.getState()
    const cursors = Object.entries(s.messages)
      .map(([conv, list]) => ({ conv, seq: cursorOf(list) }))
      .filter((c) => c.seq > 0)
      .slice(0, LIMITS.maxSyncConversations)
    const rid = randomId(12)
    if (this.connection.send({ type: 'sync', rid, cursors })) this.syncRid = rid
  }

  private onFrame(f: ServerFrame): void {
    switch (f.type) {
      case 'msg': {
        update(this.store, mergeServerMessages, f.m.conv, [f.m], this.opts.maxMessagesInMemory)
        update(this.store, expireTyping, this.platform.timers.now(), f.m.conv, f.m.from)
        // Sending moves the sender's read mark to their message (the server's rule, see its store):
        // a reply shows what it answers as read even when its sender's own read frame was not needed.
        if (f.m.from !== this.store.getState().me?.id) update(this.store, applyReceipt, { type: 'receipt', kind: 'read', conv: f.m.conv, user: f.m.from, seq: f.m.seq })
        if (!this.store.getState().convs[f.m.conv]) this.convsSoon()
        this.afterMerge(f.m.conv)
        return
      }
      case 'messages': {
        update(this.store, mergeServerMessages, f.conv, f.msgs, this.opts.maxMessagesInMemory)
        if (this.gapFilling.get(f.conv) === f.rid) {
          this.gapFilling.delete(f.conv)
          if (f.msgs.length === 0) this.gapStuck.add(f.conv)
        }
        this.settle(f.rid, f)
        this.afterMerge(f.conv)
        return
      }
      case 'sync.done': {
        if (f.rid === this.syncRid) this.syncRid = undefined
        this.pendingQ = f.q
        this.sendRecv()
        this.gapStuck.clear()
        for (const conv of Object.keys(this.store.getState().messages)) this.fillGaps(conv)
        return
      }
      case 'ack': {
        this.outbox?.remove(f.cid)
        this.platform.timers.clearTimeout(this.resendTimers.get(f.cid))
        this.resendTimers.delete(f.cid)
        this.resendAttempts.delete(f.cid)
        update(this.store, confirmPending, f, this.opts.maxMessagesInMemory)
        this.afterMerge(f.conv)
        return
      }
      case 'error': {
        if (f.cid && this.outbox?.get(f.cid)) {
          this.sendFailed(f.cid, f.code, f.temporary)
          return
        }
        if (f.rid !== undefined && f.rid === this.syncRid && f.code === 'NOT_MEMBER') {
          // Our cache names a conversation this server does not give us (it lost its data, or we
          // left): the whole sync was refused. Forget what is stale and sync again.
          this.syncRid = undefined
          this.resyncWithoutStale()
          return
        }
        if (this.settle(f.rid, f)) return
        this.deps.log?.('server error', { code: f.code, message: f.message })
        return
      }
      case 'convs':
        update(this.store, setConvs, f.items)
        this.settle(f.rid, f)
        return
      case 'conv':
        update(this.store, upsertConv, f.conv)
        this.settle(f.rid, f)
        return
      case 'users':
      case 'contacts':
        this.settle(f.rid, f)
        return
      case 'relation':
        if (!this.settle(f.rid, f)) this.relationListener?.(f)
        return
      case 'receipt':
        update(this.store, applyReceipt, f)
        return
      case 'typing': {
        if (f.user === this.user) return
        const until = this.platform.timers.now() + this.opts.typingShowMs
        update(this.store, setTyping, f.conv, f.user, until)
        this.scheduleTypingExpiry()
        return
      }
      case 'presence':
        update(this.store, setPresence, f)
        return
      case 'welcome':
      case 'pong':
      case 'notice':
        return
    }
  }

  private sendFailed(cid: string, code: string, temporary: boolean): void {
    const entry = this.outbox?.get(cid)
    if (!entry) return
    if (temporary) {
      // STORE_UNAVAILABLE, RATE_LIMITED, FILE_NOT_READY: the same cid again later (PROTOCOL.md "Sending" 4).
      const attempt = this.resendAttempts.get(cid) ?? 0
      this.resendAttempts.set(cid, attempt + 1)
      this.platform.timers.clearTimeout(this.resendTimers.get(cid))
      this.resendTimers.set(
        cid,
        this.platform.timers.setTimeout(
          () => {
            this.resendTimers.delete(cid)
            const still = this.outbox?.get(cid)
            if (still) this.transmit(still)
          },
          Math.max(1, backoffDelay(attempt, this.opts.reconnect, this.deps.random)),
        ),
      )
      return
    }
    this.outbox?.remove(cid)
    update(this.store, patchPending, entry.conv, cid, (m) => ({ ...m, status: 'failed', error: code }))
  }

  private afterMerge(conv: ConvId): void {
    this.scheduleRecv()
    this.fillGaps(conv)
    if (this.viewing?.conv === conv && this.viewing.seenSeq > 0) this.scheduleRead()
  }

  private fillGaps(conv: ConvId): void {
    if (this.syncRid || this.gapFilling.has(conv) || this.gapStuck.has(conv)) return
    const gaps = gapsOf(this.store.getState().messages[conv])
    const gap = gaps[gaps.length - 1]
    if (!gap) return
    const limit = Math.min(LIMITS.maxPageSize, gap.to - gap.from + 1)
    const rid = randomId(12)
    this.gapFilling.set(conv, rid)
    const frame = { type: 'history' as const, rid, conv, before: gap.to + 1, limit }
    if (!this.connection.send(frame)) {
      this.gapFilling.delete(conv)
      return
    }
    const timer = this.platform.timers.setTimeout(() => {
      this.requests.delete(rid)
      if (this.gapFilling.get(conv) === rid) this.gapFilling.delete(conv)
    }, this.opts.requestTimeoutMs)
    this.requests.set(rid, {
      kind: 'history',
      conv,
      resolve: () => undefined,
      reject: () => {
        if (this.gapFilling.get(conv) === rid) this.gapFilling.delete(conv)
      },
      timer,
    })
  }

  private scheduleRecv(): void {
    if (this.recvTimer !== undefined) return
    this.recvTimer = this.platform.timers.setTimeout(() => {
      this.recvTimer = undefined
      this.sendRecv()
    }, this.opts.recvBatchMs)
  }

  /** Cumulative delivery acks for every conversation whose cursor moved, plus the queue cursor. */
  private sendRecv(): void {
    this.platform.timers.clearTimeout(this.recvTimer)
    this.recvTimer = undefined
    const acks: Array<{ conv: ConvId; seq: number }> = []
    for (const [conv, list] of Object.entries(this.store.getState().messages)) {
      const seq = cursorOf(list)
      if (seq > (this.recvSent.get(conv) ?? 0)) acks.push({ conv, seq })
    }
    const q = this.pendingQ
    if (acks.length === 0 && q === undefined) return
    const batch = acks.slice(0, LIMITS.maxSyncConversations)
    if (!this.connection.send({ type: 'recv', acks: batch, ...(q !== undefined ? { q } : {}) })) return
    for (const a of batch) this.recvSent.set(a.conv, a.seq)
    this.pendingQ = undefined
    if (batch.length < acks.length) this.scheduleRecv()
  }

  private scheduleTypingExpiry(): void {
    const marks = Object.values(this.store.getState().typing).flatMap((u) => Object.values(u))
    if (marks.length === 0) return
    const next = Math.min(...marks)
    this.platform.timers.clearTimeout(this.typingTimer)
    this.typingTimer = this.platform.timers.setTimeout(
      () => {
        this.typingTimer = undefined
        update(this.store, expireTyping, this.platform.timers.now())
        this.scheduleTypingExpiry()
      },
      Math.max(0, next - this.platform.timers.now()),
    )
  }

  /** A message for a conversation we do not know: ask for the list (once per burst). */
  private convsSoon(): void {
    if (this.convsSoonTimer !== undefined) return
    this.convsSoonTimer = this.platform.timers.setTimeout(() => {
      this.convsSoonTimer = undefined
      this.refreshConvs().catch(() => undefined)
    }, 200)
  }

  private requireUser(): UserId {
    if (!this.user) throw new Error('not logged in')
    return this.user
  }
}
