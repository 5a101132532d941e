/**
 * Replies (quotes) and mentions of a text send (PROTOCOL.md, Reply and Mentions): plain functions
 * the chat service calls only for a text send that carries `reply`, `mentions` or `mentionAll`, so
 * a plain send takes none of these steps (and no extra store command).
 *
 * A quote's snippet is content of the original. When the original is retracted, the quotes of it
 * are scrubbed in every tier (`scrubbed`): history never returns the recalled content again, not
 * even through a reply. Two places make that hold against races (service.ts): the retraction scans
 * the messages after the original for replies quoting it, and a reply re-reads its original after
 * its own append; whichever comes second sees the other.
 */
import { AppError, mentionsUser, replySnippet } from '@chat/shared'
import type { Message, ReplyQuote, StoredTextBody, UserId } from '@chat/shared'

/** Messages after a retracted one searched for replies quoting it (a recall comes within minutes of the send). */
export const QUOTE_SCRUB_SCAN_MAX = 2000
/** Newest unread messages of a group searched for a mention of the user at `convs` time. */
export const MENTION_SCAN_MAX = 200

/** The text body of a send, as the service receives it. */
export interface TextInput {
  readonly text: string
  readonly reply?: { readonly seq: number } | undefined
  readonly mentions?: readonly UserId[] | undefined
  readonly mentionAll?: true | undefined
}

/** Whether a text body needs more than the plain path (a quote or mentions to check). */
export function isRich(body: TextInput): boolean {
  return body.reply !== undefined || body.mentions !== undefined || body.mentionAll !== undefined
}

/** The quote's snippet (shared/src/reply.ts: the sender's client shows the same one before the ack). */
export const snippetOf = replySnippet

/**
 * The quote of `original` for a reply by a member whose first readable seq is after `floor`:
 * REPLY_NOT_FOUND when there is no such message or it is before the member joined (a seq of
 * another conversation is simply not found in this one), REPLY_NOT_ALLOWED for a recalled
 * message or an event.
 */
export function quoteOf(original: Message | undefined, seq: number, floor: number): ReplyQuote {
  if (!original || original.seq !== seq || seq <= floor) throw new AppError('REPLY_NOT_FOUND', `no message ${seq} to quote`)
  switch (original.kind) {
    case 'text':
      return { seq, from: original.from, kind: 'text', snippet: snippetOf(original.body.text) }
    case 'image':
    case 'file':
    case 'voice':
      return { seq, from: original.from, kind: original.kind }
    default:
      throw new AppError('REPLY_NOT_ALLOWED', `message ${seq} is ${original.kind === 'recalled' ? 'recalled' : 'an event'}`)
  }
}

/**
 * The mentions of a send, checked: only in groups, only of members (MENTION_INVALID), @all only
 * from the owner or an admin (MENTION_ALL_NOT_ALLOWED). Repeats are dropped.
 */
export function checkedMentions(
  body: TextInput,
  group: { readonly kind: string; readonly members: readonly UserId[] },
  senderIsAdmin: boolean,
): Pick<StoredTextBody, 'mentions' | 'mentionAll'> {
  const out: { mentions?: UserId[]; mentionAll?: true } = {}
  if (body.mentions === undefined && body.mentionAll === undefined) return out
  if (group.kind !== 'group') throw new AppError('MENTION_INVALID', 'mentions are for groups')
  if (body.mentions !== undefined) {
    const unique = [...new Set(body.mentions)]
    const stranger = unique.find((u) => !group.members.includes(u))
    if (stranger !== undefined) throw new AppError('MENTION_INVALID', `${stranger} is not a member`)
    out.mentions = unique
  }
  if (body.mentionAll) {
    if (!senderIsAdmin) throw new AppError('MENTION_ALL_NOT_ALLOWED')
    out.mentionAll = true
  }
  return out
}

/** The needle of a stored reply quoting `seq` (the quote is stored with `seq` first: `quoteOf`). */
export function quoteNeedle(seq: number): string {
  return `"reply":{"seq":${seq},`
}

/**
 * Stored message JSON `json` with its quote of `seq` scrubbed (kind `retracted`, no snippet), or
 * undefined when it does not quote `seq`. Keys keep their stored order (message-json.ts).
 */
export function scrubbed(json: string, seq: number): string | undefined {
  if (!json.includes(quoteNeedle(seq))) return undefined
  const m = JSON.parse(json) as Message
  if (m.kind !== 'text' || m.body.reply?.seq !== seq || m.body.reply.kind === 'retracted') return undefined
  return JSON.stringify({ ...m, body: { ...m.body, reply: { seq, from: m.body.reply.from, kind: 'retracted' } } })
}

/** Whether stored message JSON `json` mentions `user` (by id or @all) and was not sent by them. */
export function mentions(json: string, user: UserId): boolean {
  const all = json.includes('"mentionAll":true')
  if (!all && !json.includes('"mentions":[')) return false
  return mentionsUser(JSON.parse(json) as Message, user)
}
