import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config'

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      production: false,
      store: 'memory',
      redisUrl: 'redis://127.0.0.1:6379',
      redisClusterNodes: [],
      redisPrefix: 'chat:',
      wxApiBase: 'https://api.weixin.qq.com',
      devLogin: true,
      workers: 1,
      heartbeatIntervalMs: 30_000,
      maxFrameBytes: 65536,
      dedupWindowMs: 24 * 3600_000,
      recallWindowMs: 120_000,
      queueMaxLength: 10_000,
      queueRetentionMs: 7 * 24 * 3600_000,
      tokenTtlMs: 15 * 60_000,
    })
    expect(c.staticDir).toBe(path.resolve(__dirname, '../../dist/h5'))
  })

  it('keeps the embedded engine in DATA_DIR/chat.sqlite, and Redis without an archive unless ARCHIVE_URL names one', () => {
    const c = loadConfig({})
    expect(c.dataDir).toBe(path.resolve(__dirname, '../../data'))
    expect(c.archiveUrl).toBe(`sqlite:${path.resolve(__dirname, '../../data/chat.sqlite')}`)
    expect(c).toMatchObject({ archiveConnectTimeoutMs: 30_000, archivePoolSize: 10, windowMessages: 200, archiveBatchMax: 1000, archiveBacklogMax: 1_000_000, archiveClaimIdleMs: 30_000 })
    expect(loadConfig({ DATA_DIR: '/tmp/chat-x' }).archiveUrl).toBe('sqlite:/tmp/chat-x/chat.sqlite')
    expect(loadConfig({ ARCHIVE_URL: 'none' }).archiveUrl).toBeUndefined()
    expect(loadConfig({ STORE: 'redis' }).archiveUrl).toBeUndefined()
    expect(loadConfig({ STORE: 'redis', ARCHIVE_URL: 'mysql://u:p@db:3306/chat' }).archiveUrl).toBe('mysql://u:p@db:3306/chat')
  })

  it('refuses an archive it cannot use, without echoing the password', () => {
    expect(() => loadConfig({ ARCHIVE_URL: 'postgres://u:secret@db/chat' })).toThrow(/^config: ARCHIVE_URL must be mysql:\/\/.*got "postgres:\/\/\*\*\*@db\/chat"$/)
    expect(() => loadConfig({ STORE: 'redis', REDIS_CLUSTER_NODES: 'a:1', ARCHIVE_URL: 'mysql://u@db/chat' })).toThrow(/ARCHIVE_URL is not supported with REDIS_CLUSTER_NODES/)
    expect(() => loadConfig({ WINDOW_MESSAGES: '0' })).toThrow(/WINDOW_MESSAGES must be between 1/)
    expect(() => loadConfig({ ARCHIVE_BACKLOG_MAX: 'lots' })).toThrow(/ARCHIVE_BACKLOG_MAX must be an integer/)
  })

  it('applies the WeChat integration defaults and names its bad values', () => {
    expect(loadConfig({}).wechat).toEqual({
      enabled: false,
      tokenRefreshAheadMs: 300_000,
      tokenLockMs: 10_000,
      retryMax: 2,
      retryBaseMs: 200,
      httpThreads: 1,
      httpBatchMs: 2,
      httpPipelining: 0,
      checker: 'process',
      checkerTimeoutMs: 15_000,
      checkerBatchMs: 4,
      recheckIntervalMs: 60_000,
      recheckBatch: 50,
      secCheck: true,
      unavailablePolicy: 'allow',
      textChecksPerMin: 4000,
      secCheckCacheMax: 10_000,
      secCheckCacheTtlMs: 60_000,
      templateId: '',
      templateFields: ['thing1', 'thing2', 'time3'],
      graceMs: 30_000,
      maxAllowances: 50,
      miniprogramState: 'formal',
      reportsPerHour: 20,
      moderationListMax: 10_000,
      adminToken: undefined,
      publicUrl: '',
      mediaChecksPerMin: 2000,
      pushToken: undefined,
    })
    expect(loadConfig({ WX_APPID: 'wx1', WX_SECRET: 's' }).wechat.enabled).toBe(true)
    expect(() => loadConfig({ WX_SUBSCRIBE_FIELDS: 'thing1,thing2' })).toThrow(/WX_SUBSCRIBE_FIELDS must be three template keys/)
    expect(() => loadConfig({ WX_SECCHECK_UNAVAILABLE: 'maybe' })).toThrow(/WX_SECCHECK_UNAVAILABLE must be allow or refuse/)
    expect(() => loadConfig({ WX_SECCHECK: 'sometimes' })).toThrow(/WX_SECCHECK must be on or off/)
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN must be at least 16 characters/)
    expect(() => loadConfig({ WX_MINIPROGRAM_STATE: 'beta' })).toThrow(/WX_MINIPROGRAM_STATE must be formal, trial or developer/)
    expect(() => loadConfig({ WX_SUBSCRIBE_GRACE_MS: '-1' })).toThrow(/WX_SUBSCRIBE_GRACE_MS must be between 0/)
    expect(() => loadConfig({ WX_PUBLIC_URL: 'not a url' })).toThrow(/WX_PUBLIC_URL must be a URL/)
    expect(() => loadConfig({ WX_HTTP_THREADS: '17' })).toThrow(/WX_HTTP_THREADS must be between 0/)
    expect(() => loadConfig({ WX_HTTP_BATCH_MS: '51' })).toThrow(/WX_HTTP_BATCH_MS must be between 0/)
    expect(() => loadConfig({ WX_HTTP_PIPELINING: '257' })).toThrow(/WX_HTTP_PIPELINING must be between 0/)
    expect(loadConfig({ WX_HTTP_PIPELINING: '16' }).wechat.httpPipelining).toBe(16)
    expect(() => loadConfig({ WX_CHECKER: 'thread' })).toThrow(/WX_CHECKER must be process or inline/)
    expect(loadConfig({ WX_CHECKER: 'inline' }).wechat.checker).toBe('inline')
    expect(() => loadConfig({ WX_CHECKER_TIMEOUT_MS: '99' })).toThrow(/WX_CHECKER_TIMEOUT_MS must be between 100/)
    expect(() => loadConfig({ WX_CHECKER_BATCH_MS: '21' })).toThrow(/WX_CHECKER_BATCH_MS must be between 0/)
    expect(loadConfig({ WX_CHECKER_BATCH_MS: '0' }).wechat.checkerBatchMs).toBe(0)
    expect(() => loadConfig({ WX_SECCHECK_CACHE_MAX: '-1' })).toThrow(/WX_SECCHECK_CACHE_MAX must be between 0/)
    expect(() => loadConfig({ WX_SECCHECK_CACHE_TTL_MS: '10' })).toThrow(/WX_SECCHECK_CACHE_TTL_MS must be between 1000/)
    expect(loadConfig({ WX_HTTP_THREADS: '0', WX_SECCHECK_CACHE_MAX: '0' }).wechat).toMatchObject({ httpThreads: 0, secCheckCacheMax: 0 })
  })

  it('holds the offline grace at most 30 s by default, never less than the grace itself', () => {
    expect(loadConfig({}).presenceOfflineGraceMaxMs).toBe(30_000)
    expect(loadConfig({ PRESENCE_OFFLINE_GRACE_MS: '60000' }).presenceOfflineGraceMaxMs).toBe(60_000)
    expect(loadConfig({ PRESENCE_OFFLINE_GRACE_MAX_MS: '8000' }).presenceOfflineGraceMaxMs).toBe(8000)
    expect(() => loadConfig({ PRESENCE_OFFLINE_GRACE_MAX_MS: '4000' })).toThrow(/PRESENCE_OFFLINE_GRACE_MAX_MS must be at least PRESENCE_OFFLINE_GRACE_MS \(5000\)/)
  })

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT must be an integer/)
    expect(() => loadConfig({ STORE: 'mongo' })).toThrow(/STORE must be one of memory, redis/)
    expect(() => loadConfig({ HEARTBEAT_INTERVAL_MS: '5' })).toThrow(/HEARTBEAT_INTERVAL_MS must be between/)
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b' })).toThrow(/REDIS_CLUSTER_NODES/)
    expect(() => loadConfig({ REDIS_PREFIX: '{x}' })).toThrow(/REDIS_PREFIX/)
    expect(() => loadConfig({ DEV_LOGIN: 'maybe' })).toThrow(ConfigError)
  })

  it('requires a JWT secret and forbids dev login in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required in production/)
    const secret = 'c0ffee5e11'.repeat(4)
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, DEV_LOGIN: '1', STORE: 'redis', METRICS_PORT: '9464' })).toThrow(/DEV_LOGIN must not be enabled in production/)
    const prod = loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, STORE: 'redis', METRICS_PORT: '9464' })
    expect(prod.devLogin).toBe(false)
    expect(prod.workers).toBeGreaterThanOrEqual(1)
  })

  describe('unsafe settings in production', () => {
    const good = 'c0ffee5e11'.repeat(4)
    const prod = (env: Record<string, string>) => loadConfig({ STORE: 'redis', JWT_SECRET: good, METRICS_PORT: '9464', ...env })

    it('recognises production whatever the case and spacing, and refuses unknown modes', () => {
      for (const NODE_ENV of ['production', 'Production', 'PRODUCTION', ' production ', 'pRoDuCtIoN']) {
        const c = prod({ NODE_ENV })
        expect(c.production).toBe(true)
        expect(c.devLogin).toBe(false)
        expect(() => loadConfig({ NODE_ENV })).toThrow(/JWT_SECRET is required in production/)
      }
      for (const NODE_ENV of ['Development', 'TEST', '']) expect(loadConfig({ NODE_ENV }).production).toBe(false)
      for (const NODE_ENV of ['prod', 'prodution', 'staging']) {
        expect(() => prod({ NODE_ENV })).toThrow(new ConfigError('NODE_ENV', `must be development, test or production (any case), got "${NODE_ENV}"`))
      }
    })

    it('refuses a public /metrics: METRICS_PORT or METRICS_TOKEN is required', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', STORE: 'redis', JWT_SECRET: good })).toThrow(/METRICS_PORT or METRICS_TOKEN is required in production/)
      expect(() => prod({ NODE_ENV: 'production', METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 16 characters/)
      expect(prod({ NODE_ENV: 'production', METRICS_TOKEN: 'x'.repeat(16) }).metricsToken).toBe('x'.repeat(16))
      expect(prod({ NODE_ENV: 'production' }).metricsPort).toBe(9464)
      expect(loadConfig({}).metricsPort).toBeUndefined()
    })

    it('refuses dev login', () => {
      for (const DEV_LOGIN of ['1', 'true', 'ON']) {
        expect(() => prod({ NODE_ENV: 'Production', DEV_LOGIN })).toThrow(/DEV_LOGIN must not be enabled in production/)
      }
    })

    it('refuses a missing, short, built-in or example JWT secret', () => {
      expect(() => prod({ NODE_ENV: 'production', JWT_SECRET: '' })).toThrow(/JWT_SECRET is required in production/)
      // 31 bytes; and 16 two-byte characters are 32 bytes, which is enough.
      expect(() => prod({ NODE_ENV: 'production', JWT_SECRET: good.slice(0, 31) })).toThrow(/JWT_SECRET must be at least 32 bytes/)
      expect(prod({ NODE_ENV: 'production', JWT_SECRET: 'é0'.repeat(11) }).jwtSecret).toHaveLength(22)
      const publicOnes = [
        'dev-only-secret-do-not-use-in-production-0123456789',
        // deploy/k8s/secret.example.yaml
        'change-me-to-at-least-32-random-characters',
        'CHANGE_ME_CHANGE_ME_CHANGE_ME_CHANGE_ME',
        'x'.repeat(48),
      ]
      for (const JWT_SECRET of publicOnes) {
        expect(() => prod({ NODE_ENV: 'production', JWT_SECRET })).toThrow(/JWT_SECRET is a built-in or example value/)
        // Outside production they are accepted (local runs and tests).
        expect(loadConfig({ JWT_SECRET }).jwtSecret).toBe(JWT_SECRET)
      }
    })
  })

  it('refuses several workers on the memory engine', () => {
    expect(() => loadConfig({ WORKERS: '3' })).toThrow(/WORKERS is 3 but STORE=memory/)
    expect(loadConfig({ WORKERS: '3', STORE: 'redis' }).workers).toBe(3)
  })

  it('reads a cluster node list', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'r1:7000, r2:7001' }).redisClusterNodes).toEqual([
      { host: 'r1', port: 7000 },
      { host: 'r2', port: 7001 },
    ])
  })
})
