// Over 400 lines on purpose: the client state and every pure update on it in one module, so each change of state is found in one place.
/**
 * The client's state: a zustand vanilla store, changed only through the pure updates below, each
 * `(state, ...) => state` and applied with `store.setState((s) => update(s, ...))`. An update
 * returns the same object when nothing changed, and zustand then notifies no one. Every message enters through `mergeMessages` (shared/src/merge.ts): dedup by
 * (from, cid), mid and seq; confirmed in seq order, own pending ones after them.
 */
import { createStore, type StoreApi } from 'zustand/vanilla'
import {
  mergeMessages,
  type Conversation,
  type ConvId,
  type Message,
  type Presence,
  type ServerFrameOf,
  type User,
  type UserId,
} from '@chat/shared'
import type { ChatMessage, ChatState, FailedPlace, OlderState, PeerMarks, UploadProgress } from './types'
import { failedForGood } from './selectors'
import { applyGroupChanges, keepEnded, stillEnded, unlistedGroups } from './groups'
import type { ConnectionStatus } from '../net/connection'
import { markMentions } from './reply'

export type ChatStore = StoreApi<ChatState>

export const initialState: ChatState = {
  conn: { state: 'disconnected', reason: 'stopped', attempt: 0 },
  convs: {},
  convsLoaded: false,
  messages: {},
  older: {},
  peers: {},
  typing: {},
  presence: {},
  users: {},
  drafts: {},
}

export function createChatStore(initial: Partial<ChatState> = {}): ChatStore {
  return createStore<ChatState>()(() => ({ ...initialState, ...initial }))
}

// ------------------------------------------------------------------------------------------ pure updates

export function setMe(s: ChatState, me: User | undefined): ChatState {
  if (s.me === me || (me && s.me && s.me.id === me.id && s.me.name === me.name && s.me.avatar === me.avatar)) return s
  return { ...s, me, users: me ? withUsers(s.users, [me]) : s.users }
}

export function setConn(s: ChatState, conn: ConnectionStatus): ChatState {
  return s.conn === conn ? s : { ...s, conn }
}

/** Most messages kept per conversation (oldest confirmed dropped first). */
function capped(list: readonly ChatMessage[], max: number): readonly ChatMessage[] {
  return list.length <= max ? list : list.slice(list.length - max)
}

/**
 * Messages from the server (push, sync batch, history page). Updates the conversation's last message
 * and, for new messages from others after the read mark, its unread count. Duplicates change nothing.
 */
export function mergeServerMessages(
  s: ChatState,
  conv: ConvId,
  msgs: readonly Message[],
  maxInMemory: number,
): ChatState {
  if (msgs.length === 0) return s
  // A new group change changes the summary (members, title, roles, our own membership) at once.
  s = applyGroupChanges(s, conv, msgs)
  const current = s.messages[conv] ?? EMPTY
  const merged = applyRecalls(mergeMessages<ChatMessage>(current, msgs), msgs)
  if (merged === current) return s
  let next: ChatState = { ...s, messages: { ...s.messages, [conv]: capped(merged, maxInMemory) } }
  const c = s.convs[conv]
  if (c) {
    let { lastSeq, unread } = c
    let lastMsg = c.lastMsg
    for (const m of msgs) {
      if (m.seq <= lastSeq) continue
      lastSeq = m.seq
      lastMsg = m
      if (m.from !== s.me?.id && m.seq > c.readSeq && countsAsUnread(m)) unread++
    }
    if (lastSeq !== c.lastSeq) next = { ...next, convs: { ...next.convs, [conv]: { ...c, lastSeq, lastMsg, unread } } }
  }
  // "[@you]": unread messages held here that mention this user (reply.ts).
  next = markMentions(next, conv, msgs)
  return next
}

/**
 * A `recall` event is nothing to read (the message it names shows the notice): never unread, as
 * on the server (ChatService.list).
 */
function countsAsUnread(m: { readonly kind: ChatMessage['kind'] }): boolean {
  return m.kind !== 'recall'
}

