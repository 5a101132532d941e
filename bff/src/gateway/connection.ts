/**
 * One client socket. Kept small on purpose: an idle connection costs the ws socket plus this
 * object (a few numbers and references), which is what the 100,000-idle-connection target measures.
 * Anything a connection needs only for a while (sync bookkeeping) is allocated then and dropped.
 */
import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { PROTOCOL_VERSION } from '@chat/shared'
import type { ServerFrameType, UserId } from '@chat/shared'
import type { Outlet } from '../chat/outlet'
import type { SentSeqs } from '../chat/sent-seqs'
import type { ConvSummary, QueueEntry } from '../store/types'
import { textFrame } from './ws-frame'

export interface ConnectionLimits {
  readonly rateLimitPerSec: number
  readonly rateLimitBurst: number
  readonly floodMaxRejects: number
  readonly floodWindowMs: number
  readonly slowConsumerBytes: number
  /** Counts frames written by type (metrics). Shared by every connection of a server. */
  readonly countOut: (type: string) => void
  /** Counts a connection cut for reading too slowly, with the bytes it held unsent (metrics). */
  readonly countSlow: (unsentBytes: number) => void
  /** ACK_WINDOW_MS: acks beyond the first within this many ms of a connection's last one are written together (`Connection.ack`); 0: each at once. */
  readonly ackWindowMs: number
  /** Observes an ack's latency once it is written, from when its send was received (performance.now(); metrics). */
  readonly acked: (receivedAt: number) => void
}

/** How long a slow consumer gets to read its close frame before the socket is destroyed. */
const SLOW_CONSUMER_GRACE_MS = 2000

/** Frames are JSON text even when handed over as a shared Buffer (PROTOCOL.md: binary is refused). */
const TEXT = { binary: false } as const

/**
 * Sockets corked in this event-loop turn: every frame a connection gets in one turn (an ack, the
 * pushes and receipts of one Redis read, a sync's batches) leaves in one `writev` instead of one
 * write per frame (issue 15: socket writes were 38% of the CPU at 5,000 msg/s). One immediate per
 * turn uncorks them all: after the I/O callbacks of the turn, so the delay is at most the turn.
 */
const corked: Socket[] = []

/** Bytes a corked socket may hold before they are written without waiting for the end of the turn. */
const CORK_FLUSH_BYTES = 16 * 1024

function uncorkAll(): void {
  // Taken out first: a socket corked again while this runs belongs to the next round.
  for (const s of corked.splice(0, corked.length)) s.uncork()
}

/**
 * Cork `socket` until the end of the turn unless it is already (ws corks and uncorks around each
 * frame itself, so between frames a corked socket is one corked here). Past CORK_FLUSH_BYTES the
 * turn's frames leave at once: held back, they would count as unsent bytes and a reader keeping
 * up would be cut as a slow consumer (SLOW_CONSUMER_BYTES can be as low as that).
 */
function corkForTurn(socket: Socket | undefined): void {
  if (!socket || socket.destroyed) return
  if (socket.writableCorked > 0) {
    if (socket.writableLength >= CORK_FLUSH_BYTES) {
      socket.uncork()
      socket.cork()
    }
    return
  }
  socket.cork()
  if (corked.push(socket) === 1) setImmediate(uncorkAll)
}

/**
 * Cork an upgrading socket until the end of the turn: ws writes its `101 Switching Protocols`
 * straight to the socket, and a device back within its offline grace is sent `welcome` in the
 * same turn (gateway.ts `accept`): both leave in one write, not two (issue 15: a loopback write
 * cost about as much CPU as the rest of the upgrade in a storm's profile).
 */
export function corkUpgrade(socket: Duplex): void {
  if (socket instanceof Socket) corkForTurn(socket)
}

/**
 * The last shared Buffer written and its frame. A group's message is one Buffer written to every
 * member's socket in one loop: a server's frames are not masked (RFC 6455, 5.1), so its frame is
 * the same bytes for every socket and is built once, at the first, and written whole to all the
 * others. ws's `send` of a Buffer built a header per socket and wrote the two through a cork of its
 * own and a writev (issue 15, group of 1,000: that per-socket work was the fan-out's CPU besides
 * the write system calls). One entry: held until the next shared Buffer, a frame's bytes.
 */
