import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src'

const opts = { minDelayMs: 500, maxDelayMs: 20_000 }

describe('backoffDelay (full jitter)', () => {
  it('spans [0, min * 2^attempt) below the cap', () => {
    expect(backoffDelay(0, opts, () => 0)).toBe(0)
    expect(backoffDelay(0, opts, () => 0.999999)).toBe(499)
    expect(backoffDelay(3, opts, () => 0.5)).toBe(2000)
  })

  it('never exceeds the cap, even for huge attempts', () => {
    expect(backoffDelay(10, opts, () => 0.999999)).toBe(19_999)
    expect(backoffDelay(1e9, opts, () => 0.999999)).toBe(19_999)
  })

  it('spreads a crowd over the window instead of bunching it', () => {
    let seed = 7
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const delays = Array.from({ length: 10_000 }, () => backoffDelay(6, opts, lcg))
    const buckets = new Array(10).fill(0)
    for (const d of delays) buckets[Math.floor(d / 2000)]++
    // A 20 s window in ten 2 s buckets: each holds about a tenth of the crowd.
    for (const b of buckets) expect(b).toBeGreaterThan(800)
    for (const b of buckets) expect(b).toBeLessThan(1200)
  })

  it('rejects inverted bounds', () => {
    expect(() => backoffDelay(1, { minDelayMs: 10, maxDelayMs: 5 })).toThrow(RangeError)
  })
})
