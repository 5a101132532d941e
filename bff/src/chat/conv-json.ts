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

/**
 * The `convs` frame's JSON as one Buffer (Connection writes a Buffer as it is): each conversation
 * written straight into bytes, a last message held as text spliced in unparsed. Building it as a
 * string cost a reconnect two copies and a heap of pieces (issue 15, a storm's allocation profile:
 * the pieces of `encodeConv`'s concatenations were 9% of the bytes allocated, and the finished
 * string was flattened and encoded to UTF-8 once more to be framed); here the bytes are written
 * once into a buffer kept by the process and copied out whole.
 */
export function encodeConvs(rid: string, items: readonly Conversation[], tag?: string): Buffer {
  const w = writer()
  w.ascii('{"type":"convs","rid":')
  w.jsonString(rid)
  w.ascii(',"items":[')
  for (let i = 0; i < items.length; i++) {
    if (i > 0) w.byte(COMMA)
    encodeConv(w, items[i]!)
  }
  w.byte(CLOSE_BRACKET)
  if (tag !== undefined) {
    // A list tag is [0-9a-z] (chat/list-tag.ts): no escaping.
    w.ascii(',"tag":"')
    w.ascii(tag)
    w.byte(QUOTE)
  }
  w.byte(CLOSE_BRACE)
  return w.done()
}

/** The answer to a `convs` whose tag still holds: no list (the client keeps the one it has). */
export function encodeSameConvs(rid: string, tag: string): string {
  return `{"type":"convs","rid":${JSON.stringify(rid)},"items":[],"tag":"${tag}","same":true}`
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
  memberCount: true,
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
function encodeConv(w: Writer, c: Conversation): void {
  w.ascii('{"id":')
  w.jsonString(c.id)
  w.ascii(',"kind":')
  w.jsonString(c.kind)
  if (c.title !== undefined) {
    w.ascii(',"title":')
    w.jsonString(c.title)
  }
  w.ascii(',"members":[')
  const members = c.members
  for (let i = 0; i < members.length; i++) {
    if (i > 0) w.byte(COMMA)
    w.text(userJson(members[i]!))
  }
  w.byte(CLOSE_BRACKET)
  if (c.memberCount !== undefined) {
    w.ascii(',"memberCount":')
    w.num(c.memberCount)
  }
  w.ascii(',"createdAt":')
  w.num(c.createdAt)
  w.ascii(',"lastSeq":')
  w.num(c.lastSeq)
  const held = raw.get(c)
  if (held !== undefined) {
    w.ascii(',"lastMsg":')
    w.text(held.json)
  } else if (c.lastMsg !== undefined) {
    w.ascii(',"lastMsg":')
    w.text(JSON.stringify(c.lastMsg))
  }
  w.ascii(',"readSeq":')
  w.num(c.readSeq)
  w.ascii(',"unread":')
  w.num(c.unread)
  if (c.peerRead !== undefined) {
    w.ascii(',"peerRead":')
    w.num(c.peerRead)
  }
  if (c.owner !== undefined) {
    w.ascii(',"owner":')
    w.jsonString(c.owner)
  }
  if (c.admins !== undefined) {
    w.ascii(',"admins":')
    w.text(JSON.stringify(c.admins))
  }
  if (c.joinedSeq !== undefined) {
    w.ascii(',"joinedSeq":')
    w.num(c.joinedSeq)
  }
  if (c.muted !== undefined) w.ascii(c.muted ? ',"muted":true' : ',"muted":false')
  if (c.pinned !== undefined) {
    w.ascii(',"pinned":')
    w.num(c.pinned)
  }
  if (c.mentionSeq !== undefined) {
    w.ascii(',"mentionSeq":')
    w.num(c.mentionSeq)
  }
  w.byte(CLOSE_BRACE)
}

const COMMA = 0x2c
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22

/** The buffer frames are written into, kept from one frame to the next (frames are copied out of it). */
const SCRATCH_BYTES = 16 * 1024
/** A buffer grown past this for one large list is not kept: the process holds at most this much for it. */
const SCRATCH_KEEP_MAX = 256 * 1024
/** Strings up to this length are copied by a loop here, longer ones by one Buffer#write (a call into C++ costs about as much as copying this many characters). */
const LOOP_CHARS_MAX = 64

let scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES)

