/** Display helpers: times, sizes, initials, colours. */
import type { Translate } from './i18n/i18n'
import type { MessageKey } from './i18n/messages'

const pad = (n: number) => String(n).padStart(2, '0')

type Day = { kind: 'today' } | { kind: 'yesterday' } | { kind: 'week'; wd: number } | { kind: 'year' } | { kind: 'older' }

/** Local midnight `days` calendar days after the day of `at` (negative: before), ms. */
export function startOfDay(at: number, days = 0): number {
  const d = new Date(at)
  // By calendar date, not by 86,400,000 ms: a day with a daylight-saving change is 23 or 25 hours long.
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + days).getTime()
}

/**
 * Which calendar bucket `ts` falls in, seen from `now` (local time, as the user reads it). A time
 * after today's midnight (another device's clock a little ahead included) is today.
 */
function dayOf(ts: number, now: number): Day {
  const d = new Date(ts)
  if (ts >= startOfDay(now)) return { kind: 'today' }
  if (ts >= startOfDay(now, -1)) return { kind: 'yesterday' }
  // The weekday names one day only within the six before yesterday: a seventh would be today's name.
  if (ts >= startOfDay(now, -WEEKDAY_DAYS)) return { kind: 'week', wd: d.getDay() }
  return d.getFullYear() === new Date(now).getFullYear() ? { kind: 'year' } : { kind: 'older' }
}

/** Days back (yesterday included) that WeChat names by their weekday. */
const WEEKDAY_DAYS = 6

