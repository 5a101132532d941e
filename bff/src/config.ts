/**
 * The BFF's configuration: read once from the environment, validated, with documented defaults.
 * A bad value stops the start with a message naming the variable. Every duration carries its unit
 * in its name; every limit is here so it is named, enforced in one place and documented
 * (bff/README.md has the same table for operators).
 */
import { availableParallelism } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, readEnv, requireUrl } from './env'
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
  /** WINDOW_TRIM_EVERY: a conversation's window is trimmed once per this many of its messages (it holds up to WINDOW_MESSAGES + this - 1 persisted ones). Default WINDOW_MESSAGES / 10, rounded up. */
  readonly windowTrimEvery: number
  /** SETTINGS_MIRROR_TTL_MS: how long Redis keeps a user's copy of their conversation settings and hidden messages after it was filled from the archive. Default 24 h. */
  readonly settingsMirrorTtlMs: number
  /** ARCHIVE_BATCH_MAX: messages per persister batch (one multi-row INSERT). Default 1000. */
  readonly archiveBatchMax: number
  /** ARCHIVE_BACKLOG_MAX: acked messages not yet in the archive beyond which sends are refused (STORE_UNAVAILABLE). Default 1000000. */
  readonly archiveBacklogMax: number
  /** ARCHIVE_BACKLOG_CHECK_MS: a send is admitted on a backlog length read at most this long before (0: read before each send). Default 100. */
  readonly archiveBacklogCheckMs: number
  /** ARCHIVE_CLAIM_IDLE_MS: a batch taken by a persister that died is taken over after this long. Default 30000. */
  readonly archiveClaimIdleMs: number
  /**
   * ARCHIVE_PERSISTER (STORE=redis with an archive): where the persister runs. `process` (default):
   * its own process (bff/dist/persister.js) that the BFF starts and restarts; `none`: no persister
   * here, one is deployed on its own (docker-compose service, Kubernetes Deployment); `inline`: on
   * the BFF's event loop (the design before; in-process tests).
   */
  readonly archivePersister: 'process' | 'inline' | 'none'
  /** ARCHIVE_WRITES_IN_FLIGHT: batches a persister writes to the archive at once (one pooled connection each). Default 4. */
  readonly archiveWritesInFlight: number
  /** PERSISTER_METRICS_PORT: the persister process serves /metrics (and /healthz) on this port (HOST; METRICS_TOKEN if set). Unset: none. 0 picks a free port (tests). */
  readonly persisterMetricsPort: number | undefined
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
  /**
   * UPGRADE_QUEUE_MAX / UPGRADE_QUEUE_WAIT_MS: upgrades beyond MAX_UPGRADES_IN_FLIGHT wait in a line
   * of at most this many, each at most this long, for a slot (gateway/admission.ts); beyond either,
   * the 503. Defaults 10000 / 10000: a whole process's users (docs/SCALING.md, 10,000 per process)
   * wait rather than back off, within the client's 15 s connect timeout; 0: refused at once.
   */
  readonly upgradeQueueMax: number
  readonly upgradeQueueWaitMs: number
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
  /** ACK_WINDOW_MS: acks to one socket after the first within this many ms leave together, at the window's end (0: each at once). Default 100. */
  readonly ackWindowMs: number
  /** DEDUP_WINDOW_MS: how long a (sender, cid) is remembered. Default 24 h. */
  readonly dedupWindowMs: number
  /** RECALL_WINDOW_MS: how long after its send a message may be recalled by its sender. Default 2 min. */
  readonly recallWindowMs: number
  /** QUEUE_MAX_LENGTH: offline-queue entries per user; the oldest are dropped beyond. Default 10000. */
  readonly queueMaxLength: number
  /** QUEUE_RETENTION_MS: offline-queue entry lifetime. Default 7 days. */
  readonly queueRetentionMs: number
  /** PRESENCE_FANOUT_MAX: most users told of one user's presence change. Default 1000. */
  readonly presenceFanoutMax: number
  /**
   * PRESENCE_BUCKETS: hashes the Redis presence is spread over (store/redis-presence.ts). Reading
   * any number of users' presence costs one HMGET per bucket. Default 1 (standalone Redis); on
   * Cluster about the number of shards, so the presence writes spread over them.
   */
  readonly presenceBuckets: number
  /** PRESENCE_BEAT_MS: how often a process says it is alive and reaps dead ones' presence. Default 5000. */
  readonly presenceBeatMs: number
  /**
   * PRESENCE_NODE_DEAD_MS: a process that has not beaten for this long is dead: its sockets stop
   * counting and their users are announced offline. Default 30000 (6 beats); must exceed the beat.
   */
  readonly presenceNodeDeadMs: number
  /**
   * PRESENCE_OFFLINE_GRACE_MS: a closed socket stays counted online this long; a device of the
   * user back within it announces nothing (gateway/offline-grace.ts). Default 5000; 0: at once.
   */
  readonly presenceOfflineGraceMs: number
  /**
   * PRESENCE_OFFLINE_GRACE_MAX_MS: the grace around a saturated moment (an upgrade waited in
   * admission control's line or was refused): a socket closed before it is held this long after its
   * close, one closed after it until this long after the moment (gateway/offline-grace.ts).
   * Default 30000, or the grace if longer; no shorter than it.
   */
  readonly presenceOfflineGraceMaxMs: number
  /**
   * HTTP_HEADERS_TIMEOUT_MS: a request (a WebSocket upgrade too) whose headers have not all arrived by
   * then is answered 408 and its connection closed, so slow senders cannot hold sockets. Default 10000.
   */
  readonly httpHeadersTimeoutMs: number
  /**
   * HTTP_REQUEST_TIMEOUT_MS: the same for a whole request, body included (an upload chunk). Default
   * 120000: twice wx.request's own 60 s. A WebSocket, once upgraded, is not bound by it.
   */
  readonly httpRequestTimeoutMs: number
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
 * Each variable is read and checked by the one schema (env.ts, defaults there); what is left here
 * spans several of them: production's rules and the defaults that depend on other variables.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const e = readEnv(env)
  const production = e.NODE_ENV === 'production'
  const store = e.STORE
  const jwtSecret = e.JWT_SECRET ?? (production ? undefined : DEV_JWT_SECRET)
  if (jwtSecret === undefined) throw new ConfigError('JWT_SECRET', 'is required in production')
  if (Buffer.byteLength(jwtSecret) < JWT_SECRET_MIN_BYTES) throw new ConfigError('JWT_SECRET', `must be at least ${JWT_SECRET_MIN_BYTES} bytes`)
  if (production && (PUBLIC_SECRETS.has(jwtSecret) || PLACEHOLDER_RE.test(jwtSecret))) {
    throw new ConfigError('JWT_SECRET', 'is a built-in or example value: generate one (openssl rand -hex 32)')
  }
  const devLogin = e.DEV_LOGIN ?? !production
  if (production && devLogin) throw new ConfigError('DEV_LOGIN', 'must not be enabled in production')
  const workers = e.WORKERS ?? (production ? availableParallelism() : 1)
  if (store === 'memory' && workers > 1) {
    throw new ConfigError('WORKERS', `is ${workers} but STORE=memory holds state in one process: use STORE=redis or WORKERS=1`)
  }
  if (production && e.METRICS_PORT === undefined && e.METRICS_TOKEN === undefined) {
    throw new ConfigError('METRICS_PORT', 'or METRICS_TOKEN is required in production: /metrics must not be public')
  }

  const dataDir = path.resolve(repoRoot, e.DATA_DIR)
  const archiveRaw = e.ARCHIVE_URL ?? (store === 'memory' ? `sqlite:${path.join(dataDir, 'chat.sqlite')}` : 'none')
  if (archiveRaw !== 'none' && !/^(mysql:\/\/.+|sqlite:.+)$/.test(archiveRaw)) {
    throw new ConfigError('ARCHIVE_URL', `must be mysql://user:password@host:port/database, sqlite:<file> or none, got "${archiveRaw.replace(/\/\/[^@]*@/, '//***@')}"`)
  }
  const archiveUrl = archiveRaw === 'none' ? undefined : archiveRaw
  // The persister's stream is one key: a script cannot write it with a conversation's keys in
  // another Cluster slot. Refused rather than half-working.
  if (archiveUrl && store === 'redis' && e.REDIS_CLUSTER_NODES.length > 0) {
    throw new ConfigError('ARCHIVE_URL', 'is not supported with REDIS_CLUSTER_NODES yet: use a standalone Redis (see bff/README.md, Archive)')
  }
  if (store === 'redis' && e.REDIS_CLUSTER_NODES.length === 0) requireUrl('REDIS_URL', e.REDIS_URL)
  if (e.HTTP_REQUEST_TIMEOUT_MS < e.HTTP_HEADERS_TIMEOUT_MS) {
    throw new ConfigError('HTTP_REQUEST_TIMEOUT_MS', `must be at least HTTP_HEADERS_TIMEOUT_MS (${e.HTTP_HEADERS_TIMEOUT_MS}): the headers are part of the request`)
  }
  const graceMaxMs = e.PRESENCE_OFFLINE_GRACE_MAX_MS ?? Math.max(30_000, e.PRESENCE_OFFLINE_GRACE_MS)
  if (graceMaxMs < e.PRESENCE_OFFLINE_GRACE_MS) {
    throw new ConfigError('PRESENCE_OFFLINE_GRACE_MAX_MS', `must be at least PRESENCE_OFFLINE_GRACE_MS (${e.PRESENCE_OFFLINE_GRACE_MS}): it bounds how long that grace is held`)
  }
  if (e.PRESENCE_NODE_DEAD_MS <= e.PRESENCE_BEAT_MS) {
    throw new ConfigError('PRESENCE_NODE_DEAD_MS', `must exceed PRESENCE_BEAT_MS (${e.PRESENCE_BEAT_MS}): a live process would be reaped between two beats`)
  }

  return {
    port: e.PORT,
    host: e.HOST,
    production,
    store,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redisPrefix: e.REDIS_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    redisConnectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
    dataDir,
    archiveUrl,
    archiveConnectTimeoutMs: e.ARCHIVE_CONNECT_TIMEOUT_MS,
    archivePoolSize: e.ARCHIVE_POOL_SIZE,
    windowMessages: e.WINDOW_MESSAGES,
    windowTrimEvery: e.WINDOW_TRIM_EVERY ?? Math.ceil(e.WINDOW_MESSAGES / 10),
    settingsMirrorTtlMs: e.SETTINGS_MIRROR_TTL_MS,
    archiveBatchMax: e.ARCHIVE_BATCH_MAX,
    archiveBacklogMax: e.ARCHIVE_BACKLOG_MAX,
    archiveBacklogCheckMs: e.ARCHIVE_BACKLOG_CHECK_MS,
    archiveClaimIdleMs: e.ARCHIVE_CLAIM_IDLE_MS,
    archivePersister: e.ARCHIVE_PERSISTER,
    archiveWritesInFlight: e.ARCHIVE_WRITES_IN_FLIGHT,
    persisterMetricsPort: e.PERSISTER_METRICS_PORT,
    jwtSecret,
    tokenTtlMs: e.TOKEN_TTL_MS,
    refreshTtlMs: e.REFRESH_TTL_MS,
    wxAppId: e.WX_APPID,
    wxSecret: e.WX_SECRET,
    wxApiBase: e.WX_API_BASE,
    wxTimeoutMs: e.WX_TIMEOUT_MS,
    devLogin,
    staticDir: path.resolve(repoRoot, e.STATIC_DIR),
    corsOrigins: e.CORS_ORIGINS,
    workers,
    metricsPort: e.METRICS_PORT,
    metricsToken: e.METRICS_TOKEN,
    workerRestartMax: e.WORKER_RESTART_MAX,
    workerRestartWindowMs: e.WORKER_RESTART_WINDOW_MS,
    logLevel: e.LOG_LEVEL,

    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
    maxFrameBytes: e.MAX_FRAME_BYTES,
    maxConnections: e.MAX_CONNECTIONS,
    maxUpgradesInFlight: e.MAX_UPGRADES_IN_FLIGHT,
    upgradeRetryAfterS: e.UPGRADE_RETRY_AFTER_S,
    upgradeQueueMax: e.UPGRADE_QUEUE_MAX,
    upgradeQueueWaitMs: e.UPGRADE_QUEUE_WAIT_MS,
    maxDevicesPerUser: e.MAX_DEVICES_PER_USER,
    rateLimitPerSec: e.RATE_LIMIT_PER_SEC,
    rateLimitBurst: e.RATE_LIMIT_BURST,
    floodMaxRejects: e.FLOOD_MAX_REJECTS,
    floodWindowMs: e.FLOOD_WINDOW_MS,
    slowConsumerBytes: e.SLOW_CONSUMER_BYTES,
    ackWindowMs: e.ACK_WINDOW_MS,
    dedupWindowMs: e.DEDUP_WINDOW_MS,
    recallWindowMs: e.RECALL_WINDOW_MS,
    queueMaxLength: e.QUEUE_MAX_LENGTH,
    queueRetentionMs: e.QUEUE_RETENTION_MS,
    presenceFanoutMax: e.PRESENCE_FANOUT_MAX,
    presenceBuckets: e.PRESENCE_BUCKETS,
    presenceBeatMs: e.PRESENCE_BEAT_MS,
    presenceNodeDeadMs: e.PRESENCE_NODE_DEAD_MS,
    presenceOfflineGraceMs: e.PRESENCE_OFFLINE_GRACE_MS,
    presenceOfflineGraceMaxMs: graceMaxMs,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownRetryAfterMs: e.SHUTDOWN_RETRY_AFTER_MS,
    uploads: loadUploadConfig(e),
    wechat: loadWeChatConfig(e),
  }
}
