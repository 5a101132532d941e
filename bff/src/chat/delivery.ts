/**
 * Getting frames to users wherever their devices are.
 *
 * - Local first: devices on this process get the frame directly, encoded once into one Buffer
 *   that every socket shares (a group message is never stringified per member).
 * - Then the bus: one publish per user on the user's channel reaches every other process holding
 *   a device of that user (the sender's other devices too). The origin node ignores its own
 *   publications, having delivered locally already.
 * - The bus is skipped for a user whose devices are all on this node, which this node knows
 *   exactly: a node taking a user's first device subscribes, announces itself on the user's
 *   channel (`join`), and the nodes already holding that user answer (`here`) before the device
 *   gets its `welcome`; a node losing the user's last device says `leave`. Until every answer
 *   came (bounded by JOIN_WAIT_MS), and after the subscriber connection was lost and
 *   re-established, the node publishes for that user as if others might hold it. A crashed node
 *   never says `leave`: the others keep publishing for that user, which is only slower.
 * - A user whose last device here closed within its offline grace stays routed here (`keep`):
 *   subscribed and joined, so a device back within the grace is welcomed without a round trip
 *   (`resume`); what arrives meanwhile reaches no device and is queued, here or by the sender's
 *   node, exactly once. The gateway says `leave` when the grace ends with no device back.
 * - A message nobody received (no subscriber, or a device too slow to take it) goes to the user's
 *   offline queue. Ephemeral frames (typing, receipts, presence, conv) are never queued: `convs`
 *   and `sync` rebuild that state.
 */
import type { ServerFrameType, UserId } from '@chat/shared'
import type { Logger } from '../log'
import type { Metrics } from '../ops/metrics'
import type { Bus, MessagePlace, QueueStore } from '../store/types'
import { peekMessage } from '../store/message-json'
import { encode } from './frames'
import type { Outlet, Outlets } from './outlet'
import { SentSeqs } from './sent-seqs'

/** Why every device of a user is closed through the bus. */
export type CloseReason = 'USER_SUSPENDED'
const isCloseReason = (s: string): s is CloseReason => s === 'USER_SUSPENDED'

export interface MessageRef {
  readonly conv: string
  readonly seq: number
  readonly json: string
}

/**
 * The bus channel every node subscribes to for group changes (`<node>|c|<conv>`): each node drops
 * its cached record of that conversation. Not a valid user id, so no user's channel is ever it.
 */
export const GROUPS_CHANNEL = '*groups'

/** How long a joining node waits for the `here` of every node already holding the user. */
const JOIN_WAIT_MS = 1000

/** Groups of more than this many members have their fan-out kept (`Delivery.fanOutOf`). */
const FANOUT_KEPT_MIN = 32

/** Large groups whose fan-out is kept at once; past it they are all dropped (each holds a reference per member here). */
const FANOUTS_KEPT_MAX = 256

/** A large group's fan-out on this node, valid while its three sources are as they were. */
interface FanOut {
  readonly members: readonly UserId[]
  /** `Outlets.version` and `Delivery.routing` when it was worked out. */
  readonly devices: number
  readonly routing: number
  /** Every device here of the members held only here. */
  readonly local: readonly Outlet[]
  /** Members some other node may hold (or none: not here at all): one publish each. */
  readonly away: readonly UserId[]
}

export class Delivery {
  /** Other nodes known to hold a device of a user held here; absent: none. */
  private readonly remote = new Map<UserId, Set<string>>()
  /** Users whose other nodes are not known for sure yet: always publish for them. */
  private readonly learning = new Set<UserId>()
  /** Users with no device here whose routing is kept for their offline grace (`keep`). */
  private readonly kept = new Set<UserId>()
  private readonly joinWaiters = new Map<UserId, () => void>()
  /** Moves whenever `learning` or `remote` change: a kept fan-out (`fanOuts`) is stale then. */
  private routing = 0
  /** Large groups' fan-outs by conversation (`fanOutOf`). */
  private readonly fanOuts = new Map<string, FanOut>()
  /** The last bus payload's frame: members of one group on this node share one encoding. */
  private lastPayload = ''
  private lastFrame: Buffer = Buffer.alloc(0)
  /**
   * The bus payload of the message `message` is delivering, built at the first member it is
   * published for (none in a 1:1 whose members are all here): a field, not an object per message.
   */
  private busPayload: string | undefined
  private pendingCount = 0
  private idle: (() => void)[] = []
  /** Called when a group changed on another node (its cached record is stale). */
  onConvChanged: ((conv: string) => void) | undefined
  /** Called for each message that reached no device of its recipient (it is queued). */
  onUndelivered: ((user: UserId, json: string) => void) | undefined
  /** Closes this process's devices of a user (the gateway's): set by the app. */
  onCloseUser: ((user: UserId, code: CloseReason) => void) | undefined

