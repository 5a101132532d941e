/**
 * Conversation list: pinned ones first, then newest activity first; unread badges (a dot for a
 * muted conversation, which the title's total leaves out), drafts, presence, pull to refresh. A long
 * press on a row (a right click on h5) pins or mutes it.
 */
import { CustomWrapper, ScrollView, Text, View } from '@tarojs/components'
import Taro, { useDidShow, usePullDownRefresh } from '@tarojs/taro'
import { chooseAction } from '../../components/dialog'
import { goTo } from '../../components/nav'
import { memo, useEffect } from 'react'
import type { ConvId } from '@chat/shared'
import { Avatar, GroupAvatar } from '../../components/Avatar'
import { ConnectionBanner } from '../../components/StatusBar'
import { listTime } from '../../format'
import { errorText, locale, switchLocale, t } from '../../i18n'
import { usePageGate, useToday } from '../../hooks'
import { auth, client, store } from '../../services'
import { GateProvider, useGate, useShallow, useStore } from '../../store/react'
import { convOrder, convTitle, displayStatus, lastMessageOf, otherMember, previewText, totalUnread } from '../../store/selectors'
import { mentionedUnread } from '../../store/reply'
import './index.css'

export default function ConversationsPage() {
  const gate = usePageGate()
  useDidShow(() => chatsTitle(totalUnread(store.getState())))
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
        <UnreadTitle />
        <Toolbar />
        <ConvList />
      </View>
    </GateProvider>
  )
}

/** The total of unread messages, muted conversations left out, in the title: "消息(3)" (the navigation bar; the tab title on h5). */
function UnreadTitle() {
  const gate = useGate()
  const total = useStore(gate, totalUnread)
  useEffect(() => chatsTitle(total), [total])
  return null
}

function chatsTitle(total: number): void {
  const title = total > 0 ? t('title.chatsUnread', { n: total > 99 ? '99+' : total }) : t('title.chats')
  Taro.setNavigationBarTitle({ title }).catch(() => undefined)
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
        <View className='tb-out' id='logout' role='button' onClick={logout}>
          <Text>{t('list.logout')}</Text>
        </View>
        <View
          className='tb-out'
          id='open-contacts'
          role='button'
          aria-label={t('a11y.contacts')}
          onClick={() => goTo('/pages/contacts/index')}
        >
          <Text>{t('list.contacts')}</Text>
        </View>
        <View
          className='tb-new'
          id='new-chat'
          role='button'
          aria-label={t('a11y.newChat')}
          onClick={() => goTo('/pages/new/index')}
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
  // The rows' times are by the day: all of them render again when it changes.
  const today = useToday()
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
        <View className='btn' role='button' onClick={() => goTo('/pages/new/index')}>
          <Text>{t('list.emptyButton')}</Text>
        </View>
        {!connected ? <Text className='empty-t'>{t('list.offlineNote')}</Text> : null}
      </View>
    )
  }
  return (
    <ScrollView className='cl-s' scrollY>
      {order.map((id) => (
        <ConvRow key={id} id={id} today={today} />
      ))}
    </ScrollView>
  )
}

