/**
 * The appends of one event-loop turn sent as one script call (standalone Redis; issue 15).
 *
 * Frames from many sockets are read in one turn of the event loop (one poll of the sockets), and
 * each of their sends used to leave as an EVALSHA of its own: an ioredis command, a timer for its
 * time-out, a reply decoded and a promise settled per message, and Redis' own per-command work.
 * Here the appends issued in one turn wait until the end of the turn (`setImmediate`, after the
 * I/O callbacks: the same bound the connections' corked frames have) and leave as one EVALSHA of
 * the batch script, which runs the one append script's function for each in arrival order and
 * returns their replies in that order. A turn with one append sends the single command as before.
 *
 * What stays the same: each append is the same atomic step (the batch is one atomic step holding
 * them all, in order, so a conversation's seqs and a sender's order are those of arrival); a
 * duplicate in the same batch finds the dedup key its first copy wrote a moment before; each
 * sender's promise settles with its own reply. A failed batch (time-out, Redis gone, an error
 * raised by the script) fails every send in it, each with its sender's STORE_UNAVAILABLE through
 * the engine's guard, and each client retries with the same cid: what the batch stored before the
 * failure is then answered as a duplicate, nothing is stored twice.
 *
 * Redis Cluster: a script touches one slot, and a 1:1's conversation and its members' summaries
 * are in different slots; the engine sends those appends through ioredis' Cluster routing,
 * unbatched (this class is used on a standalone Redis only).
 */
import { CommandWriter, arrayHeader } from './resp'

/**
 * An append command's parts that are the same for every message of one sender in one
 * conversation, encoded (resp.ts `encodeText`: RESP bytes as text, one character per byte). Kept
 * per 1:1 sender (redis.ts `wireOf`): a batch then encodes only each message's own parts.
 */
export interface AppendParts {
  /** The single command's start: array header, EVALSHA, the script's sha, the key count (shared by every sender with as many keys). */
  readonly start: string
  /** Every key but the dedup key. */
  readonly keys: string
  /** The command's keys, the dedup key (the last) included. */
  readonly numKeys: number
  /** `numKeys` as a bulk string (the batch script's per-append key count; shared as `start`). */
  readonly count: string
  /** The arguments after the message's head and tail. */
  readonly post: string
  /** How many arguments `post` holds. */
  readonly postArgs: number
}

/** At most this many appends in one script call: a larger turn sends several (bounds the script's time in Redis). */
export const APPEND_BATCH_MAX = 64

/** A batch being built is sent once its messages' parts pass this many bytes, whatever its count. */
export const APPEND_BATCH_BYTES = 256 * 1024

interface Pending<R> {
  readonly parts: AppendParts
  readonly dedup: string
  readonly head: string
  readonly tail: string
  readonly resolve: (reply: R) => void
  readonly reject: (err: unknown) => void
}

export interface AppendBatcherOptions<R> {
  /** Send one encoded single append (EVALSHA of the append script); resolves with its reply. */
  readonly single: (wire: Buffer) => Promise<R>
  /** Send one encoded batch (EVALSHA of the batch script); resolves with the replies, one per append. */
  readonly batch: (wire: Buffer) => Promise<R[]>
  /** The batch script's sha1. */
  readonly batchSha: string
  readonly maxCount?: number
  readonly maxBytes?: number
}

/** Collects the appends of a turn and sends them as one command (see above). */
export class AppendBatcher<R> {
  private pending: Pending<R>[] = []
  private bytes = 0
  private scheduled = false
  private readonly maxCount: number
  private readonly maxBytes: number
  /** Batches sent with more than one append, and the appends in them (stats for tests and benches). */
  batches = 0
  batched = 0

  constructor(private readonly o: AppendBatcherOptions<R>) {
    this.maxCount = o.maxCount ?? APPEND_BATCH_MAX
    this.maxBytes = o.maxBytes ?? APPEND_BATCH_BYTES
  }

  /** The reply of this append once its batch (or its single command) was answered. */
  add(parts: AppendParts, dedup: string, head: string, tail: string): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ parts, dedup, head, tail, resolve, reject })
      this.bytes += parts.start.length + parts.keys.length + parts.post.length + head.length + tail.length
      if (this.pending.length >= this.maxCount || this.bytes >= this.maxBytes) this.flush()
      else if (!this.scheduled) {
        this.scheduled = true
        setImmediate(this.endOfTurn)
      }
    })
  }

  private readonly endOfTurn = (): void => {
    this.scheduled = false
    this.flush()
  }

  /** Send what is pending now. */
  flush(): void {
    const list = this.pending
    if (list.length === 0) return
    this.pending = []
    this.bytes = 0
    if (list.length === 1) {
      const p = list[0]!
      let wire: Buffer
      try {
        wire = encodeSingle(p)
      } catch (err) {
        return p.reject(err)
      }
      this.o.single(wire).then(p.resolve, p.reject)
      return
    }
    let wire: Buffer
    try {
      wire = this.encodeBatch(list)
    } catch (err) {
      for (const p of list) p.reject(err)
      return
    }
    this.batches++
    this.batched += list.length
    this.o.batch(wire).then(
      (replies) => {
        if (!Array.isArray(replies) || replies.length !== list.length) {
          const err = new Error(`append batch answered ${Array.isArray(replies) ? replies.length : typeof replies} replies for ${list.length}`)
          for (const p of list) p.reject(err)
          return
        }
        for (let i = 0; i < list.length; i++) list[i]!.resolve(replies[i]!)
      },
      (err: unknown) => {
        for (const p of list) p.reject(err)
      },
    )
  }

  /**
   * EVALSHA <batch sha> <all keys> <per append: key count, head, tail, post...>: each append's
   * keys (copied from its single command's encoded keys) and dedup key, then its arguments.
   */
  private encodeBatch(list: readonly Pending<R>[]): Buffer {
    let numKeys = 0
    let parts = 3
    for (const p of list) {
      numKeys += p.parts.numKeys
      parts += p.parts.numKeys + 3 + p.parts.postArgs
    }
    const keyCount = String(numKeys)
    const w = new CommandWriter(arrayHeader(parts)).sizeBulk('EVALSHA').sizeBulk(this.o.batchSha).sizeBulk(keyCount)
    for (const p of list) w.sizeEncoded(p.parts.keys).sizeBulk(p.dedup).sizeEncoded(p.parts.count).sizeBulk(p.head).sizeBulk(p.tail).sizeEncoded(p.parts.post)
    w.start().bulk('EVALSHA').bulk(this.o.batchSha).bulk(keyCount)
    for (const p of list) w.encoded(p.parts.keys).bulk(p.dedup)
    for (const p of list) w.encoded(p.parts.count).bulk(p.head).bulk(p.tail).encoded(p.parts.post)
    return w.done()
  }
}

/** The single command: its kept start and keys, the message's dedup key, head and tail, its kept arguments. */
function encodeSingle<R>(p: Pending<R>): Buffer {
  const { start, keys, post } = p.parts
  const w = new CommandWriter('').sizeEncoded(start).sizeEncoded(keys).sizeBulk(p.dedup).sizeBulk(p.head).sizeBulk(p.tail).sizeEncoded(post)
  return w.start().encoded(start).encoded(keys).bulk(p.dedup).bulk(p.head).bulk(p.tail).encoded(post).done()
}
