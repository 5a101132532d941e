/** Display helpers: times, sizes, initials, colours. */

const pad = (n: number) => String(n).padStart(2, '0')

/** "14:05" today, "Yesterday", weekday this week, else "2026/3/7". */
export function listTime(ts: number, now: number): string {
  const d = new Date(ts)
  const today = new Date(now)
  const startOfToday = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime()
  if (ts >= startOfToday) return `${pad(d.getHours())}:${pad(d.getMinutes())}`
  if (ts >= startOfToday - 86_400_000) return 'Yesterday'
  if (ts >= startOfToday - 6 * 86_400_000) return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getDay()]!
  return `${d.getFullYear()}/${d.getMonth() + 1}/${d.getDate()}`
}

/** Separator inside a chat: "14:05", "Yesterday 14:05", "2026/3/7 14:05". */
export function chatTime(ts: number, now: number): string {
  const d = new Date(ts)
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  const day = listTime(ts, now)
  return day.includes(':') ? hm : `${day} ${hm}`
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

export function lastSeen(ts: number | undefined, now: number): string {
  if (!ts) return 'offline'
  const min = Math.floor((now - ts) / 60_000)
  if (min < 1) return 'last seen just now'
  if (min < 60) return `last seen ${min} min ago`
  const h = Math.floor(min / 60)
  if (h < 24) return `last seen ${h} h ago`
  return `last seen ${listTime(ts, now)}`
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
