/**
 * The chat list's part in replies (PROTOCOL.md, Reply and mentions): a tapped quote pages back
 * until its original is held, scrolls to it and highlights it for a moment; one's own new message
 * brings the list to the end; each row's quote line, which never shows a recalled original.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react'
import type { ConvId, UserId } from '@chat/shared'
import { t } from '../../i18n'
import type { ChatListHandle } from '../../list/ChatList'
import { client, store } from '../../services'
import { quoteLine, recalledSeqs, replyOf } from '../../store/reply'
import { hasOlder } from '../../store/selectors'
import type { ChatMessage } from '../../store/types'

/** A tapped quote pages back at most this many history pages to find its original. */
const QUOTE_MAX_PAGES = 40
/** How long the original of a tapped quote stays highlighted, ms. */
const QUOTE_HIGHLIGHT_MS = 1500

export function useQuoteJump(conv: ConvId, messages: readonly ChatMessage[], list: RefObject<ChatListHandle | null>, me: UserId | undefined) {
  const recalled = useMemo(() => recalledSeqs(messages), [messages])
  const [seeking, setSeeking] = useState<number | undefined>(undefined)
  const [highlight, setHighlight] = useState<number | undefined>(undefined)
  const onQuote = useCallback(
    (m: ChatMessage) => {
      const seq = replyOf(m)?.seq
      if (seq === undefined) return
      setSeeking(seq)
      const step = (left: number): Promise<void> => {
        const held = store.getState().messages[conv]
        if (left === 0 || !held || held.some((x) => x.seq === seq) || !hasOlder(held) || (held[0]?.seq ?? 0) <= seq) return Promise.resolve()
        return client.loadOlder(conv).then(() => step(left - 1))
      }
      step(QUOTE_MAX_PAGES).catch(() => setSeeking(undefined))
    },
    [conv],
  )
  useEffect(() => {
    if (seeking === undefined) return
    const i = messages.findIndex((x) => x.seq === seeking)
    if (i < 0) return
    setSeeking(undefined)
    list.current?.scrollToIndex(i)
    setHighlight(seeking)
  }, [seeking, messages, list])
  useEffect(() => {
    if (highlight === undefined) return
    const timer = setTimeout(() => setHighlight(undefined), QUOTE_HIGHLIGHT_MS)
    return () => clearTimeout(timer)
  }, [highlight])

  // One's own new message (a reply written while reading far above, say): the list goes to the
  // end to show it, as WeChat does, wherever the reader was. By its key, which stays when the ack
  // confirms it (the ack may come within the same view flush); not for recall events.
  const lastKey = useRef<string | undefined>(undefined)
  useEffect(() => {
    const last = messages[messages.length - 1]
    const k = last ? `${last.from}:${last.cid}` : undefined
    if (k === lastKey.current) return
    const opening = lastKey.current === undefined
    lastKey.current = k
    const written = last?.kind === 'text' || last?.kind === 'image' || last?.kind === 'file'
    if (!opening && written && last.from === me) list.current?.scrollToEnd()
  }, [messages, me, list])

  return { recalled, onQuote, highlight }
}

/** The quote props of row `m`: its quote line (never a recalled original's content), the tap, the highlight. */
export function quoteProps(
  m: ChatMessage,
  recalled: ReadonlySet<number>,
  nameOf: (id: string) => string,
  onQuote: (m: ChatMessage) => void,
  highlight: number | undefined,
): { quote?: string; onQuote?: (m: ChatMessage) => void; hl?: boolean } {
  const q = replyOf(m)
  const out: { quote?: string; onQuote?: (m: ChatMessage) => void; hl?: boolean } = {}
  if (q) {
    out.quote = quoteLine(q, recalled.has(q.seq), t, nameOf)
    out.onQuote = onQuote
  }
  if (highlight !== undefined && m.seq === highlight) out.hl = true
  return out
}
