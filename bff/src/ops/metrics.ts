/**
 * Prometheus metrics of one server instance. Each instance has its own registry, so several
 * servers in one process (tests) do not mix their figures; worker processes are aggregated by the
 * primary (see ops/cluster-metrics.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Metric } from 'prom-client'

export class Metrics {
  readonly registry = new Registry()
  readonly connections = new Gauge({ name: 'chat_connections', help: 'Open WebSocket connections', registers: [this.registry] })
  readonly framesIn = new CountByType(this.registry, 'chat_frames_in_total', 'Client frames received, by type (invalid: did not decode)')
  readonly framesOut = new CountByType(this.registry, 'chat_frames_out_total', 'Frames sent to clients, by type')
  readonly errorsOut = new Counter({
    name: 'chat_errors_total',
    help: 'Errors reported to clients (frames or closes), by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  })
  readonly ackLatency = new PlainHistogram(this.registry, 'chat_ack_latency_seconds', 'From a send frame received to its ack written', [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  ])
  readonly queueDepth = new Histogram({
    name: 'chat_offline_queue_depth',
    help: 'Length of a user offline queue after an entry was added',
    buckets: [1, 10, 100, 1000, 5000, 10000, 100000],
    registers: [this.registry],
  })
  readonly queued = new Counter({ name: 'chat_offline_queued_total', help: 'Messages put in offline queues', registers: [this.registry] })
  readonly storeErrors = new Counter({ name: 'chat_store_errors_total', help: 'Failed Redis commands', registers: [this.registry] })
  readonly archived = new Counter({ name: 'chat_archived_total', help: 'Messages the persister wrote to the archive', registers: [this.registry] })
  readonly archiveLag = new Histogram({
    name: 'chat_archive_lag_seconds',
    help: 'Age of the oldest message of each persisted batch when it reached the archive',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  })
  readonly slowConsumers = new Counter({ name: 'chat_slow_consumers_total', help: 'Connections cut for reading too slowly', registers: [this.registry] })
  /** What a socket held unsent when it was cut: the most it ever held (nothing is written after). */
  readonly slowConsumerBytes = new Histogram({
    name: 'chat_slow_consumer_unsent_bytes',
    help: 'Unsent bytes held for a connection when it was cut for reading too slowly',
    buckets: [64 * 1024, 256 * 1024, 1024 * 1024, 2 * 1024 * 1024, 4 * 1024 * 1024, 16 * 1024 * 1024],
    registers: [this.registry],
  })

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry })
  }
}

/**
 * A counter by frame type, counted several times per message: plain numbers on the hot path (a
 * labelled prom-client `inc` hashes its labels on every call), added to the Prometheus counter
 * whenever the registry is read.
 */
export class CountByType {
  private readonly pending = new Map<string, number>()
  private readonly counter: Counter<'type'>

  constructor(registry: Registry, name: string, help: string) {
    const pending = this.pending
    this.counter = new Counter({
      name,
      help,
      labelNames: ['type'] as const,
      registers: [registry],
      collect() {
        for (const [type, n] of pending) this.inc({ type }, n)
        pending.clear()
      },
    })
  }

  inc(labels: { type: string }, n = 1): void {
    this.pending.set(labels.type, (this.pending.get(labels.type) ?? 0) + n)
  }

  /** The counts so far, by type (what a scrape would show). */
  async get(): Promise<Awaited<ReturnType<Counter<'type'>['get']>>> {
    return this.counter.get()
  }
}

/**
 * An unlabelled histogram observed once per message (the ack latency): plain numbers on the hot
 * path, read as prom-client's own histogram reads when the registry is (the same
 * `_bucket{le}`, `_sum` and `_count` lines, summed across workers by AggregatorRegistry). A
 * prom-client `observe` allocated a closure and a label object and hashed the labels per call
 * (issue 15).
 */
export class PlainHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  private readonly counts: Float64Array
  private sum = 0
  private count = 0

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    /** Upper bounds, ascending. */
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length)
    registry.registerMetric(this as unknown as Metric)
  }

  observe(value: number): void {
    const bounds = this.bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.counts[i]!++
        break
      }
    }
    this.sum += value
    this.count++
  }

  /** What prom-client's registry reads of a metric (`Histogram.get`'s shape). */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Array<{ labels: { le?: number | string }; value: number; metricName: string }> } {
    const values: Array<{ labels: { le?: number | string }; value: number; metricName: string }> = []
    let acc = 0
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.counts[i]!
      values.push({ labels: { le: this.bounds[i]! }, value: acc, metricName: `${this.name}_bucket` })
    }
    values.push({ labels: { le: '+Inf' }, value: this.count, metricName: `${this.name}_bucket` })
    values.push({ labels: {}, value: this.sum, metricName: `${this.name}_sum` })
    values.push({ labels: {}, value: this.count, metricName: `${this.name}_count` })
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  reset(): void {
    this.counts.fill(0)
    this.sum = 0
    this.count = 0
  }
}
