/** Conversation list: newest activity first, unread badges, presence, pull to refresh. */
import { CustomWrapper, ScrollView, Text, View } from '@tarojs/components'
import Taro, { useDidShow, usePullDownRefresh } from '@tarojs/taro'
import { memo, useEffect } from 'react'
import { Avatar } from '../../components/Avatar'
import { ConnectionBanner } from '../../components/StatusBar'
import { listTime } from '../../format'
import { locale, setPageTitle, switchLocale, t } from '../../i18n'
import { usePageGate } from '../../hooks'
import { auth, client } from '../../services'
import { GateProvider, useGate, useShallow, useStore } from '../../store/react'
import { convOrder, convTitle, lastMessageOf, otherMember, previewText } from '../../store/selectors'
import { mentionedUnread } from '../../store/reply'
import './index.css'

export default function ConversationsPage() {
  const gate = usePageGate()
  useDidShow(() => setPageTitle('title.chats'))
  useEffect(() => {
    if (!auth.session) void Taro.reLaunch({ url: '/pages/login/index' })
  }, [])
  usePullDownRefresh(() => {
    client
      .refreshConvs()
      .catch(() => Taro.showToast({ title: t('list.refreshFailed'), icon: 'none' }))
      .finally(() => Taro.stopPullDownRefresh())
  })
  return (
    <GateProvider gate={gate}>
      <View className='cl'>
        <CustomWrapper>
          <ConnectionBanner />
        </CustomWrapper>
        <Toolbar />
        <ConvList />
      </View>
    </GateProvider>
  )
}

function Toolbar() {
  const gate = useGate()
  const me = useStore(gate, (s) => s.me)
  return (
    <View className='tb'>
      <Text className='tb-me'>{me ? t('list.signedIn', { name: me.name || me.id }) : ''}</Text>
      <View className='tb-a'>
        <View
          className='tb-lang'
          id='language'
          role='button'
          aria-label={t('a11y.language')}
          onClick={() => switchLocale(locale() === 'en' ? 'zh-CN' : 'en')}
        >
          <Text>{t('settings.language')}</Text>
        </View>
        <View className='tb-out' role='button' onClick={logout}>
          <Text>{t('list.logout')}</Text>
        </View>
        <View
          className='tb-out'
          id='open-contacts'
          role='button'
          aria-label={t('a11y.contacts')}
          onClick={() => void Taro.navigateTo({ url: '/pages/contacts/index' })}
        >
          <Text>{t('list.contacts')}</Text>
        </View>
        <View
          className='tb-new'
          id='new-chat'
          role='button'
          aria-label={t('a11y.newChat')}
          onClick={() => void Taro.navigateTo({ url: '/pages/new/index' })}
        >
          <Text>{t('list.newChat')}</Text>
        </View>
      </View>
    </View>
  )
}

function logout() {
  client.logout()
  void Taro.reLaunch({ url: '/pages/login/index' })
}

function ConvList() {
  const gate = useGate()
  const order = useStore(gate, useShallow(convOrder))
  const loaded = useStore(gate, (s) => s.convsLoaded)
  const error = useStore(gate, (s) => s.convsError)
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  if (order.length === 0) {
    if (!loaded) {
      return (
        <View className='empty'>
          <View className='spin' />
          <Text className='empty-t'>{error ? t('list.loadFailed') : t('list.loading')}</Text>
        </View>
      )
    }
    return (
      <View className='empty'>
        <Text className='empty-h'>{t('list.emptyTitle')}</Text>
        <Text className='empty-t'>{t('list.emptyText')}</Text>
        <View className='btn' role='button' onClick={() => void Taro.navigateTo({ url: '/pages/new/index' })}>
          <Text>{t('list.emptyButton')}</Text>
        </View>
        {!connected ? <Text className='empty-t'>{t('list.offlineNote')}</Text> : null}
      </View>
    )
  }
  return (
    <ScrollView className='cl-s' scrollY>
      {order.map((id) => (
        <ConvRow key={id} id={id} />
      ))}
    </ScrollView>
  )
}

const ConvRow = memo(function ConvRow({ id }: { id: string }) {
  const gate = useGate()
  const row = useStore(gate, useShallow((s) => {
    const c = s.convs[id]!
    const me = s.me?.id
    const last = lastMessageOf(s, id)
    const other = c.kind === 'direct' ? otherMember(c, me) : undefined
    const notice = last?.kind === 'recall' || last?.kind === 'recalled'
    const lastFrom = last && !notice && last.kind !== 'system' && c.kind === 'group' && last.from !== me ? t('list.from', { name: s.users[last.from]?.name ?? last.from }) : ''
    return {
      title: convTitle(c, me),
      avatarId: other?.id ?? c.id,
      preview: last ? lastFrom + previewText(last, t, me, (u) => s.users[u]?.name ?? u) : t('list.noMessages'),
      pending: last?.seq === undefined && last !== undefined,
      ts: last?.ts ?? c.createdAt,
      unread: c.unread,
      // "[@you]" while a mention is unread, muted or not (a flag of its own: store/reply.ts).
      mentioned: mentionedUnread(c),
      online: other && s.conn.state === 'connected' ? s.presence[other.id]?.online === true : false,
    }
  }))
  return (
    <View className='cr' id={`conv-${id}`} onClick={() => void Taro.navigateTo({ url: `/pages/chat/index?conv=${encodeURIComponent(id)}` })}>
      <View className='cr-av'>
        <Avatar id={row.avatarId} name={row.title} size='l' online={row.online} />
        {row.unread > 0 ? <Text className='badge' aria-label={t('a11y.unread', { n: row.unread })}>{row.unread > 99 ? '99+' : row.unread}</Text> : null}
      </View>
      <View className='cr-m'>
        <View className='cr-top'>
          <Text className='cr-n'>{row.title}</Text>
          <Text className='cr-ts'>{listTime(row.ts, Date.now(), t)}</Text>
        </View>
        <Text className='cr-p'>
          {row.mentioned ? <Text className='cr-at'>{t('list.mentioned')}</Text> : null}
          {(row.pending ? t('list.sending') : '') + row.preview}
        </Text>
      </View>
    </View>
  )
})
