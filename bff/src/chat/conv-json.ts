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
  let out = `{"type":"convs","rid":${JSON.stringify(rid)},"items":[`
  for (let i = 0; i < items.length; i++) out += (i === 0 ? '' : ',') + encodeConv(items[i]!)
  return `${out}]}`
}

/**
 * Every field of a conversation, each written by `encodeConv`: a field added to the schema and not
 * here is a compile error (the object must name every key), one here and not in the schema too.
 */
const CONV_FIELDS = {
  id: true,
  kind: true,
  title: true,
  members: true,
  createdAt: true,
  lastSeq: true,
  lastMsg: true,
  readSeq: true,
  unread: true,
  peerRead: true,
  owner: true,
  admins: true,
  joinedSeq: true,
  muted: true,
  pinned: true,
  mentionSeq: true,
} as const satisfies { readonly [K in keyof Required<Conversation>]: true }
void CONV_FIELDS

/**
 * One conversation of a `convs` frame, the fields in the schema's order (JSON.stringify would
 * give the object's own: the same JSON to a parser). Written by hand rather than by JSON.stringify
 * (issue 15, a storm's CPU profile): the member profiles are the same objects in every list
 * (ChatService's profile cache) and their JSON is kept on them (`userJson`), the last message
 * held as text is spliced in without the slice and copy of the whole object's JSON it took.
 * `test/conv-json.test.ts` compares it with JSON.stringify.
 */
export function encodeConv(c: Conversation): string {
  let s = `{"id":${JSON.stringify(c.id)},"kind":${JSON.stringify(c.kind)}`
  if (c.title !== undefined) s += `,"title":${JSON.stringify(c.title)}`
  s += ',"members":['
  const members = c.members
  for (let i = 0; i < members.length; i++) s += (i === 0 ? '' : ',') + userJson(members[i]!)
  s += `],"createdAt":${num(c.createdAt)},"lastSeq":${num(c.lastSeq)}`
  const held = raw.get(c)
  if (held !== undefined) s += `,"lastMsg":${held.json}`
  else if (c.lastMsg !== undefined) s += `,"lastMsg":${JSON.stringify(c.lastMsg)}`
  s += `,"readSeq":${num(c.readSeq)},"unread":${num(c.unread)}`
  if (c.peerRead !== undefined) s += `,"peerRead":${num(c.peerRead)}`
  if (c.owner !== undefined) s += `,"owner":${JSON.stringify(c.owner)}`
  if (c.admins !== undefined) s += `,"admins":${JSON.stringify(c.admins)}`
  if (c.joinedSeq !== undefined) s += `,"joinedSeq":${num(c.joinedSeq)}`
  if (c.muted !== undefined) s += `,"muted":${c.muted ? 'true' : 'false'}`
  if (c.pinned !== undefined) s += `,"pinned":${num(c.pinned)}`
  if (c.mentionSeq !== undefined) s += `,"mentionSeq":${num(c.mentionSeq)}`
  return `${s}}`
}

/** A number as JSON.stringify writes it (NaN and the infinities as null). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}

/**
 * A member profile's JSON, kept on the profile object under a symbol (JSON.stringify leaves it
 * out): the profile cache hands the same object to every list for its TTL, so each is encoded
 * once, not once per conversation per reconnect. A profile object is never changed in place (a
 * renamed user is a new object), so the kept JSON cannot go stale.
 */
const JSON_OF = Symbol('json')
type WithJson = Conversation['members'][number] & { [JSON_OF]?: string }

function userJson(u: Conversation['members'][number]): string {
  const w = u as WithJson
  let json = w[JSON_OF]
  if (json === undefined) {
    json = JSON.stringify(u)
    // A frozen object cannot hold it: encoded each time.
    if (Object.isExtensible(u)) w[JSON_OF] = json
  }
  return json
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
