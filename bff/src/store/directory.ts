/**
 * The terms a user is found by in the user directory (prefix search, both engines): the id and the
 * name, lower-cased, and for a name in Chinese characters its pinyin, whole ("zhangwei") and as
 * initials ("zw"), as Chinese users type names into a search box. pinyin-pro reads surnames with
 * their surname reading (单 is "shan" there, not "dan"); letters and digits in the name are kept.
 */
import { pinyin } from 'pinyin-pro'
import type { User } from '@chat/shared'

const HAN = /\p{Script=Han}/u

export function directoryTerms(user: Pick<User, 'id' | 'name'>): string[] {
  const terms = new Set([user.id.toLowerCase(), user.name.toLowerCase()])
  if (HAN.test(user.name)) {
    const syllables = pinyin(user.name, { toneType: 'none', type: 'array', surname: 'head', nonZh: 'consecutive', v: true })
      .map((s) => s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, ''))
      .filter((s) => s !== '')
    if (syllables.length > 0) {
      terms.add(syllables.join(''))
      terms.add(syllables.map((s) => Array.from(s)[0]).join(''))
    }
  }
  return [...terms]
}
