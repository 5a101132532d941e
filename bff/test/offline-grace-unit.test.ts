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

  it('around a refusal holds a grace for the longest grace: from the close before it, from the refusal after it', () => {
    let refusedAt = 0
    const g = new OfflineGrace(1000, (e) => expired.push(e), Date.now, { lastBusy: () => refusedAt, maxMs: 4000 })
    const t0 = Date.now()
    // A refusal long before a close (more than the longest grace) changes nothing for it.
    refusedAt = t0 - 4001
    g.hold('ann', 'n/1', t0)
    vi.advanceTimersByTime(1000)
    expect(names()).toEqual([`ann@${t0}`])

    const t1 = Date.now()
    g.hold('bob', 'n/2', t1)
    g.hold('cat', 'n/3', t1 + 100)
    // Refused 600 ms after bob's close: his grace is the longest, 4000 ms from his close.
    vi.advanceTimersByTime(600)
    refusedAt = Date.now()
    // Closed 1000 ms after the refusal: held until 4000 ms after the refusal.
    vi.advanceTimersByTime(1000)
    g.hold('dan', 'n/4', Date.now())
    // A device of cat back during the hold takes its field over: never expired.
    expect(g.take('cat')?.field).toBe('n/3')
    vi.advanceTimersByTime(t1 + 3999 - Date.now())
    expect(names()).toEqual([`ann@${t0}`])
    vi.advanceTimersByTime(1)
    expect(names()).toEqual([`ann@${t0}`, `bob@${t1}`])
    // Closed 3500 ms after the refusal: its own grace (1000 ms) ends later than the hold: that one.
    const t2 = refusedAt + 3500
    vi.advanceTimersByTime(t2 - Date.now())
    g.hold('eve', 'n/5', t2)
    vi.advanceTimersByTime(refusedAt + 3999 - Date.now())
    expect(expired).toHaveLength(2)
    vi.advanceTimersByTime(1)
    expect(names()).toEqual([`ann@${t0}`, `bob@${t1}`, `dan@${t1 + 1600}`])
    vi.advanceTimersByTime(t2 + 999 - Date.now())
    expect(expired).toHaveLength(3)
    vi.advanceTimersByTime(1)
    expect(expired.map((e) => e.user)).toEqual(['ann', 'bob', 'dan', 'eve'])
    expect(g.size).toBe(0)
  })

  it('ends closes in close order whatever the refusals, and refuses a longest grace shorter than the grace', () => {
    // Refusals now and then: every close ends at its due time, none before an earlier close.
    let refusedAt = 0
    const g = new OfflineGrace(1000, (e) => expired.push(e), Date.now, { lastBusy: () => refusedAt, maxMs: 3000 })
    const start = Date.now()
    for (let i = 0; i < 200; i++) {
      if (i % 37 === 0) refusedAt = Date.now()
      g.hold(`u${i}`, `n/${i}`, Date.now())
      vi.advanceTimersByTime(50)
    }
    vi.advanceTimersByTime(10_000)
    expect(expired.map((e) => e.at)).toEqual([...expired.map((e) => e.at)].sort((a, b) => a - b))
    expect(expired).toHaveLength(200)
    expect(expired[0]!.at).toBe(start)
    expect(() => new OfflineGrace(1000, () => {}, Date.now, { lastBusy: () => 0, maxMs: 999 })).toThrow(RangeError)
  })

  it('with no grace expires at the close, and refuses a negative grace', () => {
    const g = new OfflineGrace(0, (e) => expired.push(e))
    g.hold('ann', 'n/1', 5)
    expect(names()).toEqual(['ann@5'])
    expect(() => new OfflineGrace(-1, () => {})).toThrow(RangeError)
  })
})
