import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { ERROR_CODES, ERRORS } from '@chat/shared'
import { describe, expect, it } from 'vitest'
import { chatTime, lastSeen, listTime, startOfDay } from '../../format'
import { errorSentence, LOCALES, refusalSentence, resolveLocale, translate, type Locale, type Translate } from '../../i18n/i18n'
import { CATALOGUES, type MessageKey } from '../../i18n/messages'

const tr = (l: Locale): Translate => (key, params) => translate(l, key, params)
const zh = tr('zh-CN')
const en = tr('en')
const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('catalogue', () => {
  it('has every key in both languages, none empty, with the same placeholders', () => {
    const zhKeys = Object.keys(CATALOGUES['zh-CN']).sort()
    const enKeys = Object.keys(CATALOGUES.en).sort()
    expect(enKeys).toEqual(zhKeys)
    for (const key of zhKeys as MessageKey[]) {
      for (const l of LOCALES) expect(CATALOGUES[l][key], `${l} ${key}`).toMatch(/\S/)
      expect(placeholders(CATALOGUES.en[key]), key).toEqual(placeholders(CATALOGUES['zh-CN'][key]))
    }
  })

  it('joins a person\'s name to a Chinese phrase with no space, as WeChat writes it ("小红撤回了一条消息")', () => {
    // The placeholders that stand for people (a file's name, a number, a time keep their spacing).
    const person = /\{(name|names|a|b)\}/
    for (const [key, text] of Object.entries(CATALOGUES['zh-CN'])) {
      if (!person.test(text)) continue
      expect(text, key).not.toMatch(/[\u3000-\u9fff\uff00-\uffef] \{(name|names|a|b)\}|\{(name|names|a|b)\} [\u3000-\u9fff\uff00-\uffef]/)
    }
    expect(zh('chat.recalledOther', { name: '小红' })).toBe('小红撤回了一条消息')
    expect(zh('chat.replyTo', { name: '小红', text: '好的' })).toBe('回复小红：好的')
    expect(en('chat.recalledOther', { name: 'Ann' })).toBe('Ann recalled a message')
    expect(en('chat.replyTo', { name: 'Ann', text: 'OK' })).toBe('Reply to Ann: OK')
  })

  it('gives every code of the error table a sentence in both languages, not the server text', () => {
    for (const code of ERROR_CODES) {
      const zhText = errorSentence(zh, { code })
      const enText = errorSentence(en, { code })
      expect(zhText, code).toMatch(/[\u4e00-\u9fff]/)
      expect(zhText, code).toMatch(/[。！]$/)
      expect(enText, code).toMatch(/^[A-Z].*\.$/)
      expect(enText.toLowerCase(), code).not.toBe(ERRORS[code].message.toLowerCase())
    }
    // No code, or one the table does not know: the server was not reached.
    expect(errorSentence(zh, new Error('fetch failed'))).toBe('无法连接服务器，请检查网络后重试。')
    expect(errorSentence(en, { code: 'NOPE' })).toBe('Cannot reach the server. Check your connection and try again.')
    expect(errorSentence(en, undefined)).toBe('Cannot reach the server. Check your connection and try again.')
    expect(errorSentence(zh, new Error('read failed'), 'chat.pickFailed')).toBe('无法读取所选文件，请重试。')
    expect(errorSentence(zh, { code: 'UPLOAD_TOO_MANY' }, 'chat.pickFailed')).toBe('同时上传的文件太多，请等当前文件发完再试。')
  })

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(translate('zh-CN', 'chat.newMany', { n: 3 })).toBe('↓ 3条新消息')
    expect(translate('en', 'list.signedIn', { name: '张伟' })).toBe('Signed in as 张伟')
    expect(translate('en', 'list.signedIn')).toBe('Signed in as {name}')
  })
})

describe('resolveLocale', () => {
  it('is English for English tags and zh-CN for everything else, and for nothing', () => {
    expect(resolveLocale('en')).toBe('en')
    expect(resolveLocale('en-US')).toBe('en')
    expect(resolveLocale('EN_gb')).toBe('en')
    expect(resolveLocale('zh_CN')).toBe('zh-CN')
    expect(resolveLocale('zh-TW')).toBe('zh-CN')
    expect(resolveLocale('ja')).toBe('zh-CN')
    expect(resolveLocale('')).toBe('zh-CN')
    expect(resolveLocale(undefined)).toBe('zh-CN')
  })
})

describe('upload refusals', () => {
  it('name the server limit in the user language', () => {
    const f = { code: 'UPLOAD_TOO_LARGE', message: 'file exceeds the maximum upload size of 100 MB' }
    expect(refusalSentence(zh, f)).toBe('文件超过100 MB的上传上限，请选择较小的文件。')
    expect(refusalSentence(en, f)).toBe('The file exceeds the upload limit of 100 MB. Choose a smaller one.')
    expect(refusalSentence(en, { code: 'UPLOAD_TOO_LARGE', message: 'too big' })).toBe(CATALOGUES.en['err.UPLOAD_TOO_LARGE'])
    expect(refusalSentence(zh, { code: 'UPLOAD_TYPE_REJECTED', message: 'file type not accepted: x' })).toContain('JPEG、PNG')
  })
})