let sharedData: Buffer | undefined
let sharedFrame: Buffer = Buffer.alloc(0)

function framedOnce(data: Buffer): Buffer {
  if (data !== sharedData) {
    sharedData = data
    sharedFrame = textFrame(data)
  }
  return sharedFrame
}

/**
 * Acks held at most this many to a connection: past it they leave at once. A user's rate limit
 * (RATE_LIMIT_PER_SEC, RATE_LIMIT_BURST) keeps a window's acks far below it; it bounds what a
 * process configured without one holds per socket.
 */
export const ACK_HOLD_MAX = 64

/**
 * The ack window's clock: whole ms of the process clock modulo 2^30, differences taken modulo too.
 * It stays a small integer (a V8 Smi) for ever, where whole ms since the process started would pass
 * 2^30 after 12 days of uptime and every connection's field would become a boxed double. A window
 * is measured correctly as long as the last ack is less than 12 days old; an older one may hold one
 * ack for a window at most.
 */
const ACK_CLOCK_MASK = 0x3fffffff
const ackClock = (): number => Math.floor(performance.now()) & ACK_CLOCK_MASK

/** The end of a connection's ack window: its held acks leave (a timer's argument, so no closure per connection). */
function windowEnds(conn: Connection): void {
  conn.flushAcks()
}

/** The net.Socket under a ws socket (ws keeps it as `_socket`; undefined once it is gone). */
function rawSocket(ws: WebSocket): Socket | undefined {
  return (ws as unknown as { _socket?: Socket })._socket
}

export type RateVerdict = 'ok' | 'limited' | 'flooding'

/** A token bucket with its flood window; shared by every connection of a user on a process. */
export interface Bucket {
  tokens: number
  refilledAt: number
  rejects: number
  rejectWindowStart: number
}

/** A full bucket (a user's first frame finds it so). */
export function newBucket(limits: ConnectionLimits, now: number): Bucket {
  return { tokens: limits.rateLimitBurst, refilledAt: now, rejects: 0, rejectWindowStart: 0 }
}

/** The chat domain's Outlet over one ws socket. */
export class Connection implements Outlet {
  /** Answered the last ping (or sent anything) since the previous heartbeat round. */
  alive = true
  /** A close was started; the next heartbeat round terminates it if the peer never completes it. */
  closing = false
  /** Set while the connection is being set up; frames other than ping wait for it. */
  ready: Promise<void> | undefined
  /** Counted in the presence store (so the disconnect is counted too). */
  present = false
  /** The protocol version the client asked for (`?v=`), one of SUPPORTED_VERSIONS once accepted. */
  protocol = PROTOCOL_VERSION
  /** The presence field taken over from a socket of the user closed within the offline grace (else `<node>/<session>`). */
  presenceField: string | undefined = undefined
  /**
   * The peers whose presence this connection was told at its connect, joined by spaces: kept
   * through the offline grace after its close, so that a device back within it reads their
   * presence beside its summary (gateway.ts `announceOnline`). One string, not an array of ids.
   */
  peers: string | undefined = undefined
  /** Seqs of `msg` and `messages` frames sent on this connection; allocated at the first one. */
  sent: SentSeqs | undefined
  /** Highest seq per 1:1 conversation this connection reported delivered; allocated at the first. */
  delivered: Map<string, number> | undefined
  /** Highest seq per conversation this connection marked read; allocated at the first `read`. */
  readMarks: Map<string, number> | undefined
  /** The summary read at `welcome` until the first `sync` takes it (or the next heartbeat round drops it). */
  summary: Promise<readonly ConvSummary[]> | undefined
  /** The same read until the first `convs` takes it, or a frame about a conversation drops it (`Outlet.listing`). */
  listing: Promise<readonly ConvSummary[]> | undefined
  /** The offline queue read beside that summary, until the first `sync` takes it (`Outlet.queued`). */
  queued: Promise<readonly QueueEntry[]> | undefined
  /** Serialises the large replies (sync, history) of one connection; see `heavy`. */
  private heavyChain: Promise<void> | undefined
  /** The user's rate limit bucket, looked up at the first frame: an idle connection holds none. */
  private bucket: Bucket | undefined
  /** Acks held by the ack window, in order, each followed by when its send was received; undefined when none. */
  private heldAcks: Array<string | number> | undefined
  /** When an ack last left for this socket (`ackClock`), -1 before the first: the ack window's start. */
  private ackAt = -1
  /** The end of the window the held acks wait for. */
  private ackTimer: NodeJS.Timeout | undefined

