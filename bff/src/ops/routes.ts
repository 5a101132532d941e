/**
 * GET /healthz (the process answers), /readyz (store reachable and taking sends, not draining;
 * with an archive, its state: `archive: { ok, backlog, lagMs }`), /metrics (Prometheus).
 *
 * /metrics tells connection counts, traffic and errors: it is not public. It is served either on
 * its own port (METRICS_PORT, reachable only inside the cluster network: `metricsRouter` on a
 * separate listener) or on the main port behind a bearer credential (METRICS_TOKEN, Prometheus'
 * `authorization` / `bearer_token_file`). Production refuses to start with neither.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { Router } from 'express'
import type { RequestHandler } from 'express'
import { AppError, PROTOCOL_VERSION } from '@chat/shared'
import type { Metrics } from './metrics'
import { bearerToken } from '../auth/bearer'

export interface OpsDeps {
  readonly metrics: Metrics
  readonly ping: () => Promise<void>
  /** Details added to a ready answer (the archive's reachability, backlog and lag). */
  readonly status?: (() => Promise<Record<string, unknown>>) | undefined
  readonly draining: () => boolean
  /** Metrics text of the whole instance (all workers) when clustered; this server's registry otherwise. */
  readonly metricsText?: (() => Promise<string>) | undefined
  /** Serve /metrics on this router (false: it has a port of its own). */
  readonly metricsHere: boolean
  /** The bearer credential /metrics asks for; undefined: none. */
  readonly metricsToken?: string | undefined
}

export function opsRouter(deps: OpsDeps): Router {
  const router = Router()
  router.get('/healthz', (_req, res) => {
    res.json({ ok: true, protocol: PROTOCOL_VERSION })
  })
  router.get('/readyz', async (_req, res) => {
    if (deps.draining()) throw new AppError('SHUTTING_DOWN')
    await deps.ping()
    res.json({ ok: true, ...(deps.status ? await deps.status() : {}) })
  })
  if (deps.metricsHere) router.use(metricsRouter(deps))
  return router
}

/** GET /metrics, behind the bearer credential when one is configured. */
export function metricsRouter(deps: Pick<OpsDeps, 'metrics' | 'metricsText' | 'metricsToken'>): Router {
  const router = Router()
  router.get('/metrics', bearer(deps.metricsToken), async (_req, res) => {
    const text = deps.metricsText ? await deps.metricsText() : await deps.metrics.registry.metrics()
    res.type(deps.metrics.registry.contentType).send(text)
  })
  return router
}

function bearer(token: string | undefined): RequestHandler {
  if (token === undefined) return (_req, _res, next) => next()
  const want = digest(token)
  return (req, res, next) => {
    const given = bearerToken(req.headers.authorization) ?? ''
    // Digests of equal length: the comparison takes the same time whatever was sent.
    if (given && timingSafeEqual(digest(given), want)) return next()
    res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"')
    next(new AppError('UNAUTHORIZED', 'metrics need the configured bearer credential'))
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}
