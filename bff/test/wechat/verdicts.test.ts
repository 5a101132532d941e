import { describe, expect, it } from 'vitest'
import { PassCache, VERDICT_CACHE_CHARS } from '../../src/wechat/verdicts'

describe('recent passes (verdicts.ts)', () => {
  const clock = () => {
    const c = { t: 1_000_000, now: () => c.t }
    return c
  }

  it('reuses a pass of the same scene and text until the TTL, and no longer', () => {
    const c = clock()
    const cache = new PassCache({ max: 10, ttlMs: 60_000, now: c.now })
    expect(cache.passed('u1', 2, '好的')).toBe(false)
    cache.pass('u1', 2, '好的')
    expect(cache.passed('u1', 2, '好的')).toBe(true)
    expect(cache.passed('u1', 1, '好的')).toBe(false)
    expect(cache.passed('u1', 2, '好的 ')).toBe(false)
    // Another sender's same words are asked again: WeChat judges a text with its sender.
    expect(cache.passed('u2', 2, '好的')).toBe(false)
    c.t += 59_999
    expect(cache.passed('u1', 2, '好的')).toBe(true)
    c.t += 1
    expect(cache.passed('u1', 2, '好的')).toBe(false)
    // An expired entry is dropped when found.
    expect(cache.size).toBe(0)
  })

  it('keeps at most `max` entries, dropping the least recently used', () => {
    const cache = new PassCache({ max: 3, ttlMs: 60_000 })
    for (const t of ['a', 'b', 'c']) cache.pass('u1', 2, t)
    expect(cache.passed('u1', 2, 'a')).toBe(true) // a is now the most recent: b goes first
    cache.pass('u1', 2, 'd')
    expect(cache.size).toBe(3)
    expect(['a', 'b', 'c', 'd'].map((t) => cache.passed('u1', 2, t))).toEqual([true, false, true, true])
  })

  it(`keeps nothing longer than ${VERDICT_CACHE_CHARS} characters, and nothing at max 0`, () => {
    const cache = new PassCache({ max: 10, ttlMs: 60_000 })
    const long = 'x'.repeat(VERDICT_CACHE_CHARS + 1)
    cache.pass('u1', 2, long)
    expect(cache.passed('u1', 2, long)).toBe(false)
    cache.pass('u1', 2, long.slice(1))
    expect(cache.passed('u1', 2, long.slice(1))).toBe(true)
    const off = new PassCache({ max: 0, ttlMs: 60_000 })
    off.pass('u1', 2, 'a')
    expect(off.passed('u1', 2, 'a')).toBe(false)
    expect(off.size).toBe(0)
  })
})