/** `today`: local midnight (useToday); the time column is read against it, as listTime needs only the day. */
const ConvRow = memo(function ConvRow({ id, today }: { id: string; today: number }) {
  const gate = useGate()
  const row = useStore(gate, useShallow((s) => {
    const c = s.convs[id]!
    const me = s.me?.id
    const last = lastMessageOf(s, id)
    const other = c.kind === 'direct' ? otherMember(c, me) : undefined
    const notice = last?.kind === 'recall' || last?.kind === 'recalled'
    const lastFrom = last && !notice && last.kind !== 'system' && last.kind !== 'hidden' && c.kind === 'group' && last.from !== me ? t('list.from', { name: s.users[last.from]?.name ?? last.from }) : ''
    return {
      title: convTitle(c, me, t),
      avatarId: other?.id ?? c.id,
      // A group's faces: its member list as the store holds it (one reference while it is unchanged).
      faces: c.kind === 'group' ? c.members : undefined,
      preview: last ? lastFrom + previewText(last, t, me, (u) => s.users[u]?.name ?? u) : t('list.noMessages'),
      // Not yet the server's: still going out, or failed for good (a refused upload, a refused send),
      // which WeChat marks in red rather than leaving "Sending:" in front of it forever.
      unsent: last?.seq === undefined && last !== undefined ? displayStatus(last, undefined) : undefined,
      ts: last?.ts ?? c.createdAt,
      unread: c.unread,
      // "[@you]" while a mention is unread, muted or not (a flag of its own: store/reply.ts).
      mentioned: mentionedUnread(c),
      online: other && s.conn.state === 'connected' ? s.presence[other.id]?.online === true : false,
      muted: c.muted === true,
      pinned: c.pinned !== undefined,
      draft: s.drafts[id] ?? '',
    }
  }))
  const actions = () => void convActions(id, row.pinned, row.muted)
  return (
    <View
      className={row.pinned ? 'cr cr-pin' : 'cr'}
      id={`conv-${id}`}
      onClick={() => goTo(`/pages/chat/index?conv=${encodeURIComponent(id)}`)}
      onLongPress={actions}
      {...contextMenu(actions)}
    >
      <View className='cr-av'>
        {row.faces ? <GroupAvatar members={row.faces} /> : <Avatar id={row.avatarId} name={row.title} size='l' online={row.online} />}
        {row.unread > 0 ? (
          row.muted ? (
            <View className='dot' aria-label={t('a11y.unread', { n: row.unread })} />
          ) : (
            <Text className='badge' aria-label={t('a11y.unread', { n: row.unread })}>{row.unread > 99 ? '99+' : row.unread}</Text>
          )
        ) : null}
      </View>
      <View className='cr-m'>
        <View className='cr-top'>
          <Text className='cr-n'>{row.title}</Text>
          <Text className='cr-ts'>{listTime(row.ts, today, t)}</Text>
        </View>
        <View className='cr-bot'>
          {row.draft ? (
            <Text className='cr-p'>
              <Text className='cr-dr'>{t('list.draft')}</Text>
              {' ' + row.draft}
            </Text>
          ) : (
            <Text className='cr-p'>
              {row.mentioned ? <Text className='cr-at'>{t('list.mentioned')}</Text> : null}
              {row.unsent === 'failed' ? <Text className='cr-fail'>{t('list.failed')}</Text> : null}
              {(row.muted && row.unread > 1 ? t('list.mutedUnread', { n: row.unread > 99 ? '99+' : row.unread }) : '') + (row.unsent === 'sending' ? t('list.sending') : '') + row.preview}
            </Text>
          )}
          {row.muted ? <View className='cr-mute' role='img' aria-label={t('a11y.muted')} /> : null}
        </View>
      </View>
    </View>
  )
})

/** A long press on a row (weapp), a right click (h5): pin or unpin, mute or unmute, for all of the user's devices. */
async function convActions(conv: ConvId, pinned: boolean, muted: boolean): Promise<void> {
  const picked = await chooseAction([t(pinned ? 'list.unpin' : 'list.pin'), t(muted ? 'list.unmute' : 'list.mute')])
  if (picked === undefined) return
  const change = picked === 0 ? { pinned: !pinned } : { muted: !muted }
  await client.setConvSettings(conv, change).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'list.settingsFailed'), icon: 'none' }))
}

/** h5: Taro's view turns only touches into `longpress`; a right click opens the same actions. */
function contextMenu(open: () => void): Record<string, unknown> {
  if (process.env.TARO_ENV !== 'h5') return {}
  return {
    onContextMenu: (e: { preventDefault(): void }) => {
      e.preventDefault()
      open()
    },
  }
}
