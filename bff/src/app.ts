/**
 * Composition of one BFF server: engine, auth, gateway, chat, ops, static files. `startServer`
 * starts a real server (port 0 in tests) and returns its address and a graceful `close`.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import helmet from 'helmet'
import type { RequestHandler } from 'express'
import { randomId } from '@chat/shared'
import type { Config } from './config'
import { createLogger } from './log'
import type { Logger } from './log'
import { Metrics } from './ops/metrics'
import { metricsRouter, opsRouter } from './ops/routes'
import { CorsPolicy } from './http/cors'
import { errorHandler, notFound } from './http/errors'
import { Tokens } from './auth/tokens'
import { authRouter } from './auth/routes'
import { createMemoryEngine, openMemoryEngine } from './store/memory'
import { openArchiveWithin } from './archive/archive'
import { createRedisEngine } from './store/redis'
import type { Engine } from './store/types'
import { LocalDevices } from './gateway/devices'
import { Gateway } from './gateway/gateway'
import { NodeLiveness } from './gateway/liveness'
import { Delivery } from './chat/delivery'
import { ChatService } from './chat/service'
import type { FileResolver } from './chat/files'
import { createUploadService } from './upload'
import type { UploadService } from './upload'
import { createWeChat } from './wechat'
import type { Rechecks } from './wechat/recheck'
import { NO_TEXT_CHECK } from './wechat/security'
import { MemoryRelations, ProcessCachedRelations, RedisCachedRelations, RedisRelations } from './store/relations'
import type { RelationStore } from './store/relations'
import { ArchiveRelations } from './archive/relations'
import { Relations } from './social/service'
import { MemoryConvSettings, RedisConvSettings } from './store/conv-settings'
import { RedisMirroredConvSettings } from './store/conv-settings-mirror'
import type { ConvSettingsStore } from './store/conv-settings'
import { ArchiveConvSettings } from './archive/conv-settings'
import { ConvSettings } from './chat/settings'

export interface ServerDeps {
  /** Defaults to the engine named by config.store. */
  readonly engine?: Engine
  /** Defaults to a logger at config.logLevel. */
  readonly log?: Logger
  /** Resolves the fileId of image/file messages. Defaults to the upload component's (bff/src/upload). */
  readonly files?: FileResolver
  /** Metrics text of the whole instance when running as a cluster worker. */
  readonly metricsText?: () => Promise<string>
  /** Where relations are kept. Defaults to the archive's tables when there is an archive, else the engine's kind (memory or Redis). */
  readonly relations?: RelationStore
  /** Where mute, pin and delete-for-me are kept. Defaults like relations: the archive, else the engine's kind. */
  readonly convSettings?: ConvSettingsStore
}

