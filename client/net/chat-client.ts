// Over 400 lines on purpose: the client's public API and its frame-type dispatch; each concern lives in its own module beside it.
/**
 * The chat client: turns frames into store updates and user actions into frames. It wires the
 * connection to the parts that own each concern, and dispatches every server frame through one
 * handler per frame type (as the BFF's chat handlers do):
 *
 * - requests.ts: requests answered by `rid` (history, convs, users, conv.create), timeouts.
 * - sync.ts: catch-up after every `welcome`, gap filling, delivery acks (`recv`).
 * - sender.ts: the outbox, `send`, acks, retries of refused sends.
 * - receipts.ts: read marks and typing, both ways.
 * - file-sink.ts: the seam of the uploads module (image and file messages).
 * - names.ts: the names of group members a version-3 list does not name (`members {users}`).
 *
 * Every message enters the store through `mergeMessages`: pushes racing a sync, a duplicate push,
 * an ack and the echo of the same message all end up as one message, in seq order.
 */
import {
  directConvId,
  LIMITS,
  type Conversation,
  type ConvId,
  type ClientFrameOf,
  type ConvKind,
  type ServerFrame,
  type ServerFrameOf,
  type User,
  type UserId,
} from '@chat/shared'
import { CLIENT_DEFAULTS, type ClientOptions } from '../config'
import type { Platform, TimerId } from '../platform/types'
import { loadCache, persistCache, type CacheWriter } from '../store/persist'
import { hasOlder } from '../store/selectors'
import {
  initialState,
  mergeServerMessages,
  setConn,
  setConvs,
  setConvsError,
  setMe,
  setOlder,
  setPresence,
  setPresences,
  setUsers,
  upsertConv,
  applySettings,
  hideLocal,
  setDraft,
  type ChatStore,
} from '../store/store'
import type { ChatMessage } from '../store/types'
import type { FileMessageSink, FileMessageUploads, PickKind, PickedFile } from '../upload/types'
import type { Auth } from './auth'
import { Connection, type ConnectionStatus } from './connection'
import { requireUser, type ClientContext, type ClientLog } from './context'
import { createFileSink } from './file-sink'
import { Names } from './names'
import { Receipts, type Viewing } from './receipts'
import { Requests } from './requests'
import { Sender } from './sender'
import { Sync } from './sync'
import type { TextExtras } from '../store/reply'

export type { Viewing } from './receipts'

/** A request the pages make through `sendRequest` (the relation frames): its `rid` is added there. */
export type RequestFrame = DistributiveOmit<
  ClientFrameOf<'contacts'> | ClientFrameOf<'relation'> | ClientFrameOf<'contacts.policy'> | ClientFrameOf<'group'> | ClientFrameOf<'members'>,
  'rid'
>
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export interface ChatClientDeps {
  readonly platform: Platform
  readonly store: ChatStore
  readonly auth: Auth
  readonly baseUrl: string
  readonly options?: Partial<ClientOptions>
  /** Uniform in [0, 1): backoff jitter (tests make it deterministic). */
  readonly random?: () => number
  readonly log?: ClientLog
}

/** One handler per server frame type. */
type FrameHandlers = { readonly [K in ServerFrame['type']]: (f: ServerFrameOf<K>) => void }

/** A message for a conversation we do not know: the list is asked for once per burst of this, ms. */
const CONVS_SOON_MS = 200

export class ChatClient {
  readonly connection: Connection
  readonly opts: ClientOptions
  private readonly store: ChatStore
  private readonly platform: Platform
  private readonly auth: Auth
  private readonly ctx: ClientContext
  private readonly requests: Requests
  private readonly sync: Sync
  private readonly sender: Sender
  private readonly receipts: Receipts
  private readonly names: Names
  private cache?: CacheWriter
  private user?: UserId
  private uploads?: FileMessageUploads
  private convsSoonTimer?: TimerId
  private readonly offLifecycle: Array<() => void> = []
  private readonly handlers: FrameHandlers
  private relationListener?: (f: ServerFrameOf<'relation'>) => void
  /** The server's RECALL_WINDOW_MS from its last `welcome` (a server that does not say: the default). */
  private serverRecallWindowMs: number = LIMITS.recallWindowMs

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
      onForeground: () => this.sync.catchUp(),
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
    const ctx: ClientContext = (this.ctx = {
      store: this.store,
      timers: deps.platform.timers,
      connection: this.connection,
      opts: this.opts,
      random: deps.random,
      log: deps.log,
      me: () => this.user,
    })
    this.requests = new Requests(ctx)
    this.sync = new Sync(ctx, this.requests)
    this.sender = new Sender(ctx, deps.platform.storage, () => this.uploads)
    this.receipts = new Receipts(ctx)
    this.names = new Names(ctx, this.requests, () => this.connection.isConnected)
    this.handlers = this.frameHandlers()
    this.offLifecycle.push(
      deps.platform.lifecycle.onHide(() => {
        this.receipts.setForeground(false)
        this.cache?.flush()
      }),
      deps.platform.lifecycle.onShow(() => this.receipts.setForeground(true)),
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
      this.sender.open(me.id)
      this.store.setState({ ...initialState, ...loadCache(this.platform.storage, me.id), conn: this.connection.getStatus() }, true)
      this.store.setState((s) => setMe(s, me))
      this.sender.markPending()
      // The cached timelines' people: the cached lists name a group's first members only.
      for (const [conv, list] of Object.entries(this.store.getState().messages)) this.names.messages(conv, list)
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
    this.sender.close()
    this.sync.reset()
    this.receipts.reset()
    this.names.reset()
    this.auth.logout()
    this.store.setState({ ...initialState }, true)
  }

