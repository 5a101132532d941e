/**
 * Client frame decoding with fast paths for the frames sent most, a text `send` and `recv` (one per
 * message received), and those of every reconnect, `sync` (a cursor per conversation) and `convs`:
 * checked by hand
 * against exactly what its schema (shared/src/schemas.ts, SendFrame) requires, and producing the
 * same object (known keys only, in schema order). Anything else, or any text send the fast path does
 * not accept, goes through `decodeClientFrame`, so every error is the shared codec's own
 * (test/decode.test.ts compares both on valid and broken frames).
 */
import { LIMITS, decodeClientFrame, schemas } from '@chat/shared'
import type { ClientFrame, ClientFrameOf } from '@chat/shared'

const ID_RE = /^[A-Za-z0-9_-]+$/
const CONV_RE = /^(d:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+|g:[A-Za-z0-9_-]+)$/
const CID_MIN = 8
const CONV_MIN = 3
const CONV_MAX = 2 * LIMITS.maxIdChars + 3

export function decodeFrame(text: string): ClientFrame {
  if (text.startsWith('{"type":"send"')) {
    const frame = textSend(text)
    if (frame) return frame
  } else if (text.startsWith('{"type":"recv"')) {
    const frame = recv(text)
    if (frame) return frame
  } else if (text.startsWith('{"type":"sync"')) {
    const frame = sync(text)
    if (frame) return frame
  } else if (text.startsWith('{"type":"convs"')) {
    const frame = convs(text)
    if (frame) return frame
  }
  return decodeClientFrame(text)
}

/** `[{conv, seq}]` as the schema's cursor list (at most maxSyncConversations), or undefined. */
function cursorList(list: unknown): Array<{ conv: string; seq: number }> | undefined {
  if (!Array.isArray(list) || list.length > LIMITS.maxSyncConversations) return undefined
  const out = new Array<{ conv: string; seq: number }>(list.length)
  for (let i = 0; i < list.length; i++) {
    const a: unknown = list[i]
    if (typeof a !== 'object' || a === null) return undefined
    const { conv, seq } = a as { conv?: unknown; seq?: unknown }
    if (typeof conv !== 'string' || conv.length < CONV_MIN || conv.length > CONV_MAX || !CONV_RE.test(conv)) return undefined
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > LIMITS.maxSeq) return undefined
    out[i] = { conv, seq }
  }
  return out
}

const validRid = (rid: unknown): rid is string => typeof rid === 'string' && rid.length >= 1 && rid.length <= LIMITS.maxIdChars

/** The frame if `text` is a valid `sync`, otherwise undefined (the full decoder says why). */
function sync(text: string): ClientFrameOf<'sync'> | undefined {
  let raw: { type?: unknown; rid?: unknown; cursors?: unknown }
  try {
    raw = JSON.parse(text) as typeof raw
  } catch {
    return undefined
  }
  if (raw.type !== 'sync' || !validRid(raw.rid)) return undefined
  const cursors = cursorList(raw.cursors)
  return cursors && { type: 'sync', rid: raw.rid, cursors }
}

/** The frame if `text` is a valid `convs`, otherwise undefined (the full decoder says why). */
function convs(text: string): ClientFrameOf<'convs'> | undefined {
  let raw: { type?: unknown; rid?: unknown; tag?: unknown }
  try {
    raw = JSON.parse(text) as typeof raw
  } catch {
    return undefined
  }
  if (raw.type !== 'convs' || !validRid(raw.rid)) return undefined
  if (raw.tag === undefined) return { type: 'convs', rid: raw.rid }
  return typeof raw.tag === 'string' && schemas.LIST_TAG_RE.test(raw.tag) ? { type: 'convs', rid: raw.rid, tag: raw.tag } : undefined
}

/** The frame if `text` is a valid `recv`, otherwise undefined (the full decoder says why). */
function recv(text: string): ClientFrameOf<'recv'> | undefined {
  let raw: { type?: unknown; acks?: unknown; q?: unknown }
  try {
    // An object: the caller saw `{"type":"recv"` at the start.
    raw = JSON.parse(text) as typeof raw
  } catch {
    return undefined
  }
  const { type, acks, q } = raw
  if (type !== 'recv') return undefined
  const out = cursorList(acks)
  if (!out) return undefined
  if ('q' in raw) {
    if (typeof q !== 'string' || q.length > 64) return undefined
    return { type: 'recv', acks: out, q }
  }
  return { type: 'recv', acks: out }
}

/** The frame if `text` is a valid text `send`, otherwise undefined (the full decoder says why). */
function textSend(text: string): ClientFrameOf<'send'> | undefined {
  let raw: { type?: unknown; cid?: unknown; conv?: unknown; kind?: unknown; body?: unknown }
  try {
    // An object: the caller saw `{"type":"send"` at the start.
    raw = JSON.parse(text) as typeof raw
  } catch {
    return undefined
  }
  const { type, cid, conv, kind, body } = raw
  if (type !== 'send' || kind !== 'text') return undefined
  if (typeof cid !== 'string' || cid.length < CID_MIN || cid.length > LIMITS.maxIdChars || !ID_RE.test(cid)) return undefined
  if (typeof conv !== 'string' || conv.length < CONV_MIN || conv.length > CONV_MAX || !CONV_RE.test(conv)) return undefined
  if (typeof body !== 'object' || body === null) return undefined
  const t = (body as { text?: unknown }).text
  if (typeof t !== 'string' || t.length < 1 || t.length > LIMITS.maxTextChars) return undefined
  // A quote or mentions: the full decoder checks them (this path would drop them).
  if ('reply' in body || 'mentions' in body || 'mentionAll' in body) return undefined
  // Exactly the schema's keys in its order (what the client sends): the parsed object is the frame.
  if (exactKeys(raw, SEND_KEYS) && exactKeys(body, TEXT_KEYS)) return raw as ClientFrameOf<'send'>
  return { type: 'send', cid, conv, kind: 'text', body: { text: t } }
}

const SEND_KEYS = ['type', 'cid', 'conv', 'kind', 'body'] as const
const TEXT_KEYS = ['text'] as const

/**
 * Whether `o` has exactly `keys` as its enumerable own keys, in that order (for..in visits a
 * parsed object's keys in insertion order; a parsed `__proto__` is an own key, so it fails here).
 */
function exactKeys(o: object, keys: readonly string[]): boolean {
  let i = 0
  for (const k in o) if (k !== keys[i++]) return false
  return i === keys.length
}
