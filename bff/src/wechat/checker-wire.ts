/**
 * The messages between the BFF and its checker process (checker-client.ts, ../checker.ts), over
 * the IPC channel of `fork` (JSON, one line a message). One message carries every text of one
 * event-loop turn, and one answers every verdict the checker reached in one of its turns: the
 * chat's loop pays one serialisation and one write per turn, not per text.
 */
import type { TextVerdict } from './security'

/**
 * Characters of text one `checks` message carries at most: the texts of a turn beyond it go in
 * the next message. A single text longer than this goes alone (texts are bounded by the chat's
 * own limit on a frame), so a message is at most this or one text.
 */
export const CHECKER_FRAME_MAX_CHARS = 1_000_000

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
