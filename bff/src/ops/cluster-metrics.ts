/**
 * /metrics of a multi-process instance: a scrape lands on any one worker, which asks the primary;
 * the primary gathers every worker's registry (prom-client's AggregatorRegistry, over the cluster
 * IPC channel) and answers the sum, so one scrape sees the whole instance.
 */
import cluster from 'node:cluster'
import { AggregatorRegistry } from 'prom-client'
import type { Registry } from 'prom-client'

const REQUEST = 'chat:metrics:request'
const RESPONSE = 'chat:metrics:response'
const TIMEOUT_MS = 5000

interface Reply {
  type: typeof RESPONSE
  id: number
  text?: string
  error?: string
}

/** In the primary: answer workers' requests with the aggregated text. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker, msg: { type?: string; id?: number }) => {
    if (msg?.type !== REQUEST || typeof msg.id !== 'number') return
    const id = msg.id
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: RESPONSE, id, text } satisfies Reply),
      (err: unknown) => worker.send({ type: RESPONSE, id, error: String(err) } satisfies Reply),
    )
  })
}

/** In a worker: the registry the primary collects from this process. */
export function shareRegistry(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry])
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  new AggregatorRegistry()
}

let nextId = 0
const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>()

/** In a worker: the whole instance's metrics text. */
export function clusterMetricsText(): Promise<string> {
  if (waiting.size === 0) process.on('message', onReply)
  const id = ++nextId
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(id)
      reject(new Error('metrics aggregation timed out'))
    }, TIMEOUT_MS)
    waiting.set(id, {
      resolve: (t) => (clearTimeout(timer), resolve(t)),
      reject: (e) => (clearTimeout(timer), reject(e)),
    })
    process.send?.({ type: REQUEST, id })
  }).finally(() => {
    if (waiting.size === 0) process.off('message', onReply)
  })
}

function onReply(msg: Reply): void {
  if (msg?.type !== RESPONSE) return
  const w = waiting.get(msg.id)
  if (!w) return
  waiting.delete(msg.id)
  if (msg.error !== undefined) w.reject(new Error(msg.error))
  else w.resolve(msg.text ?? '')
}
