/**
 * The WeChat integration's section of the configuration (config.wechat): read from the same
 * environment, validated, with documented defaults; bff/README.md ("Live on WeChat") has the table.
 * Everything here is off unless WX_APPID and WX_SECRET are set (the embedded default, h5 trials).
 */
import { ConfigError, int } from '../env'

export type UnavailablePolicy = 'allow' | 'refuse'

export interface WeChatConfig {
  /** WX_APPID and WX_SECRET both set: access_token, content security and subscription messages run. */
  readonly enabled: boolean
  /** WX_TOKEN_REFRESH_AHEAD_MS: the access_token is refreshed this long before it expires. Default 300000 (WeChat keeps the old one ~5 min). */
  readonly tokenRefreshAheadMs: number
  /** WX_TOKEN_LOCK_MS: lease of the refresh lock (one process refreshes; a dead holder frees it after this). Default 10000. */
  readonly tokenLockMs: number
  /** WX_RETRY_MAX: retries of a WeChat call answered -1 (busy), 5xx or not at all. Default 2. */
  readonly retryMax: number
  /** WX_RETRY_BASE_MS: first retry delay, doubled per retry, full jitter. Default 200. */
  readonly retryBaseMs: number
  /** WX_SECCHECK: msgSecCheck of message text before it is stored. Default on (when enabled). */
  readonly secCheck: boolean
  /**
   * WX_SECCHECK_UNAVAILABLE: what a text send does when WeChat cannot check it (down, busy past the
   * retries, or over WX_TEXT_CHECKS_PER_MIN): `allow` stores it and lists it as `unchecked` for the
   * moderators; `refuse` answers SECCHECK_UNAVAILABLE (temporary: the client resends). Default allow.
   */
  readonly unavailablePolicy: UnavailablePolicy
  /** WX_TEXT_CHECKS_PER_MIN: msgSecCheck calls a minute for the whole deployment. Default 4000 (WeChat's limit per app). */
  readonly textChecksPerMin: number
  /** WX_SUBSCRIBE_TEMPLATE_ID: the one-time template of "new message" notifications. Unset: no notifications. */
  readonly templateId: string
  /** WX_SUBSCRIBE_FIELDS: the template's keys for sender name, preview, time, in that order. Default thing1,thing2,time3. */
  readonly templateFields: readonly [string, string, string]
  /** WX_SUBSCRIBE_GRACE_MS: how long a user has no device before a waiting message notifies. Default 30000. */
  readonly graceMs: number
  /** WX_SUBSCRIBE_MAX: one-time allowances kept per user and template. Default 50. */
  readonly maxAllowances: number
  /** WX_MINIPROGRAM_STATE: which build a notification opens: formal, trial or developer. Default formal. */
  readonly miniprogramState: 'formal' | 'trial' | 'developer'
  /** REPORTS_PER_HOUR: abuse reports one user may file an hour. Default 20. */
  readonly reportsPerHour: number
  /** MODERATION_LIST_MAX: reports, and flagged messages, kept (newest). Default 10000. */
  readonly moderationListMax: number
  /** WX_PUBLIC_URL: https origin WeChat fetches images from for mediaCheckAsync (signed file URLs). Unset: images are not checked. */
  readonly publicUrl: string
  /** WX_MEDIA_CHECKS_PER_MIN: mediaCheckAsync calls a minute for the deployment. Default 2000 (WeChat's limit per app). */
  readonly mediaChecksPerMin: number
  /** WX_PUSH_TOKEN: the message-push Token of the admin console (its signature key). Unset: /wechat/push answers 404. */
  readonly pushToken: string | undefined
  /** ADMIN_TOKEN: bearer credential of /admin (at least 16 characters). Unset: the admin API answers 404. */
  readonly adminToken: string | undefined
}

export function loadWeChatConfig(env: NodeJS.ProcessEnv): WeChatConfig {
  const fields = (env.WX_SUBSCRIBE_FIELDS || 'thing1,thing2,time3').split(',').map((s) => s.trim())
  if (fields.length !== 3 || fields.some((f) => !/^[a-z_]+\d+$/.test(f))) {
    throw new ConfigError('WX_SUBSCRIBE_FIELDS', `must be three template keys (name, preview, time) like thing1,thing2,time3, got "${env.WX_SUBSCRIBE_FIELDS}"`)
  }
  const adminToken = env.ADMIN_TOKEN || undefined
  if (adminToken !== undefined && adminToken.length < 16) throw new ConfigError('ADMIN_TOKEN', 'must be at least 16 characters')
  const state = env.WX_MINIPROGRAM_STATE || 'formal'
  if (state !== 'formal' && state !== 'trial' && state !== 'developer') throw new ConfigError('WX_MINIPROGRAM_STATE', `must be formal, trial or developer, got "${state}"`)
  const policy = env.WX_SECCHECK_UNAVAILABLE || 'allow'
  if (policy !== 'allow' && policy !== 'refuse') throw new ConfigError('WX_SECCHECK_UNAVAILABLE', `must be allow or refuse, got "${policy}"`)
  const secCheck = (env.WX_SECCHECK ?? 'on').trim().toLowerCase()
  if (!['on', 'off', '1', '0', 'true', 'false'].includes(secCheck)) throw new ConfigError('WX_SECCHECK', `must be on or off, got "${env.WX_SECCHECK}"`)
  return {
    enabled: Boolean(env.WX_APPID && env.WX_SECRET),
    tokenRefreshAheadMs: int(env, 'WX_TOKEN_REFRESH_AHEAD_MS', 300_000, 0, 3600_000),
    tokenLockMs: int(env, 'WX_TOKEN_LOCK_MS', 10_000, 100, 600_000),
    retryMax: int(env, 'WX_RETRY_MAX', 2, 0, 10),
    retryBaseMs: int(env, 'WX_RETRY_BASE_MS', 200, 1, 60_000),
    secCheck: ['on', '1', 'true'].includes(secCheck),
    unavailablePolicy: policy,
    textChecksPerMin: int(env, 'WX_TEXT_CHECKS_PER_MIN', 4000, 1, 1_000_000),
    templateId: env.WX_SUBSCRIBE_TEMPLATE_ID?.trim() ?? '',
    templateFields: fields as [string, string, string],
    graceMs: int(env, 'WX_SUBSCRIBE_GRACE_MS', 30_000, 0, 24 * 3600_000),
    maxAllowances: int(env, 'WX_SUBSCRIBE_MAX', 50, 1, 10_000),
    miniprogramState: state,
    reportsPerHour: int(env, 'REPORTS_PER_HOUR', 20, 1, 100_000),
    moderationListMax: int(env, 'MODERATION_LIST_MAX', 10_000, 10, 1_000_000),
    adminToken,
    publicUrl: publicUrl(env),
    mediaChecksPerMin: int(env, 'WX_MEDIA_CHECKS_PER_MIN', 2000, 1, 1_000_000),
    pushToken: env.WX_PUSH_TOKEN || undefined,
  }
}

function publicUrl(env: NodeJS.ProcessEnv): string {
  const raw = env.WX_PUBLIC_URL?.trim()
  if (!raw) return ''
  try {
    new URL(raw)
  } catch {
    throw new ConfigError('WX_PUBLIC_URL', `must be a URL, got "${raw}"`)
  }
  return raw.replace(/\/+$/, '')
}
