/**
 * What the chat domain sees of a client connection: somewhere to write typed frames (frames.ts),
 * whether the reader keeps up, and what was already sent on it. The gateway's Connection implements
 * it over a ws socket; chat/ never sees the socket (nor imports gateway/), so it runs without one.
 */
import type { ServerFrameType, UserId } from '@chat/shared'
import type { ConvSummary, QueueEntry } from '../store/types'
import type { SentSeqs } from './sent-seqs'

export interface Outlet {
  readonly user: UserId
  /** The protocol version the client speaks (PROTOCOL.md, Connecting); absent: the current one. */
  readonly protocol?: number
  /** Not closed nor closing: a write may still reach the client. */
  readonly open: boolean
  /**
   * Write one encoded frame, not counted (pushes count in bulk). False when nothing was written:
   * closed, or cut for reading too slowly (close 4009, SLOW_CONSUMER). An outlet may hold frames
   * until the end of the event-loop turn to write them together; `now`: this one goes out at once
   * (behind what is held), for a fan-out whose every outlet gets this one frame.
   */
  write(data: Buffer | string, now?: boolean): boolean
  /** Write one frame answering the client and count it as `type`. False when nothing was written. */
  reply(data: Buffer | string, type: ServerFrameType): boolean
  /**
   * Write an `ack` (counted, its latency observed from `receivedAt`, performance.now()); an outlet
   * may hold it briefly to write several together, never behind a frame made after it. Without
   * it, acks are replies.
   */
  ack?(data: string, receivedAt: number): void
  /** Whether more than `bytes` are written but not yet taken by the reader (a sync pauses then). */
  backlogged(bytes: number): boolean
  /** `reply`, resolving once the bytes left for the OS: paces large replies to the reader. False when not written. */
  replyAndDrain(data: Buffer | string, type: ServerFrameType): Promise<boolean>
  /** Run a request with a large reply (sync, history) after the previous one of this outlet, one at a time. */
  heavy(work: () => Promise<void>): Promise<void>
  /** Seqs of `msg` and `messages` frames sent here; allocated at the first one. */
  sent: SentSeqs | undefined
  /** Highest seq per 1:1 conversation this outlet reported delivered; allocated at the first. */
  delivered: Map<string, number> | undefined
  /** Highest seq per conversation this outlet marked read; allocated at the first `read`. */
  readMarks: Map<string, number> | undefined
  /**
   * The user's summary (seqs only) read at `welcome`, once the outlet was routed: the first `sync`
   * starts from it instead of reading it again (chat/catch-up.ts). Dropped when taken.
   */
  summary?: Promise<readonly ConvSummary[]> | undefined
  /**
   * The user's offline queue read at `welcome` with the summary (issued in the same tick: one
   * socket write to Redis, one round trip): the first `sync` takes it for its `sync.done` cursor
   * instead of reading after the summary, so a `sync` and a `convs` arriving together are
   * answered in the same turn (one socket write). Dropped when taken and at the next heartbeat round.
   */
  queued?: Promise<readonly QueueEntry[]> | undefined
  /**
   * The same read kept for the first `convs` (last messages as stored JSON): the connection was
   * routed before it was made, so whatever changes a conversation after it reaches the connection
   * as a frame. Dropped at the first frame about a conversation delivered here (`Delivery`) or
   * sent from here (the gateway: any frame but the read-only ones), when taken, and at the next
   * heartbeat round; a `convs` without it reads afresh.
   */
  listing?: Promise<readonly ConvSummary[]> | undefined
}

/** The outlets of this process by user (the gateway's LocalDevices). */
export interface Outlets {
  /**
   * Moves whenever any user's outlets change (one added or removed): what was worked out from them
   * (a large group's fan-out, `Delivery`) is stale then.
   */
  readonly version: number
  of(user: UserId): readonly Outlet[] | undefined
  /**
   * The user's device here when it is the only one (most users): what `of` holds then, without
   * the array `of` may build per call for it (issue 15: two per 1:1 message). Undefined otherwise.
   */
  one(user: UserId): Outlet | undefined
  has(user: UserId): boolean
  users(): IterableIterator<UserId>
}