export interface RunningServer {
  /** http://<host>:<port> */
  readonly url: string
  readonly port: number
  /** Where /metrics is served: http://<host>:<METRICS_PORT>, or `url` when it has no port of its own. */
  readonly metricsUrl: string
  readonly engine: Engine
  readonly metrics: Metrics
  /** The upload component (its store, files, sweep). */
  readonly uploads: UploadService
  /** Re-checks of content let through unchecked (wechat/recheck.ts; undefined when off). */
  readonly rechecks: Rechecks | undefined
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
          presenceBuckets: config.presenceBuckets,
          onError: () => metrics.storeErrors.inc(),
          ...(archive
            ? {
                archive: {
                  archive,
                  windowMessages: config.windowMessages,
                  backlogMax: config.archiveBacklogMax,
                  backlogCheckMs: config.archiveBacklogCheckMs,
                  trimEvery: config.windowTrimEvery,
                  batchMax: config.archiveBatchMax,
                  claimIdleMs: config.archiveClaimIdleMs,
                  writesInFlight: config.archiveWritesInFlight,
                  // Off the event loop unless asked (main.ts starts the persister process).
                  persister: config.archivePersister === 'inline' ? 'inline' : 'elsewhere',
                  log,
                  onBatch: ({ count, lagMs }) => {
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

  // Relations are records: the archive holds them wherever there is one (SQLite embedded, MySQL),
  // with the pairs cached in process (embedded: the one writer) or in Redis (shared by the nodes).
  const redisRelations = {
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    prefix: config.redisPrefix,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectTimeoutMs: config.redisConnectTimeoutMs,
    onError: () => metrics.storeErrors.inc(),
  }
  const relationStore: RelationStore =
    deps.relations ??
    (archive
      ? engine.kind === 'redis'
        ? await RedisCachedRelations.open(new ArchiveRelations(archive), redisRelations)
        : new ProcessCachedRelations(new ArchiveRelations(archive))
      : engine.kind === 'redis' && !deps.engine
        ? await RedisRelations.open(redisRelations)
        : new MemoryRelations())

  // Conversation settings and delete-for-me are records like relations: in the archive wherever
  // there is one (they come back after Redis lost its data), the hidden messages mirrored in Redis
  // under the Redis engine (every page reads them); Redis alone keeps them otherwise.
  const settingsStore: ConvSettingsStore =
    deps.convSettings ??
    (archive
      ? engine.kind === 'redis'
        ? await RedisMirroredConvSettings.open(new ArchiveConvSettings(archive), { ...redisRelations, ttlMs: config.settingsMirrorTtlMs })
        : new ArchiveConvSettings(archive)
      : engine.kind === 'redis' && !deps.engine
        ? await RedisConvSettings.open(redisRelations)
        : new MemoryConvSettings())

  const tokens = new Tokens({ secret: config.jwtSecret, tokenTtlMs: config.tokenTtlMs, refreshTtlMs: config.refreshTtlMs }, engine.tokens)
  const devices = new LocalDevices()
  const delivery = new Delivery(node, devices, engine.bus, engine.queue, metrics, log)
  const cors = new CorsPolicy(config.corsOrigins)
  const uploads = createUploadService({
    config: config.uploads,
    verifyToken: (token) => tokens.verify(token),
    isMember: async (conv, user) => (await engine.convs.get(conv))?.members.includes(user) ?? false,
    urlSecret: config.jwtSecret,
    slots: engine.uploadSlots,
    cors,
    logger: log,
    registry: metrics.registry,
  })
  const wechat = createWeChat({
    config: config.wechat,
    appId: config.wxAppId,
    secret: config.wxSecret,
    apiBase: config.wxApiBase,
    timeoutMs: config.wxTimeoutMs,
    engine,
    registry: metrics.registry,
    log,
    verifyToken: (token) => tokens.verify(token),
    checkerStore:
      config.store === 'redis'
        ? { kind: 'redis', url: config.redisUrl, clusterNodes: config.redisClusterNodes, prefix: config.redisPrefix, commandTimeoutMs: config.redisCommandTimeoutMs, connectTimeoutMs: config.redisConnectTimeoutMs }
        : { kind: 'memory' },
    logLevel: config.logLevel,
    retentionMs: config.queueRetentionMs,
    dedupWindowMs: config.dedupWindowMs,
    files: { signedPath: (id) => uploads.urls.sign(id, 'data'), withdraw: (id) => uploads.withdrawFile(id) },
  })
  // An image or audio file whose upload finished goes to WeChat's media check (when configured).
  if (wechat.media) {
    const media = wechat.media
    uploads.events.on('finished', (record: { id: string; owner: string; conv: string; kind: 'image' | 'file'; mime: string }) => void media.submit(record))
  }
  delivery.onUndelivered = (user, json) => wechat.undelivered(user, json)
  const relations = new Relations({
    store: relationStore,
    users: engine.users,
    presence: engine.presence,
    push: (users, type, json, except) => delivery.frame(users, type, json, except as Parameters<Delivery['frame']>[3]),
    // The send check's kept pair of this 1:1 is dropped on every other node too (`onConvChanged`).
    changed: (conv) => delivery.convChanged(conv),
    // Content security of contact request notes, like texts (none when it is off).
    ...(wechat.checks.text === NO_TEXT_CHECK ? {} : { checkText: (user, conv, cid, text, as) => wechat.checks.text(user, conv, cid, text, as) }),
  })
  // A change announced while the bus was away was missed: every kept pair is read again.
  engine.bus.onReconnect(() => relations.forgetAll())
  const chat = new ChatService(
    engine,
    delivery,
    deps.files ?? uploads.resolver,
    {
      dedupWindowMs: config.dedupWindowMs,
      recallWindowMs: config.recallWindowMs,
      queueMaxLength: config.queueMaxLength,
      presenceFanoutMax: config.presenceFanoutMax,
      syncPauseBytes: Math.floor(config.slowConsumerBytes / 2),
    },
    relations.checks(wechat.checks),
  )
  const settings = new ConvSettings({
    store: settingsStore,
    range: async (user, conv) => {
      await chat.memberOf(user, conv)
      const [state] = await engine.convs.states([conv], user)
      return { lastSeq: state!.lastSeq, floor: await chat.floor(conv, user) }
    },
    push: (users, type, json, except) => delivery.frame(users, type, json, except),
  })
  chat.hiddenSeqs = (user, conv) => settings.hidden(user, conv)
  chat.hiddenConvs = (user) => settings.hiddenConvs(user)
  chat.withSettings = (user, conv) => settings.decorateOne(user, conv)
  // Muted conversations send no notification (issue 14).
  if (wechat.subscriptions) wechat.subscriptions.muted = (user, conv) => settings.muted(user, conv)
  // A group changed on another node: its cached record here is stale.
  // A 1:1's relation changed on another node: its kept pair here is stale.
  delivery.onConvChanged = (conv) => {
    chat.forget(conv)
    relations.forget(conv)
  }
  // Moderation (a risky image, the admin API) withdraws messages through the chat's one retraction.
  // A risky file goes from every conversation it was sent in: the one it was uploaded for and those it was forwarded to.
  wechat.retract = {
    message: (at) => chat.withdraw(at),
    file: async (conv, fileId) => {
      let withdrawn = 0
      for (const c of [conv, ...(await uploads.sharedWith(fileId))]) withdrawn += await chat.withdrawFile(c, fileId)
      return withdrawn
    },
    title: (conv, title, from) => chat.withdrawTitle(conv, title, from),
    noteShown: (from, to, note) => relations.noteShown(from, to, note),
    note: (from, to, note) => relations.withdrawNote(from, to, note),
  }
  const gateway = new Gateway({
    config,
    log,
    metrics,
    tokens,
    engine,
    chat,
    relations,
    settings,
    devices,
    delivery,
    node,
    onOnline: (user) => wechat.online(user),
    admit: (user) => wechat.admit(user),
  })
  delivery.onCloseUser = (user, code) => gateway.closeUser(user, code)
  const liveness = new NodeLiveness({
    presence: engine.presence,
    node,
    beatMs: config.presenceBeatMs,
    deadMs: config.presenceNodeDeadMs,
    recount: () => gateway.recountPresence(),
    announce: (p) => chat.announcePresence(p),
    log,
  })
  liveness.start()
  wechat.onSuspend = (user) => void delivery.closeUser(user, 'USER_SUSPENDED').catch((err: unknown) => log.warn({ err, user }, 'suspension not told to other processes'))

  const app = express()
  app.disable('x-powered-by')
  app.use(securityHeaders(inlineScriptHashes(config.staticDir)))
  app.use(cors.middleware())
  app.use(express.json({ limit: '16kb' }))

  // ---- component routers: the one place where each component's HTTP entry points are mounted.
  app.use(
    opsRouter({
      metrics,
      ping: () => engine.ping(),
      status: engine.status ? () => engine.status!() : undefined,
      draining: () => gateway.isDraining,
      metricsText: deps.metricsText,
      metricsHere: config.metricsPort === undefined,
      metricsToken: config.metricsToken,
    }),
  )
  app.use(
    authRouter({
      tokens,
      users: engine.users,
      devLogin: config.devLogin,
      admit: (user) => wechat.admit(user),
      wechat: { appId: config.wxAppId, secret: config.wxSecret, apiBase: config.wxApiBase, timeoutMs: config.wxTimeoutMs, retryMax: config.wechat.retryMax, retryBaseMs: config.wechat.retryBaseMs, metrics: wechat.metrics, log },
    }),
  )
  app.use(uploads.router)
  app.use(wechat.router)
  // ----

  if (existsSync(config.staticDir)) app.use(express.static(config.staticDir))
  else log.warn({ staticDir: config.staticDir }, 'static directory missing: the web client is not served (npm run build:h5)')
  // Browsers ask for /favicon.ico on their own; the h5 build ships one (client/assets). Without
  // that build, "no icon" rather than a 404 in every browser console.
  app.get('/favicon.ico', (_req, res) => void res.status(204).end())
  app.use(notFound())
  app.use(errorHandler(log))

  // Slow senders (slowloris) hold a socket at most this long; Node checks the deadlines every
  // connectionsCheckingInterval, so it is kept well under the headers' timeout.
  const server = createServer(
    {
      headersTimeout: config.httpHeadersTimeoutMs,
      requestTimeout: config.httpRequestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.httpHeadersTimeoutMs / 4))),
    },
    app,
  )
  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head))
  // Sends are not taken before the text checks can answer them.
  await wechat.ready()
  await listen(server, config.port, config.host)
  const port = (server.address() as AddressInfo).port
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host

  // /metrics on a port of its own: scraped inside the cluster, never routed by the ingress.
  let metricsServer: Server | undefined
  if (config.metricsPort !== undefined) {
    const ops = express()
    ops.disable('x-powered-by')
    ops.use(metricsRouter({ metrics, metricsText: deps.metricsText, metricsToken: config.metricsToken }))
    ops.use(notFound())
    ops.use(errorHandler(log))
    metricsServer = await listen(createServer(ops), config.metricsPort, config.host)
  }

  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${port}`,
    port,
    metricsUrl: metricsServer ? `http://${host}:${(metricsServer.address() as AddressInfo).port}` : `http://${host}:${port}`,
    engine,
    metrics,
    uploads,
    rechecks: wechat.rechecks,
    connections: () => gateway.size,
    close() {
      closing ??= (async () => {
        const deadline = Date.now() + config.shutdownTimeoutMs
        server.close()
        await gateway.drain(deadline, config.shutdownRetryAfterMs)
        await liveness.stop()
        await delivery.settle()
        await wechat.close()
        await uploads.close()
        server.closeAllConnections()
        if (metricsServer) {
          metricsServer.closeAllConnections()
          await new Promise((r) => metricsServer.close(r))
        }
        if (!deps.relations) await relationStore.close()
        if (!deps.convSettings) await settingsStore.close()
        await engine.close()
      })()
      return closing
    },
  }
}

