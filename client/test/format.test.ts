import { describe, expect, it } from 'vitest'
import { initials } from '../format'

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