/**
 * The `recall` events among `msgs` turn the messages they name into `recalled` tombstones (kept at
 * their place: the row shows the notice where the message was). Only the named rows get new
 * objects: every other row keeps its identity, so the list re-renders those rows alone. A row not
 * held yet comes as a tombstone from the server when it is paged in.
 */
export function applyRecalls(list: readonly ChatMessage[], msgs: readonly Message[]): readonly ChatMessage[] {
  let out: ChatMessage[] | undefined
  for (const e of msgs) {
    if (e.kind !== 'recall') continue
    const held = out ?? list
    const i = indexOfSeq(held, e.body.seq)
    if (i < 0 || held[i]!.kind === 'recalled') continue
    const m = held[i]!
    out ??= [...list]
    out[i] = { cid: m.cid, from: m.from, conv: m.conv, ts: m.ts, ...(m.seq !== undefined ? { seq: m.seq } : {}), ...(m.mid !== undefined ? { mid: m.mid } : {}), kind: 'recalled', body: { by: e.body.by, at: e.body.at } }
  }
  return out ?? list
}

/** Index of the confirmed message `seq` in a list ascending by seq (pending ones last), or -1. */
function indexOfSeq(list: readonly ChatMessage[], seq: number): number {
  let lo = 0
  let hi = list.length - 1
  while (hi >= 0 && list[hi]!.seq === undefined) hi--
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = list[mid]!.seq!
    if (s === seq) return mid
    if (s < seq) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** Our own message, shown at once as pending. */
export function addPending(s: ChatState, msg: ChatMessage): ChatState {
  const current = s.messages[msg.conv] ?? EMPTY
  const merged = mergeMessages(current, [msg])
  return merged === current ? s : { ...s, messages: { ...s.messages, [msg.conv]: merged } }
}

/** Change a pending message of ours (status, upload progress, body once uploaded). */
export function patchPending(
  s: ChatState,
  conv: ConvId,
  cid: string,
  patch: (m: ChatMessage) => ChatMessage,
): ChatState {
  const list = s.messages[conv]
  if (!list) return s
  const i = findPending(list, cid)
  if (i < 0) return s
  const m = list[i]!
  let changed = patch(m)
  if (changed === m) return s
  // Failing for good: the message keeps the place it has now (selectors.inPlace), below what was
  // confirmed and below its own messages still under way before it, while newer ones arrive below.
  if (failedForGood(changed) && !failedForGood(m)) changed = { ...changed, failedPlace: placeOf(list, i) }
  const copy = list.slice()
  copy[i] = changed
  return { ...s, messages: { ...s.messages, [conv]: copy } }
}

/** The place of the pending message at `i`: after the last confirmed seq and the pending ones before it (at most FAILED_BEHIND_MAX). */
function placeOf(list: readonly ChatMessage[], i: number): FailedPlace {
  let first = i
  while (first > 0 && list[first - 1]!.seq === undefined) first--
  const behind: string[] = []
  for (let j = Math.max(first, i - FAILED_BEHIND_MAX); j < i; j++) behind.push(list[j]!.cid)
  return { after: first > 0 ? list[first - 1]!.seq! : 0, behind }
}

/** Most own messages before a failed one that its place remembers. */
const FAILED_BEHIND_MAX = 20

export function removePending(s: ChatState, conv: ConvId, cid: string): ChatState {
  const list = s.messages[conv]
  if (!list) return s
  const i = findPending(list, cid)
  if (i < 0) return s
  return { ...s, messages: { ...s.messages, [conv]: list.slice(0, i).concat(list.slice(i + 1)) } }
}

/** The server stored our message: it becomes confirmed (moves into seq order) with the ack's ids. */
export function confirmPending(s: ChatState, ack: ServerFrameOf<'ack'>, maxInMemory: number): ChatState {
  const list = s.messages[ack.conv]
  if (!list) return s
  const i = findPending(list, ack.cid)
  if (i < 0) return s
  const p = list[i]!
  const confirmed: ChatMessage = {
    cid: p.cid,
    from: p.from,
    conv: p.conv,
    kind: p.kind,
    body: p.body,
    ts: ack.ts,
    seq: ack.seq,
    mid: ack.mid,
    ...(p.upload ? { upload: p.upload } : {}),
  }
  // A stale message held at the acked seq (a server that lost its data numbers again) gives way to
  // this one in mergeMessages: ours must not vanish from view although the server stored it.
  let next = mergeServerMessages(s, ack.conv, [confirmed as Message], maxInMemory)
  // Own messages are never unread; mergeServerMessages already skips them (from === me).
  if (next === s) next = removePending(s, ack.conv, ack.cid)
  return next
}

function findPending(list: readonly ChatMessage[], cid: string): number {
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i]!
    if (m.seq !== undefined) return -1 // pending ones are all at the end
    if (m.cid === cid) return i
  }
  return -1
}

