/**
 * Forwarding a message (WeChat's 转发, PROTOCOL.md, Forwarding): a sheet over the chat, "选择一个聊天",
 * that lists the user's conversations as the conversation list orders them (pinned, then the most
 * recent), this one included and the groups they left out; picking one asks for a confirmation
 * ("发送给：name", what is sent, 发送 / 取消), then the message goes and a toast says 已发送, or why not.
 * An in-page sheet rather than a page of its own: the message stays in hand, and no route carries it.
 */
import { ScrollView, Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
import { useMemo } from 'react'
import type { ConvId } from '@chat/shared'
import { Avatar, GroupAvatar } from '../../components/Avatar'
import { confirmed } from '../../components/dialog'
import { errorText, t, type MessageKey } from '../../i18n'
import { client } from '../../services'
import { useGate, useShallow, useStore } from '../../store/react'
import { convOrder, convTitle, otherMember } from '../../store/selectors'
import type { ChatMessage } from '../../store/types'
import './forward.css'

/** Code points of a text's first line the confirmation shows. */
const PREVIEW_CHARS = 60

/** What the confirmation says is sent: "[图片]", "[文件] name", or the text's first line. */
export function forwardPreview(m: ChatMessage, tr: (key: MessageKey, params?: Record<string, string>) => string): string {
  if (m.kind === 'image') return tr('list.image')
  if (m.kind === 'file') return tr('list.file', { name: 'name' in m.body ? m.body.name : '' })
  const text = 'text' in m.body && typeof m.body.text === 'string' ? m.body.text : ''
  const line = Array.from(text.trim().split('\n')[0] ?? '')
  return line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS).join('')}…` : line.join('')
}

/** Whether `m` may be forwarded (WeChat: a stored text, image or file; not a voice, an event, a tombstone). */
export function canForward(m: ChatMessage): boolean {
  return m.seq !== undefined && (m.kind === 'text' || m.kind === 'image' || m.kind === 'file')
}

export function ForwardSheet({ m, onClose }: { m: ChatMessage; onClose: () => void }) {
  const gate = useGate()
  const order = useStore(gate, useShallow(convOrder))
  const convs = useStore(gate, (s) => s.convs)
  const ended = useStore(gate, (s) => s.ended)
  const me = useStore(gate, (s) => s.me?.id)
  // A group the user is no longer in takes nothing (the server would refuse it: NOT_MEMBER).
  const rows = useMemo(
    () =>
      order
        .filter((id) => convs[id] && !ended?.[id])
        .map((id) => {
          const c = convs[id]!
          return { id, title: convTitle(c, me, t), faces: c.kind === 'group' ? c.members : undefined, avatarId: otherMember(c, me)?.id ?? c.id }
        }),
    [order, convs, ended, me],
  )
  const pick = async (to: ConvId, name: string) => {
    if (!(await confirmed(forwardPreview(m, t), { title: t('forward.sendTo', { name }), confirmText: t('forward.send') }))) return
    onClose()
    await client.forward(m, to).then(
      () => Taro.showToast({ title: t('forward.sent'), icon: 'success' }),
      (err: unknown) => Taro.showToast({ title: errorText(err, 'forward.failed'), icon: 'none' }),
    )
  }
  return (
    <View className='fw' id='forward-sheet' role='dialog' aria-label={t('forward.title')}>
      <View className='fw-h'>
        <View className='fw-x' id='forward-cancel' role='button' onClick={onClose}>
          <Text>{t('dialog.cancel')}</Text>
        </View>
        <Text className='fw-t'>{t('forward.title')}</Text>
      </View>
      <Text className='fw-sec'>{t('forward.recent')}</Text>
      <ScrollView className='fw-l' scrollY>
        {rows.length === 0 ? <Text className='fw-none'>{t('forward.none')}</Text> : null}
        {rows.map((r) => (
          <View key={r.id} className='fw-r' id={`forward-to-${r.id}`} role='button' onClick={() => void pick(r.id, r.title)}>
            {r.faces ? <GroupAvatar members={r.faces} /> : <Avatar id={r.avatarId} name={r.title} size='l' />}
            <Text className='fw-n'>{r.title}</Text>
          </View>
        ))}
      </ScrollView>
    </View>
  )
}

