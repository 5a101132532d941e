/**
 * The messages between the BFF and its checker process (checker-client.ts, ../checker.ts). The
 * checks and their verdicts, thousands a second, go over a pipe of their own (fd CHECKER_PIPE_FD
 * of the checker) as length-prefixed binary frames, texts as UTF-8 bytes: one frame a batch, one
 * write a frame. Node's IPC channel (JSON, one line a message) carries only the rest (`init`,
 * `ready`, `counts`): on it every message cost a JSON.stringify and a write on one side and a
 * string decode, a split and a JSON.parse on the other.
 *
 * Both directions go through a Batcher: one frame carries the texts (or verdicts) of one
 * event-loop turn, and, while they keep coming, of up to WX_CHECKER_BATCH_MS of turns. Each frame
 * costs both processes a write, a wake-up and a read, and a verdicts frame wakes the chat's loop
 * to store its messages: at thousands of texts a second, more of them in fewer frames is fewer
 * turns of that loop, and the appends of one turn leave for the store together. What a text
 * waits for its frame adds to its send's latency, so a frame of checks leaves once it holds
 * CHECKER_CHECKS_FULL texts, and the verdicts of a frame of checks leave once all are reached
 * (../checker.ts): WeChat answers the calls of one frame together, so they come in one frame back
 * without waiting for the window.
 */
import type { TextVerdict } from './security'

/**
 * Characters of text one `checks` message carries at most: the texts of a turn beyond it go in
 * the next message. A single text longer than this goes alone (texts are bounded by the chat's
 * own limit on a frame), so a message is at most this or one text.
 */
export const CHECKER_FRAME_MAX_CHARS = 1_000_000

/** Texts, or verdicts, one message carries at most: one more sends it without waiting for its window. */
export const CHECKER_BATCH_MAX = 1024
/**
 * A message waiting for its window leaves at the end of the turn once it holds this many items:
 * full enough that waiting saves next to nothing per item, and the wait would only add latency
 * (a saturated closed loop of checks, each sent once the previous is answered).
 */
export const CHECKER_BATCH_FULL = 64
/**
 * A frame of checks waiting for its window leaves at the end of the turn once it holds this many
 * texts. Texts come one by one (the chat's sends), so a window of W holds each for W/2 on
 * average, more when its timer fires late on a busy loop; a count bounds that wait by the rate
 * (at 5,000 texts a second, a frame about every 1.6 ms, left at a turn's end, no timer), and a
 * frame's own cost over 8 texts is little of theirs. bff/bench/checker-handoff.ts at 5,000/s
 * (WeChat's fake 20 ms, load average 15-18, two runs each): p50 21.5-23.9 ms against 25.4-27.9
 * with the window alone, frames to the checker ~400 a second against ~250.
 */
export const CHECKER_CHECKS_FULL = 8

/**
 * Collects the items of a message and sends them. A message leaves at the end of the turn of its
 * first item (setImmediate) when the previous one left at least `windowMs` before, else once
 * `windowMs` have passed since the previous one (one timer a message, never one an item); at once
 * when it reaches CHECKER_BATCH_MAX items, or before an item that would take it past `maxChars`
 * (an item longer than that goes alone). So at a low rate nothing waits beyond its turn, and at a
 * high one a message leaves at most every `windowMs`, each item waiting at most that long, or at
 * the end of its turn once it holds `full` items (default CHECKER_BATCH_FULL), or when the caller
 * says no item is due soon (`soon`).
 * `windowMs` 0: every turn's items leave at its end (the behaviour before the window).
 */