describe('times', () => {
  // Local dates, so the test reads the same in every time zone. Wednesday 2026-03-11 15:30.
  const now = new Date(2026, 2, 11, 15, 30, 0).getTime()
  const at = (mo: number, d: number, h: number, mi: number, y = 2026) => new Date(y, mo - 1, d, h, mi).getTime()

  it('lists as WeChat does: the clock today, 昨天 alone, the weekday, then the date', () => {
    const cases: [number, string, string][] = [
      [now - 20_000, '15:29', '15:29'],
      // Another device's clock a little ahead: still today.
      [now + 5_000, '15:30', '15:30'],
      [now - 59 * 60_000, '14:31', '14:31'],
      [at(3, 11, 0, 0), '00:00', '00:00'],
      [at(3, 11, 9, 5), '09:05', '09:05'],
      // Yesterday has no time in the list (the chat's separators keep it).
      [at(3, 10, 23, 59), '昨天', 'Yesterday'],
      [at(3, 10, 0, 0), '昨天', 'Yesterday'],
      [at(3, 9, 23, 59), '星期一', 'Monday'],
      [at(3, 5, 8, 0), '星期四', 'Thursday'],
      [at(3, 5, 0, 0), '星期四', 'Thursday'],
      // Seven days back would be today's weekday: the date.
      [at(3, 4, 23, 0), '3月4日', 'Mar 4'],
      [at(1, 1, 0, 0), '1月1日', 'Jan 1'],
      [at(12, 31, 22, 0, 2025), '2025/12/31', '12/31/2025'],
      [at(7, 1, 6, 30, 2024), '2024/7/1', '7/1/2024'],
    ]
    for (const [ts, z, e] of cases) {
      expect(listTime(ts, now, zh)).toBe(z)
      expect(listTime(ts, now, en)).toBe(e)
      // The list reads it against today's midnight (useToday): the same day, the same text.
      expect(listTime(ts, startOfDay(now), zh)).toBe(z)
    }
  })

  it('counts days by the calendar where a day is 25 hours long', () => {
    const tz = process.env.TZ
    // New York leaves daylight saving time on Sunday 2026-11-01: that day lasts 25 hours.
    process.env.TZ = 'America/New_York'
    try {
      const monday = new Date(2026, 10, 2, 10, 0).getTime()
      expect(listTime(new Date(2026, 10, 1, 0, 30).getTime(), monday, zh)).toBe('昨天')
      expect(chatTime(new Date(2026, 10, 1, 0, 30).getTime(), monday, zh)).toBe('昨天 00:30')
      expect(listTime(new Date(2026, 9, 31, 23, 30).getTime(), monday, zh)).toBe('星期六')
    } finally {
      if (tz === undefined) delete process.env.TZ
      else process.env.TZ = tz
    }
  })

  it('separates chat messages with the clock time after the day', () => {
    const cases: [number, string, string][] = [
      [now - 2 * 60_000, '15:28', '15:28'],
      [at(3, 10, 8, 7), '昨天 08:07', 'Yesterday 08:07'],
      [at(3, 6, 21, 0), '星期五 21:00', 'Friday 21:00'],
      [at(2, 14, 12, 0), '2月14日 12:00', 'Feb 14 12:00'],
      [at(7, 1, 6, 30, 2024), '2024年7月1日 06:30', 'Jul 1, 2024 06:30'],
    ]
    for (const [ts, z, e] of cases) {
      expect(chatTime(ts, now, zh)).toBe(z)
      expect(chatTime(ts, now, en)).toBe(e)
    }
  })

  it('says when a peer was last seen', () => {
    expect(lastSeen(undefined, now, zh)).toBe('离线')
    expect(lastSeen(now - 10_000, now, zh)).toBe('刚刚在线')
    expect(lastSeen(now - 7 * 60_000, now, zh)).toBe('7分钟前在线')
    expect(lastSeen(now - 3 * 3_600_000, now, en)).toBe('last seen 3 h ago')
    expect(lastSeen(at(3, 2, 10, 0), now, zh)).toBe('3月2日在线')
  })
})

describe('components', () => {
  // Every user-visible word goes through the catalogue: JSX text and the attributes people read
  // (placeholder, title, aria-label) hold no literal letters. Glyphs (‹ ✓ + %) are not words.
  const root = path.join(__dirname, '..', '..')
  const files = ['pages', 'components', 'list'].flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.tsx'))
      .map((f) => path.join(root, dir, f)),
  )
  const WORD = /[A-Za-z]{2,}|[\u3400-\u9fff]/
  const READ_ATTRS = new Set(['placeholder', 'title', 'aria-label', 'ariaLabel', 'alt'])

  it('has no string literal a user reads', () => {
    expect(files.length).toBeGreaterThan(5)
    const found: string[] = []
    for (const file of files) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX)
      const visit = (node: ts.Node): void => {
        if (ts.isJsxText(node) && WORD.test(node.text)) found.push(`${file}: ${node.text.trim()}`)
        if (ts.isJsxAttribute(node) && node.initializer && ts.isStringLiteral(node.initializer)) {
          const name = node.name.getText(sf)
          if (READ_ATTRS.has(name) && WORD.test(node.initializer.text)) found.push(`${file}: ${name}=${node.initializer.text}`)
        }
        // Toasts and titles: { title: '...' }
        if (ts.isPropertyAssignment(node) && node.name.getText(sf) === 'title' && ts.isStringLiteralLike(node.initializer) && WORD.test(node.initializer.text)) {
          found.push(`${file}: title: ${node.initializer.text}`)
        }
        ts.forEachChild(node, visit)
      }
      visit(sf)
    }
    expect(found).toEqual([])
  })

  it('would catch one', () => {
    const sf = ts.createSourceFile('x.tsx', "const a = <View aria-label='Back'>Log out</View>", ts.ScriptTarget.Latest, true, ts.ScriptKind.TSX)
    const texts: string[] = []
    const visit = (n: ts.Node): void => {
      if (ts.isJsxText(n) && WORD.test(n.text)) texts.push(n.text)
      ts.forEachChild(n, visit)
    }
    visit(sf)
    expect(texts).toEqual(['Log out'])
  })
})
