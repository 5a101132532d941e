/**
 * The one schema of the BFF's environment: every variable, how its text is read and checked, and
 * its default, written once here. The config modules (config.ts, upload/config.ts,
 * wechat/config.ts) read the parsed values through `readEnv` and add only what spans several
 * variables (production rules, defaults computed from other variables); they import this module and
 * never each other. bff/README.md's variable tables must list exactly these variables with these
 * defaults (bff/test/env.test.ts compares them).
 *
 * Written in valibot (already the protocol's schema library): one `v.object`, each entry a pipe from
 * the raw text (`string | undefined`) to the typed value; the default the README shows is the
 * entry's metadata. A bad value stops the start-up with a ConfigError naming the variable.
 */
import * as v from 'valibot'
import { LIMITS } from '@chat/shared'

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`config: ${variable} ${message}`)
    this.name = 'ConfigError'
  }
}

type Raw = string | undefined

/** Thrown by a reader for a bad value; `readEnv` turns it into a ConfigError naming the variable. */
class Invalid extends Error {}
function invalid(message: string): never {
  throw new Invalid(message)
}

/** What the README's default column starts with; undefined when there is none or it is computed. */
export type EnvMetadata = { readonly default: string | undefined }

/** One variable: `read` turns its raw text into the value; `shown` is the default the README states. */
function variable<T>(shown: string | number | undefined, read: (raw: Raw) => T) {
  return v.pipe(
    v.undefinedable(v.string()),
    v.rawTransform<Raw, T>(({ dataset, addIssue, NEVER }) => {
      try {
        return read(dataset.value)
      } catch (err) {
        if (!(err instanceof Invalid)) throw err
        addIssue({ message: err.message })
        return NEVER
      }
    }),
    v.metadata<T, EnvMetadata>({ default: shown === undefined || shown === '' ? undefined : String(shown) }),
  )
}

/** An integer in [min, max]; unset or empty: the fallback. */
function int(fallback: number, min: number, max: number) {
  return variable(fallback, (raw) => (raw === undefined || raw === '' ? fallback : intIn(raw, min, max)))
}

/** An integer in [min, max], or undefined when unset or empty (no default). */
function optionalInt(min: number, max: number) {
  return variable(undefined, (raw) => (raw ? intIn(raw, min, max) : undefined))
}

