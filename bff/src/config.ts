/**
 * The BFF's configuration: read once from the environment, validated, with documented defaults.
 * A bad value stops the start with a message naming the variable. Every duration carries its unit
 * in its name; every limit is here so it is named, enforced in one place and documented
 * (bff/README.md has the same table for operators).
 */
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { LIMITS } from '@chat/shared'
import { ConfigError, bool, int, oneOf, url } from './env'
import { loadUploadConfig } from './upload/config'
import type { UploadConfig } from './upload/config'
import { loadWeChatConfig } from './wechat/config'
import type { WeChatConfig } from './wechat/config'

export type StoreKind = 'memory' | 'redis'

export interface Config {
  /** PORT: TCP port of HTTP and WebSocket. Default 8080; 0 picks a free port (tests). */
  readonly port: number
  /** HOST: interface to bind. Default 127.0.0.1 (Docker sets 0.0.0.0). */
  readonly host: string
  /** NODE_ENV is production (any case). Production refuses dev login and public or short JWT secrets. */
  readonly production: boolean
  /** STORE: `memory` (embedded, one process, default) or `redis`. */
  readonly store: StoreKind
  /** REDIS_URL: standalone Redis. Default redis://127.0.0.1:6379. */
  readonly redisUrl: string
  /** REDIS_CLUSTER_NODES: comma list host:port; when set, a Redis Cluster is used instead of REDIS_URL. */
  readonly redisClusterNodes: readonly { host: string; port: number }[]
  /** REDIS_PREFIX: prefix of every key and channel (tests isolate with it). Default `chat:`. */
  readonly redisPrefix: string
  /** REDIS_COMMAND_TIMEOUT_MS: a Redis command failing to answer in this time fails (STORE_UNAVAILABLE). Default 2000. */
  readonly redisCommandTimeoutMs: number
  /** REDIS_CONNECT_TIMEOUT_MS: how long start-up waits for Redis before giving up. Default 10000. */
  readonly redisConnectTimeoutMs: number
  /** DATA_DIR: folder of the embedded engine's SQLite archive (`chat.sqlite`). Default data/ of the repository. */
  readonly dataDir: string
  /**
   * ARCHIVE_URL: the system of record. `mysql://user:password@host:port/database`, `sqlite:<file>`,
   * or `none`. Default: `sqlite:<DATA_DIR>/chat.sqlite` with STORE=memory, `none` with STORE=redis
   * (Redis alone keeps every message, unbounded, as before the archive).
   */
  readonly archiveUrl: string | undefined
  /** ARCHIVE_CONNECT_TIMEOUT_MS: how long start-up waits for the archive (and its migrations) before exiting non-zero. Default 30000. */
  readonly archiveConnectTimeoutMs: number
  /** ARCHIVE_POOL_SIZE: MySQL connections per process. Default 10. */
  readonly archivePoolSize: number
  /** WINDOW_MESSAGES: newest messages of each conversation kept hot (Redis or memory) when an archive is on. Default 200. */
  readonly windowMessages: number
  /** ARCHIVE_BATCH_MAX: messages per persister batch (one multi-row INSERT). Default 1000. */
  readonly archiveBatchMax: number
  /** ARCHIVE_BACKLOG_MAX: acked messages not yet in the archive beyond which sends are refused (STORE_UNAVAILABLE). Default 1000000. */
  readonly archiveBacklogMax: number
  /** ARCHIVE_CLAIM_IDLE_MS: a batch taken by a persister that died is taken over after this long. Default 30000. */
  readonly archiveClaimIdleMs: number
  /** JWT_SECRET: HS256 key of access tokens, at least 32 bytes. Required in production, and not a built-in or example value there. */
  readonly jwtSecret: string
  /** TOKEN_TTL_MS: access token lifetime. Default 15 min. */
  readonly tokenTtlMs: number
  /** REFRESH_TTL_MS: refresh token lifetime. Default 30 days. */
  readonly refreshTtlMs: number
  /** WX_APPID / WX_SECRET: the mini-program's credentials for code2session. wx-login is refused without them. */
  readonly wxAppId: string
  readonly wxSecret: string
  /** WX_API_BASE: WeChat API origin. Default https://api.weixin.qq.com (tests point it at a fake). */
  readonly wxApiBase: string
  /** WX_TIMEOUT_MS: code2session request timeout. Default 5000. */
  readonly wxTimeoutMs: number
  /** DEV_LOGIN: POST /auth/dev-login enabled. Default on outside production; refused in production. */
  readonly devLogin: boolean
  /** STATIC_DIR: the h5 build served at /. Default dist/h5 of the repository. */
  readonly staticDir: string
  /** CORS_ORIGINS: comma list of origins allowed to call the API, or `*`. Default `*` (tokens are never cookies). */
  readonly corsOrigins: readonly string[]
  /** WORKERS: processes sharing the port. Default 1, or one per core in production. Memory store: 1 only. */
  readonly workers: number
  /** METRICS_PORT: serve /metrics on this port only (not on PORT). Unset: /metrics on PORT. 0 picks a free port (tests). */
  readonly metricsPort: number | undefined
  /** METRICS_TOKEN: bearer credential /metrics asks for (at least 16 characters). Unset: none. Production needs METRICS_PORT or METRICS_TOKEN. */
  readonly metricsToken: string | undefined
  /** WORKER_RESTART_MAX: worker deaths tolerated within WORKER_RESTART_WINDOW_MS; one more and the instance exits 1. Default 5. */
  readonly workerRestartMax: number
  /** WORKER_RESTART_WINDOW_MS: the window of WORKER_RESTART_MAX. Default 60000. */
  readonly workerRestartWindowMs: number
  /** LOG_LEVEL: pino level. Default info (silent under test when set so). */
  readonly logLevel: string

