/**
 * Replies and mentions, the parts both sides compute the same way (PROTOCOL.md, Reply and
 * mentions): the quote's snippet (the server stores it; the sender shows the same one at once) and
 * whether a message mentions a user.
 */
import { LIMITS } from './protocol'
import type { Message, UserId } from './types'

/** The first LIMITS.replySnippetChars code points of `text` (never half a surrogate pair), "…" when cut. */
export function replySnippet(text: string): string {
  const points = Array.from(text.slice(0, 2 * LIMITS.replySnippetChars + 2))
  return points.length > LIMITS.replySnippetChars ? `${points.slice(0, LIMITS.replySnippetChars).join('')}…` : points.join('')
}

/** Whether `m` mentions `user` (by id, or @all) and was sent by someone else. */
export function mentionsUser(m: Pick<Message, 'kind' | 'from' | 'body'>, user: UserId | undefined): boolean {
  if (user === undefined || m.kind !== 'text' || m.from === user) return false
  const b = m.body as { mentions?: readonly UserId[]; mentionAll?: boolean }
  return b.mentionAll === true || (b.mentions?.includes(user) ?? false)
}
