import { Text, View } from '@tarojs/components'
import Taro from '@tarojs/taro'
import { useEffect, useState } from 'react'
import { t } from '../../i18n'
import { showSubscribePrompt, type SubscriptionState } from '../../net/moderation'
import { moderation } from '../../services'

/**
 * "Notify me" (weapp only: h5 has no subscription messages and never renders this). Shown while
 * the BFF offers a template and holds no notification for this user; the tap asks WeChat (which
 * accepts `requestSubscribeMessage` only from a tap) and reports what was accepted.
 */
export function SubscribeBanner() {
  const [state, setState] = useState<SubscriptionState | undefined>(undefined)
  useEffect(() => {
    let live = true
    moderation.subscriptions().then(
      (s) => live && setState(s),
      () => undefined,
    )
    return () => {
      live = false
    }
  }, [])
  if (!showSubscribePrompt(moderation.available, state)) return null
  const ask = () => {
    moderation.subscribe(state!.templateIds).then(
      (allowances) => setState({ templateIds: state!.templateIds, allowances }),
      () => Taro.showToast({ title: t('subscribe.refused'), icon: 'none' }),
    )
  }
  return (
    <View className='sb' id='subscribe' onClick={ask}>
      <Text>{t('subscribe.banner')}</Text>
    </View>
  )
}
