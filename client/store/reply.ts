/**
 * Replies and mentions on the client (PROTOCOL.md, Reply and mentions), as pure functions over the
 * store's state: the quote a reply shows (never the content of an original known to be recalled),
 * the body a reply or mention is sent with, and the "[@you]" mark of a conversation.
 */
import { mentionsUser, replySnippet, type Conversation, type ConvId, type Message, type ReplyQuote, type SendTextBody, type StoredTextBody, type UserId } from '@chat/shared'
import type { Translate } from '../i18n/i18n'
import type { ChatBody, ChatMessage, ChatState } from './types'

/** What a text message may carry besides its text when it is written. */
export interface TextExtras {
  /** The quote, made here as the server makes it (shared/src/reply.ts), shown before the ack. */
  readonly quote?: ReplyQuote | undefined
  readonly mentions?: readonly UserId[] | undefined
  readonly mentionAll?: boolean | undefined
}

/** The quote of `m` for a reply, or undefined when it cannot be quoted (not stored yet, recalled, an event). */
export function localQuote(m: ChatMessage): ReplyQuote | undefined {
  if (m.seq === undefined) return undefined
  if (m.kind === 'text' && 'text' in m.body) return { seq: m.seq, from: m.from, kind: 'text', snippet: replySnippet(m.body.text) }
  if ((m.kind === 'image' || m.kind === 'file' || m.kind === 'voice') && 'fileId' in m.body) return { seq: m.seq, from: m.from, kind: m.kind }
  return undefined
}

/** The body shown at once for a text written with `extras` (StoredTextBody's shape). */
export function displayText(text: string, extras: TextExtras | undefined): StoredTextBody {
  const body: { text: string; reply?: ReplyQuote; mentions?: UserId[]; mentionAll?: true } = { text }
  if (extras?.quote) body.reply = extras.quote
  if (extras?.mentions && extras.mentions.length > 0) body.mentions = [...new Set(extras.mentions)]
  if (extras?.mentionAll) body.mentionAll = true
  return body
}

/** The body a text is sent with: the quote by its seq only (the server makes the quote itself). */
export function wireText(body: ChatBody): SendTextBody | undefined {
  if (!('text' in body)) return undefined
  const b = body as StoredTextBody
  if (b.reply === undefined && b.mentions === undefined && b.mentionAll === undefined) return { text: b.text }
  return {
    text: b.text,
    ...(b.reply ? { reply: { seq: b.reply.seq } } : {}),
    ...(b.mentions ? { mentions: b.mentions } : {}),
    ...(b.mentionAll ? { mentionAll: true as const } : {}),
  }
}

/** The quote a text message carries, if any. */
export function replyOf(m: ChatMessage): ReplyQuote | undefined {
  return m.kind === 'text' ? (m.body as StoredTextBody).reply : undefined
}

/**
 * Seqs of `list` known to be recalled: tombstones held, and the messages `recall` events name (the
 * original may not be held, while a reply quoting it is).
 */
export function recalledSeqs(list: readonly ChatMessage[]): ReadonlySet<number> {
  const out = new Set<number>()
  for (const m of list) {
    if (m.kind === 'recalled' && m.seq !== undefined) out.add(m.seq)
    else if (m.kind === 'recall' && 'seq' in m.body) out.add(m.body.seq)
  }
  return out
}

/**
 * The line a quote shows: "Name: snippet" ("名字：摘要" in Chinese, the list previews' colon),
 * "[图片]"... or "引用的消息已撤回" when the original is recalled (the server scrubbed the quote, or
 * this device knows it from a `recall` event): the content of a recalled original is never shown,
 * whatever the quote held still says.
 */
export function quoteLine(q: ReplyQuote, recalled: boolean, tr: Translate, nameOf: (id: UserId) => string): string {
  if (recalled || q.kind === 'retracted') return tr('chat.quoteRecalled')
  return `${tr('list.from', { name: nameOf(q.from) })}${quoteWhat(q, tr)}`
}

/** What a quote shows of its original: the snippet, or "[图片]" / "[文件]" / "[语音]". */
export function quoteWhat(q: ReplyQuote, tr: Translate): string {
  if (q.kind === 'voice') return tr('list.voice')
  return q.kind === 'image' ? tr('chat.quoteImage') : q.kind === 'file' ? tr('chat.quoteFile') : q.snippet ?? tr('chat.quoteMissing')
}

/** The conversation shows "[@you]": a message after the read mark mentions this user (or everyone). */
export function mentionedUnread(c: Conversation | undefined): boolean {
  return c !== undefined && (c.mentionSeq ?? 0) > c.readSeq
}

/**
 * `c` with its mention mark moved up by the messages just merged that mention `me` after its read
 * mark (the same conversation object when none does: no re-render).
 */
export function withMentionMark(c: Conversation, msgs: readonly Message[], me: UserId | undefined): Conversation {
  let top = c.mentionSeq ?? 0
  for (const m of msgs) {
    if (m.seq > top && m.seq > c.readSeq && mentionsUser(m, me)) top = m.seq
  }
  return top === (c.mentionSeq ?? 0) ? c : { ...c, mentionSeq: top }
}

/** The mention marks of `conv` after `msgs` were merged (store.ts, mergeServerMessages). */
export function markMentions(s: ChatState, conv: ConvId, msgs: readonly Message[]): ChatState {
  const c = s.convs[conv]
  if (!c || c.kind !== 'group') return s
  const next = withMentionMark(c, msgs, s.me?.id)
  return next === c ? s : { ...s, convs: { ...s.convs, [conv]: next } }
}
