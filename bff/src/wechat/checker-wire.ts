/**
 * The messages between the BFF and its checker process (checker-client.ts, ../checker.ts), over
 * the IPC channel of `fork` (JSON, one line a message). Both directions go through a Batcher: one
 * message carries the texts (or verdicts) of one event-loop turn, and, while they keep coming, of
 * up to WX_CHECKER_BATCH_MS of turns. Each message costs both processes a serialisation, a write,
 * a wake-up and a read, and a verdicts message wakes the chat's loop to store its messages: at
 * thousands of texts a second, more of them in fewer messages is fewer turns of that loop, and the
 * appends of one turn leave for the store together.
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
 * Collects the items of a message and sends them. A message leaves at the end of the turn of its
 * first item (setImmediate) when the previous one left at least `windowMs` before, else once
 * `windowMs` have passed since the previous one (one timer a message, never one an item); at once
 * when it reaches CHECKER_BATCH_MAX items, or before an item that would take it past `maxChars`
 * (an item longer than that goes alone). So at a low rate nothing waits beyond its turn, and at a
 * high one a message leaves at most every `windowMs`, each item waiting at most that long, or at
 * the end of its turn once it holds CHECKER_BATCH_FULL items.
 * `windowMs` 0: every turn's items leave at its end (the behaviour before the window).
 */
export class Batcher<T> {
  private items: T[] = []
  private chars = 0
  private scheduled = false
  /** Scheduled by the window's timer (not at the end of the turn). */
  private waiting = false
  private lastSentAt = Number.NEGATIVE_INFINITY
  private readonly sendNow = () => this.flush()

  constructor(
    private readonly send: (items: T[]) => void,
    private readonly windowMs: number,
    private readonly maxChars = CHECKER_FRAME_MAX_CHARS,
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
      if (this.waiting && this.items.length >= CHECKER_BATCH_FULL) {
        this.waiting = false
        setImmediate(this.sendNow)
      }
      return
    }
    this.scheduled = true
    const waitMs = this.windowMs > 0 ? this.lastSentAt + this.windowMs - performance.now() : 0
    this.waiting = waitMs > 0
    if (this.waiting) setTimeout(this.sendNow, waitMs)
    else setImmediate(this.sendNow)
  }

  /** Sends what is collected now (a timer or immediate still pending finds nothing, or the items pushed since). */
  flush(): void {
    this.scheduled = false
    this.waiting = false
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

/** BFF -> checker: [id, openid, text] of each text to check. */
export interface ChecksMessage {
  readonly t: 'checks'
  readonly c: Array<[number, string, string]>
}

/** A verdict on the wire: [id, suggest] or [id, suggest, label]. */
export type WireVerdict = [number, TextVerdict['suggest']] | [number, TextVerdict['suggest'], number]

/** checker -> BFF: the verdicts of some of the checks sent. */
export interface VerdictsMessage {
  readonly t: 'verdicts'
  readonly v: WireVerdict[]
}

/** checker -> BFF: it has its store and takes checks. */
export interface ReadyMessage {
  readonly t: 'ready'
}

/** BFF -> checker: report your counter increments (a scrape of the BFF's /metrics is under way). */
export interface CountsRequest {
  readonly t: 'counts?'
}

/** checker -> BFF: counter increments since its last report, [metric name, labels, increment]. */
export interface CountsMessage {
  readonly t: 'counts'
  readonly c: Array<[string, Record<string, string>, number]>
}

export type FromChecker = VerdictsMessage | ReadyMessage | CountsMessage

export function toWire(id: number, v: TextVerdict): WireVerdict {
  return v.suggest === 'unavailable' ? [id, v.suggest] : [id, v.suggest, v.label]
}

export function fromWire(w: WireVerdict): TextVerdict {
  return w[1] === 'unavailable' ? { suggest: 'unavailable' } : { suggest: w[1], label: w[2] ?? 0 }
}
