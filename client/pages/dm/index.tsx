/**
 * A 1:1 chat's info page (WeChat's "聊天信息"), opened from the chat's header: the other person,
 * mute and pin (the same `settings` request as the conversation list's long press, for all of the
 * user's devices), and "投诉" (components/report.ts), the one way to report someone who is not a
 * contact other than message by message.
 */
import { ScrollView, Switch, Text, View } from '@tarojs/components'
import Taro, { useDidShow, useRouter } from '@tarojs/taro'
import type { ConvId } from '@chat/shared'
import { errorText, setPageTitle, t } from '../../i18n'
import { Avatar } from '../../components/Avatar'
import { reportPerson } from '../../components/report'
import { H5Header } from '../../components/H5Header'
import { ConnectionBanner } from '../../components/StatusBar'
import { usePageGate } from '../../hooks'
import { client } from '../../services'
import { GateProvider, useGate, useShallow, useStore } from '../../store/react'
import { otherMember } from '../../store/selectors'
import '../contacts/index.css'
import './index.css'

export default function DirectInfoPage() {
  const gate = usePageGate()
  const conv = decodeURIComponent(useRouter().params.conv ?? '')
  useDidShow(() => setPageTitle('title.dm'))
  return (
    <GateProvider gate={gate}>
      <View className='kt'>
        <ConnectionBanner />
        <H5Header title={t('title.dm')} />
        <DirectInfo conv={conv} />
      </View>
    </GateProvider>
  )
}

function DirectInfo({ conv }: { conv: ConvId }) {
  const gate = useGate()
  const info = useStore(gate, useShallow((s) => {
    const c = s.convs[conv]
    const other = c?.kind === 'direct' ? otherMember(c, s.me?.id) : undefined
    return { id: other?.id, name: other?.name || other?.id || '', muted: c?.muted === true, pinned: c?.pinned !== undefined }
  }))
  // Not a 1:1 chat the store holds (a stale link): nothing to show or change.
  if (info.id === undefined) return null
  const other = info.id
  const change = (c: { muted?: boolean; pinned?: boolean }) =>
    void client.setConvSettings(conv, c).catch((err: unknown) => Taro.showToast({ title: errorText(err, 'list.settingsFailed'), icon: 'none' }))
  return (
    <ScrollView className='kt-l' scrollY>
      <View className='kt-sec'>
        <View className='kt-u dm-who' id='dm-person'>
          <Avatar id={other} name={info.name} size='l' />
          <View className='kt-t'>
            <Text className='kt-n'>{info.name}</Text>
            <Text className='kt-s'>{other}</Text>
          </View>
        </View>
      </View>
      <View className='kt-sec'>
        <View className='dm-r' id='dm-mute-row'>
          <Text className='dm-l'>{t('list.mute')}</Text>
          <Switch id='dm-mute' checked={info.muted} color='#07c160' onChange={(e) => change({ muted: e.detail.value })} />
        </View>
        <View className='dm-r' id='dm-pin-row'>
          <Text className='dm-l'>{t('dm.pin')}</Text>
          <Switch id='dm-pin' checked={info.pinned} color='#07c160' onChange={(e) => change({ pinned: e.detail.value })} />
        </View>
      </View>
      <View className='kt-sec dm-end'>
        <View className='dm-r' id='dm-report' role='button' onClick={() => void reportPerson(other)}>
          <Text className='dm-l'>{t('report.user')}</Text>
          <Text className='dm-go' aria-hidden='true'>
            ›
          </Text>
        </View>
      </View>
    </ScrollView>
  )
}
