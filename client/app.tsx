import Taro, { useLaunch } from '@tarojs/taro'
import type { PropsWithChildren } from 'react'
import { auth, baseUrl, client, store } from './services'
import './app.css'

if (process.env.TARO_APP_BENCH === '1') {
  // The benchmark's build only (bench/client): it drives the store directly, e.g. to hold a
  // conversation of 10,000 messages before opening it. Compiled out of every other build.
  ;(globalThis as Record<string, unknown>).__chatBench = { client, store }
}

/**
 * h5: the offline shell (client/sw.js, emitted by production builds only), when the BFF serves the
 * page (the app's API is then the page's origin; a page served elsewhere has no sw.js of ours).
 */
function registerShell(): void {
  if (process.env.TARO_ENV !== 'h5' || process.env.NODE_ENV !== 'production') return
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) return
  if (baseUrl !== window.location.origin) return
  navigator.serviceWorker.register('/sw.js').catch((err: unknown) => console.warn('[chat] offline shell not installed', err))
}

function App({ children }: PropsWithChildren) {
  useLaunch(() => {
    registerShell()
    // Open on the last known state (cache) and connect; without a session, the first page sends
    // the user to the login page.
    if (auth.session) client.start()
    // The session ended (refresh refused): back to the login page.
    store.subscribe((s, prev) => {
      if (s.conn.reason === 'unauthorized' && prev.conn.reason !== 'unauthorized') {
        // The login page says why, and offers the same user again: the outbox and drafts are kept
        // per user on this device and go out after the new login.
        const user = prev.me?.id ?? s.me?.id ?? ''
        client.logout()
        void Taro.reLaunch({ url: `/pages/login/index?ended=1&user=${encodeURIComponent(user)}` })
      }
    })
  })
  return children
}

export default App
