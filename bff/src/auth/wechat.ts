/**
 * WeChat's code2session: exchanges a `wx.login` code for the user's openid.
 * GET <base>/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code
 * (PLATFORM.md, Login). The AppSecret and the session_key never leave the server; the session_key
 * is not kept at all, since the BFF decrypts no WeChat user data.
 *
 * Like every WeChat call (wechat/api.ts) it has a timeout, a count in `wechat_calls_total` (api
 * `code2session`) and a log line without secrets when it fails. A code is good for one exchange, so
 * only the failures where WeChat did not take it are retried (at most `retryMax` times, full-jitter
 * backoff from `retryBaseMs`, as the other calls): errcode -1 (busy: "try again later") and a
 * connection refused before the request was sent. A timeout, a 5xx or a connection cut after the
 * request may have spent the code (a retry would get 40163): those answer WX_UNAVAILABLE and the
 * client logs in again with a new code from `wx.login`.
 */
import { AppError } from '@chat/shared'
import * as v from 'valibot'
import { schemas } from '@chat/shared'
import type { Logger } from '../log'
import type { WxMetrics } from '../wechat/api'

export interface WeChatOptions {
  readonly appId: string
  readonly secret: string
  readonly apiBase: string
  readonly timeoutMs: number
  /** Retries of a busy WeChat or a refused connection (WX_RETRY_MAX; 0 or absent: none). */
  readonly retryMax?: number | undefined
  /** Backoff base of those retries, ms (WX_RETRY_BASE_MS). */
  readonly retryBaseMs?: number | undefined
  /** The WeChat call counters (absent when the integration is off: then nothing is counted). */
  readonly metrics?: WxMetrics | undefined
  readonly log?: Logger | undefined
}

export interface WeChatSession {
  readonly openid: string
  readonly unionid?: string | undefined
}

/** WeChat's documented errcodes and what the client is told. Unknown codes: WX_UNAVAILABLE. */
const WX_ERRCODES: Record<number, 'WX_CODE_INVALID' | 'WX_RATE_LIMITED' | 'WX_USER_BLOCKED' | 'WX_UNAVAILABLE'> = {
  40029: 'WX_CODE_INVALID', // invalid code
  40163: 'WX_CODE_INVALID', // code already used
  45011: 'WX_RATE_LIMITED', // 100 per minute per user
  40226: 'WX_USER_BLOCKED', // high-risk user
  [-1]: 'WX_UNAVAILABLE', // system busy
}

const API = 'code2session'

export async function code2session(options: WeChatOptions, code: string): Promise<WeChatSession> {
  if (!options.appId || !options.secret) throw new AppError('WX_UNAVAILABLE', 'WeChat login is not configured (WX_APPID, WX_SECRET)')
  const url = new URL(`${options.apiBase}/sns/jscode2session`)
  url.searchParams.set('appid', options.appId)
  url.searchParams.set('secret', options.secret)
  url.searchParams.set('js_code', code)
  url.searchParams.set('grant_type', 'authorization_code')
  for (let attempt = 0; ; attempt++) {
    const again = attempt < (options.retryMax ?? 0)
    let body: unknown
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs) })
      if (!res.ok) throw new Error(`code2session HTTP ${res.status}`)
      body = await res.json()
    } catch (cause) {
      const refused = connectionRefused(cause)
      options.metrics?.calls.inc({ api: API, outcome: refused && again ? 'retry' : 'unreachable' })
      // The message only: the URL carries the secret and the code.
      options.log?.warn({ api: API, err: cause instanceof Error ? cause.message : String(cause), retry: refused && again }, 'wechat call failed')
      if (refused && again) {
        await backoff(options, attempt)
        continue
      }
      throw new AppError('WX_UNAVAILABLE', undefined, { cause })
    }
    const b = (body ?? {}) as { errcode?: unknown; errmsg?: unknown; openid?: unknown; unionid?: unknown }
    if (typeof b.errcode === 'number' && b.errcode !== 0) {
      const code = WX_ERRCODES[b.errcode] ?? 'WX_UNAVAILABLE'
      const busy = b.errcode === -1 && again
      options.metrics?.calls.inc({ api: API, outcome: busy ? 'retry' : String(b.errcode) })
      // A bad or used code, a user over its quota or one WeChat blocks is the client's: info. WeChat failing is the operator's: warn.
      options.log?.[code === 'WX_UNAVAILABLE' ? 'warn' : 'info']({ api: API, errcode: b.errcode, retry: busy }, 'wechat call refused')
      if (busy) {
        await backoff(options, attempt)
        continue
      }
      throw new AppError(code, `code2session errcode ${b.errcode}: ${typeof b.errmsg === 'string' ? b.errmsg : ''}`.slice(0, 200))
    }
    return session(options, b)
  }
}

function session(options: WeChatOptions, b: { openid?: unknown; unionid?: unknown }): WeChatSession {
  options.metrics?.calls.inc({ api: API, outcome: 'ok' })
  options.log?.debug({ api: API }, 'wechat call ok')
  // An openid is used as the user id: it must fit the protocol's user id alphabet.
  if (!v.is(schemas.UserId, b.openid)) throw new AppError('WX_UNAVAILABLE', 'code2session answered without a usable openid')
  return { openid: b.openid, unionid: typeof b.unionid === 'string' ? b.unionid : undefined }
}

/** No connection was made (nothing sent, the code not spent): fetch's cause is ECONNREFUSED. */
function connectionRefused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause
  return cause?.code === 'ECONNREFUSED'
}

function backoff(options: WeChatOptions, attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.random() * (options.retryBaseMs ?? 0) * 2 ** attempt))
}
