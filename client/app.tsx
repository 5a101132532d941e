import Taro, { useLaunch } from '@tarojs/taro'
import type { PropsWithChildren } from 'react'
import { auth, client, store } from './services'
import './app.css'

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
