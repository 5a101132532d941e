// Decorative: the name it stands for is always written beside it, so screen readers skip it (aria-hidden).
import { Text, View } from '@tarojs/components'
import { memo } from 'react'
import { colorOf, initials } from '../format'
import './avatar.css'

export const Avatar = memo(function Avatar(props: { id: string; name: string; size?: 'l' | 's'; online?: boolean }) {
  const text = initials(props.name || props.id)
  // Two characters (a Chinese given name) in a smaller size, to fit the square with a margin.
  const two = Array.from(text).length > 1
  return (
    <View className={`av av-${props.size ?? 's'}`} style={`background:${colorOf(props.id)}`} aria-hidden='true'>
      <Text className={two ? 'av-t av-t2' : 'av-t'}>{text}</Text>
      {props.online ? <View className='av-on' /> : null}
    </View>
  )
})
