/**
 * Group info (PROTOCOL.md, "Groups"): the members with their roles, a page at a time (`members`),
 * and what the user's role allows: add someone found by search, remove, rename, make admin,
 * transfer ownership, dissolve (owner); leave (everyone but the owner). Each action is one
 * `group` request; the change reaches every member as a system message of the chat. Anyone can
 * report another member ("投诉", components/report.ts). Mute and pin, as in a 1:1 chat's info (the
 * `settings` request of the list's long press, for all of the user's devices).
 */
import { Input, ScrollView, Switch, Text, View } from '@tarojs/components'
import Taro, { useDidShow, useRouter } from '@tarojs/taro'
import { confirmed } from '../../components/dialog'
import { goBack } from '../../components/nav'
import { useCallback, useEffect, useRef, useState } from 'react'
import { AppError, type ServerFrameOf, type User, type UserId } from '@chat/shared'
import { errorText, t } from '../../i18n'
import { Avatar } from '../../components/Avatar'
import { reportPerson } from '../../components/report'
import { H5Header } from '../../components/H5Header'
import { ConnectionBanner } from '../../components/StatusBar'
import { usePageGate } from '../../hooks'
import { client } from '../../services'
import type { RequestFrame } from '../../net/chat-client'
import { GateProvider, useGate, useShallow, useStore } from '../../store/react'
import { convTitle, memberCountOf } from '../../store/selectors'
import '../contacts/index.css'
import '../dm/index.css'
import './index.css'

type Role = 'owner' | 'admin' | 'member'
type Member = ServerFrameOf<'members'>['items'][number]

/** Members asked for per page. */
const MEMBERS_PAGE = 50
/** Search as the user types, at most this often, ms. */
const SEARCH_DEBOUNCE_MS = 250

export default function GroupPage() {
  const gate = usePageGate()
  const conv = decodeURIComponent(useRouter().params.conv ?? '')
  // "聊天信息(4)", as WeChat titles a group's info: the count follows adds and removals; a group
  // the user left shows none (its member list is no longer theirs to know).
  const count = useStore(gate, (s) => (s.ended?.[conv] || !s.convs[conv] ? undefined : memberCountOf(s.convs[conv])))
  const title = count === undefined ? t('title.group') : t('title.groupCount', { n: count })
  // A page in the background is not rendered (usePageGate): the count moves the bar only while this
  // page is the one shown, and is set again when it shows.
  const latest = useRef(title)
  latest.current = title
  useDidShow(() => void Taro.setNavigationBarTitle({ title: latest.current }).catch(() => undefined))
  useEffect(() => void Taro.setNavigationBarTitle({ title }).catch(() => undefined), [title])
  return (
    <GateProvider gate={gate}>
      <View className='kt'>
        <ConnectionBanner />
        <H5Header title={title} />
        <GroupInfo conv={conv} />
      </View>
    </GateProvider>
  )
}

