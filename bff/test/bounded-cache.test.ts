/**
 * The process's one bounded cache (bounded-cache.ts): never more than `max` entries, the least
 * recently used goes first (a read counts as a use), and with `ttlMs` an entry reads as absent
 * once its time is over, whatever its recency.
 */
import { describe, expect, it } from 'vitest'
import { boundedCache } from '../src/bounded-cache'

describe('boundedCache', () => {
  it('keeps at most max entries, whatever was put in', () => {
    const c = boundedCache<string, number>({ max: 100 })
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, i)
    expect(c.size).toBe(100)
    expect(c.get('k899')).toBeUndefined()
    expect(c.get('k900')).toBe(900)
    expect(c.get('k999')).toBe(999)
  })

  it('drops the least recently used, a read counting as a use', () => {
    const c = boundedCache<string, number>({ max: 3 })
    c.set('a', 1)
    c.set('b', 2)
    c.set('c', 3)
    expect(c.get('a')).toBe(1) // a is now the most recent: b is the least
    c.set('d', 4)
    expect(c.has('b')).toBe(false)
    expect([...c.keys()].sort()).toEqual(['a', 'c', 'd'])
    c.set('c', 30) // a write is a use too: a is now the least recent
    c.set('e', 5)
    expect(c.has('a')).toBe(false)
    expect(c.get('c')).toBe(30)
    expect(c.size).toBe(3)
  })

  it('keeps a falsy value (0) as an entry', () => {
    const c = boundedCache<string, number>({ max: 2 })
    c.set('zero', 0)
    expect(c.get('zero')).toBe(0)
    expect(c.has('zero')).toBe(true)
  })

  it('with ttlMs, an entry reads as absent once past its time, however recently used', () => {
    let now = 1_000
    const c = boundedCache<string, string>({ max: 10, ttlMs: 100, now: () => now })
    c.set('a', 'x')
    now += 60
    c.set('b', 'y')
    expect(c.get('a')).toBe('x') // read at 60 ms: still fresh, and the read does not extend it
    now += 41
    expect(c.get('a')).toBeUndefined() // 101 ms old: past its time
    expect(c.get('b')).toBe('y')
    now += 60
    expect(c.get('b')).toBeUndefined()
    c.set('b', 'z') // written again: a new time
    now += 99
    expect(c.get('b')).toBe('z')
  })

  it('a delete frees the slot: the next entry evicts nothing', () => {
    const c = boundedCache<string, number>({ max: 2 })
    c.set('a', 1)
    c.set('b', 2)
    c.delete('a')
    c.set('c', 3)
    expect(c.get('b')).toBe(2)
    expect(c.get('c')).toBe(3)
  })
})
