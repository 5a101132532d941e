import { describe, expect, it } from 'vitest'
import { colorOf, faceRows, fitName, fitTitle, initial, initials } from '../format'

describe('avatar initials', () => {
  it('show a Chinese name by its last two characters, so 小明 and 小红 are told apart', () => {
    expect(initials('小明')).toBe('小明')
    expect(initials('小红')).toBe('小红')
    expect(initials('司马相如')).toBe('相如')
    expect(initials('王五')).toBe('王五')
    expect(initials('明')).toBe('明')
    expect(initials(' 张伟 ')).toBe('张伟')
    // Longer than a name: a nickname, shown by its start.
    expect(initials('快乐的小鱼')).toBe('快乐')
    // Not all Chinese: the first character, as for any other name.
    expect(initials('小明Tom')).toBe('小')
    expect(initials('Tom小明')).toBe('T')
  })

  it('show any other name by its first character, a Latin letter in capitals', () => {
    expect(initials('alice')).toBe('A')
    expect(initials('Bob Smith')).toBe('B')
    expect(initials('😀 joy')).toBe('😀')
    expect(initials('Ана')).toBe('А')
    expect(initials('   ')).toBe('?')
  })
})

describe('group avatar tiles', () => {
  it('show one character per member: the last of a Chinese name, else the first', () => {
    expect(initial('小明')).toBe('明')
    expect(initial('司马相如')).toBe('如')
    expect(initial('明')).toBe('明')
    expect(initial('快乐的小鱼')).toBe('快')
    expect(initial('alice')).toBe('A')
    expect(initial('小明Tom')).toBe('小')
    expect(initial('  ')).toBe('?')
  })

  it('lay out up to nine members in WeChat rows: the short row on top, two columns up to four', () => {
    const n = (k: number) => faceRows(Array.from({ length: k }, (_, i) => i)).map((r) => r.length)
    expect(n(1)).toEqual([1])
    expect(n(2)).toEqual([2])
    expect(n(3)).toEqual([1, 2])
    expect(n(4)).toEqual([2, 2])
    expect(n(5)).toEqual([2, 3])
    expect(n(6)).toEqual([3, 3])
    expect(n(7)).toEqual([1, 3, 3])
    expect(n(9)).toEqual([3, 3, 3])
    expect(n(40)).toEqual([3, 3, 3])
    // The members keep their order, the first in the top row.
    expect(faceRows(['a', 'b', 'c', 'd', 'e'])).toEqual([['a', 'b'], ['c', 'd', 'e']])
  })
})

describe('avatar colours', () => {
  it('spread ids that differ in a character or two over the whole palette', () => {
    for (const make of [(i: number) => `u${i}`, (i: number) => `face${String.fromCharCode(97 + (i % 26))}mi8x${i}`]) {
      const counts = new Map<string, number>()
      for (let i = 0; i < 400; i++) counts.set(colorOf(make(i)), (counts.get(colorOf(make(i))) ?? 0) + 1)
      // 8 colours, 50 ids each if even: every colour used, none more than twice its share.
      expect(counts.size).toBe(8)
      expect(Math.max(...counts.values())).toBeLessThan(100)
    }
    // Two ids that differ in two characters in a row (facea…1, faceb…2: members made one after
    // another) share a colour as often as any two ids do (1 in 8), not always.
    let same = 0
    for (let i = 0; i < 200; i++) if (colorOf(`face${i}a1`) === colorOf(`face${i}b2`)) same++
    expect(same).toBeLessThan(50)
    // The same id, the same colour, on every render and device.
    expect(colorOf('小明的id')).toBe(colorOf('小明的id'))
  })
})

describe('a title cut to fit before its suffix', () => {
  const name = '周末一起去香山爬山然后吃火锅再看电影最后唱歌到深夜不回家的快乐小分队全体成员们好'

  it('is the name and its suffix when they fit', () => {
    expect(fitTitle('周末爬山', '(4)', 200, 17)).toBe('周末爬山(4)')
    expect(fitTitle('Weekend hike', '(12)', 200, 17)).toBe('Weekend hike(12)')
    expect(fitTitle('张伟', '', 200, 17)).toBe('张伟')
  })

  it('cuts a long name with "…", keeping the whole suffix, within the width', () => {
    // 116 px at 17 px: "…(4)" takes 17 + 3 × 10.2; four characters of 17 px are left.
    expect(fitTitle(name, '(4)', 116, 17)).toBe('周末一起…(4)')
    expect(fitTitle(name, '(4)', 171, 17)).toBe('周末一起去香山…(4)')
    expect(fitTitle(name, '', 116, 17)).toBe('周末一起去…')
    // A Latin letter counts 0.6 em; a space left before the cut is dropped.
    expect(fitTitle('Weekend hike at the ridge with everyone', '(4)', 130, 17)).toBe('Weekend…(4)')
  })

  it('keeps a character whole (an emoji is two UTF-16 units)', () => {
    expect(fitTitle('😀😀😀😀😀😀😀😀😀😀', '(3)', 116, 17)).toBe('😀😀😀😀…(3)')
  })

  it('keeps the suffix when not even one character of the name fits', () => {
    expect(fitTitle(name, '(4)', 40, 17)).toBe('…(4)')
  })
})

describe('a name cut by measured widths to meet its suffix', () => {
  // Widths as a page measures them: every character its own width (here from its code point).
  const widthOf = (text: string) => Array.from(text).reduce((px, ch) => px + 7 + (ch.codePointAt(0)! % 11), 0)

  it('is the longest start of the name that fits with "…" and the suffix, whatever the width', () => {
    const names = ['周末一起去香山爬山然后吃火锅再看电影', 'Weekend hike at the ridge with everyone', '😀a😀b😀c😀d😀e😀f', 'ab  cd  ef  gh  ij']
    for (const name of names) {
      for (let max = 20; max <= 400; max += 7) {
        for (const suffix of ['(3)', '(128)', '']) {
          const shown = fitName(name, suffix, max, widthOf)
          if (shown === name) {
            expect(widthOf(name + suffix)).toBeLessThanOrEqual(max)
            continue
          }
          expect(shown.endsWith('…')).toBe(true)
          const kept = shown.slice(0, -1)
          expect(name.startsWith(kept)).toBe(true)
          expect(kept).toBe(kept.trimEnd())
          // Fits, or is the bare "…" when nothing does; one character more would not fit.
          if (kept !== '') expect(widthOf(shown + suffix)).toBeLessThanOrEqual(max)
          const longer = Array.from(name).slice(0, Array.from(kept).length + 1).join('').trimEnd()
          if (longer.length > kept.length && longer !== name) expect(widthOf(`${longer}…${suffix}`)).toBeGreaterThan(max)
        }
      }
    }
  })
})