export class Batcher<T> {
  private items: T[] = []
  private chars = 0
  private scheduled = false
  /** The window's timer, while the message waits for it (not for the end of the turn). */
  private timer: NodeJS.Timeout | undefined
  private lastSentAt = Number.NEGATIVE_INFINITY
  private readonly sendNow = () => this.flush()

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly windowMs: number,
    private readonly maxChars = CHECKER_FRAME_MAX_CHARS,
    private readonly full = CHECKER_BATCH_FULL,
  ) {}

  get size(): number {
    return this.items.length
  }

  push(item: T, chars = 0): void {
    if (this.items.length > 0 && this.chars + chars > this.maxChars) this.flush()
    this.items.push(item)
    this.chars += chars
    if (this.items.length >= CHECKER_BATCH_MAX) return this.flush()
    if (this.scheduled) {
      if (this.timer && this.items.length >= this.full) this.soon()
      return
    }
    this.scheduled = true
    const waitMs = this.windowMs > 0 ? this.lastSentAt + this.windowMs - performance.now() : 0
    if (waitMs > 0) this.timer = setTimeout(this.sendNow, waitMs)
    else setImmediate(this.sendNow)
  }

  /**
   * What is collected leaves at the end of this turn, without waiting for the window: the caller
   * knows no item it is waiting for will come soon (all the checks of a message are answered).
   */
  soon(): void {
    if (this.items.length === 0 || (this.scheduled && !this.timer)) return
    clearTimeout(this.timer)
    this.timer = undefined
    this.scheduled = true
    setImmediate(this.sendNow)
  }

  /** Sends what is collected now (an immediate still pending finds nothing, or the items pushed since). */
  flush(): void {
    this.scheduled = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (this.items.length === 0) return
    const items = this.items
    this.items = []
    this.chars = 0
    this.lastSentAt = performance.now()
    this.send(items)
  }

  /** Drops what is collected (its sender is gone: the caller answers those items itself). */
  clear(): void {
    this.items = []
    this.chars = 0
  }
}

/** BFF -> checker (a checks frame): [id, openid, text] of a text to check. */
export type WireCheck = [number, string, string]

/** A verdict (a verdicts frame, checker -> BFF): [id, suggest] or [id, suggest, label]. */
export type WireVerdict = [number, TextVerdict['suggest']] | [number, TextVerdict['suggest'], number]

/** checker -> BFF: it has its store and takes checks. */
export interface ReadyMessage {
  readonly t: 'ready'
}

/** BFF -> checker: report your counter increments (a scrape of the BFF's /metrics is under way). */
export interface CountsRequest {
  readonly t: 'counts?'
}

/** BFF -> checker: how much of the minute's text budget is used (`VerdictSource.budgetUsed`)? */
export interface UsedRequest {
  readonly t: 'used?'
  readonly id: number
}

/** checker -> BFF: the answer to `used?` `id`; `n` undefined: the store could not say. */
export interface UsedMessage {
  readonly t: 'used'
  readonly id: number
  readonly n?: number
}

/** checker -> BFF: counter increments since its last report, [metric name, labels, increment]. */
export interface CountsMessage {
  readonly t: 'counts'
  readonly c: Array<[string, Record<string, string>, number]>
}

export type FromChecker = ReadyMessage | CountsMessage | UsedMessage

export function toWire(id: number, v: TextVerdict): WireVerdict {
  return v.suggest === 'unavailable' ? [id, v.suggest] : [id, v.suggest, v.label]
}

/** The checker's file descriptor of the checks pipe (0-2 its stdio, 3 Node's IPC channel). */
export const CHECKER_PIPE_FD = 4

/**
 * A frame: u32 length of the body, then the body, records back to back. A check record: id (f64:
 * ids only ascend, past u32 after days at thousands a second), u16 openid bytes, u32 text bytes,
 * the openid, the text (UTF-8). A verdict record: id (f64), u8 suggest (SUGGESTS), i32 label.
 */
const FRAME_HEAD = 4
const CHECK_HEAD = 8 + 2 + 4
const VERDICT_SIZE = 8 + 1 + 4
/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2). */
const UTF8_MAX_PER_UNIT = 3
/** suggest by its code on the wire. */
const SUGGESTS: ReadonlyArray<TextVerdict['suggest']> = ['pass', 'review', 'risky', 'unavailable']
const SUGGEST_CODE: Readonly<Record<TextVerdict['suggest'], number>> = { pass: 0, review: 1, risky: 2, unavailable: 3 }

/**
 * One frame of checks. Sized for the worst case of UTF-8 and cut to what was written, so each
 * string is encoded once (no byteLength pass first).
 */
