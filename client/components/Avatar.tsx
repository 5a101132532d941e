import { Text, View } from '@tarojs/components'
import { memo } from 'react'
import { colorOf, initials } from '../format'
import './avatar.css'

export const Avatar = memo(function Avatar(props: { id: string; name: string; size?: 'l' | 's'; online?: boolean }) {
  return (
    <View className={`av av-${props.size ?? 's'}`} style={`background:${colorOf(props.id)}`}>
      <Text className='av-t'>{initials(props.name || props.id)}</Text>
      {props.online ? <View className='av-on' /> : null}
    </View>
  )
})
