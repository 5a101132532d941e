/**
 * Login: WeChat login (`wx.login` code -> BFF, PLATFORM.md "Login") in the mini-program; the dev
 * login (user id + name) on h5 and in local preview builds (TARO_APP_DEV_LOGIN=1), where the BFF
 * enables it.
 */
import { Button, Input, Text, View } from '@tarojs/components'
import Taro, { useRouter } from '@tarojs/taro'
import { useState } from 'react'
import { isAppError } from '@chat/shared'
import { auth, client } from '../../services'
import './index.css'

const devLogin = process.env.TARO_ENV === 'h5' || process.env.TARO_APP_DEV_LOGIN === '1'
const wxLogin = process.env.TARO_ENV !== 'h5'

function message(err: unknown): string {
  if (isAppError(err)) {
    switch (err.code) {
      case 'DEV_LOGIN_DISABLED':
        return 'Dev login is disabled on this server.'
      case 'WX_RATE_LIMITED':
        return 'Too many attempts: wait a minute and try again.'
      case 'WX_USER_BLOCKED':
        return 'WeChat did not allow this login.'
      case 'WX_CODE_INVALID':
        return 'The login code expired: try again.'
      default:
        return err.message
    }
  }
  return 'Cannot reach the server. Check your connection and try again.'
}

function enter() {
  client.start()
  Taro.reLaunch({ url: '/pages/index/index' })
}

export default function LoginPage() {
  const params = useRouter().params
  // Sent here because the server no longer accepted the session (app.tsx): say so.
  const ended = params.ended === '1'
  const [user, setUser] = useState(() => decodeURIComponent(params.user ?? ''))
  const [name, setName] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState('')

  const run = async (fn: () => Promise<unknown>) => {
    setBusy(true)
    setError('')
    try {
      await fn()
      enter()
    } catch (err) {
      setError(message(err))
    } finally {
      setBusy(false)
    }
  }

  const valid = /^[A-Za-z0-9_-]{1,64}$/.test(user)
  return (
    <View className='lg'>
      <View className='lg-logo'>
        <View className='lg-b1' />
        <View className='lg-b2' />
      </View>
      <Text className='lg-h'>Chat</Text>
      {ended ? (
        <Text className='lg-note' id='session-ended'>
          Your session has ended: the server no longer accepts it (it may have restarted). Log in again; the messages you
          wrote and had not sent yet are kept on this device and go out after you log in.
        </Text>
      ) : null}
      {wxLogin ? (
        <Button
          className='lg-wx'
          disabled={busy}
          onClick={() =>
            run(async () => {
              const { code } = await Taro.login()
              await auth.loginWx(code)
            })
          }
        >
          Log in with WeChat
        </Button>
      ) : null}
      {devLogin ? (
        <View className='lg-dev'>
          {wxLogin ? <Text className='lg-or'>Development login</Text> : null}
          <Input
            className='lg-in'
            id='login-user'
            placeholder='User id (letters, digits, - _)'
            value={user}
            onInput={(e) => setUser(e.detail.value.trim())}
          />
          <Input
            className='lg-in'
            id='login-name'
            placeholder='Display name (optional)'
            value={name}
            onInput={(e) => setName(e.detail.value)}
          />
          <Button
            className='lg-go'
            id='login-go'
            disabled={busy || !valid}
            onClick={() => run(() => auth.loginDev(user, name.trim() || undefined))}
          >
            {busy ? 'Logging in…' : 'Log in'}
          </Button>
        </View>
      ) : null}
      {error ? <Text className='lg-err'>{error}</Text> : null}
    </View>
  )
}
