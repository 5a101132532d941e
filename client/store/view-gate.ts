/**
 * Batched view updates. The store changes at once (acks, pushes, presence, typing); a page's view
 * sees those changes at most once per window: the first change after a flush starts a timer of
 * `windowMs`, and everything that happened until it fires is shown in ONE flush, so a page gets at
 * most 1000 / windowMs view updates (React commits, hence setData calls) a second and a change is
 * on screen at most `windowMs` after it happened. A paused gate (its page is in the background;
 * PLATFORM.md: never setData a page in the background) holds everything until it resumes.
 *
 * A gate is a read-only zustand store (getState, getInitialState, subscribe) whose state is the one
 * of the last flush: components read it with zustand's `useStore(gate, selector)` (store/react.ts).
 * This is the one place that batches; nothing else holds back or coalesces view updates.
 */
import type { StoreApi } from 'zustand/vanilla'
import type { TimerId, Timers } from '../platform/types'

export interface ViewGate<S> extends Pick<StoreApi<S>, 'getState' | 'getInitialState' | 'subscribe'> {
  /** The state as of the last flush. */
  getState(): S
  /** The same as getState (zustand's useStore reads it for a server render; there is none here). */
  getInitialState(): S
  /** Listeners run once per flush, with the state flushed and the one flushed before. */
  subscribe(listener: (state: S, prev: S) => void): () => void
  /** Stop flushing (page hidden). */
  pause(): void
  /** Flush what was held, then go on batching. */
  resume(): void
  /** Show the latest state now (e.g. right after the user's own action). */
  flush(): void
  readonly paused: boolean
  /** Flushes so far (for tests and benchmarks). */
  readonly flushes: number
  dispose(): void
}

export interface ViewGateOptions {
  /** Batching window, ms (CLIENT_DEFAULTS.viewBatchMs, 50 by default). 0: flush on the next tick. */
  readonly windowMs: number
  readonly timers: Pick<Timers, 'setTimeout' | 'clearTimeout'>
}

export function createViewGate<S>(store: StoreApi<S>, options: ViewGateOptions): ViewGate<S> {
  const listeners = new Set<(state: S, prev: S) => void>()
  let snapshot = store.getState()
  let timer: TimerId | undefined
  let paused = false
  let flushes = 0

  const flush = (): void => {
    options.timers.clearTimeout(timer)
    timer = undefined
    const next = store.getState()
    if (next === snapshot) return
    const prev = snapshot
    snapshot = next
    flushes++
    for (const l of [...listeners]) l(next, prev)
  }

  const unsubscribe = store.subscribe(() => {
    if (paused || timer !== undefined) return
    timer = options.timers.setTimeout(flush, options.windowMs)
  })

  return {
    getState: () => snapshot,
    getInitialState: () => snapshot,
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    pause() {
      paused = true
      options.timers.clearTimeout(timer)
      timer = undefined
    },
    resume() {
      if (!paused) return
      paused = false
      flush()
    },
    flush,
    get paused() {
      return paused
    },
    get flushes() {
      return flushes
    },
    dispose() {
      options.timers.clearTimeout(timer)
      unsubscribe()
      listeners.clear()
    },
  }
}