  constructor(
    private readonly node: string,
    private readonly devices: Outlets,
    private readonly bus: Bus,
    private readonly queue: QueueStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    bus.onMessage((user, payload) => this.fromBus(user, payload))
    this.begin()
    bus.subscribe(GROUPS_CHANNEL).then(
      () => this.end(),
      (err: unknown) => {
        this.log.error({ err }, 'subscribing to group changes failed')
        this.end()
      },
    )
    bus.onBroadcast((payload) => this.fromBroadcast(payload))
    // Announcements may have been missed while the subscriber was away: learn again.
    bus.onReconnect(() => {
      for (const user of [...devices.users(), ...this.kept]) void this.join(user).catch((err: unknown) => this.log.warn({ err, user }, 'rejoin failed'))
    })
  }

  /**
   * This node took `user`'s first device (already subscribed to the user's channel): announce it
   * and learn which other nodes hold the user before the device is welcomed.
   */
  async join(user: UserId): Promise<void> {
    this.learning.add(user)
    this.routing++
    try {
      const nodes = await this.bus.publish(user, `${this.node}|j|`)
      const expected = nodes - 1
      if (expected > 0 && (this.remote.get(user)?.size ?? 0) < expected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, JOIN_WAIT_MS)
          function done() {
            clearTimeout(timer)
            resolve()
          }
          this.joinWaiters.set(user, () => {
            if ((this.remote.get(user)?.size ?? 0) >= expected) done()
          })
        })
        this.joinWaiters.delete(user)
      }
    } finally {
      this.learning.delete(user)
      this.routing++
    }
  }

  /**
   * `user`'s last device here closed within its offline grace: the routing (subscription, what
   * this node knows of the others) stays until `leave`, so a device back meanwhile needs none.
   */
  keep(user: UserId): void {
    this.kept.add(user)
  }

  /** A first device of `user` is here again: true when its routing was kept (nothing to subscribe nor join). */
  resume(user: UserId): boolean {
    return this.kept.delete(user)
  }

  /** Whether `user`'s routing is kept here with no device (between `keep` and `resume` or `leave`). */
  keeps(user: UserId): boolean {
    return this.kept.has(user)
  }

  /** This node lost `user`'s last device (or its grace ended): tell the others before unsubscribing. */
  async leave(user: UserId): Promise<void> {
    this.remote.delete(user)
    this.learning.delete(user)
    this.kept.delete(user)
    this.routing++
    await this.bus.publish(user, `${this.node}|l|`)
  }

  /**
   * Close every device of `user`, on this process and on every other one holding a device of it
   * (a moderator's suspension: the user's channel reaches exactly those).
   * Published whatever this node believes about the others: rare, and it must not be missed.
   */
  async closeUser(user: UserId, code: CloseReason): Promise<void> {
    this.onCloseUser?.(user, code)
    await this.bus.publish(user, `${this.node}|x|${code}`)
  }

  /** Whether this node is subscribed to `user`'s channel: a device here, or the routing kept for its grace. */
  private routes(user: UserId): boolean {
    return this.devices.has(user) || this.kept.has(user)
  }

  /** Whether other nodes may hold a device of `user` (or whether we cannot know). */
  private viaBus(user: UserId): boolean {
    return !this.devices.has(user) || this.learning.has(user) || this.remote.has(user)
  }

  /**
   * Deliver a stored message to `members` (except the sending connection). Returns at once; the
   * publishes and queue writes it starts are counted and awaited by `settle` before shutdown.
   */
  message(members: readonly UserId[], msg: MessageRef, sender: UserId, except?: Outlet): void {
    // One member besides the sender (1:1): a string is encoded by ws on the way out anyway; for a
    // group, one Buffer shared by every socket.
    const frameJson = encode.msg(msg.json)
    const shared = members.length > 2
    this.busPayload = undefined
    let localSends = 0
    if (members.length > FANOUT_KEPT_MIN) {
      const frame = Buffer.from(frameJson)
      const plan = this.fanOutOf(msg.conv, members)
      localSends = this.pushLocal(plan.local, frame, msg, except)
      for (const user of plan.away) localSends += this.toUser(user, frame, msg, sender, except, true)
    } else {
      const frame = shared ? Buffer.from(frameJson) : frameJson
      for (const user of members) localSends += this.toUser(user, frame, msg, sender, except, shared)
    }
    this.busPayload = undefined
    if (localSends > 0) this.metrics.framesOut.inc({ type: 'msg' }, localSends)
  }

  /**
   * A large group's fan-out on this node, worked out again only when its member list, this node's
   * devices or what it knows of the other nodes changed: the loop over 1,000 members looked each
   * up (devices, then three routing sets) and built an array per member, which the raw router's
   * loop over its sockets does not (issue 15, group of 1,000).
   */
  private fanOutOf(conv: string, members: readonly UserId[]): FanOut {
    const kept = this.fanOuts.get(conv)
    if (kept && kept.members === members && kept.devices === this.devices.version && kept.routing === this.routing) return kept
    const local: Outlet[] = []
    const away: UserId[] = []
    for (const user of members) {
      if (this.viaBus(user)) away.push(user)
      else for (const conn of this.devices.of(user)!) local.push(conn)
    }
    const plan: FanOut = { members, devices: this.devices.version, routing: this.routing, local, away }
    if (!kept && this.fanOuts.size >= FANOUTS_KEPT_MAX) this.fanOuts.clear()
    this.fanOuts.set(conv, plan)
    return plan
  }

  /**
   * A group's frame to `outlets`, devices of users held only here: no bus, so a device that missed
   * it (closed, too slow) queues it for its user, once per user. Returns the frames sent.
   */
  private pushLocal(outlets: readonly Outlet[], frame: Buffer, msg: MessageRef, except: Outlet | undefined): number {
    let sent = 0
    let missed: Set<UserId> | undefined
    for (let i = 0; i < outlets.length; i++) {
      const conn = outlets[i]!
      if (conn === except) continue
      const r = pushMessage(conn, frame, msg, true)
      if (r === 'sent') sent++
      else if (r === 'missed') (missed ??= new Set()).add(conn.user)
    }
    if (missed) for (const user of missed) this.enqueue(user, msg, msg.json)
    return sent
  }

  /**
   * `msg` to every device of `user` here, and through the bus when other nodes may hold one; queued
   * when no device took it. Returns the frames sent here.
   */
  private toUser(user: UserId, frame: Buffer | string, msg: MessageRef, sender: UserId, except: Outlet | undefined, shared: boolean): number {
    let sent = 0
    let missed = false
    // A user's one device (most users) without the array `of` builds for it.
    const one = this.devices.one(user)
    if (one !== undefined) {
      const r = one === except ? 'skipped' : pushMessage(one, frame, msg, shared)
      if (r === 'sent') sent++
      else if (r === 'missed') missed = true
    } else {
      const list = this.devices.of(user)
      if (list) {
        for (const conn of list) {
          if (conn === except) continue
          const r = pushMessage(conn, frame, msg, shared)
          if (r === 'sent') sent++
          else if (r === 'missed') missed = true
        }
      }
    }
    if (!this.viaBus(user)) {
      // Every device of the user is here: nobody else to reach.
      if (missed) this.enqueue(user, msg, msg.json)
      return sent
    }
    const got = sent > 0
    this.begin()
    // The publish reaches this node too when it routes the user (its own publications are
    // ignored): that one is no device elsewhere.
    const self = this.routes(user) ? 1 : 0
    this.bus.publish(user, (this.busPayload ??= `${this.node}|m|${msg.json}`)).then(
      (nodes) => {
        const elsewhere = nodes - self
        if (missed || (!got && elsewhere <= 0 && user !== sender)) this.enqueue(user, msg, msg.json)
        this.end()
      },
      (err: unknown) => {
        // Stored and acked already: the recipient's next sync fetches it from history.
        this.log.warn({ err, user }, 'publish failed')
        if (missed) this.enqueue(user, msg, msg.json)
        this.end()
      },
    )
    return sent
  }

  /** An ephemeral frame to every device of `users` (except one connection). Never queued. */
  frame(users: readonly UserId[], type: ServerFrameType, json: string, except?: Outlet): void {
    const buf = Buffer.from(json)
    const payload = `${this.node}|f|${json}`
    let sent = 0
    // A conversation changed (created, a member, a read mark, a setting...): a summary kept for
    // `convs` no longer holds everything. Typing and presence change nothing it shows.
    const about = aboutConvs(type)
    for (const user of users) {
      const list = this.devices.of(user)
      if (list) {
        for (const conn of list) {
          if (about) conn.listing = undefined
          if (conn !== except && conn.write(buf)) sent++
        }
      }
      if (!this.viaBus(user)) continue
      this.begin()
      this.bus.publish(user, payload).then(
        () => this.end(),
        (err: unknown) => {
          this.log.warn({ err, user }, 'publish failed')
          this.end()
        },
      )
    }
    if (sent > 0) this.metrics.framesOut.inc({ type }, sent)
  }

  /**
   * A group's record (or a 1:1's relation) changed here: every other node drops its cached copy.
   * Resolves once the bus took the announcement (or failed to: logged).
   */
  convChanged(conv: string): Promise<void> {
    this.begin()
    return this.bus.publish(GROUPS_CHANNEL, `${this.node}|c|${conv}`).then(
      () => this.end(),
      (err: unknown) => {
        this.log.warn({ err, conv }, 'group change publish failed')
        this.end()
      },
    )
  }

  /**
   * An ephemeral frame to an audience (presence to contacts): devices here get it directly, and
   * one broadcast naming the users not known to be all here reaches every other node, instead of
   * one publish per user (issue 15: a reconnect announced itself with one SPUBLISH per contact).
   */
  audience(users: readonly UserId[], type: ServerFrameType, json: string): void {
    const buf = Buffer.from(json)
    const away: UserId[] = []
    let sent = 0
    for (const user of users) {
      const list = this.devices.of(user)
      if (list) for (const conn of list) if (conn.write(buf)) sent++
      if (this.viaBus(user)) away.push(user)
    }
    if (sent > 0) this.metrics.framesOut.inc({ type }, sent)
    if (away.length === 0) return
    this.begin()
    // `<node>|<users, space-separated>|<frame>`: user ids never hold a space or a `|` (shared ID_RE).
    this.bus.broadcast(`${this.node}|${away.join(' ')}|${json}`).then(
      () => this.end(),
      (err: unknown) => {
        this.log.warn({ err }, 'broadcast failed')
        this.end()
      },
    )
  }

  /** An audience frame from another node: presence only, so a summary kept for `convs` stays. */
  private fromBroadcast(payload: string): void {
    const a = payload.indexOf('|')
    if (payload.slice(0, a) === this.node) return
    const b = payload.indexOf('|', a + 1)
    if (b < 0) return this.log.error('broadcast without users')
    let buf: Buffer | undefined
    for (const user of payload.slice(a + 1, b).split(' ')) {
      const list = this.devices.of(user)
      if (!list) continue
      buf ??= Buffer.from(payload.slice(b + 1))
      for (const conn of list) conn.write(buf)
    }
  }

  /** Work still under way (publishes, queue writes): drained before shutdown. */
  settle(): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  private begin(): void {
    this.pendingCount++
  }

  private end(): void {
    if (--this.pendingCount > 0) return
    for (const resolve of this.idle.splice(0)) resolve()
  }

  private fromBus(user: UserId, payload: string): void {
    const a = payload.indexOf('|')
    if (payload.slice(0, a) === this.node) return
    const kind = payload[a + 1]
    if (kind === 'j' || kind === 'h' || kind === 'l') return this.membership(user, payload.slice(0, a), kind)
    const body = payload.slice(a + 3)
    if (kind === 'c') return this.onConvChanged?.(body)
    if (kind === 'x') {
      if (isCloseReason(body)) this.onCloseUser?.(user, body)
      return
    }
    const list = this.devices.of(user)
    if (kind === 'f') {
      if (!list) return
      const buf = Buffer.from(body)
      const about = !body.startsWith('{"type":"typing"') && !body.startsWith('{"type":"presence"')
      for (const conn of list) {
        if (about) conn.listing = undefined
        conn.write(buf)
      }
      return
    }
    const ref = peekMessage(body)
    if (!ref) return this.log.error({ user }, 'bus message without conv/seq')
    let got = false
    let missed = false
    if (list) {
      if (payload !== this.lastPayload) {
        this.lastPayload = payload
        this.lastFrame = Buffer.from(encode.msg(body))
      }
      for (const conn of list) {
        const r = pushMessage(conn, this.lastFrame, ref)
        if (r === 'sent') got = true
        else if (r === 'missed') missed = true
      }
      if (got) this.metrics.framesOut.inc({ type: 'msg' })
    }
    // The user left this node since the publish, or a device was too slow: keep it for later.
    if (!got || missed) this.enqueue(user, ref, body)
  }

  /** `join`, `here`, `leave` of another node holding `user`. */
  private membership(user: UserId, node: string, kind: 'j' | 'h' | 'l'): void {
    if (!this.routes(user)) return
    this.routing++
    if (kind === 'l') {
      const set = this.remote.get(user)
      set?.delete(node)
      if (set?.size === 0) this.remote.delete(user)
      return
    }
    let set = this.remote.get(user)
    if (!set) this.remote.set(user, (set = new Set()))
    set.add(node)
    if (kind === 'j') {
      this.begin()
      this.bus.publish(user, `${this.node}|h|`).then(
        () => this.end(),
        (err: unknown) => {
          this.log.warn({ err, user }, 'here failed')
          this.end()
        },
      )
    }
    this.joinWaiters.get(user)?.()
  }

  /**
   * Queue a reference to the message (conv + seq), never its body: sync reads the body. The message
   * reached no device of the user: the WeChat integration may notify them (wechat/subscriptions.ts).
   */
  private enqueue(user: UserId, ref: MessagePlace, json: string): void {
    this.onUndelivered?.(user, json)
    this.begin()
    this.queue.push(user, { conv: ref.conv, seq: ref.seq }).then(
      (depth) => {
        this.metrics.queued.inc()
        this.metrics.queueDepth.observe(depth)
        this.end()
      },
      (err: unknown) => {
        this.log.error({ err, user }, 'offline queue write failed')
        this.end()
      },
    )
  }
}

/** Whether a frame of `type` may change what a `convs` list shows (all but typing and presence). */
function aboutConvs(type: ServerFrameType): boolean {
  return type !== 'typing' && type !== 'presence' && type !== 'presences'
}

/**
 * Push one message frame to one connection unless it already got that seq (a sync carried it, or
 * the push crossed the bus twice); `now`: a group's, written at once (Outlet.write). A closed
 * connection, or one cut for reading too slowly (Connection.write, close 4009), missed it: the
 * message goes to the queue and is not counted as sent.
 */
function pushMessage(conn: Outlet, frame: Buffer | string, ref: MessageRef, now = false): 'sent' | 'skipped' | 'missed' {
  // The conversation moved: a summary kept for `convs` no longer holds it (sent or not: a sync
  // that carried the seq read it after that summary).
  conn.listing = undefined
  if (!conn.open) return 'missed'
  if (conn.sent?.has(ref.conv, ref.seq)) return 'skipped'
  if (!conn.write(frame, now)) return 'missed'
  ;(conn.sent ??= new SentSeqs()).add(ref.conv, ref.seq)
  return 'sent'
}
