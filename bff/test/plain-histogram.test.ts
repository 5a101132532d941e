/**
 * The ack latency's plain histogram (ops/metrics.ts) reads as prom-client's own histogram with the
 * same buckets and observations, alone and summed across workers by AggregatorRegistry.
 */
import { describe, expect, it } from 'vitest'
import { AggregatorRegistry, Histogram, Registry } from 'prom-client'
import { PlainHistogram } from '../src/ops/metrics'

const BOUNDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const VALUES = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.049, 0.7, 2.5, 3, 120]

function both(values: readonly number[]) {
  const plainRegistry = new Registry()
  const plain = new PlainHistogram(plainRegistry, 'h_seconds', 'help text', BOUNDS)
  const libRegistry = new Registry()
  const lib = new Histogram({ name: 'h_seconds', help: 'help text', buckets: BOUNDS, registers: [libRegistry] })
  for (const v of values) {
    plain.observe(v)
    lib.observe(v)
  }
  return { plainRegistry, libRegistry, plain }
}

describe('PlainHistogram', () => {
  it("writes the same text as prom-client's histogram, empty and after observations", async () => {
    for (const values of [[], VALUES]) {
      const { plainRegistry, libRegistry } = both(values)
      expect(await plainRegistry.metrics()).toBe(await libRegistry.metrics())
    }
  })

  it('is summed across workers as prom-client sums its own, and reset empties it', async () => {
    const a = both(VALUES)
    const b = both(VALUES.slice(3))
    const plain = AggregatorRegistry.aggregate([await a.plainRegistry.getMetricsAsJSON(), await b.plainRegistry.getMetricsAsJSON()])
    const lib = AggregatorRegistry.aggregate([await a.libRegistry.getMetricsAsJSON(), await b.libRegistry.getMetricsAsJSON()])
    expect(await plain.metrics()).toBe(await lib.metrics())
    a.plain.reset()
    expect(await a.plainRegistry.metrics()).toBe(await both([]).libRegistry.metrics())
  })
})
