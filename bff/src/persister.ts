/**
 * `node bff/dist/persister.js`: the archive persister as a process of its own, off the chat's
 * event loop (issue 11). It reads the same environment as the BFF (STORE=redis, REDIS_URL,
 * REDIS_PREFIX, ARCHIVE_URL, ARCHIVE_*), migrates the archive like the BFF does, and moves acked
 * messages from Redis to the archive until SIGTERM/SIGINT, when it finishes the batches it has
 * read. Started by the BFF (ARCHIVE_PERSISTER=process, the default: src/persister-child.ts) or
 * deployed on its own (docker-compose service `persister`, Kubernetes Deployment `chat-persister`,
 * BFFs then with ARCHIVE_PERSISTER=none). Any number may run: each is a consumer of one group and
 * takes over the batches of one that died.
 *
 * PERSISTER_METRICS_PORT: /metrics (chat_archived_total, chat_archive_lag_seconds) and /healthz.
 * Log: `{"msg":"persisting","consumer":...}` once it runs; with LOG_LEVEL=debug, every
 * REPORT_EVERY_MS a line of what its batches cost (`persister batches`: sizes, write, ack and lag
 * percentiles), which is how bench:bff tells where the lag goes. Exit codes: 0 stopped, 1 could
 * not start (Redis or the archive unreachable, schema newer than the code), 2 bad configuration.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import express from 'express'
import { randomId } from '@chat/shared'
import { openArchiveWithin } from './archive/archive'
import { ConfigError, loadConfig } from './config'
import type { Config } from './config'
import { errorHandler, notFound } from './http/errors'
import { createLogger } from './log'
import { Metrics } from './ops/metrics'
import { metricsRouter } from './ops/routes'
import { createRedisPersister } from './store/redis'
import type { BatchStats } from './store/redis-persister'

/** How often the debug line of batch figures is written, ms. */
const REPORT_EVERY_MS = 5000

let config: Config
try {
  config = loadConfig(process.env)
  if (config.store !== 'redis' || !config.archiveUrl) throw new ConfigError('ARCHIVE_URL', 'is needed, with STORE=redis, by the persister')
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  createLogger('info').fatal({ variable: err.variable }, err.message)
  process.exit(2)
}
const log = createLogger(config.logLevel)
const consumer = `p-${hostname()}-${process.pid}-${randomId(6)}`

const batches: BatchStats[] = []
// The same counters a BFF with an inline persister exposes, in this process' own registry.
const metrics = config.persisterMetricsPort !== undefined ? new Metrics({ defaultMetrics: true }) : undefined
const onBatch = (b: BatchStats) => {
  if (log.isLevelEnabled('debug')) batches.push(b)
  metrics?.archived.inc(b.count)
  metrics?.archiveLag.observe(b.lagMs / 1000)
}
let persister
try {
  const archive = await openArchiveWithin({ url: config.archiveUrl, poolSize: config.archivePoolSize }, config.archiveConnectTimeoutMs)
  persister = await createRedisPersister({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectTimeoutMs: config.redisConnectTimeoutMs,
    node: consumer,
    archive: {
      archive,
      windowMessages: config.windowMessages,
      trimEvery: config.windowTrimEvery,
      batchMax: config.archiveBatchMax,
      claimIdleMs: config.archiveClaimIdleMs,
      writesInFlight: config.archiveWritesInFlight,
      log,
      ...(metrics || log.isLevelEnabled('debug') ? { onBatch } : {}),
    },
  }).catch(async (err: unknown) => {
    await archive.close().catch(() => {})
    throw err
  })
} catch (err) {
  log.fatal({ err }, `persister start failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}
const running = persister
let metricsPort: number | undefined
if (metrics && config.persisterMetricsPort !== undefined) {
  const ops = express()
  ops.disable('x-powered-by')
  // Alive (the event loop answers), and what the last batch met: `archive.ok` false while writes fail.
  ops.get('/healthz', (_req, res) => void res.json({ ok: true, archive: running.status() }))
  ops.use(metricsRouter({ metrics, metricsToken: config.metricsToken }))
  ops.use(notFound())
  ops.use(errorHandler(log))
  const server = createServer(ops)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.persisterMetricsPort, config.host, resolve)
    })
  } catch (err) {
    log.fatal({ err }, `persister start failed: PERSISTER_METRICS_PORT: ${err instanceof Error ? err.message : String(err)}`)
    await running.close().catch(() => {})
    process.exit(1)
  }
  server.unref()
  metricsPort = (server.address() as AddressInfo).port
}
log.info({ consumer, writesInFlight: config.archiveWritesInFlight, batchMax: config.archiveBatchMax, ...(metricsPort !== undefined ? { metricsPort } : {}) }, 'persisting')

if (log.isLevelEnabled('debug')) {
  setInterval(() => {
    const b = batches.splice(0)
    if (b.length === 0) return
    const pct = (values: number[], p: number) => values.sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]
    const messages = b.reduce((s, x) => s + x.count, 0)
    log.debug(
      {
        batches: b.length,
        messages,
        meanBatch: Math.round(messages / b.length),
        writeMs: { p50: pct(b.map((x) => x.writeMs), 50), p99: pct(b.map((x) => x.writeMs), 99) },
        ackMs: { p50: pct(b.map((x) => x.ackMs), 50), p99: pct(b.map((x) => x.ackMs), 99) },
        lagMs: { p50: pct(b.map((x) => x.lagMs), 50), p99: pct(b.map((x) => x.lagMs), 99) },
      },
      'persister batches',
    )
  }, REPORT_EVERY_MS).unref()
}

let stopping = false
const stop = (why: string) => {
  if (stopping) return
  stopping = true
  log.info({ why }, 'persister stopping')
  setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref()
  running.close().then(
    () => process.exit(0),
    (err: unknown) => {
      log.error({ err }, 'persister stop failed')
      process.exit(1)
    },
  )
}
process.on('SIGTERM', () => stop('SIGTERM'))
process.on('SIGINT', () => stop('SIGINT'))
// Started by a BFF (IPC channel): its end, even by kill -9, ends this process too.
if (process.connected) process.on('disconnect', () => stop('the BFF that started it is gone'))