  dispose(): void {
    this.connection.dispose()
    this.cache?.stop()
    for (const off of this.offLifecycle.splice(0)) off()
    this.sync.dispose()
    this.receipts.dispose()
    this.names.dispose()
    this.platform.timers.clearTimeout(this.convsSoonTimer)
    this.sender.dispose()
    this.disconnected()
  }

  /** The uploads module (client/upload) registers itself here. */
  setUploads(uploads: FileMessageUploads): void {
    this.uploads = uploads
  }

  get hasUploads(): boolean {
    return this.uploads !== undefined
  }

  pickAndSend(conv: ConvId, kind: PickKind): Promise<void> {
    if (!this.uploads) return Promise.reject(new Error('uploads are not available in this build'))
    return this.uploads.pickAndSend(conv, kind)
  }

  /** A recorded voice (client/voice): shown at once, uploaded, then sent as `{fileId, duration}`. */
  sendRecording(conv: ConvId, file: PickedFile & { readonly blob?: unknown; readonly duration: number }): void {
    if (!this.uploads) throw new Error('uploads are not available in this build')
    this.uploads.sendRecording(conv, file)
  }

  /** What the uploads module uses to show and send image/file messages (client/upload/types.ts). */
  fileSink(): FileMessageSink {
    return createFileSink(this.ctx, this.sender, this.auth, this.deps.baseUrl)
  }

  // ------------------------------------------------------------------------------------ sending

  /** Show the message at once, queue it, and send it if connected. Returns its cid. */
  sendText(conv: ConvId, text: string, extras?: TextExtras): string {
    return this.sender.sendText(conv, text, extras)
  }

  /** Forward stored message `m` to `to`: resolves once the server stored the copy, rejects with its refusal (sender.ts). */
  forward(m: ChatMessage, to: ConvId): Promise<void> {
    return this.sender.forward(m, to)
  }

  /** Remove a message the server refused for good (uploadRefused): it was never stored, nothing is left to send. */
  dismiss(conv: ConvId, cid: string): void {
    this.sender.dismiss(conv, cid)
  }

  /** Send a failed message again, with the same cid. */
  retry(conv: ConvId, cid: string): void {
    this.sender.retry(conv, cid)
  }

  // ------------------------------------------------------------------------------------ requests

  /**
   * A request the client has no method of its own for (the relation frames): resolves with the
   * answer carrying its rid, rejects with the error's AppError (or RequestFailedError when not
   * connected or not answered). A `relation` frame the server pushes without rid goes to
   * `onRelation`, given with the request that wants to hear of later changes.
   */
  sendRequest(frame: RequestFrame, onRelation?: (f: ServerFrameOf<'relation'>) => void): Promise<ServerFrame> {
    if (onRelation) this.relationListener = onRelation
    return this.requests.send(frame.type, (rid) => ({ ...frame, rid }))
  }

  /** Page back: the page of messages before the oldest one held. */
  loadOlder(conv: ConvId): Promise<void> {
    const s = this.store.getState()
    const list = s.messages[conv]
    if ((s.older[conv] ?? 'idle') === 'loading') return Promise.resolve()
    if (list?.length && !hasOlder(list)) return Promise.resolve()
    const first = list?.[0]?.seq
    this.store.setState((x) => setOlder(x, conv, 'loading'))
    return this.requests
      .send<'messages'>(
        'history',
        (rid) => ({ type: 'history', rid, conv, limit: this.opts.historyPageSize, ...(first !== undefined ? { before: first } : {}) }),
        conv,
      )
      .then(
        () => this.store.setState((x) => setOlder(x, conv, 'idle')),
        (err: Error) => {
          this.store.setState((x) => setOlder(x, conv, 'error'))
          throw err
        },
      )
  }

