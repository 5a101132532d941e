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
import { clusterMetricsText, serveClusterMetrics, shareRegistry } from './ops/cluster-metrics'

let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  createLogger('info').fatal({ variable: err.variable }, err.message)
  process.exit(2)
}
const log = createLogger(config.logLevel)

if (config.workers > 1 && cluster.isPrimary) runPrimary(config)
else void runWorker(config)

function runPrimary(config: Config): void {
  serveClusterMetrics()
  let stopping = false
  let listening = false
  const fork = () => cluster.fork()
  for (let i = 0; i < config.workers; i++) fork()
  cluster.on('listening', (_worker, address) => {
    if (listening) return
    listening = true
    log.info({ port: address.port, host: config.host, workers: config.workers, store: config.store }, 'listening')
  })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    log.error({ worker: worker.process.pid, code, signal }, 'worker died: starting another')
    fork()
  })
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'draining workers')
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
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
    process.exit(1)
  }
  if (cluster.isWorker) shareRegistry(server.metrics.registry)
  else log.info({ port: server.port, host: config.host, store: config.store }, 'listening')
  const running = server
  let stopping = false
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info({ signal, connections: running.connections() }, 'draining')
    // Bound the whole drain, even if something below hangs.
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 1000).unref()
    running.close().then(
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
