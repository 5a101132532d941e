import { describe, expect, it } from 'vitest'
import { createStore } from 'zustand/vanilla'
import { ManualTimers } from '../platform/fake'
import { createViewGate } from './view-gate'

function setup(windowMs = 50) {
  const timers = new ManualTimers()
  const store = createStore<{ n: number }>()(() => ({ n: 0 }))
  const gate = createViewGate(store, { windowMs, timers })
  const seen: number[] = []
  gate.subscribe(() => seen.push(gate.getState().n))
  return { timers, store, gate, seen }
}

describe('view gate', () => {
  it('shows a change at most windowMs after it happened', () => {
    const { timers, store, seen } = setup()
    store.setState({ n: 1 })
    expect(seen).toEqual([])
    timers.advance(49)
    expect(seen).toEqual([])
    timers.advance(1)
    expect(seen).toEqual([1])
  })

  it('flushes at most once per window under a steady stream (200 changes in 1 s -> 20 flushes)', () => {
    const { timers, store, gate, seen } = setup()
    for (let i = 1; i <= 200; i++) {
      store.setState({ n: i })
      timers.advance(5)
    }
    timers.advance(50)
    expect(gate.flushes).toBeLessThanOrEqual(20)
    expect(seen.at(-1)).toBe(200)
    // Consecutive flushes are a window apart.
    expect(seen.length).toBe(gate.flushes)
  })

  it('holds everything while paused and shows the latest state on resume', () => {
    const { timers, store, gate, seen } = setup()
    gate.pause()
    store.setState({ n: 1 })
    store.setState({ n: 2 })
    timers.advance(1_000)
    expect(seen).toEqual([])
    gate.resume()
    expect(seen).toEqual([2])
  })

  it('is configurable: a 100 ms window halves the flushes', () => {
    const { timers, store, gate } = setup(100)
    for (let i = 1; i <= 200; i++) {
      store.setState({ n: i })
      timers.advance(5)
    }
    timers.advance(100)
    expect(gate.flushes).toBeLessThanOrEqual(10)
  })
})
