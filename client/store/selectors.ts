/** Read-only views of the state, shared by the client core and the pages. */
import type { Translate } from '../i18n/i18n'
import { contiguousUpTo, findGaps, type Conversation, type ConvId, type SeqRange, type User, type UserId } from '@chat/shared'
import type { ChatMessage, ChatState, DisplayStatus, PeerMarks } from './types'

/** Seqs held for a conversation, ascending (confirmed messages come first in the list). */
export function heldSeqs(list: readonly ChatMessage[]): number[] {
  const out: number[] = []
  for (const m of list) {
    if (m.seq === undefined) break
    out.push(m.seq)
  }
  return out
}

/**
 * Everything at or below the first seq we hold is "history" (paged on demand), not a gap: the cursor
 * is the highest seq reachable from there without a hole (PROTOCOL.md: sync and recv name it).
 * 0 when nothing is held.
 */
export function cursorOf(list: readonly ChatMessage[] | undefined): number {
  if (!list || list.length === 0 || list[0]!.seq === undefined) return 0
  const seqs = heldSeqs(list)
  return contiguousUpTo(seqs, seqs[0]! - 1)
}

/** Holes between the first and the last seq held. */
export function gapsOf(list: readonly ChatMessage[] | undefined): SeqRange[] {
  if (!list || list.length === 0 || list[0]!.seq === undefined) return []
  const seqs = heldSeqs(list)
  return findGaps(seqs, seqs[0]! - 1, seqs[seqs.length - 1]!)
}

/** Older messages exist on the server (we do not hold seq 1). */
export function hasOlder(list: readonly ChatMessage[] | undefined, conv?: Conversation): boolean {
  const first = list?.[0]?.seq
  if (first === undefined) return (conv?.lastSeq ?? 0) > (conv?.joinedSeq ?? 0) && !list?.length
  // A member added later has nothing before the seq at which they joined (history refuses it).
  return first > (conv?.joinedSeq ?? 0) + 1
}

export function isOwn(m: ChatMessage, me: UserId | undefined): boolean {
  return m.from === me
}

/** An own message the server did not store and that is not being sent: refused, or its upload failed. */
export function failedForGood(m: ChatMessage): boolean {
  return m.seq === undefined && (m.status === 'failed' || m.upload?.failure !== undefined)
}

/**
 * The messages as the chat shows them: the held list (confirmed by seq, then own pending ones,
 * shared/src/merge.ts) with each message that failed for good moved to its place (failedPlace):
 * after the confirmed seq it followed when it failed and after the own messages sent before it,
 * once those are confirmed or placed too. One of those still under way keeps it below, at the end,
 * where it was. Newer messages then arrive below it, as in WeChat. The list itself when none is.
 */
export function inPlace(list: readonly ChatMessage[]): readonly ChatMessage[] {
  let first = list.length
  while (first > 0 && list[first - 1]!.seq === undefined) first--
  let any = false
  for (let i = first; i < list.length && !any; i++) any = list[i]!.failedPlace !== undefined && failedForGood(list[i]!)
  if (!any) return list
  // The seqs of the confirmed messages a failed one was sent after.
  const named = new Set<string>()
  for (let i = first; i < list.length; i++) for (const cid of list[i]!.failedPlace?.behind ?? []) named.add(cid)
  const seqOf = new Map<string, number>()
  for (let i = first - 1; i >= 0 && seqOf.size < named.size; i--) {
    const m = list[i]!
    if (named.has(m.cid)) seqOf.set(m.cid, m.seq!)
  }
  const out = list.slice(0, first)
  const tail: ChatMessage[] = []
  const atEnd = new Set<string>()
  const placedAfter = new Map<string, number>()
  for (let i = first; i < list.length; i++) {
    const m = list[i]!
    const place = failedForGood(m) ? m.failedPlace : undefined
    let after = place?.after ?? 0
    let blocked = place === undefined
    for (const cid of place?.behind ?? []) {
      if (atEnd.has(cid)) blocked = true
      after = Math.max(after, seqOf.get(cid) ?? placedAfter.get(cid) ?? 0)
    }
    if (blocked) {
      atEnd.add(m.cid)
      tail.push(m)
      continue
    }
    placedAfter.set(m.cid, after)
    // Before the first confirmed message above `after`: after those placed there already.
    let at = out.length
    for (let j = 0; j < out.length; j++) {
      const seq = out[j]!.seq
      if (seq !== undefined && seq > after) {
        at = j
        break
      }
    }
    out.splice(at, 0, m)
  }
  return out.concat(tail)
}

