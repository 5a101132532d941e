/**
 * Language choice and lookup, free of Taro (the adapter in index.ts supplies the platform's
 * language and storage). zh-CN first: any language that is not English, and no language at all,
 * gets Chinese, the language of WeChat's users.
 */
import { CATALOGUES, type MessageKey } from './messages'

export type Locale = keyof typeof CATALOGUES
export const LOCALES: readonly Locale[] = ['zh-CN', 'en']
export type Params = Readonly<Record<string, string | number>>

/**
 * The locale for a platform language tag: WeChat reports `zh_CN`, `zh_TW`, `en` (underscores),
 * browsers `zh-CN`, `en-US`. English tags get English; everything else, and nothing, zh-CN.
 */
export function resolveLocale(tag: string | undefined | null): Locale {
  if (!tag) return 'zh-CN'
  const primary = tag.trim().toLowerCase().split(/[-_]/)[0]
  return primary === 'en' ? 'en' : 'zh-CN'
}

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v)
}

/** The catalogue's text for `key` in `locale`, `{name}` placeholders filled from `params`. */
export function translate(locale: Locale, key: MessageKey, params?: Params): string {
  const text = CATALOGUES[locale][key]
  if (!params) return text
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in params ? String(params[name]) : m))
}

export type Translate = (key: MessageKey, params?: Params) => string

export function hasKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(CATALOGUES['zh-CN'], key)
}

/**
 * The sentence for an error: a code of the shared table (or the client's own NETWORK /
 * INTERRUPTED) gets its sentence telling what to do; anything else gets `fallback` (by default:
 * no code, so the request never got an answer, and the server was not reached).
 */
export function errorSentence(tr: Translate, err: unknown, fallback: MessageKey = 'login.unreachable'): string {
  const code = (err as { code?: unknown } | null | undefined)?.code
  const key = `err.${String(code)}`
  return typeof code === 'string' && hasKey(key) ? tr(key) : tr(fallback)
}

/**
 * Why an upload was refused, in the user's language, with the server's limit. The server names the
 * maximum size in its message ("... of 100 MiB", bff/src/upload/router.ts); that figure is kept.
 */
export function refusalSentence(tr: Translate, failure: { code: string; message: string }): string {
  if (failure.code === 'UPLOAD_TOO_LARGE') {
    const limit = /(\d+(?:\.\d+)?\s?(?:[KMGT]i?B|B))\b/.exec(failure.message)?.[1]
    if (limit) return tr('chat.tooLarge', { limit })
  }
  return errorSentence(tr, failure)
}
