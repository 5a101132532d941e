/** Navigation helpers shared by pages. */
import Taro from '@tarojs/taro'

const HOME = '/pages/index/index'

/**
 * Back to the previous page, or to the conversation list when there is none: after a reload or when
 * a chat URL is opened directly (h5), the page stack holds only this page, and `navigateBack` then
 * resolves without going anywhere (Taro h5 calls history.back(), which leaves the app or does
 * nothing), so asking it first and catching its failure is not enough.
 */
export function goBack(): void {
  if (Taro.getCurrentPages().length > 1) {
    Taro.navigateBack().catch(() => Taro.reLaunch({ url: HOME }))
    return
  }
  Taro.reLaunch({ url: HOME }).catch(() => undefined)
}
