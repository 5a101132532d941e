/**
 * A voice message: a bubble as wide as the voice is long (client/voice/layout.ts) with the speaker
 * mark, the duration beside it, and - on a received voice this device has not played - a red dot.
 * A tap plays it through the app's one player (starting it stops any other voice) or stops it.
 * Each bubble watches only its own "playing" and "played" state, so a tap re-renders two bubbles
 * at most, never the list.
 */
import { Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
import { useSyncExternalStore } from 'react'
import type { VoiceBody } from '@chat/shared'
import { t } from '../i18n'
import { playedMarks, store, voicePlayer } from '../services'
import type { ChatMessage } from '../store/types'
import { voiceSeconds, voiceWidth } from '../voice/layout'
import { mediaUrl } from './media'
import './voice.css'

export function VoiceBubble({ m, own }: { m: ChatMessage; own: boolean }) {
  const body = m.body as Partial<VoiceBody>
  const duration = body.duration ?? 0
  const key = m.mid ?? m.cid
  const me = store.getState().me?.id ?? ''
  const playing = useSyncExternalStore(voicePlayer.subscribe, () => voicePlayer.playing() === key)
  const played = useSyncExternalStore(playedMarks.subscribe, () => own || m.seq === undefined || playedMarks.has(me, key))
  const s = voiceSeconds(duration)
  const src = body.url ? mediaUrl(body.url) : (m.upload?.localPath ?? '')
  const tap = () => {
    if (!src) return
    voicePlayer.toggle(key, src)
    if (!own && m.seq !== undefined) playedMarks.mark(me, key)
  }
  return (
    <View className={own ? 'vw vw-me' : 'vw'}>
      <View
        className={`vc${own ? ' vc-me' : ''}${playing ? ' vc-on' : ''}`}
        style={`width:${Taro.pxTransform(voiceWidth(duration))}`}
        role='button'
        aria-label={t(played ? 'a11y.voice' : 'a11y.voiceUnplayed', { s })}
        onClick={tap}
      >
        <View className='vi' aria-hidden='true'>
          <View className='vi0' />
          <View className='vi1' />
          <View className='vi2' />
        </View>
      </View>
      <Text className='vd'>{t('voice.seconds', { s })}</Text>
      {played ? null : <View className='vdot' />}
    </View>
  )
}
