/** Conversation list: newest activity first, unread badges, presence, pull to refresh. */
import { CustomWrapper, ScrollView, Text, View } from '@tarojs/components'
import Taro, { usePullDownRefresh } from '@tarojs/taro'
import { memo, useEffect } from 'react'
import { Avatar } from '../../components/Avatar'
import { ConnectionBanner } from '../../components/StatusBar'
import { listTime } from '../../format'
import { usePageGate } from '../../hooks'
import { auth, client } from '../../services'
import { GateProvider, shallowEqual, useView } from '../../store/react'
import { convOrder, convTitle, lastMessageOf, otherMember, previewText } from '../../store/selectors'
import './index.css'

export default function ConversationsPage() {
  const gate = usePageGate()
  useEffect(() => {
    if (!auth.session) Taro.reLaunch({ url: '/pages/login/index' })
  }, [])
  usePullDownRefresh(() => {
    client
      .refreshConvs()
      .catch(() => Taro.showToast({ title: 'Could not refresh', icon: 'none' }))
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
  const me = useView((s) => s.me)
  return (
    <View className='tb'>
      <Text className='tb-me'>{me ? `Signed in as ${me.name || me.id}` : ''}</Text>
      <View className='tb-a'>
        <Text className='tb-out' onClick={logout}>
          Log out
        </Text>
        <View className='tb-new' id='new-chat' onClick={() => Taro.navigateTo({ url: '/pages/new/index' })}>
          <Text>+ New chat</Text>
        </View>
      </View>
    </View>
  )
}

function logout() {
  client.logout()
  Taro.reLaunch({ url: '/pages/login/index' })
}

function ConvList() {
  const order = useView(convOrder)
  const loaded = useView((s) => s.convsLoaded)
  const error = useView((s) => s.convsError)
  const connected = useView((s) => s.conn.state === 'connected')
  if (order.length === 0) {
    if (!loaded) {
      return (
        <View className='empty'>
          <View className='spin' />
          <Text className='empty-t'>{error ? 'Could not load your chats' : 'Loading chats…'}</Text>
        </View>
      )
    }
    return (
      <View className='empty'>
        <Text className='empty-h'>No chats yet</Text>
        <Text className='empty-t'>Start a conversation with someone.</Text>
        <View className='btn' onClick={() => Taro.navigateTo({ url: '/pages/new/index' })}>
          <Text>Start a chat</Text>
        </View>
        {!connected ? <Text className='empty-t'>You are offline: new chats need a connection.</Text> : null}
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
  const row = useView((s) => {
    const c = s.convs[id]!
    const me = s.me?.id
    const last = lastMessageOf(s, id)
    const other = c.kind === 'direct' ? otherMember(c, me) : undefined
    const lastFrom = last && c.kind === 'group' && last.from !== me ? `${s.users[last.from]?.name ?? last.from}: ` : ''
    return {
      title: convTitle(c, me),
      avatarId: other?.id ?? c.id,
      preview: last ? lastFrom + previewText(last) : 'No messages yet',
      pending: last?.seq === undefined && last !== undefined,
      ts: last?.ts ?? c.createdAt,
      unread: c.unread,
      online: other && s.conn.state === 'connected' ? s.presence[other.id]?.online === true : false,
    }
  }, shallowEqual)
  return (
    <View className='cr' id={`conv-${id}`} onClick={() => Taro.navigateTo({ url: `/pages/chat/index?conv=${encodeURIComponent(id)}` })}>
      <View className='cr-av'>
        <Avatar id={row.avatarId} name={row.title} size='l' online={row.online} />
        {row.unread > 0 ? <Text className='badge'>{row.unread > 99 ? '99+' : row.unread}</Text> : null}
      </View>
      <View className='cr-m'>
        <View className='cr-top'>
          <Text className='cr-n'>{row.title}</Text>
          <Text className='cr-ts'>{listTime(row.ts, Date.now())}</Text>
        </View>
        <Text className='cr-p'>{(row.pending ? 'Sending: ' : '') + row.preview}</Text>
      </View>
    </View>
  )
})
