/**
 * React binding of the batched store. A page provides its own ViewGate (paused while the page is
 * hidden); components read it with zustand's own `useStore(gate, selector)` - the gate is a
 * read-only store whose state is the last flush - and wrap selectors that build a new object or
 * array in `useShallow`, so they re-render only when what they show changed, at most once per flush.
 */
import { createContext, createElement, useContext, type ReactNode } from 'react'
import type { ChatState } from './types'
import type { ViewGate } from './view-gate'

export { useStore } from 'zustand'
export { useShallow } from 'zustand/react/shallow'

const GateContext = createContext<ViewGate<ChatState> | null>(null)

export function GateProvider({ gate, children }: { gate: ViewGate<ChatState>; children?: ReactNode }) {
  return createElement(GateContext.Provider, { value: gate }, children)
}

/** The page's gate: what `useStore` reads in the page's components. */
export function useGate(): ViewGate<ChatState> {
  const gate = useContext(GateContext)
  if (!gate) throw new Error('useGate outside a page GateProvider')
  return gate
}
