/**
 * CLI entry: configuration from the environment, one server per worker process, one JSON log line
 * `{"msg":"listening","port":...}` once the port is open, graceful drain on SIGTERM/SIGINT.
 *
 * WORKERS > 1 forks that many processes sharing the port (node:cluster): here a process may hold
 * at most ~20,000 sockets (20,000 open files, not raisable), so 100,000 connections need six or
 * more. Workers reach each other's users through the Redis bus like separate machines do.
 */
import cluster from 'node:cluster'
import { loadConfig, ConfigError } from './config'
import type { Config } from './config'
import { createLogger } from './log'
import { startServer } from './app'
import { backoffDelay } from '@chat/shared'
import { clusterMetricsText, serveClusterMetrics, shareRegistry } from './ops/cluster-metrics'
import { persisterChildMissing, startPersisterChild } from './persister-child'
import type { PersisterChild } from './persister-child'

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  createLogger('info').fatal({ variable: err.variable }, err.message)
  process.exit(2)
}
const log = createLogger(config.logLevel)

/**
 * The archive's persister, off the chat's event loop (ARCHIVE_PERSISTER=process): one child
 * process per instance, started by the primary (or the only process). Started once the server
 * listens, so that a start that fails leaves nothing behind.
 */
let persister: PersisterChild | undefined
const wantsPersister = config.store === 'redis' && config.archiveUrl !== undefined && config.archivePersister === 'process'
const missing = wantsPersister && cluster.isPrimary ? persisterChildMissing() : undefined
if (missing) {
  log.fatal({ variable: 'ARCHIVE_PERSISTER' }, missing)
  process.exit(2)
}
const startPersister = () => {
  if (wantsPersister && !persister) persister = startPersisterChild(log)
}

if (config.workers > 1 && cluster.isPrimary) runPrimary(config)
else void runWorker(config)

/** A worker that could not start tells the primary why before it exits (cluster IPC). */
const START_FAILED = 'chat:start-failed'
/** A worker's server runs: its port (cluster IPC). */
const STARTED = 'chat:started'
/** Backoff of worker restarts: full jitter, the window doubling from the first to the cap, ms. */
const RESTART_BACKOFF = { minDelayMs: 250, maxDelayMs: 10_000 }
/** A worker up this long resets the backoff (it was a crash, not a crash loop), ms. */
const RESTART_STABLE_MS = 30_000
/** How long the primary gives its workers to exit before it exits itself on a failure, ms. */
const FAIL_EXIT_GRACE_MS = 3000

/**
 * The primary supervises its workers:
 * - a worker that cannot start (store unreachable, port taken, ...) ends the instance: the primary
 *   stops the other workers and exits 1 with the reason, so Docker or Kubernetes see a failed
 *   start instead of a process restarting in a loop for ever;
 * - a worker that dies after it started is replaced after a full-jitter backoff, and more than
 *   WORKER_RESTART_MAX deaths within WORKER_RESTART_WINDOW_MS end the instance the same way.
 */
function runPrimary(config: Config): void {
  serveClusterMetrics()
  let stopping = false
  let listening = false
  /** Workers that reached `listening`: a death of one of the others is a failed start. */
  const started = new Set<number>()
  const deaths: number[] = []
  let attempt = 0
  let lastRestartAt = 0
  const failures = new Map<number, string>()
  const fork = () => cluster.fork()
  for (let i = 0; i < config.workers; i++) fork()
  cluster.on('message', (worker, msg: { type?: string; reason?: string; port?: number }) => {
    if (msg?.type === START_FAILED) failures.set(worker.id, String(msg.reason))
    if (msg?.type !== STARTED) return
    // Told by the worker once its server runs (cluster's own `listening` fires for the metrics port too).
    started.add(worker.id)
    log.info({ worker: worker.process.pid }, 'worker started')
    if (listening) return
    listening = true
    startPersister()
    log.info({ port: msg.port, host: config.host, url: openUrl(config.host, msg.port ?? config.port), workers: config.workers, store: config.store }, 'listening')
  })
  const fail = (reason: string, details: Record<string, unknown>) => {
    stopping = true
    log.fatal({ ...details, reason }, 'instance cannot run: exiting')
    process.exitCode = 1
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1)
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      process.exit(1)
    }, FAIL_EXIT_GRACE_MS).unref()
  }
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? 0)
      return
    }
    const pid = worker.process.pid
    if (!started.has(worker.id)) {
      return fail(failures.get(worker.id) ?? `worker exited with code ${code} signal ${signal} before it listened`, { worker: pid, code, signal })
    }
    started.delete(worker.id)
    const now = Date.now()
    deaths.push(now)
    while (deaths.length > 0 && deaths[0]! <= now - config.workerRestartWindowMs) deaths.shift()
    if (deaths.length > config.workerRestartMax) {
      return fail(`${deaths.length} worker deaths within ${config.workerRestartWindowMs} ms (WORKER_RESTART_MAX ${config.workerRestartMax})`, { worker: pid, code, signal })
    }
    if (now - lastRestartAt > RESTART_STABLE_MS) attempt = 0
    const delayMs = backoffDelay(attempt++, RESTART_BACKOFF)
    lastRestartAt = now
    log.error({ worker: pid, code, signal, delayMs }, 'worker died: starting another')
    setTimeout(() => {
      if (!stopping) fork()
    }, delayMs)
  })
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining workers')
    void persister?.stop(config.shutdownTimeoutMs)
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 2000).unref()
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

async function runWorker(config: Config): Promise<void> {
  let server
  try {
    server = await startServer(config, { log, ...(cluster.isWorker ? { metricsText: clusterMetricsText } : {}) })
  } catch (err) {
    // The reason in the message itself: an unreachable archive or a schema newer than this code
    // must be readable in `docker logs` / `kubectl logs` without parsing the error object.
    log.fatal({ err }, `start failed: ${err instanceof Error ? err.message : String(err)}`)
    if (cluster.isWorker && process.send) {
      // The primary exits with this reason; wait until it has the message before exiting.
      const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
      process.send({ type: START_FAILED, reason }, () => process.exit(1))
      return
    }
    process.exit(1)
  }
  if (cluster.isWorker) {
    shareRegistry(server.metrics.registry)
    process.send?.({ type: STARTED, port: server.port })
  } else {
    log.info({ port: server.port, host: config.host, url: server.url, store: config.store }, 'listening')
    startPersister()
  }
  const running = server
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info({ signal, connections: running.connections() }, 'draining')
    // Bound the whole drain, even if something below hangs.
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 1000).unref()
    // The persister finishes the batches it read meanwhile (it needs no clients).
    Promise.all([running.close(), persister?.stop(config.shutdownTimeoutMs)]).then(
      () => {
        log.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        log.error({ err }, 'drain failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

/** The address to open in a browser: a wildcard host is reached on the loopback address. */
function openUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return `http://${reachable}:${port}`
}