/** sending -> sent -> delivered -> read, or failed. */
export function displayStatus(m: ChatMessage, peers: PeerMarks | undefined): DisplayStatus {
  if (m.seq === undefined) return failedForGood(m) ? 'failed' : 'sending'
  if (peers && peers.read >= m.seq) return 'read'
  if (peers && peers.delivered >= m.seq) return 'delivered'
  return 'sent'
}

/**
 * How many members group `c` has: a version-3 list's `memberCount` (such a list names the first
 * LIMITS.listMembersMax only), else the members held (a `conv` frame, an older list: all of them).
 */
export function memberCountOf(c: Conversation): number {
  return c.memberCount ?? c.members.length
}

/** A group whose list entry named its first members only: `memberCount` says there are more than those held. */
export function membersPartial(c: Conversation): boolean {
  return c.kind === 'group' && memberCountOf(c) > c.members.length
}

/**
 * Whom `me` may mention in group `c`: the other members held, then the others `loaded` adds (the
 * pages of `members` the picker asks for a group whose list entry named its first members only),
 * each once, so the rows held stay where they are as pages arrive.
 */
export function mentionable(c: Conversation, me: UserId | undefined, loaded: readonly User[] = []): User[] {
  if (c.kind !== 'group') return []
  const seen = new Set<UserId>(me === undefined ? [] : [me])
  const out: User[] = []
  for (const u of [...c.members, ...loaded]) {
    if (seen.has(u.id)) continue
    seen.add(u.id)
    out.push(u)
  }
  return out
}

export function otherMember(c: Conversation, me: UserId | undefined): User | undefined {
  return c.members.find((u) => u.id !== me) ?? c.members[0]
}

/**
 * A group without a title is named by its first four other members, joined with the language's list
 * separator (`chat.listSep`: "、" in Chinese, as WeChat writes "张三、李四"; ", " in English).
 */
export function convTitle(c: Conversation, me: UserId | undefined, tr: Translate): string {
  if (c.kind === 'group') {
    if (c.title) return c.title
    return c.members
      .filter((u) => u.id !== me)
      .map((u) => u.name || u.id)
      .slice(0, 4)
      .join(tr('chat.listSep'))
  }
  const other = otherMember(c, me)
  return other?.name || other?.id || c.id
}

/** The notice in place of a recalled message: "你撤回了一条消息", "X 撤回了一条消息", or moderation's. */
export function recallNotice(m: ChatMessage, tr: Translate, me?: UserId, nameOf?: (id: UserId) => string): string {
  if ('by' in m.body && m.body.by === 'moderation') return tr('chat.withdrawn')
  return m.from === me ? tr('chat.recalledMe') : tr('chat.recalledOther', { name: nameOf ? nameOf(m.from) : m.from })
}

export function userName(s: ChatState, id: UserId): string {
  return s.users[id]?.name || id
}

/**
 * The latest message to preview in the list: our own pending one (held after the confirmed ones,
 * however old) only while nothing newer came: a file refused an hour ago must not stand for the
 * conversation after the peer's five new messages, as it did ("[发送失败]" under a badge of 5).
 */
