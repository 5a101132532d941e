/** POST /auth/wx-login, /auth/dev-login, /auth/refresh: each answers an AuthResponse (PROTOCOL.md, HTTP). */
import { Router } from 'express'
import { AppError, schemas } from '@chat/shared'
import type { User } from '@chat/shared'
import type { UserStore } from '../store/types'
import { bodyOf } from '../http/errors'
import type { Tokens } from './tokens'
import { code2session } from './wechat'
import type { WeChatOptions } from './wechat'

export interface AuthDeps {
  readonly tokens: Tokens
  readonly users: UserStore
  readonly wechat: WeChatOptions
  readonly devLogin: boolean
  /** Throws AppError USER_SUSPENDED for a suspended user (bff/src/wechat, moderation). */
  readonly admit?: (user: string) => Promise<void>
}

export function authRouter(deps: AuthDeps): Router {
  const router = Router()

  router.post('/auth/wx-login', async (req, res) => {
    const { code } = bodyOf(req, schemas.WxLoginRequest)
    const session = await code2session(deps.wechat, code)
    const [known] = await deps.users.get([session.openid])
    // WeChat no longer hands out nicknames at login: a new user starts with a neutral name.
    const user: User = known ?? { id: session.openid, name: `微信用户${session.openid.slice(-4)}` }
    await deps.admit?.(user.id)
    if (!known) await deps.users.upsert(user)
    res.json(await deps.tokens.issue(user))
  })

  router.post('/auth/dev-login', async (req, res) => {
    // Local preview and tests only; config refuses to start with it enabled in production.
    if (!deps.devLogin) throw new AppError('DEV_LOGIN_DISABLED')
    const body = bodyOf(req, schemas.DevLoginRequest)
    const [known] = await deps.users.get([body.user])
    const user: User = { ...known, id: body.user, name: body.name ?? known?.name ?? body.user }
    await deps.admit?.(user.id)
    // Written only when new or renamed: a known user logs in from the hot copy alone (archive away).
    if (!known || known.name !== user.name) await deps.users.upsert(user)
    res.json(await deps.tokens.issue(user))
  })

  router.post('/auth/refresh', async (req, res) => {
    const { refreshToken } = bodyOf(req, schemas.RefreshRequest)
    const { user: id, family } = await deps.tokens.spendRefresh(refreshToken)
    await deps.admit?.(id)
    const [user] = await deps.users.get([id])
    if (!user) throw new AppError('UNAUTHORIZED', 'user no longer exists')
    res.json(await deps.tokens.issue(user, family))
  })

  return router
}
