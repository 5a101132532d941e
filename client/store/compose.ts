/**
 * What the composer of each conversation is writing besides its text: the message it replies to.
 * A small store of its own (the chat store holds what the server knows; this is the user's
 * intention), set from a message's actions and read by the composer.
 */
import { createStore } from 'zustand/vanilla'
import type { ConvId, ReplyQuote } from '@chat/shared'

export interface ComposeState {
  /** Per conversation: the quote of the message being replied to (store/reply.ts, localQuote). */
  readonly reply: Readonly<Record<ConvId, ReplyQuote | undefined>>
}

export const compose = createStore<ComposeState>()(() => ({ reply: {} }))

/** Reply to `quote` in `conv` (undefined: cancel). */
export function setReply(conv: ConvId, quote: ReplyQuote | undefined): void {
  compose.setState((s) => (s.reply[conv] === quote ? s : { reply: { ...s.reply, [conv]: quote } }))
}