  /**
   * Recall one of our own messages (RECALL_WINDOW_MS after its send). Resolves once the server
   * replaced it; the row turns into the notice when the `recall` event arrives, as on every device.
   * Rejects with the server's code (RECALL_WINDOW_PASSED, RECALL_NOT_ALLOWED...).
   */
  /** How long after its send the server lets a message be recalled, ms (`welcome.limits.recallWindowMs`). */
  get recallWindowMs(): number {
    return this.serverRecallWindowMs
  }

  /** Whether Recall is offered for `m`: our own stored message, not recalled, within the server's window at `now`. */
  canRecall(m: ChatMessage, now: number): boolean {
    if (m.seq === undefined || m.from !== this.store.getState().me?.id) return false
    if (m.kind === 'recalled' || m.kind === 'recall' || m.kind === 'system') return false
    return now - m.ts <= this.serverRecallWindowMs
  }

  recall(conv: ConvId, seq: number): Promise<void> {
    return this.requests.send<'recall'>('recall', (rid) => ({ type: 'recall', rid, conv, seq })).then(() => undefined)
  }

  /**
   * Mute or pin `conv` (a field left out keeps its value), for all of our devices. Applied here once
   * the server answers (the other devices get its push); rejects with its code (PINNED_FULL...).
   */
  setConvSettings(conv: ConvId, change: { readonly muted?: boolean; readonly pinned?: boolean }): Promise<void> {
    return this.requests
      .send<'conv.settings'>('conv.settings', (rid) => ({ type: 'conv.settings', rid, conv, ...change }))
      .then((f) => this.store.setState((s) => applySettings(s, f)))
  }

  /** Delete message `seq` of `conv` for ourselves, on all of our devices (the other members keep it). */
  hideMessage(conv: ConvId, seq: number): Promise<void> {
    return this.requests.send<'hide'>('hide', (rid) => ({ type: 'hide', rid, conv, seq })).then(() => this.store.setState((s) => hideLocal(s, conv, seq)))
  }

  /** The composer's unsent text of `conv`, kept across restarts (persist.ts writes it, coalesced). */
  setDraft(conv: ConvId, text: string): void {
    this.store.setState((s) => setDraft(s, conv, text))
  }

  /** Pull to refresh: the conversation list again. */
  refreshConvs(): Promise<void> {
    return this.requests.send<'convs'>('convs', (rid) => this.convsRequest(rid)).then(
      () => undefined,
      (err: Error) => {
        this.store.setState((s) => setConvsError(s, err.message))
        throw err
      },
    )
  }

  searchUsers(q: string): Promise<User[]> {
    return this.requests.send<'users'>('users', (rid) => ({ type: 'users', rid, q: q.slice(0, 64) })).then((f) => {
      this.store.setState((s) => setUsers(s, f.items))
      return f.items
    })
  }

  createConv(kind: ConvKind, members: UserId[], title?: string): Promise<Conversation> {
    return this.requests
      .send<'conv'>('conv.create', (rid) => ({
        type: 'conv.create',
        rid,
        kind,
        members,
        ...(title ? { title } : {}),
      }))
      .then((f) => f.conv)
  }

  /** The 1:1 conversation with `user`: the one we know, or a new one. */
  async openDirect(user: UserId): Promise<ConvId> {
    const me = requireUser(this.ctx)
    const id = directConvId(me, user)
    if (this.store.getState().convs[id]) return id
    return (await this.createConv('direct', [user])).id
  }

  // ------------------------------------------------------------------------------------ reading, typing

  /** The chat page reports what is on screen (undefined: no chat open). */
  setViewing(viewing: Viewing | undefined): void {
    this.receipts.setViewing(viewing)
  }

  /** The user types in `conv`: tell the others, at most every `typingSendEveryMs`. */
  typing(conv: ConvId): void {
    this.receipts.typing(conv)
  }

  // ------------------------------------------------------------------------------------ frames

