/**
 * The app's language: the one the user chose (persisted), else the platform's (weapp:
 * `getAppBaseInfo().language`, older base libraries `getSystemInfoSync().language`; h5:
 * `navigator.language`), zh-CN when unknown. Switching reloads the app on the conversation list,
 * so every page renders in the new language and the navigation bar titles follow.
 */
import Taro from '@tarojs/taro'
import { errorSentence, isLocale, refusalSentence, resolveLocale, translate, type Locale, type Params } from './i18n'
import type { MessageKey } from './messages'

export type { Locale } from './i18n'
export type { MessageKey } from './messages'

/** Storage key of the user's choice (absent: follow the platform). */
export const LOCALE_STORAGE_KEY = 'chat.locale'

function platformLanguage(): string | undefined {
  if (process.env.TARO_ENV === 'h5') return typeof navigator === 'undefined' ? undefined : navigator.language
  try {
    const t = Taro as unknown as { getAppBaseInfo?: () => { language?: string } }
    if (typeof t.getAppBaseInfo === 'function') {
      const lang = t.getAppBaseInfo().language
      if (lang) return lang
    }
    return (Taro.getSystemInfoSync() as { language?: string }).language
  } catch {
    return undefined
  }
}

function stored(): Locale | undefined {
  try {
    const v: unknown = Taro.getStorageSync(LOCALE_STORAGE_KEY)
    return isLocale(v) ? v : undefined
  } catch {
    return undefined
  }
}

let current: Locale | undefined

export function locale(): Locale {
  current ??= stored() ?? resolveLocale(platformLanguage())
  return current
}

export function t(key: MessageKey, params?: Params): string {
  return translate(locale(), key, params)
}

/** Persist the choice and reload on the conversation list in that language. */
export function switchLocale(next: Locale): void {
  current = next
  try {
    Taro.setStorageSync(LOCALE_STORAGE_KEY, next)
  } catch {
    // still switched for this run
  }
  Taro.reLaunch({ url: '/pages/index/index' }).catch(() => undefined)
}

/** The sentence for an error (i18n.ts `errorSentence`), `fallback` when it has no code of ours. */
export function errorText(err: unknown, fallback?: MessageKey): string {
  return errorSentence(t, err, fallback)
}

export function refusalText(failure: { code: string; message: string }): string {
  return refusalSentence(t, failure)
}

/** Page title in the current language (the navigation bar on weapp, document.title on h5). */
export function setPageTitle(key: MessageKey): void {
  Taro.setNavigationBarTitle({ title: t(key) }).catch(() => undefined)
}