/**
 * Security headers on every answer (helmet): the h5 page is the one that matters. Its
 * Content-Security-Policy allows what the Taro h5 build does and nothing else: scripts from this
 * origin plus, by hash, the inline scripts of the index.html served (Taro inlines its rem sizing
 * script there), styles from this origin (Taro's components add <style> elements and style
 * attributes at run time, hence 'unsafe-inline' for styles only), images from here plus blob: and data: (local previews of a picked photo),
 * connections to this origin over http(s) and ws(s) (the API and the socket: the page is served by
 * the BFF it talks to), no plugins, no framing by anyone (frame-ancestors 'none' and
 * X-Frame-Options DENY), no referrer. tests/e2e/h5.test.ts loads the page and chats in Chromium
 * with this header and fails on any CSP violation. Files (/files) replace the policy with their own
 * stricter one. TLS is terminated in front of the BFF, so no upgrade-insecure-requests here (it
 * would break plain-http local runs); HSTS is sent and honoured only over https.
 */
function securityHeaders(scriptHashes: readonly string[]): RequestHandler {
  const sameOriginSockets = (req: IncomingMessage): string => {
    const host = req.headers.host ?? ''
    // ws(s) of the page's own origin: 'self' covers it in current browsers, older WebKit needs it named.
    return /^[A-Za-z0-9.:[\]-]+$/.test(host) ? `ws://${host} wss://${host}` : "'self'"
  }
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", ...scriptHashes],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'", (req) => sameOriginSockets(req)],
        workerSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // Files are fetched by <img> of the h5 page, which may be served from another origin in development.
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  })
}

/**
 * CSP hashes ('sha256-...') of the inline scripts of the h5 page, read once from the build served:
 * the page runs exactly those, and no other inline script.
 */
export function inlineScriptHashes(staticDir: string): string[] {
  let html: string
  try {
    html = readFileSync(path.join(staticDir, 'index.html'), 'utf8')
  } catch {
    return []
  }
  const hashes: string[] = []
  for (const m of html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/gi)) {
    if (/\ssrc\s*=/i.test(m[1] ?? '') || m[2] === '') continue
    hashes.push(`'sha256-${createHash('sha256').update(m[2]!, 'utf8').digest('base64')}'`)
  }
  return hashes
}

function listen(server: Server, port: number, host: string): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve(server)
    })
  })
}
