/**
 * GET /healthz (the process answers), /readyz (store reachable and taking sends, not draining;
 * with an archive, its state: `archive: { ok, backlog, lagMs }`), /metrics (Prometheus).
 */
import { Router } from 'express'
import { AppError, PROTOCOL_VERSION } from '@chat/shared'
import type { Metrics } from './metrics'

export interface OpsDeps {
  readonly metrics: Metrics
  readonly ping: () => Promise<void>
  /** Details added to a ready answer (the archive's reachability, backlog and lag). */
  readonly status?: (() => Promise<Record<string, unknown>>) | undefined
  readonly draining: () => boolean
  /** Metrics text of the whole instance (all workers) when clustered; this server's registry otherwise. */
  readonly metricsText?: () => Promise<string>
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
  router.get('/metrics', async (_req, res) => {
    const text = deps.metricsText ? await deps.metricsText() : await deps.metrics.registry.metrics()
    res.type(deps.metrics.registry.contentType).send(text)
  })
  return router
}