export function setUploadProgress(
  s: ChatState,
  conv: ConvId,
  cid: string,
  upload: UploadProgress,
): ChatState {
  return patchPending(s, conv, cid, (m) => ({ ...m, upload }))
}

/**
 * The server's conversation list replaces ours (it is authoritative for read marks and unread).
 * `tag`: the list's tag, to send back with the next `convs`; `same`: the server's answer that the
 * list we hold (with what we applied since) is still its list: ours stays as it is.
 */
export function setConvs(s: ChatState, items: readonly Conversation[], tag?: string, same?: boolean): ChatState {
  if (same) return s.convsLoaded && s.convsError === undefined && s.convsTag === tag ? s : { ...s, convsLoaded: true, convsError: undefined, convsTag: tag }
  const convs: Record<ConvId, Conversation> = {}
  for (const c of items) convs[c.id] = keepNewerLast(s.convs[c.id], c)
  return {
    ...s,
    // A group we are no longer in stays (its timeline up to the end, and why): the list omits it.
    convs: keepEnded(s, convs),
    ended: stillEnded(s.ended, items),
    unlisted: unlistedGroups(s, convs),
    peers: withPeerReads(s.peers, items),
    convsLoaded: true,
    convsError: undefined,
    convsTag: tag,
    users: withUsers(s.users, items.flatMap((c) => c.members)),
  }
}

/**
 * The other member's read mark from the server's conversation summary (`peerRead`, 1:1 only): a new
 * device or login has missed the receipts, so the marks come with the list. Marks never go back.
 */
function withPeerReads(peers: ChatState['peers'], items: readonly Conversation[]): ChatState['peers'] {
  let out: Record<ConvId, PeerMarks> | undefined
  for (const c of items) {
    if (c.peerRead === undefined) continue
    const prev = (out ?? peers)[c.id] ?? { delivered: 0, read: 0 }
    if (c.peerRead <= prev.read) continue
    out ??= { ...peers }
    // Reading implies holding.
    out[c.id] = { delivered: Math.max(prev.delivered, c.peerRead), read: c.peerRead }
  }
  return out ?? peers
}

export function setConvsError(s: ChatState, error: string): ChatState {
  return s.convsError === error ? s : { ...s, convsError: error }
}

export function upsertConv(s: ChatState, c: Conversation): ChatState {
  return {
    ...s,
    convs: { ...s.convs, [c.id]: keepNewerLast(s.convs[c.id], c) },
    ended: stillEnded(s.ended, [c]),
    peers: withPeerReads(s.peers, [c]),
    users: withUsers(s.users, c.members),
  }
}

/**
 * Keep only our pending messages in conversations the server does not list for us (it lost its
 * data, or we are no longer a member): their confirmed messages are not on that server.
 */
export function dropUnlisted(s: ChatState, listed: ReadonlySet<ConvId>): ChatState {
  let messages: Record<ConvId, readonly ChatMessage[]> | undefined
  for (const [conv, list] of Object.entries(s.messages)) {
    if (listed.has(conv) || s.ended?.[conv]) continue
    const pending = list.filter((m) => m.seq === undefined)
    if (pending.length === list.length) continue
    messages ??= { ...s.messages }
    if (pending.length > 0) messages[conv] = pending
    else delete messages[conv]
  }
  return messages ? { ...s, messages } : s
}