export function encodeChecks(checks: readonly WireCheck[]): Buffer {
  let bound = FRAME_HEAD
  for (const [, user, text] of checks) bound += CHECK_HEAD + (user.length + text.length) * UTF8_MAX_PER_UNIT
  const buf = Buffer.allocUnsafe(bound)
  let at = FRAME_HEAD
  for (const [id, user, text] of checks) {
    buf.writeDoubleLE(id, at)
    const userBytes = buf.write(user, at + CHECK_HEAD, 'utf8')
    const textBytes = buf.write(text, at + CHECK_HEAD + userBytes, 'utf8')
    buf.writeUInt16LE(userBytes, at + 8)
    buf.writeUInt32LE(textBytes, at + 10)
    at += CHECK_HEAD + userBytes + textBytes
  }
  buf.writeUInt32LE(at - FRAME_HEAD, 0)
  return buf.subarray(0, at)
}

/** The checks of one frame's body. */
export function decodeChecks(body: Buffer, each: (id: number, user: string, text: string) => void): void {
  let at = 0
  while (at < body.length) {
    const id = body.readDoubleLE(at)
    const userEnd = at + CHECK_HEAD + body.readUInt16LE(at + 8)
    const textEnd = userEnd + body.readUInt32LE(at + 10)
    each(id, body.toString('utf8', at + CHECK_HEAD, userEnd), body.toString('utf8', userEnd, textEnd))
    at = textEnd
  }
}

/** One frame of verdicts. */
export function encodeVerdicts(verdicts: readonly WireVerdict[]): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEAD + verdicts.length * VERDICT_SIZE)
  buf.writeUInt32LE(verdicts.length * VERDICT_SIZE, 0)
  let at = FRAME_HEAD
  for (const v of verdicts) {
    buf.writeDoubleLE(v[0], at)
    buf.writeUInt8(SUGGEST_CODE[v[1]], at + 8)
    buf.writeInt32LE(v[2] ?? 0, at + 9)
    at += VERDICT_SIZE
  }
  return buf
}

/** The verdicts of one frame's body. */
export function decodeVerdicts(body: Buffer, each: (id: number, verdict: TextVerdict) => void): void {
  for (let at = 0; at + VERDICT_SIZE <= body.length; at += VERDICT_SIZE) {
    const suggest = SUGGESTS[body.readUInt8(at + 8)]
    const id = body.readDoubleLE(at)
    // An unknown code (a newer checker) is no verdict: the text stays unavailable.
    if (suggest === undefined || suggest === 'unavailable') each(id, UNAVAILABLE)
    else each(id, { suggest, label: body.readInt32LE(at + 9) })
  }
}

const UNAVAILABLE: TextVerdict = { suggest: 'unavailable' }

/**
 * Cuts a byte stream into frames: hands each whole frame's body to `onFrame`. A chunk of whole
 * frames is read in place; a frame split over chunks is kept in parts and joined once, when its
 * last byte arrives (a frame of a megabyte in 64 KB chunks is copied once, not once a chunk).
 */
export class FrameReader {
  private parts: Buffer[] = []
  private partsBytes = 0
  /** Bytes of the frame the parts begin (head included), once its head has arrived. */
  private needed = 0

  constructor(private readonly onFrame: (body: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.parts.length > 0) {
      this.parts.push(chunk)
      this.partsBytes += chunk.length
      if (this.needed === 0 && this.partsBytes >= FRAME_HEAD) this.needed = FRAME_HEAD + Buffer.concat(this.parts).readUInt32LE(0)
      if (this.needed === 0 || this.partsBytes < this.needed) return
      chunk = Buffer.concat(this.parts, this.partsBytes)
      this.parts = []
      this.partsBytes = 0
      this.needed = 0
    }
    let at = 0
    while (chunk.length - at >= FRAME_HEAD) {
      const end = at + FRAME_HEAD + chunk.readUInt32LE(at)
      if (end > chunk.length) break
      this.onFrame(chunk.subarray(at + FRAME_HEAD, end))
      at = end
    }
    if (at === chunk.length) return
    // A frame's start: kept (the stream hands a new buffer each read, so no copy).
    const start = chunk.subarray(at)
    this.parts.push(start)
    this.partsBytes = start.length
    if (start.length >= FRAME_HEAD) this.needed = FRAME_HEAD + start.readUInt32LE(0)
  }
}
