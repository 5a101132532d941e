/**
 * Login: WeChat login (`wx.login` code -> BFF, PLATFORM.md "Login") in the mini-program; the dev
 * login (user id + name) on h5 and in local preview builds (TARO_APP_DEV_LOGIN=1), where the BFF
 * enables it.
 */
import { Button, Input, Text, View } from '@tarojs/components'
import Taro, { useDidShow, useRouter } from '@tarojs/taro'
import { useState } from 'react'
import { errorText, setPageTitle, t } from '../../i18n'
import { auth, client } from '../../services'
import './index.css'

const devLogin = process.env.TARO_ENV === 'h5' || process.env.TARO_APP_DEV_LOGIN === '1'
const wxLogin = process.env.TARO_ENV !== 'h5'

function enter() {
  client.start()
  void Taro.reLaunch({ url: '/pages/index/index' })
}

export default function LoginPage() {
  const params = useRouter().params
  useDidShow(() => setPageTitle('title.login'))
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
      setError(errorText(err))
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
      <Text className='lg-h'>{t('login.h')}</Text>
      {ended ? (
        <Text className='lg-note' id='session-ended'>
          {t('login.ended')}
        </Text>
      ) : null}
      {wxLogin ? (
        <Button
          className='lg-wx'
          disabled={busy}
          onClick={() =>
            void run(async () => {
              const { code } = await Taro.login()
              await auth.loginWx(code)
            })
          }
        >
          {t('login.wx')}
        </Button>
      ) : null}
      {devLogin ? (
        <View className='lg-dev'>
          {wxLogin ? <Text className='lg-or'>{t('login.dev')}</Text> : null}
          <Input
            className='lg-in'
            id='login-user'
            placeholder={t('login.user')}
            value={user}
            onInput={(e) => setUser(e.detail.value.trim())}
          />
          <Input
            className='lg-in'
            id='login-name'
            placeholder={t('login.name')}
            value={name}
            onInput={(e) => setName(e.detail.value)}
          />
          <Button
            className='lg-go'
            id='login-go'
            disabled={busy || !valid}
            onClick={() => void run(() => auth.loginDev(user, name.trim() || undefined))}
          >
            {busy ? t('login.busy') : t('login.go')}
          </Button>
        </View>
      ) : null}
      {error ? <Text className='lg-err'>{error}</Text> : null}
    </View>
  )
}