/** A conversation summary may be older than messages we already merged: keep the newer last message. */
function keepNewerLast(mine: Conversation | undefined, theirs: Conversation): Conversation {
  theirs = keepMentionMark(mine, theirs)
  if (!mine || mine.lastSeq <= theirs.lastSeq) return theirs
  return { ...theirs, lastSeq: mine.lastSeq, lastMsg: mine.lastMsg }
}

/** A mention seen here (a push) that a summary computed before it does not hold yet is kept. */
function keepMentionMark(mine: Conversation | undefined, theirs: Conversation): Conversation {
  const held = mine?.mentionSeq ?? 0
  return held > (theirs.mentionSeq ?? 0) && held > theirs.readSeq ? { ...theirs, mentionSeq: held } : theirs
}

export function setUsers(s: ChatState, users: readonly User[]): ChatState {
  const next = withUsers(s.users, users)
  return next === s.users ? s : { ...s, users: next }
}

function withUsers(map: Readonly<Record<UserId, User>>, users: readonly User[]): Readonly<Record<UserId, User>> {
  let out: Record<UserId, User> | undefined
  for (const u of users) {
    const known = (out ?? map)[u.id]
    if (known && known.name === u.name && known.avatar === u.avatar) continue
    out ??= { ...map }
    out[u.id] = u
  }
  return out ?? map
}

/** A receipt from another member: their device holds, or they read, up to `seq`. Marks never go back. */
export function applyReceipt(s: ChatState, r: ServerFrameOf<'receipt'>): ChatState {
  if (r.user === s.me?.id) {
    // Our other device read the conversation: it is read here too.
    return r.kind === 'read' ? markReadLocal(s, r.conv, r.seq) : s
  }
  const prev = s.peers[r.conv] ?? { delivered: 0, read: 0 }
  const delivered = Math.max(prev.delivered, r.seq)
  const read = r.kind === 'read' ? Math.max(prev.read, r.seq) : prev.read
  if (delivered === prev.delivered && read === prev.read) return s
  // Reading implies holding.
  return { ...s, peers: { ...s.peers, [r.conv]: { delivered: Math.max(delivered, read), read } } }
}

/** We read `conv` up to `seq`: clear its unread count. */
export function markReadLocal(s: ChatState, conv: ConvId, seq: number): ChatState {
  const c = s.convs[conv]
  if (!c || (c.readSeq >= seq && c.unread === 0)) return s
  const readSeq = Math.max(c.readSeq, seq)
  // Read part of the way: what was unread less the others' messages now read.
  let unread = 0
  if (readSeq < c.lastSeq) {
    let nowRead = 0
    for (const m of s.messages[conv] ?? []) {
      if (m.seq !== undefined && m.seq > c.readSeq && m.seq <= readSeq && m.from !== s.me?.id && countsAsUnread(m)) nowRead++
    }
    unread = Math.max(0, c.unread - nowRead)
  }
  return { ...s, convs: { ...s.convs, [conv]: { ...c, readSeq, unread } } }
}

export function setTyping(s: ChatState, conv: ConvId, user: UserId, until: number): ChatState {
  const cur = s.typing[conv] ?? {}
  if (cur[user] === until) return s
  return { ...s, typing: { ...s.typing, [conv]: { ...cur, [user]: until } } }
}

/** Drop typing marks that ended by `now`, and the mark of a user whose message just arrived. */
export function expireTyping(s: ChatState, now: number, conv?: ConvId, user?: UserId): ChatState {
  let typing: Record<ConvId, Record<UserId, number>> | undefined
  for (const [c, users] of Object.entries(s.typing)) {
    for (const [u, until] of Object.entries(users)) {
      if (until > now && !(c === conv && u === user)) continue
      typing ??= { ...s.typing }
      const copy = { ...(typing[c] ?? users) }
      delete copy[u]
      if (Object.keys(copy).length === 0) delete typing[c]
      else typing[c] = copy
    }
  }
  return typing ? { ...s, typing } : s
}