  private frameHandlers(): FrameHandlers {
    const { store, requests, sync, sender, receipts, names } = this
    return {
      msg: (f) => {
        store.setState((s) => mergeServerMessages(s, f.m.conv, [f.m], this.opts.maxMessagesInMemory))
        receipts.pushed(f.m)
        // A group change (system message) may change members, roles and title: the list is asked again.
        if (!store.getState().convs[f.m.conv] || f.m.kind === 'system') this.convsSoon()
        names.messages(f.m.conv, [f.m])
        this.afterMerge(f.m.conv)
      },
      messages: (f) => {
        sync.onMessages(f)
        requests.settle(f.rid, f)
        names.messages(f.conv, f.msgs)
        this.afterMerge(f.conv)
      },
      'sync.done': (f) => sync.onSyncDone(f),
      ack: (f) => {
        sender.onAck(f)
        this.afterMerge(f.conv)
      },
      error: (f) => {
        if (sender.onError(f) || sync.onSyncRefused(f) || requests.settle(f.rid, f)) return
        this.deps.log?.('server error', { code: f.code, message: f.message })
      },
      convs: (f) => {
        store.setState((s) => setConvs(s, f.items, f.tag, f.same))
        requests.settle(f.rid, f)
        names.listed()
      },
      group: (f) => {
        // The system message recording the change; other members get it as `msg`.
        store.setState((s) => mergeServerMessages(s, f.m.conv, [f.m], this.opts.maxMessagesInMemory))
        requests.settle(f.rid, f)
        names.messages(f.m.conv, [f.m])
        this.afterMerge(f.m.conv)
      },
      members: (f) => {
        requests.settle(f.rid, f)
      },
      conv: (f) => {
        store.setState((s) => upsertConv(s, f.conv))
        requests.settle(f.rid, f)
      },
      users: (f) => {
        requests.settle(f.rid, f)
      },
      contacts: (f) => {
        requests.settle(f.rid, f)
      },
      relation: (f) => {
        if (!requests.settle(f.rid, f)) this.relationListener?.(f)
      },
      // The tombstone itself comes as the `recall` event message (msg), like on every other device.
      recall: (f) => {
        requests.settle(f.rid, f)
      },
      // Our own settings or a message we deleted for ourselves, from another of our devices.
      'conv.settings': (f) => {
        if (!requests.settle(f.rid, f)) store.setState((s) => applySettings(s, f))
      },
      hide: (f) => {
        if (!requests.settle(f.rid, f)) store.setState((s) => hideLocal(s, f.conv, f.seq))
      },
      receipt: (f) => receipts.onReceipt(f),
      typing: (f) => receipts.onTyping(f),
      presence: (f) => store.setState((s) => setPresence(s, f)),
      // Right after `welcome`: every peer's presence in one frame, one store update.
      presences: (f) => store.setState((s) => setPresences(s, f.items)),
      // The connection handles these itself.
      welcome: () => undefined,
      pong: () => undefined,
      notice: () => undefined,
    }
  }

  private onFrame(f: ServerFrame): void {
    ;(this.handlers[f.type] as (frame: ServerFrame) => void)(f)
  }

  private onStatus(status: ConnectionStatus, prev: ConnectionStatus): void {
    this.store.setState((s) => setConn(s, status))
    if (prev.state === 'connected' && status.state !== 'connected') this.disconnected()
  }

  private onWelcome(f: ServerFrameOf<'welcome'>): void {
    this.serverRecallWindowMs = f.limits.recallWindowMs ?? LIMITS.recallWindowMs
    this.auth.setServerTime(f.serverTime)
    this.store.setState((s) => setMe(s, f.user))
    this.sync.catchUp()
    this.requests.send<'convs'>('convs', (rid) => this.convsRequest(rid)).catch(() => undefined)
    this.sender.resendAll()
    this.names.online()
  }

  /**
   * A `convs` with the tag of the list we hold, if the server gave one: answered `same` (no list) when
   * nothing it shows changed, as after most returns from the background.
   */
  private convsRequest(rid: string): ClientFrameOf<'convs'> {
    const tag = this.store.getState().convsTag
    return tag === undefined ? { type: 'convs', rid } : { type: 'convs', rid, tag }
  }

  /** Requests die with the connection (the server forgets them with the socket). */
  private disconnected(): void {
    this.requests.failAll('disconnected')
    this.sync.disconnected()
  }

  private afterMerge(conv: ConvId): void {
    this.sync.scheduleRecv()
    this.sync.fillGaps(conv)
    this.receipts.merged(conv)
  }

  /** A message for a conversation we do not know: ask for the list (once per burst). */
  private convsSoon(): void {
    if (this.convsSoonTimer !== undefined) return
    this.convsSoonTimer = this.platform.timers.setTimeout(() => {
      this.convsSoonTimer = undefined
      this.refreshConvs().catch(() => undefined)
    }, CONVS_SOON_MS)
  }
}
