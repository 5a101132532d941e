/**
 * OfflineGrace (gateway/offline-grace.ts) on its own: expiry order and time, take-over by a new
 * device, flush at a drain and drop after a reap. Fake timers stand in for the clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { OfflineGrace } from '../src/gateway/offline-grace'
import type { GraceEntry } from '../src/gateway/offline-grace'

describe('OfflineGrace', () => {
  let expired: GraceEntry[]
  beforeEach(() => {
    vi.useFakeTimers()
    expired = []
  })
  afterEach(() => {
    vi.useRealTimers()
  })
  const names = () => expired.map((e) => `${e.user}@${e.at}`)

  it('expires each closed socket once, in close order, when its own grace ends', () => {
    const g = new OfflineGrace(1000, (e) => expired.push(e))
    g.hold('ann', 'n/1', Date.now())
    vi.advanceTimersByTime(400)
    g.hold('bob', 'n/2', Date.now())
    vi.advanceTimersByTime(599)
    expect(expired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(expired.map((e) => e.user)).toEqual(['ann'])
    vi.advanceTimersByTime(399)
    expect(expired.map((e) => e.user)).toEqual(['ann'])
    vi.advanceTimersByTime(1)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob'])
    vi.advanceTimersByTime(10_000)
    expect(expired).toHaveLength(2)
    expect(g.size).toBe(0)
  })

  it('hands a closed socket\'s field to a new device of the same user (the newest first); taken ones never expire', () => {
    const g = new OfflineGrace(1000, (e) => expired.push(e))
    const t0 = Date.now()
    g.hold('ann', 'n/1', t0)
    g.hold('ann', 'n/2', t0 + 1)
    g.hold('bob', 'n/3', t0 + 2)
    expect(g.take('ann')?.field).toBe('n/2')
    expect(g.take('cat')).toBeUndefined()
    vi.advanceTimersByTime(2000)
    expect(names()).toEqual([`ann@${t0}`, `bob@${t0 + 2}`])
    expect(g.take('ann')).toBeUndefined()
  })

  it('expires everything at once on flush and every later close at once; drop forgets without expiring', () => {
    const g = new OfflineGrace(1000, (e) => expired.push(e))
    g.hold('ann', 'n/1', 1)
    g.hold('bob', 'n/2', 2)
    g.flush()
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob'])
    g.hold('cat', 'n/3', 3)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob', 'cat'])
    vi.advanceTimersByTime(5000)
    expect(expired).toHaveLength(3)

    const h = new OfflineGrace(1000, (e) => expired.push(e))
    h.hold('dan', 'n/4', Date.now())
    h.drop()
    vi.advanceTimersByTime(5000)
    expect(expired).toHaveLength(3)
    expect(h.take('dan')).toBeUndefined()
  })

  it('with no grace expires at the close, and refuses a negative grace', () => {
    const g = new OfflineGrace(0, (e) => expired.push(e))
    g.hold('ann', 'n/1', 5)
    expect(names()).toEqual(['ann@5'])
    expect(() => new OfflineGrace(-1, () => {})).toThrow(RangeError)
  })
})
