/**
 * Contacts (PROTOCOL.md, "Relations"): requests received (accept, decline), the contacts with
 * presence (message, remove, block, report), sent requests, blocked users (unblock, report), adding someone found
 * by search with a short note, and who may open a 1:1 with me. State: client/store/contacts.ts.
 */
import { Input, ScrollView, Switch, Text, View } from '@tarojs/components'
import Taro, { useDidShow } from '@tarojs/taro'
import { goTo } from '../../components/nav'
import { useEffect, useRef, useState } from 'react'
import { useShallow } from 'zustand/react/shallow'
import { LIMITS, type RelationEntry, type User } from '@chat/shared'
import { lastSeen } from '../../format'
import { setPageTitle, t } from '../../i18n'
import { Avatar } from '../../components/Avatar'
import { reportPerson } from '../../components/report'
import { H5Header } from '../../components/H5Header'
import { ConnectionBanner } from '../../components/StatusBar'
import { usePageGate } from '../../hooks'
import { client, contacts } from '../../services'
import { GateProvider, useGate, useStore } from '../../store/react'
import './index.css'

/** Search as the user types, at most this often, ms. */
const SEARCH_DEBOUNCE_MS = 250

export default function ContactsPage() {
  const gate = usePageGate()
  useDidShow(() => setPageTitle('title.contacts'))
  return (
    <GateProvider gate={gate}>
      <View className='kt'>
        <Loader />
        <ConnectionBanner />
        <H5Header title={t('title.contacts')} />
        <ScrollView className='kt-l' scrollY>
          <ErrorLine />
          <Add />
          <Lists />
          <Policy />
        </ScrollView>
      </View>
    </GateProvider>
  )
}

/** The list is asked for when the page shows and whenever the connection comes (back): pushes missed while away are in it. */
function Loader() {
  const gate = useGate()
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  const [shown, setShown] = useState(0)
  useDidShow(() => setShown((n) => n + 1))
  useEffect(() => {
    if (connected) void contacts.getState().load()
  }, [connected, shown])
  return null
}

function ErrorLine() {
  const error = contacts((s) => s.error)
  if (!error) return null
  return (
    <View className='kt-err' id='contacts-error' role='alert' onClick={() => contacts.getState().clearError()}>
      <Text>{t(`err.${error}` as Parameters<typeof t>[0])}</Text>
    </View>
  )
}

function Add() {
  const gate = useGate()
  const me = useStore(gate, (s) => s.me?.id)
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  const known = contacts(useShallow((s) => Object.fromEntries(s.items.map((e) => [e.user.id, e.state]))))
  const [q, setQ] = useState('')
  const [note, setNote] = useState('')
  const [found, setFound] = useState<User[]>([])
  const timer = useRef<ReturnType<typeof setTimeout>>()

  useEffect(() => {
    clearTimeout(timer.current)
    if (!connected || q.trim() === '') return setFound([])
    timer.current = setTimeout(() => {
      client.searchUsers(q.trim()).then(
        (users) => setFound(users.filter((u) => u.id !== me)),
        () => setFound([]),
      )
    }, SEARCH_DEBOUNCE_MS)
    return () => clearTimeout(timer.current)
  }, [q, connected, me])

  const request = async (u: User) => {
    if (await contacts.getState().act('request', u.id, note)) {
      setNote('')
      void Taro.showToast({ title: t('contacts.requested'), icon: 'none' })
    }
  }

  return (
    <View className='kt-sec'>
      <Text className='kt-h'>{t('contacts.add')}</Text>
      <Input className='kt-in' id='contact-search' placeholder={t('new.search')} value={q} onInput={(e) => setQ(e.detail.value)} />
      <Input
        className='kt-in'
        id='contact-note'
        placeholder={t('contacts.note', { n: LIMITS.maxNoteChars })}
        maxlength={LIMITS.maxNoteChars}
        value={note}
        onInput={(e) => setNote(e.detail.value)}
      />
      {found.map((u) => {
        const state = known[u.id]
        return (
          <View key={u.id} className='kt-u' id={`found-${u.id}`}>
            <Avatar id={u.id} name={u.name} />
            <Who user={u} />
            {state === 'contact' ? (
              <Text className='kt-tag'>{t('contacts.isContact')}</Text>
            ) : state === 'outgoing' ? (
              <Text className='kt-tag'>{t('contacts.pending')}</Text>
            ) : (
              <Button id={`request-${u.id}`} onClick={() => void request(u)} label={t('contacts.send')} primary />
            )}
          </View>
        )
      })}
    </View>
  )
}

