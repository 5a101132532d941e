import Taro, { useLaunch } from '@tarojs/taro'
import type { PropsWithChildren } from 'react'
import { auth, client, store } from './services'
import './app.css'

if (process.env.TARO_APP_BENCH === '1') {
  // The benchmark's build only (bench/client): it drives the store directly, e.g. to hold a
  // conversation of 10,000 messages before opening it. Compiled out of every other build.
  ;(globalThis as Record<string, unknown>).__chatBench = { client, store }
}

function App({ children }: PropsWithChildren) {
  useLaunch(() => {
    // Open on the last known state (cache) and connect; without a session, the first page sends
    // the user to the login page.
    if (auth.session) client.start()
    // The session ended (refresh refused): back to the login page.
    store.subscribe((s, prev) => {
      if (s.conn.reason === 'unauthorized' && prev.conn.reason !== 'unauthorized') {
        client.logout()
        Taro.reLaunch({ url: '/pages/login/index' })
      }
    })
  })
  return children
}

export default App