  constructor(
    readonly ws: WebSocket,
    readonly user: UserId,
    readonly session: string,
    private readonly limits: ConnectionLimits,
    /** When the token the socket was opened with expires (ms): the socket is closed 4002 then. */
    readonly expiresAt: number,
  ) {}

  /**
   * Token bucket (the user's, from `bucketOf`); repeated refusals within the flood window end the
   * connection.
   */
  take(now: number, bucketOf: (user: UserId, now: number) => Bucket): RateVerdict {
    const { rateLimitPerSec, rateLimitBurst } = this.limits
    const b = (this.bucket ??= bucketOf(this.user, now))
    b.tokens = Math.min(rateLimitBurst, b.tokens + ((now - b.refilledAt) * rateLimitPerSec) / 1000)
    b.refilledAt = now
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 'ok'
    }
    if (now - b.rejectWindowStart > this.limits.floodWindowMs) {
      b.rejectWindowStart = now
      b.rejects = 0
    }
    b.rejects++
    return b.rejects > this.limits.floodMaxRejects ? 'flooding' : 'limited'
  }

  /**
   * Run a request with a large reply (sync, history) after the connection's previous one: one at
   * a time per connection, so a client asking for many pages at once holds at most one page read
   * from the store in server memory, and a request whose turn comes after the connection was cut
   * (or while it is over its unsent-bytes bound) reads nothing.
   */
  async heavy(work: () => Promise<void>): Promise<void> {
    const run = (this.heavyChain ?? Promise.resolve()).then(() => {
      if (!this.open) return
      if (this.congested) return this.slowConsumer()
      return work()
    })
    const tail = run.catch(() => {})
    this.heavyChain = tail
    try {
      await run
    } finally {
      if (this.heavyChain === tail) this.heavyChain = undefined
    }
  }

  get open(): boolean {
    return !this.closing && this.ws.readyState === 1
  }

  /** Unsent bytes beyond the bound: the client reads too slowly (protocol: close 4009). */
  get congested(): boolean {
    return this.ws.bufferedAmount > this.limits.slowConsumerBytes
  }

  /**
   * The one way a frame reaches the socket: replies, batches, pushes, receipts, typing, presence,
   * errors and notices all come here. A connection whose unsent bytes are already past
   * SLOW_CONSUMER_BYTES gets nothing more: it is cut (4009) instead, so what one socket holds in
   * server memory never exceeds that bound plus one frame (the largest frame the server builds is
   * a `messages` batch of about 256 KiB). False when nothing was written.
   */
  write(data: Buffer | string, now = false): boolean {
    if (!this.open) return false
    // Held acks go first: the ack window delays them, it never puts them behind a later frame.
    if (this.heldAcks !== undefined) this.flushAcks()
    if (this.congested) {
      this.slowConsumer()
      return false
    }
    const socket = rawSocket(this.ws)
    // `now` (a group's message): not corked for the turn, so the fan-out's first sockets are
    // written while it goes on, as the raw router does, instead of every socket at the end of the
    // turn (1,000 members: the fan-out loop's ~0.7 ms before the first write). A socket already
    // corked in this turn keeps the order: the frame goes behind what it holds.
    if (!now) corkForTurn(socket)
    // A string is framed here and written as one Buffer (ws-frame.ts); a Buffer is shared by many
    // sockets (a group's frame): framed once for all of them (`framedOnce`). Safe beside ws's own
    // writes (pings, close, replyAndDrain): without permessage-deflate ws writes every frame at
    // once, in call order, so frames never interleave; its bufferedAmount counts these bytes too
    // (the socket's), which keeps the slow-consumer bound whole.
    if (!socket) this.ws.send(data, TEXT)
    else socket.write(typeof data === 'string' ? textFrame(data) : framedOnce(data))
    return true
  }

  /** Write one frame answering the client and count it. */
  reply(data: Buffer | string, type: ServerFrameType): boolean {
    if (!this.write(data)) return false
    this.limits.countOut(type)
    return true
  }

  /**
   * Write an `ack` (issue 15: at most one ack write per connection per window, where an ack each
   * was a socket write of its own beside the message's push). The first ack of a window leaves in
   * this turn, as any reply does: a send on its own is acked without delay. Those that follow
   * within `ackWindowMs` of it are held and leave together, in one socket write, when that window
   * ends (a timer per connection holding acks), or as soon as any other frame is written to the connection,
   * ahead of it: the order of frames is the order they were made in. So acks leave a connection at
   * most once per window besides the frames they go with. An ack is counted and its latency
   * observed when it is written.
   */
  ack(data: string, receivedAt: number): void {
    const now = ackClock()
    const since = this.ackAt < 0 ? Infinity : (now - this.ackAt) & ACK_CLOCK_MASK
    if (this.heldAcks === undefined && since >= this.limits.ackWindowMs) {
      this.ackAt = now
      if (this.reply(data, 'ack')) this.limits.acked(receivedAt)
      return
    }
    if (!this.open) return
    let held = this.heldAcks
    if (held === undefined) {
      held = this.heldAcks = []
      // The window opened by the last ack written ends then (held ones wait less than a window).
      this.ackTimer = setTimeout(windowEnds, Math.max(1, this.limits.ackWindowMs - since), this).unref()
    }
    if (held.push(data, receivedAt) >= 2 * ACK_HOLD_MAX) this.flushAcks()
  }

  /** Write the acks held by the ack window now (in order); the window starts again. */
  flushAcks(): void {
    const held = this.heldAcks
    if (held === undefined) return
    this.heldAcks = undefined
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
    this.ackAt = ackClock()
    for (let i = 0; i < held.length; i += 2) if (this.reply(held[i] as string, 'ack')) this.limits.acked(held[i + 1] as number)
  }

  /** More than `bytes` written and not yet taken by the reader. */
  backlogged(bytes: number): boolean {
    return this.ws.bufferedAmount > bytes
  }

  /**
   * Write (through the same bound), count, and resolve once the bytes left for the OS: paces large
   * replies (sync) to the reader. False when nothing was written or the socket failed.
   */
  replyAndDrain(data: Buffer | string, type: ServerFrameType): Promise<boolean> {
    if (!this.open) return Promise.resolve(false)
    if (this.heldAcks !== undefined) this.flushAcks()
    if (this.congested) {
      this.slowConsumer()
      return Promise.resolve(false)
    }
    this.limits.countOut(type)
    corkForTurn(rawSocket(this.ws))
    return new Promise((resolve) => this.ws.send(data, TEXT, (err) => resolve(!err)))
  }

  /**
   * Cut a client that reads too slowly (protocol: close 4009). The close frame waits behind the
   * unsent bytes, so the socket is destroyed if the client has not taken it shortly after: its
   * buffer must not keep growing in server memory.
   */
  slowConsumer(): void {
    if (this.closing) return
    this.limits.countSlow(this.ws.bufferedAmount)
    this.close(4009, 'SLOW_CONSUMER')
    setTimeout(() => this.ws.terminate(), SLOW_CONSUMER_GRACE_MS).unref()
  }

  close(code: number, reason: string): void {
    if (this.closing) return
    // Acks held by the window leave before the close frame (a drain closes right after its
    // notice); not to a socket cut for reading too slowly (the cut is this close).
    if (this.heldAcks !== undefined && !this.congested) this.flushAcks()
    this.closing = true
    this.ws.close(code, reason)
  }
}