function hm(ts: number): string {
  const d = new Date(ts)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`
}

function date(ts: number, withYear: boolean, tr: Translate): string {
  const d = new Date(ts)
  const params = { y: d.getFullYear(), m: tr(`time.mon.${d.getMonth()}` as MessageKey), d: d.getDate() }
  return tr(withYear ? 'time.dateYear' : 'time.date', params)
}

/**
 * The time column of the conversation list, as WeChat's: HH:mm today, 昨天 (no time), the weekday
 * within the week before, M月D日 this year, yyyy/M/d before (English: 14:05, Yesterday, Wednesday,
 * Mar 7, 3/7/2025). It changes only at local midnight (useToday in hooks.ts re-renders it then).
 */
export function listTime(ts: number, now: number, tr: Translate): string {
  const day = dayOf(ts, now)
  switch (day.kind) {
    case 'today':
      return hm(ts)
    case 'yesterday':
      return tr('time.yesterday')
    case 'week':
      return tr(`time.wd.${day.wd}` as MessageKey)
    case 'year':
      return date(ts, false, tr)
    case 'older': {
      const d = new Date(ts)
      return tr('time.numericDate', { y: d.getFullYear(), n: d.getMonth() + 1, d: d.getDate() })
    }
  }
}

/**
 * A time separator inside a chat, as WeChat shows them: always the clock time, after the day when it
 * is not today: 14:05, 昨天 14:05, 星期三 14:05, 3月7日 14:05, 2025年3月7日 14:05.
 */
export function chatTime(ts: number, now: number, tr: Translate): string {
  const day = dayOf(ts, now)
  const at = hm(ts)
  switch (day.kind) {
    case 'today':
      return at
    case 'yesterday':
      return tr('time.yesterdayAt', { hm: at })
    case 'week':
      return tr('time.at', { day: tr(`time.wd.${day.wd}` as MessageKey), hm: at })
    case 'year':
      return tr('time.at', { day: date(ts, false, tr), hm: at })
    case 'older':
      return tr('time.at', { day: date(ts, true, tr), hm: at })
  }
}

export function fileSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** A character's width in em, by estimate: from U+2000 up (CJK, full-width forms, "…", emoji) one. */
const emOf = (ch: string): number => (ch.codePointAt(0)! >= 0x2000 ? 1 : NARROW_EM)
/** Any other character: wider than most Latin letters, digits and parentheses. */
const NARROW_EM = 0.6

/**
 * `name` then `suffix`, the name cut with "…" so that the whole fits `maxPx` at `fontPx`, the suffix
 * kept whole: a group's "(4)" stays in view however long its name, as in WeChat's title. For text the
 * platform draws and cuts at its end (weapp's navigation bar title), so its width is estimated by
 * character (`emOf`), never measured. Cuts between code points: a character is never split.
 */
export function fitTitle(name: string, suffix: string, maxPx: number, fontPx: number): string {
  return fitName(name, suffix, maxPx, (s) => Array.from(s).reduce((em, ch) => em + emOf(ch), 0) * fontPx) + suffix
}

/**
 * `name` as drawn before `suffix` in `maxPx`: whole when both fit, else its longest start that fits
 * with "…" and the suffix, trailing spaces dropped, then "…". `widthOf` gives a text's width in px
 * (estimated by `fitTitle`; measured in the page's font on h5, so that "…" meets the suffix with no
 * gap, which a CSS ellipsis, cut at a glyph inside a wider box, leaves). Cuts between code points.
 */
export function fitName(name: string, suffix: string, maxPx: number, widthOf: (text: string) => number): string {
  if (widthOf(name + suffix) <= maxPx) return name
  const chars = Array.from(name)
  const cut = (n: number) => `${chars.slice(0, n).join('').trimEnd()}…`
  // The longest start that fits: widths grow with the length, so a binary search (a measured width
  // is a layout of the text: a few dozen of them, not one per character).
  let lo = 0
  let hi = chars.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (widthOf(cut(mid) + suffix) <= maxPx) lo = mid
    else hi = mid - 1
  }
  return cut(lo)
}

/**
 * What an avatar without a photo shows. A Chinese name (two to four characters, a compound surname
 * included): its last two, the given name, as DingTalk and Feishu show it; by its first character
 * (the surname, or a 小/老) 小明, 小红 and 小刚 all read "小". A longer Chinese nickname: its first
 * two. Any other name: its first character, a Latin letter in capitals.
 */
export function initials(name: string): string {
  const chars = Array.from(name.trim())
  if (chars.length === 0) return '?'
  if (chars.every((c) => HAN.test(c))) {
    if (chars.length <= CHINESE_NAME_MAX_CHARS) return chars.slice(-AVATAR_HAN_CHARS).join('')
    return chars.slice(0, AVATAR_HAN_CHARS).join('')
  }
  const first = chars[0]!
  return /[a-z]/i.test(first) ? first.toUpperCase() : first
}

/**
 * The one character a member's tile of a group avatar shows: the last of a Chinese name (its given
 * name's, so 小明 and 小红 differ where the surname would not), else the first, as `initials`.
 */
export function initial(name: string): string {
  const chars = Array.from(initials(name))
  const trimmed = Array.from(name.trim())
  const han = trimmed.length <= CHINESE_NAME_MAX_CHARS && trimmed.every((c) => HAN.test(c))
  return (han ? chars[chars.length - 1] : chars[0]) ?? '?'
}

/**
 * A group avatar's rows of tiles, as WeChat lays out its members' faces: at most GROUP_FACES_MAX, two
 * columns up to four members, three above; the row that is not full goes on top, centred.
 */
export function faceRows<T>(members: readonly T[]): T[][] {
  const faces = members.slice(0, GROUP_FACES_MAX)
  const cols = faces.length <= 4 ? 2 : 3
  const rows: T[][] = []
  const first = faces.length % cols
  if (first > 0) rows.push(faces.slice(0, first))
  for (let i = first; i < faces.length; i += cols) rows.push(faces.slice(i, i + cols))
  return rows
}

/** The most members a group avatar shows (WeChat's three by three). */
export const GROUP_FACES_MAX = 9

/** How many characters of a Chinese name an avatar shows. */
const AVATAR_HAN_CHARS = 2
/** The longest Chinese personal name (a compound surname and a two-character given name). */
const CHINESE_NAME_MAX_CHARS = 4
const HAN = /\p{Script=Han}/u

const COLORS = ['#5b8def', '#e5734a', '#43a57a', '#a66bd3', '#d9a23b', '#3aa6b9', '#d65d7a', '#6d7fa8']

/**
 * An id's avatar colour: FNV-1a over its UTF-16 units, then mixed (murmur3's finaliser), so ids
 * that differ in a character or two (u1, u2; a group's members made one after another) spread over
 * the palette instead of landing on the same low bits.
 */
export function colorOf(id: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return COLORS[(h >>> 0) % COLORS.length]!
}

export function lastSeen(ts: number | undefined, now: number, tr: Translate): string {
  if (!ts) return tr('seen.offline')
  const min = Math.floor((now - ts) / 60_000)
  if (min < 1) return tr('seen.justNow')
  if (min < 60) return tr('seen.minutes', { n: min })
  const h = Math.floor(min / 60)
  if (h < 24) return tr('seen.hours', { n: h })
  return tr('seen.at', { when: listTime(ts, now, tr) })
}

/**
 * The direction `dir="auto"` gives a text (HTML: the first character of bidi type L, R or AL,
 * Unicode UAX #9 rules P2-P3), for the platforms without the attribute. Letters of the Hebrew,
 * Arabic, Syriac, Thaana, NKo and the presentation-form blocks are right to left.
 */
export function textDirection(text: string): 'ltr' | 'rtl' {
  const m = /[\p{L}]/u.exec(text)
  if (!m) return 'ltr'
  return /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]/u.test(m[0]) ? 'rtl' : 'ltr'
}
