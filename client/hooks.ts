import { useDidHide, useDidShow } from '@tarojs/taro'
import { useEffect, useState } from 'react'
import { CLIENT_DEFAULTS } from './config'
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