function intIn(raw: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(raw.trim())) invalid(`must be an integer, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) invalid(`must be between ${min} and ${max}, got ${n}`)
  return n
}

/** A non-negative integer in [min, max] (the upload limits' wording); unset or blank: the fallback. */
function size(fallback: number, min: number, max: number) {
  return variable(fallback, (raw) => {
    if (raw === undefined || raw.trim() === '') return fallback
    if (!/^\d+$/.test(raw.trim())) invalid(`must be a non-negative integer, got "${raw}"`)
    const n = Number(raw)
    if (n < min || n > max) invalid(`must be between ${min} and ${max}, got ${n}`)
    return n
  })
}

/** 1/0, true/false, yes/no, on/off in any case; unset or empty: undefined (the default is computed). */
function flag() {
  return variable(undefined, (raw) => {
    const text = raw?.trim().toLowerCase()
    if (text === undefined || text === '') return undefined
    if (['1', 'true', 'yes', 'on'].includes(text)) return true
    if (['0', 'false', 'no', 'off'].includes(text)) return false
    invalid(`must be a boolean (1/0, true/false, on/off), got "${raw}"`)
  })
}

/** One of `values`; unset or empty: the fallback. `message` replaces the generic "must be one of". */
function oneOf<const T extends string>(values: readonly T[], fallback: T, message?: string) {
  return variable(fallback, (raw) => {
    if (raw === undefined || raw === '') return fallback
    if (!(values as readonly string[]).includes(raw)) invalid(`${message ?? `must be one of ${values.join(', ')}`}, got "${raw}"`)
    return raw as T
  })
}

/** A URL without trailing slashes; unset or empty: the fallback. */
function url(fallback: string) {
  return variable(fallback, (raw) => checkUrl(raw || fallback))
}

/** A URL without trailing slashes, or '' when unset or blank (the feature is off). */
function optionalUrl() {
  return variable(undefined, (raw) => {
    const text = raw?.trim()
    return text ? checkUrl(text) : ''
  })
}

function checkUrl(raw: string): string {
  try {
    new URL(raw)
  } catch {
    invalid(`must be a URL, got "${raw}"`)
  }
  return raw.replace(/\/+$/, '')
}

/** Text taken as it is; unset: the fallback (an empty value stays empty). */
function text(fallback: string) {
  return variable(fallback, (raw) => raw ?? fallback)
}

/** Text, trimmed; unset or blank: undefined (the default is computed, or the feature is off). */
function trimmed() {
  return variable(undefined, (raw) => raw?.trim() || undefined)
}

/** A secret or token: unset or empty is undefined; checked where it is used. */
function secret() {
  return variable(undefined, (raw) => raw || undefined)
}

/** At least `minChars` characters, or undefined when unset or empty. */
function token(minChars: number) {
  return variable(undefined, (raw) => {
    if (!raw) return undefined
    if (raw.length < minChars) invalid(`must be at least ${minChars} characters`)
    return raw
  })
}

const DAY_MS = 24 * 3600_000

/** Every variable the BFF reads, in the order they are checked. */
export const ENV = v.object({
  // ---- process and network (config.ts)
  NODE_ENV: variable(undefined, (raw): 'development' | 'test' | 'production' => {
    // Any case and spacing; anything else is refused: a typo ("Prod", "prodution") must not start
    // a production server in development mode.
    const mode = (raw ?? '').trim().toLowerCase()
    if (mode === '' || mode === 'development') return 'development'
    if (mode === 'test' || mode === 'production') return mode
    invalid(`must be development, test or production (any case), got "${raw}"`)
  }),
  PORT: int(8080, 0, 65535),
  HOST: text('127.0.0.1'),
  STORE: oneOf(['memory', 'redis'], 'memory'),
  REDIS_URL: text('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: variable(undefined, (raw) => {
    const list = raw?.trim()
    if (!list) return []
    return list.split(',').map((item) => {
      const m = /^\s*([^:\s]+):(\d{1,5})\s*$/.exec(item)
      if (!m) invalid(`must be a comma list of host:port, got "${item}"`)
      return { host: m[1]!, port: Number(m[2]) }
    })
  }),
  REDIS_PREFIX: variable('chat:', (raw) => {
    const prefix = raw ?? 'chat:'
    // A brace in the prefix would become the key's hash tag and put every key in one Cluster slot.
    if (/[{}\s]/.test(prefix)) invalid('must not contain braces or spaces')
    return prefix
  }),
  REDIS_COMMAND_TIMEOUT_MS: int(2000, 10, 60_000),
  REDIS_CONNECT_TIMEOUT_MS: int(10_000, 100, 600_000),
  DATA_DIR: variable('data', (raw) => raw || 'data'),
  ARCHIVE_URL: trimmed(),
  ARCHIVE_CONNECT_TIMEOUT_MS: int(30_000, 100, 600_000),
  ARCHIVE_POOL_SIZE: int(10, 1, 1000),
  WINDOW_MESSAGES: int(200, 1, 1_000_000),
  WINDOW_TRIM_EVERY: optionalInt(1, 1_000_000),
  SETTINGS_MIRROR_TTL_MS: int(86_400_000, 1000, 30 * DAY_MS),
  ARCHIVE_BATCH_MAX: int(1000, 1, 100_000),
  ARCHIVE_BACKLOG_MAX: int(1_000_000, 1, 1_000_000_000),
  ARCHIVE_BACKLOG_CHECK_MS: int(100, 0, 60_000),
  ARCHIVE_CLAIM_IDLE_MS: int(30_000, 100, 3600_000),
  ARCHIVE_PERSISTER: oneOf(['process', 'inline', 'none'], 'process'),
  ARCHIVE_WRITES_IN_FLIGHT: int(4, 1, 64),
  PERSISTER_METRICS_PORT: optionalInt(0, 65535),
  JWT_SECRET: secret(),
  TOKEN_TTL_MS: int(15 * 60_000, 1000, DAY_MS),
  REFRESH_TTL_MS: int(30 * DAY_MS, 60_000, 365 * DAY_MS),
  WX_APPID: text(''),
  WX_SECRET: text(''),
  WX_API_BASE: url('https://api.weixin.qq.com'),
  WX_TIMEOUT_MS: int(5000, 100, 60_000),
  DEV_LOGIN: flag(),
  STATIC_DIR: text('dist/h5'),
  CORS_ORIGINS: variable('*', (raw) => (raw ?? '*').split(',').map((s) => s.trim()).filter(Boolean)),
  WORKERS: optionalInt(1, 256),
  METRICS_PORT: optionalInt(0, 65535),
  METRICS_TOKEN: token(16),
  WORKER_RESTART_MAX: int(5, 0, 1000),
  WORKER_RESTART_WINDOW_MS: int(60_000, 1000, DAY_MS),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),

  // ---- the protocol's limits (config.ts)
  HEARTBEAT_INTERVAL_MS: int(30_000, 50, 600_000),
  MAX_FRAME_BYTES: int(LIMITS.maxFrameBytes, 1024, 16 * 1024 * 1024),
  MAX_CONNECTIONS: int(19_000, 1, 1_000_000),
  MAX_UPGRADES_IN_FLIGHT: int(200, 1, 1_000_000),
  UPGRADE_RETRY_AFTER_S: int(1, 0, 3600),
  UPGRADE_QUEUE_MAX: int(10_000, 0, 1_000_000),
  UPGRADE_QUEUE_WAIT_MS: int(10_000, 0, 60_000),
  MAX_DEVICES_PER_USER: int(5, 1, 1000),
  RATE_LIMIT_PER_SEC: int(20, 1, 1_000_000),
  RATE_LIMIT_BURST: int(60, 1, 1_000_000),
  FLOOD_MAX_REJECTS: int(50, 1, 1_000_000),
  FLOOD_WINDOW_MS: int(10_000, 100, 3600_000),
  SLOW_CONSUMER_BYTES: int(1024 * 1024, 1024, 1024 * 1024 * 1024),
  ACK_WINDOW_MS: int(100, 0, 1000),
  DEDUP_WINDOW_MS: int(DAY_MS, 1000, 30 * DAY_MS),
  RECALL_WINDOW_MS: int(LIMITS.recallWindowMs, 0, DAY_MS),
  QUEUE_MAX_LENGTH: int(10_000, 1, 10_000_000),
  QUEUE_RETENTION_MS: int(7 * DAY_MS, 1000, 365 * DAY_MS),
  PRESENCE_FANOUT_MAX: int(1000, 0, 100_000),
  PRESENCE_BUCKETS: int(1, 1, 4096),
  PRESENCE_BEAT_MS: int(5000, 100, 600_000),
  PRESENCE_NODE_DEAD_MS: int(30_000, 1000, 3_600_000),
  PRESENCE_OFFLINE_GRACE_MS: int(5000, 0, 600_000),
  PRESENCE_OFFLINE_GRACE_MAX_MS: optionalInt(0, 3_600_000),
  HTTP_HEADERS_TIMEOUT_MS: int(10_000, 100, 120_000),
  HTTP_REQUEST_TIMEOUT_MS: int(120_000, 1000, 3_600_000),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 100, 600_000),
  SHUTDOWN_RETRY_AFTER_MS: int(1000, 0, 600_000),

  // ---- uploads (upload/config.ts); the type list and URL keys are parsed there (they need its tables)
  UPLOAD_DIR: trimmed(),
  UPLOAD_MAX_BYTES: size(100 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
  UPLOAD_MAX_ACTIVE_PER_USER: size(4, 1, 1000),
  UPLOAD_IDLE_MS: size(10 * 60_000, 1000, 7 * DAY_MS),
  UPLOAD_EXPIRY_MS: size(DAY_MS, 1000, 365 * DAY_MS),
  UPLOAD_SWEEP_INTERVAL_MS: size(10 * 60_000, 0, DAY_MS),
  UPLOAD_THUMB_MAX_PX: size(400, 16, 4096),
  UPLOAD_MAX_IMAGE_PIXELS: size(100_000_000, 1, 1_000_000_000),
  UPLOAD_ALLOWED_TYPES: trimmed(),
  FILE_URL_TTL_MS: size(2 * 3600_000, 1000, 7 * DAY_MS),
  FILE_URL_KEYS: trimmed(),

  // ---- the WeChat integration (wechat/config.ts)
  WX_TOKEN_REFRESH_AHEAD_MS: int(300_000, 0, 3600_000),
  WX_TOKEN_LOCK_MS: int(10_000, 100, 600_000),
  WX_RETRY_MAX: int(2, 0, 10),
  WX_RETRY_BASE_MS: int(200, 1, 60_000),
  WX_HTTP_THREADS: int(1, 0, 16),
  WX_HTTP_BATCH_MS: int(2, 0, 50),
  WX_HTTP_PIPELINING: int(0, 0, 256),
  WX_CHECKER: oneOf(['process', 'inline'], 'process', 'must be process or inline'),
  WX_CHECKER_TIMEOUT_MS: int(15_000, 100, 600_000),
  WX_CHECKER_BATCH_MS: int(4, 0, 20),
  WX_SECCHECK: variable('on', (raw) => {
    const text = (raw ?? 'on').trim().toLowerCase()
    if (!['on', 'off', '1', '0', 'true', 'false'].includes(text)) invalid(`must be on or off, got "${raw}"`)
    return ['on', '1', 'true'].includes(text)
  }),
  WX_SECCHECK_UNAVAILABLE: oneOf(['allow', 'refuse'], 'allow', 'must be allow or refuse'),
  WX_TEXT_CHECKS_PER_MIN: int(4000, 1, 1_000_000),
  WX_SECCHECK_CACHE_MAX: int(10_000, 0, 1_000_000),
  WX_SECCHECK_CACHE_TTL_MS: int(60_000, 1000, 3600_000),
  WX_RECHECK_INTERVAL_MS: int(60_000, 0, DAY_MS),
  WX_RECHECK_BATCH: int(50, 1, 10_000),
  WX_SUBSCRIBE_TEMPLATE_ID: variable(undefined, (raw) => raw?.trim() ?? ''),
  WX_SUBSCRIBE_FIELDS: variable('thing1,thing2,time3', (raw) => {
    const fields = (raw || 'thing1,thing2,time3').split(',').map((s) => s.trim())
    if (fields.length !== 3 || fields.some((f) => !/^[a-z_]+\d+$/.test(f))) {
      invalid(`must be three template keys (name, preview, time) like thing1,thing2,time3, got "${raw}"`)
    }
    return fields as [string, string, string]
  }),
  WX_SUBSCRIBE_GRACE_MS: int(30_000, 0, DAY_MS),
  WX_SUBSCRIBE_MAX: int(50, 1, 10_000),
  WX_MINIPROGRAM_STATE: oneOf(['formal', 'trial', 'developer'], 'formal', 'must be formal, trial or developer'),
  REPORTS_PER_HOUR: int(20, 1, 100_000),
  MODERATION_LIST_MAX: int(10_000, 10, 1_000_000),
  ADMIN_TOKEN: token(16),
  WX_PUBLIC_URL: optionalUrl(),
  WX_MEDIA_CHECKS_PER_MIN: int(2000, 1, 1_000_000),
  WX_PUSH_TOKEN: secret(),
})

/** The environment, read and checked: one typed value per variable. */
export type Env = v.InferOutput<typeof ENV>

/** Reads every variable of `ENV` from `env`. Throws ConfigError naming the first bad variable. */
export function readEnv(env: NodeJS.ProcessEnv): Env {
  // Every key present (undefined when unset): valibot's object skips the pipe of a missing key.
  const input = Object.fromEntries(Object.keys(ENV.entries).map((name) => [name, env[name]]))
  const result = v.safeParse(ENV, input, { abortEarly: true })
  if (result.success) return result.output
  const issue = result.issues[0]
  const name = issue.path?.[0]?.key
  throw new ConfigError(typeof name === 'string' ? name : '?', issue.message)
}

/** The default the README states for each variable (undefined: none, or computed from others). */
export function envDefaults(): Record<string, string | undefined> {
  const names = Object.keys(ENV.entries) as (keyof typeof ENV.entries)[]
  return Object.fromEntries(names.map((name) => [name, v.getMetadata(ENV.entries[name]).default]))
}

/**
 * A URL check for a variable whose check depends on others (REDIS_URL only with STORE=redis and no
 * cluster). Throws ConfigError naming it.
 */
export function requireUrl(name: string, raw: string): string {
  try {
    return checkUrl(raw)
  } catch (err) {
    if (err instanceof Invalid) throw new ConfigError(name, err.message)
    throw err
  }
}
