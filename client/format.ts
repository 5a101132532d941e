/** Display helpers: times, sizes, initials, colours. */
import type { Translate } from './i18n/i18n'
import type { MessageKey } from './i18n/messages'

const pad = (n: number) => String(n).padStart(2, '0')

const DAY_MS = 86_400_000

type Day = { kind: 'today' } | { kind: 'yesterday' } | { kind: 'week'; wd: number } | { kind: 'year' } | { kind: 'older' }

/** Which calendar bucket `ts` falls in, seen from `now` (local time, as the user reads it). */
function dayOf(ts: number, now: number): Day {
  const d = new Date(ts)
  const today = new Date(now)
  const startOfToday = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime()
  if (ts >= startOfToday) return { kind: 'today' }
  if (ts >= startOfToday - DAY_MS) return { kind: 'yesterday' }
  if (ts >= startOfToday - 6 * DAY_MS) return { kind: 'week', wd: d.getDay() }
  return d.getFullYear() === today.getFullYear() ? { kind: 'year' } : { kind: 'older' }
}

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
 * A time as Chinese chat apps show it in a list: 刚刚 (the last minute), N分钟前 (the last hour),
 * HH:mm today, 昨天 HH:mm, the weekday within a week, M月D日 this year, YYYY年M月D日 before
 * (English: Just now, 5 min ago, 14:05, Yesterday 14:05, Wednesday, Mar 7, Mar 7, 2025).
 * A time a little in the future (another device's clock) is "just now".
 */
export function listTime(ts: number, now: number, tr: Translate): string {
  const ago = now - ts
  if (ago < 60_000) return tr('time.justNow')
  if (ago < 3_600_000) return tr('time.minutesAgo', { n: Math.floor(ago / 60_000) })
  const day = dayOf(ts, now)
  switch (day.kind) {
    case 'today':
      return hm(ts)
    case 'yesterday':
      return tr('time.yesterdayAt', { hm: hm(ts) })
    case 'week':
      return tr(`time.wd.${day.wd}` as MessageKey)
    case 'year':
      return date(ts, false, tr)
    case 'older':
      return date(ts, true, tr)
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

export function initials(name: string): string {
  const t = name.trim()
  if (!t) return '?'
  const first = Array.from(t)[0]!
  return /[a-z]/i.test(first) ? first.toUpperCase() : first
}

const COLORS = ['#5b8def', '#e5734a', '#43a57a', '#a66bd3', '#d9a23b', '#3aa6b9', '#d65d7a', '#6d7fa8']

export function colorOf(id: string): string {
  let h = 0
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0
  return COLORS[h % COLORS.length]!
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
