// Decorative: the name it stands for is always written beside it, so screen readers skip it (aria-hidden).
import { Text, View } from '@tarojs/components'
import { memo } from 'react'
import { colorOf, initials } from '../format'
import './avatar.css'

export const Avatar = memo(function Avatar(props: { id: string; name: string; size?: 'l' | 's'; online?: boolean }) {
  return (
    <View className={`av av-${props.size ?? 's'}`} style={`background:${colorOf(props.id)}`} aria-hidden='true'>
      <Text className='av-t'>{initials(props.name || props.id)}</Text>
      {props.online ? <View className='av-on' /> : null}
    </View>
  )
})
