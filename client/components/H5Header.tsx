/**
 * The page title with a back arrow on h5, which has no native navigation bar (on weapp the page
 * config's navigationBarTitleText does this, so nothing renders there).
 */
import { Text, View } from '@tarojs/components'
import { goBack } from './nav'
import './h5-header.css'

export function H5Header(props: { title: string }) {
  if (process.env.TARO_ENV !== 'h5') return null
  return (
    <View className='hh'>
      <Text className='hh-back' onClick={goBack}>
        ‹
      </Text>
      <Text className='hh-title'>{props.title}</Text>
    </View>
  )
}