/**
 * Bytes of one frame written at the end of the kept buffer, grown when a piece would not fit.
 * Synchronous from `writer()` to `done()`, so one buffer serves every frame of the process.
 */
class Writer {
  buf = scratch
  at = 0

  /** Room for `n` more bytes. */
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n))
    this.buf.copy(grown, 0, 0, this.at)
    this.buf = grown
  }

  byte(b: number): void {
    this.room(1)
    this.buf[this.at++] = b
  }

  /** `s`, known to be ASCII (the frame's own keys and literals). */
  ascii(s: string): void {
    this.room(s.length)
    const buf = this.buf
    let at = this.at
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i)
    this.at = at
  }

  /** `s` in UTF-8 (JSON already: a profile's, a stored message's). */
  text(s: string): void {
    // A UTF-16 unit never takes more than 3 bytes in UTF-8 (a surrogate pair: 4 bytes for 2).
    this.room(s.length * 3)
    if (s.length > LOOP_CHARS_MAX || !this.asciiLoop(s)) this.at += this.buf.write(s, this.at, 'utf8')
  }

  /** `s` as a JSON string, as JSON.stringify writes it. */
  jsonString(s: string): void {
    this.room(s.length + 2)
    const start = this.at
    this.buf[this.at++] = QUOTE
    if (s.length <= LOOP_CHARS_MAX && this.plainLoop(s)) {
      this.buf[this.at++] = QUOTE
      return
    }
    this.at = start
    this.text(JSON.stringify(s))
  }

  /** A number as JSON.stringify writes it (NaN and the infinities as null). */
  num(n: number): void {
    if (Number.isSafeInteger(n) && n >= 0) return this.digits(n)
    this.ascii(Number.isFinite(n) ? String(n) : 'null')
  }

  /** The frame: its bytes copied out of the kept buffer. */
  done(): Buffer {
    const out = Buffer.allocUnsafe(this.at)
    this.buf.copy(out, 0, 0, this.at)
    // Kept for the next frame if it grew within bounds; a list past them leaves the old one kept.
    if (this.buf !== scratch && this.buf.length <= SCRATCH_KEEP_MAX) scratch = this.buf
    return out
  }

  /** Copy `s` if it is all ASCII (true), else write nothing (false). Room made by the caller. */
  private asciiLoop(s: string): boolean {
    const buf = this.buf
    const at = this.at
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i)
      if (ch > 0x7f) return false
      buf[at + i] = ch
    }
    this.at = at + s.length
    return true
  }

  /** `asciiLoop` for a string JSON writes as it is: printable ASCII without `"` or `\\`. */
  private plainLoop(s: string): boolean {
    const buf = this.buf
    const at = this.at
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i)
      if (ch < 0x20 || ch > 0x7e || ch === QUOTE || ch === 0x5c) return false
      buf[at + i] = ch
    }
    this.at = at + s.length
    return true
  }

  /** A non-negative safe integer's decimal digits, without a string for them. */
  private digits(n: number): void {
    let count = 1
    for (let m = n; m >= 10; m = Math.floor(m / 10)) count++
    this.room(count)
    const buf = this.buf
    for (let i = this.at + count - 1; i >= this.at; i--) {
      buf[i] = 48 + (n % 10)
      n = Math.floor(n / 10)
    }
    this.at += count
  }
}

/** One writer for the process, started afresh for each frame. */
const shared = new Writer()

function writer(): Writer {
  shared.buf = scratch
  shared.at = 0
  return shared
}

/**
 * A member profile's JSON, kept on the profile object under a symbol (JSON.stringify leaves it
 * out): the profile cache hands the same object to every list for its TTL, so each is encoded
 * once, not once per conversation per reconnect. A profile object is never changed in place (a
 * renamed user is a new object), so the kept JSON cannot go stale.
 */
const JSON_OF = Symbol('json')
type WithJson = Conversation['members'][number] & { [JSON_OF]?: string }

export function userJson(u: Conversation['members'][number]): string {
  const w = u as WithJson
  let json = w[JSON_OF]
  if (json === undefined) {
    json = JSON.stringify(u)
    // A frozen object cannot hold it: encoded each time. Not enumerable: a copy made with a
    // spread (`{ ...profile, name }`) does not take the JSON of the profile it was made from.
    if (Object.isExtensible(u)) Object.defineProperty(w, JSON_OF, { value: json })
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
