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

  it('keeps the most recent `max` through many new texts, reused ones, renewed ones and expired ones', () => {
    const c = clock()
    const cache = new PassCache({ max: 100, ttlMs: 60_000, now: c.now })
    for (let i = 0; i < 1000; i++) {
      cache.pass('u1', 2, `t${i}`)
      // Every tenth text is passed again at once (a renewal), and t5 is used all along.
      if (i % 10 === 0) cache.pass('u1', 2, `t${i}`)
      if (i > 5) expect(cache.passed('u1', 2, 't5')).toBe(true)
    }
    expect(cache.size).toBe(100)
    // t5 and the newest 99.
    const kept = Array.from({ length: 1000 }, (_, i) => i).filter((i) => cache.passed('u1', 2, `t${i}`))
    expect(kept).toEqual([5, ...Array.from({ length: 99 }, (_, i) => 901 + i)])
    // An expired entry found in the middle is dropped; the others stay in order.
    c.t += 30_000
    cache.pass('u1', 2, 'fresh')
    c.t += 30_000
    expect(cache.passed('u1', 2, 't950')).toBe(false)
    expect(cache.size).toBe(99)
    expect(cache.passed('u1', 2, 'fresh')).toBe(true)
    cache.pass('u1', 2, 'newer')
    expect(cache.size).toBe(100)
    expect(['fresh', 'newer', 't949', 't951'].map((t) => cache.passed('u1', 2, t))).toEqual([true, true, false, false])
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
