/**
 * The benchmark's baseline (bench/client), built only into the benchmark's build
 * (CHAT_BENCH_PAGES=1): the naive chat list. Every message rendered with map(), every store change
 * (each incoming message) its own state update. Same rows (MessageRow) as the real page, so the
 * difference measured is the list technique alone.
 */
import { ScrollView, View } from '@tarojs/components'
import { useRouter } from '@tarojs/taro'
import { useEffect, useState } from 'react'
import { MessageRow } from '../../components/MessageRow'
import { chatTime } from '../../format'
import { t } from '../../i18n'
import { showTime } from '../../list/estimate'
import { store } from '../../services'
import { displayStatus } from '../../store/selectors'
import type { ChatMessage } from '../../store/types'

const EMPTY: readonly ChatMessage[] = []
const noop = () => undefined

export default function NaiveChat() {
  const conv = decodeURIComponent(useRouter().params.conv ?? '')
  const [messages, setMessages] = useState(() => store.getState().messages[conv] ?? EMPTY)
  useEffect(
    () =>
      store.subscribe((s) => {
        const m = s.messages[conv]
        if (m) setMessages(m)
      }),
    [conv],
  )
  const s = store.getState()
  const me = s.me?.id
  const now = Date.now()
  return (
    <View style='height:100vh'>
      <ScrollView id='naive' scrollY style='height:100%' scrollTop={messages.length * 200}>
        {messages.map((m, i) => (
          <MessageRow
            key={`${m.from}:${m.cid}`}
            m={m}
            own={m.from === me}
            time={showTime(m, messages[i - 1]) ? chatTime(m.ts, now, t) : undefined}
            senderName={s.users[m.from]?.name ?? m.from}
            status={m.from === me ? displayStatus(m, s.peers[conv]) : undefined}
            onRetry={noop}
            onDismiss={noop}
            onImage={noop}
            onFile={noop}
          />
        ))}
      </ScrollView>
    </View>
  )
}
