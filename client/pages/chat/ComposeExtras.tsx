/**
 * What the composer adds to a text besides the text (PROTOCOL.md, Reply and mentions): the quote
 * of the message it replies to (a bar above the input with a cancel ×) and the mention picker that
 * typing "@" opens in a group (members, and "@所有人" for the owner and admins). A group the list
 * named the first members of (version 3) has the rest paged in while the picker is open.
 */
import { ScrollView, Text, View } from '@tarojs/components'
import { useEffect, useMemo, useRef, useState } from 'react'
import type { Conversation, ConvId, ReplyQuote, User, UserId } from '@chat/shared'
import { t } from '../../i18n'
import { loadAllMembers } from '../../net/members'
import { client, store } from '../../services'
import { compose, setReply } from '../../store/compose'
import { useGate, useStore } from '../../store/react'
import { quoteWhat, type TextExtras } from '../../store/reply'
import { membersPartial, mentionable } from '../../store/selectors'
import './extras.css'

/** The id `mentionAll` is picked by in the picker (no user id has a colon). */
const ALL = ':all'

/** The reply being written in `conv`, if any. */
export function useReply(conv: ConvId): ReplyQuote | undefined {
  return useStore(compose, (s) => s.reply[conv])
}

/** The quote above the input: "Reply to Ann: …", and × to cancel. */
export function ReplyBar({ conv, quote }: { conv: ConvId; quote: ReplyQuote }) {
  const gate = useGate()
  const name = useStore(gate, (s) => s.users[quote.from]?.name ?? quote.from)
  return (
    <View className='cq' id='reply-bar'>
      <Text className='cq-t'>{t('chat.replyTo', { name, text: quoteWhat(quote, t) })}</Text>
      <View className='cq-x' id='reply-cancel' role='button' aria-label={t('a11y.cancelReply')} onClick={() => setReply(conv, undefined)}>
        <Text>×</Text>
      </View>
    </View>
  )
}

/** Who may be mentioned in `c` by `me`: the other members, and @all first for the owner and admins. */
function candidates(c: Conversation | undefined, me: UserId | undefined, loaded: readonly User[]): Array<{ id: string; name: string }> {
  if (!c || c.kind !== 'group') return []
  const admin = me !== undefined && (c.owner === me || (c.admins ?? []).includes(me))
  const members = mentionable(c, me, loaded).map((u) => ({ id: u.id, name: u.name || u.id }))
  return admin ? [{ id: ALL, name: t('chat.mentionAll') }, ...members] : members
}

const NONE: readonly User[] = []

/**
 * The members of a group whose list entry named its first ones only, paged in while the picker is
 * open (net/members.ts). Until the last page the picker offers those held and says more are coming;
 * a page that fails leaves it with what came.
 */
function useAllMembers(c: Conversation | undefined): { loaded: readonly User[]; loading: boolean } {
  const conv = c?.id
  const partial = c !== undefined && membersPartial(c)
  const [loaded, setLoaded] = useState(NONE)
  const [loading, setLoading] = useState(partial)
  useEffect(() => {
    if (!conv || !partial) return
    let open = true
    setLoading(true)
    void loadAllMembers((f) => client.sendRequest(f), conv, setLoaded, () => !open)
      .catch(() => undefined)
      .finally(() => {
        if (open) setLoading(false)
      })
    return () => {
      open = false
    }
  }, [conv, partial])
  return { loaded, loading: partial && loading }
}

/** The picker: a list over the composer; picking calls `onPick` with the name to insert after "@". */
export function MentionPicker({ conv, onPick, onClose }: { conv: ConvId; onPick: (id: string, name: string) => void; onClose: () => void }) {
  const gate = useGate()
  // The conversation and who I am are selected as they are (stable objects); the list is derived.
  const c = useStore(gate, (s) => s.convs[conv])
  const me = useStore(gate, (s) => s.me?.id)
  const { loaded, loading } = useAllMembers(c)
  const items = useMemo(() => candidates(c, me, loaded), [c, me, loaded])
  return (
    <View className='mp' id='mention-picker'>
      <View className='mp-h'>
        <Text className='mp-ht'>{t('chat.mentionPick')}</Text>
        <View className='mp-x' role='button' aria-label={t('a11y.closePicker')} onClick={onClose}>
          <Text>×</Text>
        </View>
      </View>
      <ScrollView className='mp-l' scrollY>
        {items.map((u) => (
          <View key={u.id} className='mp-i' id={u.id === ALL ? 'mention-all' : `mention-${u.id}`} role='button' onClick={() => onPick(u.id, u.name)}>
            <Text>{u.id === ALL ? `@${u.name}` : u.name}</Text>
          </View>
        ))}
        {loading ? (
          <View className='mp-w' id='mention-loading'>
            <Text>{t('chat.mentionLoading')}</Text>
          </View>
        ) : null}
      </ScrollView>
    </View>
  )
}

/**
 * The mentions picked while writing: "@name " inserted in the text and the user id recorded. At
 * send, only those whose "@name" is still in the text count (a deleted mention mentions no one).
 */
export function useMentions() {
  const picked = useRef(new Map<string, string>())
  return {
    pick(id: string, name: string): void {
      picked.current.set(id, name)
    },
    /** The extras of a send of `text` (undefined: a plain text, sent on the fast path). */
    extras(text: string, quote: ReplyQuote | undefined): TextExtras | undefined {
      const mentions: UserId[] = []
      let mentionAll = false
      for (const [id, name] of picked.current) {
        if (!text.includes(`@${name}`)) continue
        if (id === ALL) mentionAll = true
        else mentions.push(id)
      }
      picked.current.clear()
      if (!quote && mentions.length === 0 && !mentionAll) return undefined
      return { quote, mentions, mentionAll }
    },
    reset(): void {
      picked.current.clear()
    },
  }
}

/** Whether the text just typed in a group ends with a fresh "@" (the picker opens). */
export function typedAt(conv: ConvId, before: string, after: string): boolean {
  return after.length === before.length + 1 && after.endsWith('@') && store.getState().convs[conv]?.kind === 'group'
}
