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

  it('holds a grace while upgrades are refused: until the grace after the last refusal, at most the longest grace after the close', () => {
    let refusedAt = 0
    // While `refusing`, every moment has just seen a refusal.
    let refusing = false
    const g = new OfflineGrace(1000, (e) => expired.push(e), Date.now, { lastRefusal: () => (refusing ? Date.now() : refusedAt), maxMs: 4000 })
    const t0 = Date.now()
    // A refusal before a close changes nothing for it.
    refusedAt = t0 - 1
    g.hold('ann', 'n/1', t0)
    vi.advanceTimersByTime(1000)
    expect(names()).toEqual([`ann@${t0}`])

    const t1 = Date.now()
    g.hold('bob', 'n/2', t1)
    g.hold('cat', 'n/3', t1 + 100)
    // Refused 600 ms after bob's close: his grace ends 1000 ms after the refusal, not after the close.
    vi.advanceTimersByTime(600)
    refusedAt = Date.now()
    vi.advanceTimersByTime(999)
    expect(names()).toEqual([`ann@${t0}`])
    // A device of cat back during the hold takes its field over: never expired.
    expect(g.take('cat')?.field).toBe('n/3')
    vi.advanceTimersByTime(1)
    expect(names()).toEqual([`ann@${t0}`, `bob@${t1}`])

    // Refusals that do not stop: held, but not past the longest grace (4000 ms) after the close.
    const t2 = Date.now()
    g.hold('dan', 'n/4', t2)
    g.hold('eve', 'n/5', t2 + 500)
    refusing = true
    vi.advanceTimersByTime(3999)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob'])
    vi.advanceTimersByTime(1)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob', 'dan'])
    vi.advanceTimersByTime(499)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob', 'dan'])
    vi.advanceTimersByTime(1)
    expect(names()).toEqual([`ann@${t0}`, `bob@${t1}`, `dan@${t2}`, `eve@${t2 + 500}`])
    expect(g.size).toBe(0)
  })

  it('ends a held grace at the longest grace after its close, to the millisecond, and refuses a longest grace shorter than the grace', () => {
    const g = new OfflineGrace(1000, (e) => expired.push(e), Date.now, { lastRefusal: () => Date.now(), maxMs: 3000 })
    const t0 = Date.now()
    g.hold('ann', 'n/1', t0)
    vi.advanceTimersByTime(2999)
    expect(expired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(names()).toEqual([`ann@${t0}`])
    expect(() => new OfflineGrace(1000, () => {}, Date.now, { lastRefusal: () => 0, maxMs: 999 })).toThrow(RangeError)
  })

  it('with no grace expires at the close, and refuses a negative grace', () => {
    const g = new OfflineGrace(0, (e) => expired.push(e))
    g.hold('ann', 'n/1', 5)
    expect(names()).toEqual(['ann@5'])
    expect(() => new OfflineGrace(-1, () => {})).toThrow(RangeError)
  })
})