export function setPresence(s: ChatState, p: Presence): ChatState {
  return setPresences(s, [p])
}

/** Several users' presence (the `presences` frame after `welcome`): one new state, or `s` itself when nothing changed. */
export function setPresences(s: ChatState, items: readonly Presence[]): ChatState {
  let presence: Record<UserId, Presence> | undefined
  for (const p of items) {
    const prev = (presence ?? s.presence)[p.user]
    if (prev && prev.online === p.online && prev.lastSeen === p.lastSeen) continue
    presence ??= { ...s.presence }
    presence[p.user] = { user: p.user, online: p.online, lastSeen: p.lastSeen }
  }
  return presence ? { ...s, presence } : s
}

export function setOlder(s: ChatState, conv: ConvId, state: OlderState): ChatState {
  return (s.older[conv] ?? 'idle') === state ? s : { ...s, older: { ...s.older, [conv]: state } }
}

// ------------------------------------------------------------------------------------------ settings, delete for me, drafts

/** Our own settings of a conversation changed (here or on another of our devices): `muted`, `pinned` (absent: not pinned). */
export function applySettings(s: ChatState, f: { readonly conv: ConvId; readonly muted: boolean; readonly pinned?: number | undefined }): ChatState {
  const c = s.convs[f.conv]
  if (!c || ((c.muted ?? false) === f.muted && c.pinned === f.pinned)) return s
  const next: Conversation = { ...c }
  if (f.muted) next.muted = true
  else delete next.muted
  if (f.pinned !== undefined) next.pinned = f.pinned
  else delete next.pinned
  return { ...s, convs: { ...s.convs, [f.conv]: next } }
}

/**
 * We deleted message `seq` of `conv` for ourselves (here or on another device): it becomes a
 * `hidden` tombstone at its place (seqs stay gap-free; the row renders nothing), as history and
 * sync return it from then on. Only that row gets a new object.
 */
export function hideLocal(s: ChatState, conv: ConvId, seq: number): ChatState {
  const list = s.messages[conv]
  const i = list ? indexOfSeq(list, seq) : -1
  const c = s.convs[conv]
  const lastHidden = c?.lastMsg?.seq === seq && c.lastMsg.kind !== 'hidden'
  if ((i < 0 || list![i]!.kind === 'hidden') && !lastHidden) return s
  let next = s
  if (i >= 0 && list![i]!.kind !== 'hidden') {
    const copy = list!.slice()
    copy[i] = hiddenOf(list![i]!)
    next = { ...next, messages: { ...next.messages, [conv]: copy } }
  }
  if (lastHidden) next = { ...next, convs: { ...next.convs, [conv]: { ...c, lastMsg: hiddenOf(c.lastMsg!) as Message } } }
  return next
}

function hiddenOf(m: ChatMessage): ChatMessage {
  return { cid: m.cid, from: m.from, conv: m.conv, ts: m.ts, ...(m.seq !== undefined ? { seq: m.seq } : {}), ...(m.mid !== undefined ? { mid: m.mid } : {}), kind: 'hidden', body: {} }
}

/** Most characters of a draft kept (a text message's limit). */
const DRAFT_MAX_CHARS = 5000

/** The composer's unsent text of `conv` (empty or blank: no draft). */
export function setDraft(s: ChatState, conv: ConvId, text: string): ChatState {
  const value = text.trim() === '' ? '' : text.slice(0, DRAFT_MAX_CHARS)
  if ((s.drafts[conv] ?? '') === value) return s
  const drafts = { ...s.drafts }
  // Re-added last: storage keeps the latest written drafts when it bounds them (persist.ts).
  delete drafts[conv]
  if (value) drafts[conv] = value
  return { ...s, drafts }
}

const EMPTY: readonly ChatMessage[] = []
