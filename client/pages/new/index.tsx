/** Start a chat: find people by name or id; one opens a 1:1 chat, several make a group. */
import { Input, ScrollView, Text, View } from '@tarojs/components'
import Taro, { useDidShow } from '@tarojs/taro'
import { replaceWith } from '../../components/nav'
import { useEffect, useRef, useState } from 'react'
import { isAppError, LIMITS, type User } from '@chat/shared'
import { errorText, setPageTitle, t } from '../../i18n'
import { Avatar } from '../../components/Avatar'
import { H5Header } from '../../components/H5Header'
import { ConnectionBanner } from '../../components/StatusBar'
import { usePageGate } from '../../hooks'
import { client } from '../../services'
import { GateProvider, useGate, useStore } from '../../store/react'
import './index.css'

/** Search as the user types, at most this often, ms. */
const SEARCH_DEBOUNCE_MS = 250

export default function NewChatPage() {
  const gate = usePageGate()
  useDidShow(() => setPageTitle('title.new'))
  return (
    <GateProvider gate={gate}>
      <View className='np'>
        <ConnectionBanner />
        <H5Header title={t('title.new')} />
        <NewChat />
      </View>
    </GateProvider>
  )
}

function NewChat() {
  const gate = useGate()
  const me = useStore(gate, (s) => s.me?.id)
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  const [q, setQ] = useState('')
  const [found, setFound] = useState<User[] | undefined>(undefined)
  const [error, setError] = useState('')
  const [picked, setPicked] = useState<User[]>([])
  const [title, setTitle] = useState('')
  const [busy, setBusy] = useState(false)
  const timer = useRef<ReturnType<typeof setTimeout>>()

  useEffect(() => {
    clearTimeout(timer.current)
    if (!connected) return
    timer.current = setTimeout(() => {
      client.searchUsers(q.trim()).then(
        (users) => {
          setFound(users.filter((u) => u.id !== me))
          setError('')
        },
        () => setError(t('new.searchFailed')),
      )
    }, SEARCH_DEBOUNCE_MS)
    return () => clearTimeout(timer.current)
  }, [q, connected, me])

  const toggle = (u: User) =>
    setPicked((p) => (p.some((x) => x.id === u.id) ? p.filter((x) => x.id !== u.id) : [...p, u]))

  const start = async () => {
    if (picked.length === 0 || busy) return
    setBusy(true)
    try {
      const id =
        picked.length === 1
          ? await client.openDirect(picked[0]!.id)
          : (await client.createConv('group', picked.map((u) => u.id), title.trim() || undefined)).id
      replaceWith(`/pages/chat/index?conv=${encodeURIComponent(id)}`)
    } catch (err) {
      void Taro.showToast({ title: isAppError(err) ? errorText(err) : t('new.startFailed'), icon: 'none' })
    } finally {
      setBusy(false)
    }
  }

  return (
    <View className='nc'>
      <View className='nc-s'>
        <Input className='nc-in' id='search' placeholder={t('new.search')} value={q} onInput={(e) => setQ(e.detail.value)} />
      </View>
      {picked.length > 1 ? (
        <View className='nc-s'>
          <Input
            className='nc-in'
            placeholder={t('new.groupName')}
            maxlength={LIMITS.maxTitleChars}
            value={title}
            onInput={(e) => setTitle(e.detail.value)}
          />
        </View>
      ) : null}
      <ScrollView className='nc-l' scrollY>
        {!connected ? <Text className='nc-h'>{t('new.needConnection')}</Text> : null}
        {error ? <Text className='nc-h'>{error}</Text> : null}
        {connected && found === undefined ? <Text className='nc-h'>{t('new.searching')}</Text> : null}
        {found && found.length === 0 ? <Text className='nc-h'>{q ? t('new.nobodyFor', { q }) : t('new.nobody')}</Text> : null}
        {(found ?? []).map((u) => {
          const on = picked.some((x) => x.id === u.id)
          return (
            <View key={u.id} className='nc-u' id={`user-${u.id}`} role='checkbox' aria-checked={on} onClick={() => toggle(u)}>
              <View className={on ? 'nc-c nc-on' : 'nc-c'} aria-label={on ? t('a11y.selected') : undefined}>
                {on ? '✓' : ''}
              </View>
              <Avatar id={u.id} name={u.name} />
              <View className='nc-t'>
                <Text className='nc-n'>{u.name || u.id}</Text>
                <Text className='nc-id'>{u.id}</Text>
              </View>
            </View>
          )
        })}
      </ScrollView>
      <View className='nc-f'>
        <View className={picked.length && !busy ? 'nc-go' : 'nc-go nc-dis'} id='start-chat' role='button' aria-disabled={!picked.length || busy} onClick={() => void start()}>
          <Text>{picked.length > 1
              ? t('new.createGroup', { n: picked.length })
              : picked.length === 1
                ? t('new.chatWith', { name: picked[0]!.name || picked[0]!.id })
                : t('new.pick')}</Text>
        </View>
      </View>
    </View>
  )
}