  /** HEARTBEAT_INTERVAL_MS: server ping period; a connection silent for a whole period is closed 4010. Default 30000. */
  readonly heartbeatIntervalMs: number
  /** MAX_FRAME_BYTES: largest client frame (close 1009 beyond). Default 65536 (protocol limit). */
  readonly maxFrameBytes: number
  /** MAX_CONNECTIONS: sockets per process; beyond, upgrades get 503. Default 19000 (20000 open files here). */
  readonly maxConnections: number
  /** MAX_UPGRADES_IN_FLIGHT: upgrades being set up at once (token to `welcome`); beyond, a fast 503 with Retry-After UPGRADE_RETRY_AFTER_S. Defaults 200 / 1. */
  readonly maxUpgradesInFlight: number
  readonly upgradeRetryAfterS: number
  /** MAX_DEVICES_PER_USER: sockets one user may hold on a process; a new one beyond gets 429 TOO_MANY_DEVICES (oldest win). Default 5. */
  readonly maxDevicesPerUser: number
  /** RATE_LIMIT_PER_SEC / RATE_LIMIT_BURST: token bucket per user (all its sockets on a process), frames. Defaults 20 / 60. */
  readonly rateLimitPerSec: number
  readonly rateLimitBurst: number
  /** FLOOD_MAX_REJECTS within FLOOD_WINDOW_MS: rate-limited frames tolerated before close 4008. Defaults 50 / 10000. */
  readonly floodMaxRejects: number
  readonly floodWindowMs: number
  /** SLOW_CONSUMER_BYTES: unsent bytes of a socket beyond which it is cut (4009). Default 1 MiB. */
  readonly slowConsumerBytes: number
  /** DEDUP_WINDOW_MS: how long a (sender, cid) is remembered. Default 24 h. */
  readonly dedupWindowMs: number
  /** QUEUE_MAX_LENGTH: offline-queue entries per user; the oldest are dropped beyond. Default 10000. */
  readonly queueMaxLength: number
  /** QUEUE_RETENTION_MS: offline-queue entry lifetime. Default 7 days. */
  readonly queueRetentionMs: number
  /** PRESENCE_FANOUT_MAX: most users told of one user's presence change. Default 1000. */
  readonly presenceFanoutMax: number
  /** SHUTDOWN_TIMEOUT_MS: bound of a graceful drain after SIGTERM. Default 10000. */
  readonly shutdownTimeoutMs: number
  /** SHUTDOWN_RETRY_AFTER_MS: `retryAfterMs` of the SHUTTING_DOWN notice. Default 1000. */
  readonly shutdownRetryAfterMs: number

  /** UPLOAD_*: the upload component's limits and storage (bff/src/upload/config.ts, README "Uploads"). */
  readonly uploads: UploadConfig
  /** WX_* (beyond login), REPORTS_*, ADMIN_TOKEN: the WeChat integration (bff/src/wechat/config.ts, README "Live on WeChat"). */
  readonly wechat: WeChatConfig
}

export { ConfigError }

const DEV_JWT_SECRET = 'dev-only-secret-do-not-use-in-production-0123456789'
/**
 * Secrets that are public: the built-in development secret and the placeholders shipped in
 * deploy/k8s/secret.example.yaml and .env.example. A production start with one of them is refused
 * (anyone could sign tokens), as is any secret still saying "change me".
 */