function Lists() {
  const gate = useGate()
  const { items, loaded } = contacts(useShallow((s) => ({ items: s.items, loaded: s.loaded })))
  const presence = useStore(gate, (s) => s.presence)
  const incoming = items.filter((e) => e.state === 'incoming')
  const mine = items.filter((e) => e.state === 'contact')
  const outgoing = items.filter((e) => e.state === 'outgoing')
  const blocked = items.filter((e) => e.state === 'blocked')
  const act = (op: Parameters<ReturnType<typeof contacts.getState>['act']>[0], e: RelationEntry) => void contacts.getState().act(op, e.user.id)
  const chat = async (e: RelationEntry) => {
    try {
      const id = await client.openDirect(e.user.id)
      goTo(`/pages/chat/index?conv=${encodeURIComponent(id)}`)
    } catch {
      void contacts.getState().load()
    }
  }
  return (
    <View>
      {incoming.length > 0 ? (
        <View className='kt-sec' id='requests'>
          <Text className='kt-h'>{t('contacts.requests')}</Text>
          {incoming.map((e) => (
            <Row key={e.user.id} e={e} sub={e.note}>
              <Button id={`decline-${e.user.id}`} label={t('contacts.decline')} onClick={() => act('decline', e)} />
              <Button id={`accept-${e.user.id}`} label={t('contacts.accept')} onClick={() => act('accept', e)} primary />
            </Row>
          ))}
        </View>
      ) : null}
      <View className='kt-sec' id='contacts'>
        <Text className='kt-h'>{t('contacts.list', { n: mine.length })}</Text>
        {!loaded ? <Text className='kt-note'>{t('contacts.loading')}</Text> : mine.length === 0 ? <Text className='kt-note'>{t('contacts.none')}</Text> : null}
        {mine.map((e) => {
          // Live presence where the chat store has it (a shared conversation), else the list's.
          const p = presence[e.user.id] ?? { online: e.online ?? false, lastSeen: e.lastSeen }
          return (
            <Row key={e.user.id} e={e} sub={p.online ? t('chat.online') : lastSeen(p.lastSeen, Date.now(), t)} online={p.online}>
              <Button id={`chat-${e.user.id}`} label={t('contacts.chat')} onClick={() => void chat(e)} primary />
              <Button id={`remove-${e.user.id}`} label={t('contacts.remove')} onClick={() => act('remove', e)} />
              <Button id={`block-${e.user.id}`} label={t('contacts.block')} onClick={() => act('block', e)} danger />
              <Button id={`report-${e.user.id}`} label={t('report.user')} onClick={() => void reportPerson(e.user.id)} />
            </Row>
          )
        })}
      </View>
      {outgoing.length > 0 ? (
        <View className='kt-sec' id='sent'>
          <Text className='kt-h'>{t('contacts.sent')}</Text>
          {outgoing.map((e) => (
            <Row key={e.user.id} e={e} sub={e.note}>
              <Text className='kt-tag'>{t('contacts.waiting')}</Text>
            </Row>
          ))}
        </View>
      ) : null}
      {blocked.length > 0 ? (
        <View className='kt-sec' id='blocked'>
          <Text className='kt-h'>{t('contacts.blocked')}</Text>
          {blocked.map((e) => (
            <Row key={e.user.id} e={e}>
              <Button id={`unblock-${e.user.id}`} label={t('contacts.unblock')} onClick={() => act('unblock', e)} />
              <Button id={`report-${e.user.id}`} label={t('report.user')} onClick={() => void reportPerson(e.user.id)} />
            </Row>
          ))}
        </View>
      ) : null}
    </View>
  )
}

function Policy() {
  const policy = contacts((s) => s.policy)
  return (
    <View className='kt-sec kt-pol'>
      <Text className='kt-pt'>{t('contacts.policy')}</Text>
      <Switch
        id='contacts-only'
        checked={policy === 'contacts'}
        color='#07c160'
        onChange={(e) => void contacts.getState().setPolicy(e.detail.value ? 'contacts' : 'anyone')}
      />
    </View>
  )
}

function Row(p: { e: RelationEntry; sub?: string | undefined; online?: boolean; children?: React.ReactNode }) {
  return (
    <View className='kt-u' id={`rel-${p.e.user.id}`}>
      <Avatar id={p.e.user.id} name={p.e.user.name} />
      <Who user={p.e.user} sub={p.sub} online={p.online} />
      <View className='kt-a'>{p.children}</View>
    </View>
  )
}

function Who(p: { user: User; sub?: string | undefined; online?: boolean | undefined }) {
  return (
    <View className='kt-t'>
      <Text className='kt-n'>{p.user.name || p.user.id}</Text>
      <Text className={p.online ? 'kt-s kt-on' : 'kt-s'}>{p.sub ?? p.user.id}</Text>
    </View>
  )
}

function Button(p: { id: string; label: string; onClick: () => void; primary?: boolean; danger?: boolean }) {
  const busy = contacts((s) => Object.keys(s.busy).length > 0)
  const cls = `kt-b${p.primary ? ' kt-b1' : ''}${p.danger ? ' kt-b2' : ''}${busy ? ' kt-dis' : ''}`
  return (
    <View className={cls} id={p.id} role='button' aria-disabled={busy} onClick={busy ? undefined : p.onClick}>
      <Text>{p.label}</Text>
    </View>
  )
}
