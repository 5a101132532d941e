import { useDidHide, useDidShow } from '@tarojs/taro'
import { useEffect, useState } from 'react'
import { CLIENT_DEFAULTS } from './config'
import { startOfDay } from './format'
import { realTimers } from './platform/taro'
import { store } from './services'
import type { ChatState } from './store/types'
import { createViewGate, type ViewGate } from './store/view-gate'

/**
 * A page's view of the store: batched (CLIENT_DEFAULTS.viewBatchMs) and paused while the page is
 * hidden, so a page under another one, or the app in the background, gets no setData at all.
 */
export function usePageGate(): ViewGate<ChatState> {
  const [gate] = useState(() => createViewGate(store, { windowMs: CLIENT_DEFAULTS.viewBatchMs, timers: realTimers }))
  useDidShow(() => gate.resume())
  useDidHide(() => gate.pause())
  useEffect(() => () => gate.dispose(), [gate])
  return gate
}

/**
 * Local midnight of today, ms, which changes when the day does: a component that shows times by
 * the day (listTime: "14:05" becomes "昨天" at midnight) renders again then, though nothing in the
 * store changed. A page in the background is not rendered (no setData): it looks again on show.
 */
export function useToday(): number {
  const [today, setToday] = useState(() => startOfDay(Date.now()))
  useDidShow(() => setToday(startOfDay(Date.now())))
  useEffect(() => {
    let id: ReturnType<typeof setTimeout> | undefined
    // Just after the next midnight (a timer may fire a few ms early: the same day again renders
    // nothing, and the next timer is set from the time it fired).
    const arm = () => {
      const now = Date.now()
      id = setTimeout(() => {
        setToday(startOfDay(Date.now()))
        arm()
      }, startOfDay(now, 1) - now + MIDNIGHT_SLACK_MS)
    }
    arm()
    return () => clearTimeout(id)
  }, [])
  return today
}

/** How long after midnight useToday looks at the clock, ms. */
const MIDNIGHT_SLACK_MS = 1000