function GroupInfo({ conv }: { conv: string }) {
  const gate = useGate()
  const me = useStore(gate, (s) => s.me?.id)
  const connected = useStore(gate, (s) => s.conn.state === 'connected')
  // Untitled: the name the header and the list show ("张三、李四"), as the field's placeholder.
  const title = useStore(gate, (s) => (s.convs[conv] ? convTitle(s.convs[conv], s.me?.id, t) : ''))
  // Any change of the group (a system message arrived) reloads the members.
  const lastSeq = useStore(gate, (s) => s.convs[conv]?.lastSeq ?? 0)
  // The group's size, not the members paged in so far ("Members (2000)" above the first 50).
  const total = useStore(gate, (s) => (s.convs[conv] ? memberCountOf(s.convs[conv]) : undefined))
  const settings = useStore(gate, useShallow((s) => ({ muted: s.convs[conv]?.muted === true, pinned: s.convs[conv]?.pinned !== undefined })))
  const [members, setMembers] = useState<Member[]>([])
  const [next, setNext] = useState<number | undefined>()
  const [error, setError] = useState<string | undefined>()
  const [name, setName] = useState('')

  const page = useCallback(
    async (after: number) => {
      const f = (await client.sendRequest({ type: 'members', conv, after, limit: MEMBERS_PAGE })) as ServerFrameOf<'members'>
      setMembers((old) => (after === 0 ? f.items : [...old, ...f.items]))
      setNext(f.next)
    },
    [conv],
  )
  useEffect(() => {
    if (connected) page(0).catch((err: unknown) => setError(codeOf(err)))
  }, [connected, page, lastSeq])

  const myRole: Role = members.find((m) => m.user.id === me)?.role ?? 'member'
  const act = async (frame: Omit<Extract<RequestFrame, { type: 'group' }>, 'type' | 'conv'>, confirm?: string) => {
    if (confirm && !(await confirmed(confirm))) return
    try {
      await client.sendRequest({ type: 'group', conv, ...frame })
      setError(undefined)
      if (frame.op === 'leave' || frame.op === 'dissolve') goBack()
    } catch (err) {
      setError(codeOf(err))
    }
  }

  const change = (c: { muted?: boolean; pinned?: boolean }) =>
    void client.setConvSettings(conv, c).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'list.settingsFailed'), icon: 'none' }))

  return (
    <ScrollView className='kt-l' scrollY>
      {error ? (
        <View className='kt-err' id='group-error' role='alert' onClick={() => setError(undefined)}>
          <Text>{t(`err.${error}` as Parameters<typeof t>[0])}</Text>
        </View>
      ) : null}
      {myRole !== 'member' ? (
        <View className='kt-sec'>
          <Text className='kt-h'>{t('group.rename')}</Text>
          <View className='gp-row'>
            <Input className='kt-in gp-in' id='group-title' placeholder={title} value={name} onInput={(e) => setName(e.detail.value)} />
            <Button id='group-rename' label={t('group.save')} onClick={() => name.trim() && void act({ op: 'rename', title: name.trim() }).then(() => setName(''))} primary />
          </View>
        </View>
      ) : null}
      {myRole !== 'member' ? <AddMembers members={members} onAdd={(u) => void act({ op: 'add', users: [u] })} /> : null}
      <View className='kt-sec'>
        <Text className='kt-h'>{t('group.members', { n: total ?? members.length })}</Text>
        {members.map((m) => (
          <View key={m.user.id} className='kt-u gp-u' id={`member-${m.user.id}`}>
            <Avatar id={m.user.id} name={m.user.name} />
            {/* Name and role take the row; several actions get a line of their own below (a 320 px screen
                has no room beside them), a lone 投诉 stays at the row's right, as WeChat draws one action. */}
            <View className='kt-t'>
              <Text className='kt-n'>{m.user.name}</Text>
              {m.role !== 'member' ? <Text className='kt-s'>{t(`group.role.${m.role}`)}</Text> : null}
            </View>
            {m.user.id !== me ? (
              <View className={canRemove(myRole, m.role) || myRole === 'owner' ? 'gp-a' : 'gp-a gp-a1'}>
                {canRemove(myRole, m.role) ? (
                  <Button id={`remove-${m.user.id}`} label={t('group.remove')} onClick={() => void act({ op: 'remove', users: [m.user.id] })} danger />
                ) : null}
                {myRole === 'owner' ? (
                  <>
                    <Button
                      id={`admin-${m.user.id}`}
                      label={m.role === 'admin' ? t('group.unadmin') : t('group.admin')}
                      onClick={() => void act({ op: m.role === 'admin' ? 'unadmin' : 'admin', users: [m.user.id] })}
                    />
                    <Button id={`transfer-${m.user.id}`} label={t('group.transfer')} onClick={() => void act({ op: 'transfer', users: [m.user.id] }, t('group.confirmTransfer', { name: m.user.name }))} />
                  </>
                ) : null}
                <Button id={`report-${m.user.id}`} label={t('report.user')} onClick={() => void reportPerson(m.user.id)} />
              </View>
            ) : null}
          </View>
        ))}
        {next !== undefined ? <Button id='members-more' label={t('group.more')} onClick={() => void page(next).catch((err: unknown) => setError(codeOf(err)))} /> : null}
      </View>
      <View className='kt-sec'>
        <View className='dm-r' id='group-mute-row'>
          <Text className='dm-l'>{t('list.mute')}</Text>
          <Switch id='group-mute' checked={settings.muted} color='#07c160' onChange={(e) => change({ muted: e.detail.value })} />
        </View>
        <View className='dm-r' id='group-pin-row'>
          <Text className='dm-l'>{t('dm.pin')}</Text>
          <Switch id='group-pin' checked={settings.pinned} color='#07c160' onChange={(e) => change({ pinned: e.detail.value })} />
        </View>
      </View>
      <View className='kt-sec gp-end'>
        {myRole === 'owner' ? (
          <Button id='group-dissolve' label={t('group.dissolve')} onClick={() => void act({ op: 'dissolve' }, t('group.confirmDissolve'))} danger />
        ) : (
          <Button id='group-leave' label={t('group.leave')} onClick={() => void act({ op: 'leave' }, t('group.confirmLeave'))} danger />
        )}
      </View>
    </ScrollView>
  )
}

/** The owner removes anyone, an admin plain members only (the server checks the same: NOT_ADMIN). */
function canRemove(me: Role, them: Role): boolean {
  return them !== 'owner' && (me === 'owner' || (me === 'admin' && them === 'member'))
}

function AddMembers({ members, onAdd }: { members: readonly Member[]; onAdd: (u: UserId) => void }) {
  const [q, setQ] = useState('')
  const [found, setFound] = useState<User[]>([])
  const timer = useRef<ReturnType<typeof setTimeout>>()
  useEffect(() => {
    clearTimeout(timer.current)
    if (q.trim() === '') return setFound([])
    timer.current = setTimeout(() => {
      client.searchUsers(q.trim()).then(setFound, () => setFound([]))
    }, SEARCH_DEBOUNCE_MS)
    return () => clearTimeout(timer.current)
  }, [q])
  const inGroup = new Set(members.map((m) => m.user.id))
  return (
    <View className='kt-sec'>
      <Text className='kt-h'>{t('group.add')}</Text>
      <Input className='kt-in' id='group-search' placeholder={t('new.search')} value={q} onInput={(e) => setQ(e.detail.value)} />
      {found
        .filter((u) => !inGroup.has(u.id))
        .map((u) => (
          <View key={u.id} className='kt-u' id={`found-${u.id}`}>
            <Avatar id={u.id} name={u.name} />
            <View className='kt-t'>
              <Text className='kt-n'>{u.name}</Text>
              <Text className='kt-s'>{u.id}</Text>
            </View>
            <Button id={`add-${u.id}`} label={t('group.addOne')} onClick={() => onAdd(u.id)} primary />
          </View>
        ))}
    </View>
  )
}

function Button(p: { id: string; label: string; onClick: () => void; primary?: boolean; danger?: boolean }) {
  const cls = `kt-b${p.primary ? ' kt-b1' : ''}${p.danger ? ' kt-b2' : ''}`
  return (
    <View className={cls} id={p.id} role='button' onClick={p.onClick}>
      <Text>{p.label}</Text>
    </View>
  )
}

function codeOf(err: unknown): string {
  return err instanceof AppError ? err.code : 'NETWORK'
}