export function lastMessageOf(s: ChatState, conv: ConvId): ChatMessage | undefined {
  const list = s.messages[conv]
  const local = list?.[list.length - 1]
  const server = s.convs[conv]?.lastMsg
  if (!local) return server
  if (!server) return local
  if (local.seq === undefined) return local.ts >= server.ts ? local : server
  return (local.seq ?? 0) >= server.seq ? local : server
}

export function activityOf(s: ChatState, c: Conversation): number {
  return lastMessageOf(s, c.id)?.ts ?? c.createdAt
}

let orderMemo: { convs: ChatState['convs']; messages: ChatState['messages']; order: ConvId[] } | undefined

/** Conversation ids: pinned ones first (latest pin first), then by latest activity, newest first. */
export function convOrder(s: ChatState): ConvId[] {
  if (orderMemo && orderMemo.convs === s.convs && orderMemo.messages === s.messages) return orderMemo.order
  const order = Object.values(s.convs)
    .map((c) => ({ id: c.id, pin: c.pinned ?? 0, at: activityOf(s, c) }))
    .sort((a, b) => b.pin - a.pin || b.at - a.at || (a.id < b.id ? -1 : 1))
    .map((x) => x.id)
  const same = orderMemo && orderMemo.order.length === order.length && orderMemo.order.every((id, i) => id === order[i])
  orderMemo = { convs: s.convs, messages: s.messages, order: same ? orderMemo!.order : order }
  return orderMemo.order
}

export function previewText(m: ChatMessage | undefined, tr: Translate, me?: UserId, nameOf?: (id: UserId) => string): string {
  if (!m) return ''
  if (m.kind === 'system') return systemText(m, tr, nameOf ?? ((id) => id), me)
  if (m.kind === 'text') return 'text' in m.body ? m.body.text : ''
  if (m.kind === 'recalled' || m.kind === 'recall') return recallNotice(m, tr, me, nameOf)
  // Deleted for ourselves: nothing of it is shown.
  if (m.kind === 'hidden') return ''
  if (m.kind === 'image') return tr('list.image')
  if (m.kind === 'voice') return tr('list.voice')
  return tr('list.file', { name: 'name' in m.body ? m.body.name : '' })
}

/**
 * A group membership change as one line ("A added B, C", "B left", "A renamed the group to X");
 * the user themself is "you".
 */
export function systemText(m: ChatMessage, tr: Translate, nameOf: (id: UserId) => string, me?: UserId): string {
  if (m.kind !== 'system' || !('op' in m.body)) return ''
  const who = (id: UserId) => (id === me ? tr('sys.you') : nameOf(id))
  const body = m.body
  const params = { a: who(m.from), b: (body.users ?? []).map(who).join(tr('sys.and')), title: body.title ?? '' }
  const line = tr(body.op === 'rename' && body.by === 'moderation' ? 'sys.renameWithdrawn' : `sys.${body.op}`, params)
  // "you added Dee" starts a sentence: capitalised (no effect on Chinese).
  return line.charAt(0).toUpperCase() + line.slice(1)
}

export function typingUsers(s: ChatState, conv: ConvId, now: number): UserId[] {
  const marks = s.typing[conv]
  if (!marks) return []
  return Object.entries(marks)
    .filter(([, until]) => until > now)
    .map(([u]) => u)
}

/** Unread messages of every conversation but the muted ones (a muted one shows a dot, not a count). */
export function totalUnread(s: ChatState): number {
  let n = 0
  for (const c of Object.values(s.convs)) if (!c.muted) n += c.unread
  return n
}

/**
 * Upload failures that are the server's judgement of the file itself (too large, a type it does not
 * accept): final, unlike a network error. Retrying would send the same refused bytes again, so the
 * bubble shows the reason and offers no retry.
 */
const REFUSALS: ReadonlySet<string> = new Set(['UPLOAD_TOO_LARGE', 'UPLOAD_TYPE_REJECTED'])

export function uploadRefused(m: ChatMessage): boolean {
  const code = m.upload?.failure?.code
  return code !== undefined && REFUSALS.has(code)
}
