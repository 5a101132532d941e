/**
 * The page title with a back arrow on h5, which has no native navigation bar (on weapp the page
 * config's navigationBarTitleText does this, so nothing renders there).
 */
import { Text, View } from '@tarojs/components'
import { t } from '../i18n'
import { goBack } from './nav'
import './h5-header.css'

export function H5Header(props: { title: string }) {
  if (process.env.TARO_ENV !== 'h5') return null
  return (
    <View className='hh'>
      <View className='hh-back' role='button' aria-label={t('a11y.back')} onClick={goBack}>
        ‹
      </View>
      <Text className='hh-title'>{props.title}</Text>
    </View>
  )
}
