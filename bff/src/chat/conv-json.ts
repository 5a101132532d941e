/**
 * A conversation list (`convs`) with the last messages as stored JSON (issue 15). A reconnect's
 * `convs` parsed each conversation's last message from the user's summary and encoded it again
 * (the largest items of a storm's CPU profile after the presence work): here a listed
 * conversation can carry its last message as the stored text, spliced into the frame as it is.
 * Code that needs the message itself asks `lastMessage` (parsed once, then held as `lastMsg`).
 */
import type { Conversation, Message } from '@chat/shared'

/** A last message held as text, with its seq and ts read once (a list sorts by ts). */
interface RawLast {
  readonly json: string
  readonly seq: number
  readonly ts: number
}

/**
 * Held on the conversation under a symbol: JSON.stringify leaves symbol keys out, and a WeakMap of
 * a storm's 40,000 listed conversations kept its grown table (about 1 KB of heap per connected user).
 */
const RAW = Symbol('rawLast')
type WithRaw = Conversation & { [RAW]?: RawLast | undefined }

const raw = {
  get: (c: Conversation): RawLast | undefined => (c as WithRaw)[RAW],
  set: (c: Conversation, r: RawLast): void => void ((c as WithRaw)[RAW] = r),
  delete: (c: Conversation): void => void ((c as WithRaw)[RAW] = undefined),
}

/** `c`'s last message is stored JSON `json` (c.lastMsg stays unset until someone needs it). */
export function setRawLast(c: Conversation, json: string): void {
  const place = peekPlace(json)
  // Not in the stored format (never expected): parsed at once.
  if (place) raw.set(c, { json, seq: place.seq, ts: place.ts })
  else c.lastMsg = JSON.parse(json) as Message
}

/** The stored JSON of `c`'s last message when it is still held as text. */
export function rawLast(c: Conversation): string | undefined {
  return raw.get(c)?.json
}

/** seq and ts of `c`'s last message, without parsing it (the stored format is ours: store/message-json.ts). */
export function lastPlace(c: Conversation): { readonly seq: number; readonly ts: number } | undefined {
  return c.lastMsg ?? raw.get(c)
}

/** `c`'s last message as an object (parsed from the stored JSON once). */
export function lastMessage(c: Conversation): Message | undefined {
  if (c.lastMsg) return c.lastMsg
  const held = raw.get(c)
  if (held === undefined) return undefined
  raw.delete(c)
  c.lastMsg = JSON.parse(held.json) as Message
  return c.lastMsg
}

/** Replace `c`'s last message (a hidden one's tombstone). */
export function replaceLast(c: Conversation, m: Message): void {
  raw.delete(c)
  c.lastMsg = m
}

/** The `convs` frame: each conversation encoded once, a last message held as text spliced in unparsed. */
export function encodeConvs(rid: string, items: readonly Conversation[]): string {
  const parts = items.map((c) => {
    const held = raw.get(c)
    const s = JSON.stringify(c)
    return held === undefined ? s : `${s.slice(0, -1)},"lastMsg":${held.json}}`
  })
  return `{"type":"convs","rid":${JSON.stringify(rid)},"items":[${parts.join(',')}]}`
}

/** seq and ts of stored message JSON (`{"mid":..,"cid":..,"conv":..,"seq":N,"from":..,"ts":N,...`). */
export function peekPlace(json: string): { seq: number; ts: number } | undefined {
  const s = json.indexOf(',"seq":')
  const t = json.indexOf(',"ts":', s)
  if (s < 0 || t < 0) return undefined
  const seq = parseInt(json.slice(s + 7, s + 27), 10)
  const ts = parseInt(json.slice(t + 6, t + 26), 10)
  return Number.isSafeInteger(seq) && Number.isSafeInteger(ts) ? { seq, ts } : undefined
}

/** Whether stored message JSON is a text message (its first `kind` is the message's: body comes after it). */
export function isTextJson(json: string): boolean {
  const k = json.indexOf(',"kind":"')
  return k >= 0 && json.startsWith('text"', k + 9)
}
