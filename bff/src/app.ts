/**
 * Composition of one BFF server: engine, auth, gateway, chat, ops, static files. `startServer`
 * starts a real server (port 0 in tests) and returns its address and a graceful `close`.
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import type { RequestHandler } from 'express'
import { randomId } from '@chat/shared'
import type { Config } from './config'
import { createLogger } from './log'
import type { Logger } from './log'
import { Metrics } from './ops/metrics'
import { opsRouter } from './ops/routes'
import { errorHandler } from './http/errors'
import { Tokens } from './auth/tokens'
import { authRouter } from './auth/routes'
import { createMemoryEngine, openMemoryEngine } from './store/memory'
import { openArchiveWithin } from './archive/archive'
import { createRedisEngine } from './store/redis'
import type { Engine } from './store/types'
import { LocalDevices } from './gateway/devices'
import { Gateway } from './gateway/gateway'
import { Delivery } from './chat/delivery'
import { ChatService } from './chat/service'
import type { FileResolver } from './chat/files'
import { createUploadService } from './upload/router'
import type { UploadService } from './upload/router'

export interface ServerDeps {
  /** Defaults to the engine named by config.store. */
  readonly engine?: Engine
  /** Defaults to a logger at config.logLevel. */
  readonly log?: Logger
  /** Resolves the fileId of image/file messages. Defaults to the upload component's (bff/src/upload). */
  readonly files?: FileResolver
  /** Metrics text of the whole instance when running as a cluster worker. */
  readonly metricsText?: () => Promise<string>
}

export interface RunningServer {
  /** http://<host>:<port> */
  readonly url: string
  readonly port: number
  readonly engine: Engine
  readonly metrics: Metrics
  /** The upload component (its store, files, sweep). */
  readonly uploads: UploadService
  /** Open WebSocket connections. */
  connections(): number
  /** Graceful stop within config.shutdownTimeoutMs (notice + 1012 to clients), then the engine closes. */
  close(): Promise<void>
}

export async function startServer(config: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  const log = deps.log ?? createLogger(config.logLevel)
  const metrics = new Metrics({ defaultMetrics: true })
  const node = `n${process.pid}-${randomId(8)}`
  const engineOptions = { queueMaxLength: config.queueMaxLength, queueRetentionMs: config.queueRetentionMs }
  const archive =
    deps.engine || !config.archiveUrl
      ? undefined
      : await openArchiveWithin({ url: config.archiveUrl, poolSize: config.archivePoolSize }, config.archiveConnectTimeoutMs)
  const engine =
    deps.engine ??
    (config.store === 'redis'
      ? await createRedisEngine({
          ...engineOptions,
          url: config.redisUrl,
          clusterNodes: config.redisClusterNodes,
          prefix: config.redisPrefix,
          commandTimeoutMs: config.redisCommandTimeoutMs,
          connectTimeoutMs: config.redisConnectTimeoutMs,
          node,
          onError: () => metrics.storeErrors.inc(),
          ...(archive
            ? {
                archive: {
                  archive,
                  windowMessages: config.windowMessages,
                  backlogMax: config.archiveBacklogMax,
                  batchMax: config.archiveBatchMax,
                  claimIdleMs: config.archiveClaimIdleMs,
                  log,
                  onBatch: (count: number, lagMs: number) => {
                    metrics.archived.inc(count)
                    metrics.archiveLag.observe(lagMs / 1000)
                  },
                },
              }
            : {}),
        })
      : archive
        ? await openMemoryEngine(engineOptions, { archive, windowMessages: config.windowMessages })
        : createMemoryEngine(engineOptions))

  const tokens = new Tokens({ secret: config.jwtSecret, tokenTtlMs: config.tokenTtlMs, refreshTtlMs: config.refreshTtlMs }, engine.tokens)
  const devices = new LocalDevices()
  const delivery = new Delivery(node, devices, engine.bus, engine.queue, metrics, log)
  const uploads = createUploadService({
    config: config.uploads,
    verifyToken: (token) => tokens.verify(token),
    isMember: async (conv, user) => (await engine.convs.get(conv))?.members.includes(user) ?? false,
    corsOrigins: config.corsOrigins,
    logger: log,
  })
  const chat = new ChatService(engine, delivery, deps.files ?? uploads.resolver, {
    dedupWindowMs: config.dedupWindowMs,
    queueMaxLength: config.queueMaxLength,
    presenceFanoutMax: config.presenceFanoutMax,
    syncPauseBytes: Math.floor(config.slowConsumerBytes / 2),
  })
  const gateway = new Gateway({ config, log, metrics, tokens, engine, chat, devices, delivery, node })

  const app = express()
  app.disable('x-powered-by')
  app.use(cors(config.corsOrigins))
  app.use(express.json({ limit: '16kb' }))

  // ---- component routers: the one place where each component's HTTP entry points are mounted.
  app.use(
    opsRouter({
      metrics,
      ping: () => engine.ping(),
      status: engine.status ? () => engine.status!() : undefined,
      draining: () => gateway.isDraining,
      metricsText: deps.metricsText,
    }),
  )
  app.use(
    authRouter({
      tokens,
      users: engine.users,
      devLogin: config.devLogin,
      wechat: { appId: config.wxAppId, secret: config.wxSecret, apiBase: config.wxApiBase, timeoutMs: config.wxTimeoutMs },
    }),
  )
  app.use(uploads.router)
  // ----

  if (existsSync(config.staticDir)) app.use(express.static(config.staticDir))
  else log.warn({ staticDir: config.staticDir }, 'static directory missing: the web client is not served (npm run build:h5)')
  app.use(errorHandler(log))

  const server = createServer(app)
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host

  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${port}`,
    port,
    engine,
    metrics,
    uploads,
    connections: () => gateway.size,
    close() {
      closing ??= (async () => {
        const deadline = Date.now() + config.shutdownTimeoutMs
        server.close()
        await gateway.drain(deadline, config.shutdownRetryAfterMs)
        await delivery.settle()
        await uploads.close()
        server.closeAllConnections()
        await engine.close()
      })()
      return closing
    },
  }
}

/**
 * CORS for the API: the h5 build may be served from another origin in development. Tokens travel
 * in bodies and Authorization headers, never cookies, so no credentials mode is needed.
 */
function cors(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*')
  return (req, res, next) => {
    const origin = req.headers.origin
    if (origin && (any || origins.includes(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin)
      res.setHeader('Vary', 'Origin')
      // Reflect what a preflight asks for: the components (auth, uploads) use different headers.
      const asked = req.headers['access-control-request-headers']
      res.setHeader('Access-Control-Allow-Headers', asked ?? 'Content-Type, Authorization')
      res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
      res.setHeader('Access-Control-Max-Age', '600')
    }
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) return void res.status(204).end()
    next()
  }
}
