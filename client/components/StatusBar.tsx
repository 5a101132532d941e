/**
 * Connection state as the user sees it. Lives in its own CustomWrapper on each page, so a state
 * change updates only this subtree (PLATFORM.md, Rendering).
 */
import { Text, View } from '@tarojs/components'
import { useEffect, useState } from 'react'
import { t } from '../i18n'
import type { ConnectionStatus } from '../net/connection'
import { client } from '../services'
import { useGate, useStore } from '../store/react'
import './status-bar.css'

function describe(c: ConnectionStatus, now: number): { text: string; retry: boolean } | undefined {
  if (c.state === 'connected') return undefined
  if (c.state === 'connecting') return { text: c.attempt > 0 ? t('banner.reconnecting') : t('banner.connecting'), retry: false }
  switch (c.reason) {
    case 'offline':
      return { text: t('banner.offline'), retry: false }
    case 'waiting': {
      const s = c.retryAt ? Math.max(1, Math.ceil((c.retryAt - now) / 1000)) : 0
      return { text: s > 1 ? t('banner.retryingIn', { s }) : t('banner.retrying'), retry: true }
    }
    case 'unsupported':
      return { text: t('banner.unsupported'), retry: false }
    case 'unauthorized':
      return { text: t('banner.signedOut'), retry: false }
    case 'background':
    case 'stopped':
    default:
      return { text: t('banner.notConnected'), retry: true }
  }
}

export function ConnectionBanner() {
  const gate = useGate()
  const conn = useStore(gate, (s) => s.conn)
  const [now, setNow] = useState(() => Date.now())
  // Count down once a second while waiting (only this subtree re-renders).
  useEffect(() => {
    if (conn.state !== 'disconnected' || conn.reason !== 'waiting') return
    const t = setInterval(() => setNow(Date.now()), 1000)
    setNow(Date.now())
    return () => clearInterval(t)
  }, [conn])
  const d = describe(conn, now)
  if (!d) return null
  return (
    <View className='cb' role='status'>
      <Text className='cb-t'>{d.text}</Text>
      {d.retry ? (
        <View className='cb-r' role='button' onClick={() => client.connection.retryNow()}>
          <Text>{t('banner.retryNow')}</Text>
        </View>
      ) : null}
    </View>
  )
}
