// Decorative: the name it stands for is always written beside it, so screen readers skip it (aria-hidden).
import { Text, View } from '@tarojs/components'
import { memo } from 'react'
import { colorOf, faceRows, initial, initials } from '../format'
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

/**
 * A group's avatar as WeChat draws it: its first members' faces in a grid (faceRows), each a tile in
 * the member's own colour with one character of their name (initial), on a light square.
 */
export const GroupAvatar = memo(function GroupAvatar(props: { members: readonly { id: string; name: string }[] }) {
  const rows = faceRows(props.members)
  const cols = props.members.length <= 4 ? 2 : 3
  return (
    <View className={`av av-l avg avg-${cols}`} aria-hidden='true'>
      {rows.map((row, r) => (
        <View className='avg-r' key={r}>
          {row.map((m) => (
            <View className='avg-f' key={m.id} style={`background:${colorOf(m.id)}`}>
              <Text className='avg-t'>{initial(m.name || m.id)}</Text>
            </View>
          ))}
        </View>
      ))}
    </View>
  )
})
