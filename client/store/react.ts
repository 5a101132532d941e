/**
 * React binding of the batched store: a page provides its own ViewGate (paused while the page is
 * hidden); components select what they show, and re-render only when their selection changed.
 */
import { createContext, createElement, useContext, useRef, useSyncExternalStore, type ReactNode } from 'react'
import type { ChatState } from './types'
import type { ViewGate } from './view-gate'

const GateContext = createContext<ViewGate<ChatState> | null>(null)

export function GateProvider({ gate, children }: { gate: ViewGate<ChatState>; children?: ReactNode }) {
  return createElement(GateContext.Provider, { value: gate }, children)
}

export function useGate(): ViewGate<ChatState> {
  const gate = useContext(GateContext)
  if (!gate) throw new Error('useView outside a page GateProvider')
  return gate
}

/** Shallow equality of arrays and plain objects (one level). */
export function shallowEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka) {
    if (!Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false
  }
  return true
}

/**
 * Select from the page's batched snapshot. The component re-renders when the selection changes by
 * `equal` (Object.is by default), at most once per gate flush.
 */
export function useView<T>(selector: (s: ChatState) => T, equal: (a: T, b: T) => boolean = Object.is): T {
  const gate = useGate()
  const memo = useRef<{ state: ChatState; selector: unknown; value: T } | null>(null)
  const getSnapshot = (): T => {
    const state = gate.getSnapshot()
    const m = memo.current
    if (m && m.state === state && m.selector === selector) return m.value
    const value = selector(state)
    if (m && equal(m.value, value)) {
      memo.current = { state, selector, value: m.value }
      return m.value
    }
    memo.current = { state, selector, value }
    return value
  }
  return useSyncExternalStore(gate.subscribe, getSnapshot, getSnapshot)
}