const PUBLIC_SECRETS: ReadonlySet<string> = new Set([DEV_JWT_SECRET, 'change-me-to-at-least-32-random-characters'])
const PLACEHOLDER_RE = /change[\s_-]*me|placeholder|example|^(.)\1*$/i
/** JWT_SECRET bytes (HS256 wants a key of at least the hash's 32 bytes, RFC 7518 3.2). */
const JWT_SECRET_MIN_BYTES = 32
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * NODE_ENV, recognised whatever its case and spacing. Anything but development, test or production
 * is refused: a typo ("Prod", "prodution") must not start a production server in development mode.
 */
function modeOf(env: NodeJS.ProcessEnv): 'development' | 'test' | 'production' {
  const raw = (env.NODE_ENV ?? '').trim().toLowerCase()
  if (raw === '' || raw === 'development') return 'development'
  if (raw === 'test' || raw === 'production') return raw
  throw new ConfigError('NODE_ENV', `must be development, test or production (any case), got "${env.NODE_ENV}"`)
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const production = modeOf(env) === 'production'
  const store = oneOf(env, 'STORE', ['memory', 'redis'] as const, 'memory')
  const jwtSecret = env.JWT_SECRET || (production ? undefined : DEV_JWT_SECRET)
  if (jwtSecret === undefined) throw new ConfigError('JWT_SECRET', 'is required in production')
  if (Buffer.byteLength(jwtSecret) < JWT_SECRET_MIN_BYTES) throw new ConfigError('JWT_SECRET', `must be at least ${JWT_SECRET_MIN_BYTES} bytes`)
  if (production && (PUBLIC_SECRETS.has(jwtSecret) || PLACEHOLDER_RE.test(jwtSecret))) {
    throw new ConfigError('JWT_SECRET', 'is a built-in or example value: generate one (openssl rand -hex 32)')
  }
  const devLogin = bool(env, 'DEV_LOGIN', !production)
  if (production && devLogin) throw new ConfigError('DEV_LOGIN', 'must not be enabled in production')
  const workers = int(env, 'WORKERS', production ? availableParallelism() : 1, 1, 256)
  if (store === 'memory' && workers > 1) {
    throw new ConfigError('WORKERS', `is ${workers} but STORE=memory holds state in one process: use STORE=redis or WORKERS=1`)
  }
  const metricsPort = env.METRICS_PORT ? int(env, 'METRICS_PORT', 0, 0, 65535) : undefined
  const metricsToken = env.METRICS_TOKEN || undefined
  if (metricsToken !== undefined && metricsToken.length < 16) throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters')
  if (production && metricsPort === undefined && metricsToken === undefined) {
    throw new ConfigError('METRICS_PORT', 'or METRICS_TOKEN is required in production: /metrics must not be public')
  }
  const redisPrefix = env.REDIS_PREFIX ?? 'chat:'
  // A brace in the prefix would become the key's hash tag and put every key in one Cluster slot.
  if (/[{}\s]/.test(redisPrefix)) throw new ConfigError('REDIS_PREFIX', 'must not contain braces or spaces')

  const dataDir = path.resolve(repoRoot, env.DATA_DIR || 'data')
  const archiveRaw = env.ARCHIVE_URL?.trim() || (store === 'memory' ? `sqlite:${path.join(dataDir, 'chat.sqlite')}` : 'none')
  if (archiveRaw !== 'none' && !/^(mysql:\/\/.+|sqlite:.+)$/.test(archiveRaw)) {
    throw new ConfigError('ARCHIVE_URL', `must be mysql://user:password@host:port/database, sqlite:<file> or none, got "${archiveRaw.replace(/\/\/[^@]*@/, '//***@')}"`)
  }
  const archiveUrl = archiveRaw === 'none' ? undefined : archiveRaw
  // The persister's stream is one key: a script cannot write it with a conversation's keys in
  // another Cluster slot. Refused rather than half-working.
  if (archiveUrl && store === 'redis' && clusterNodes(env).length > 0) {
    throw new ConfigError('ARCHIVE_URL', 'is not supported with REDIS_CLUSTER_NODES yet: use a standalone Redis (see bff/README.md, Archive)')
  }

  const config: Config = {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: env.HOST ?? '127.0.0.1',
    production,
    store,
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    redisClusterNodes: clusterNodes(env),
    redisPrefix,
    redisCommandTimeoutMs: int(env, 'REDIS_COMMAND_TIMEOUT_MS', 2000, 10, 60_000),
    redisConnectTimeoutMs: int(env, 'REDIS_CONNECT_TIMEOUT_MS', 10_000, 100, 600_000),
    dataDir,
    archiveUrl,
    archiveConnectTimeoutMs: int(env, 'ARCHIVE_CONNECT_TIMEOUT_MS', 30_000, 100, 600_000),
    archivePoolSize: int(env, 'ARCHIVE_POOL_SIZE', 10, 1, 1000),
    windowMessages: int(env, 'WINDOW_MESSAGES', 200, 1, 1_000_000),
    archiveBatchMax: int(env, 'ARCHIVE_BATCH_MAX', 1000, 1, 100_000),
    archiveBacklogMax: int(env, 'ARCHIVE_BACKLOG_MAX', 1_000_000, 1, 1_000_000_000),
    archiveClaimIdleMs: int(env, 'ARCHIVE_CLAIM_IDLE_MS', 30_000, 100, 3600_000),
    jwtSecret,
    tokenTtlMs: int(env, 'TOKEN_TTL_MS', 15 * 60_000, 1000, 24 * 3600_000),
    refreshTtlMs: int(env, 'REFRESH_TTL_MS', 30 * 24 * 3600_000, 60_000, 365 * 24 * 3600_000),
    wxAppId: env.WX_APPID ?? '',
    wxSecret: env.WX_SECRET ?? '',
    wxApiBase: url(env, 'WX_API_BASE', 'https://api.weixin.qq.com'),
    wxTimeoutMs: int(env, 'WX_TIMEOUT_MS', 5000, 100, 60_000),
    devLogin,
    staticDir: path.resolve(repoRoot, env.STATIC_DIR ?? 'dist/h5'),
    corsOrigins: (env.CORS_ORIGINS ?? '*').split(',').map((s) => s.trim()).filter(Boolean),
    workers,
    metricsPort,
    metricsToken,
    workerRestartMax: int(env, 'WORKER_RESTART_MAX', 5, 0, 1000),
    workerRestartWindowMs: int(env, 'WORKER_RESTART_WINDOW_MS', 60_000, 1000, 24 * 3600_000),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),

    heartbeatIntervalMs: int(env, 'HEARTBEAT_INTERVAL_MS', 30_000, 50, 600_000),
    maxFrameBytes: int(env, 'MAX_FRAME_BYTES', LIMITS.maxFrameBytes, 1024, 16 * 1024 * 1024),
    maxConnections: int(env, 'MAX_CONNECTIONS', 19_000, 1, 1_000_000),
    maxUpgradesInFlight: int(env, 'MAX_UPGRADES_IN_FLIGHT', 200, 1, 1_000_000),
    upgradeRetryAfterS: int(env, 'UPGRADE_RETRY_AFTER_S', 1, 0, 3600),
    maxDevicesPerUser: int(env, 'MAX_DEVICES_PER_USER', 5, 1, 1000),
    rateLimitPerSec: int(env, 'RATE_LIMIT_PER_SEC', 20, 1, 1_000_000),
    rateLimitBurst: int(env, 'RATE_LIMIT_BURST', 60, 1, 1_000_000),
    floodMaxRejects: int(env, 'FLOOD_MAX_REJECTS', 50, 1, 1_000_000),
    floodWindowMs: int(env, 'FLOOD_WINDOW_MS', 10_000, 100, 3600_000),
    slowConsumerBytes: int(env, 'SLOW_CONSUMER_BYTES', 1024 * 1024, 1024, 1024 * 1024 * 1024),
    dedupWindowMs: int(env, 'DEDUP_WINDOW_MS', 24 * 3600_000, 1000, 30 * 24 * 3600_000),
    queueMaxLength: int(env, 'QUEUE_MAX_LENGTH', 10_000, 1, 10_000_000),
    queueRetentionMs: int(env, 'QUEUE_RETENTION_MS', 7 * 24 * 3600_000, 1000, 365 * 24 * 3600_000),
    presenceFanoutMax: int(env, 'PRESENCE_FANOUT_MAX', 1000, 0, 100_000),
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    shutdownRetryAfterMs: int(env, 'SHUTDOWN_RETRY_AFTER_MS', 1000, 0, 600_000),
    uploads: loadUploadConfig(env),
    wechat: loadWeChatConfig(env),
  }
  if (store === 'redis' && config.redisClusterNodes.length === 0) url(env, 'REDIS_URL', config.redisUrl)
  return config
}

function clusterNodes(env: NodeJS.ProcessEnv): { host: string; port: number }[] {
  const raw = env.REDIS_CLUSTER_NODES?.trim()
  if (!raw) return []
  return raw.split(',').map((item) => {
    const m = /^\s*([^:\s]+):(\d{1,5})\s*$/.exec(item)
    if (!m) throw new ConfigError('REDIS_CLUSTER_NODES', `must be a comma list of host:port, got "${item}"`)
    return { host: m[1]!, port: Number(m[2]) }
  })
}
