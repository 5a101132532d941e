/**
 * `node scripts/run-ts.mjs bff/bench/checker-handoff.ts`: what a text check costs the BFF's process
 * with WX_CHECKER=process (wechat/checker-client.ts): the hand-off to the checker process and the
 * verdict back, without any HTTP (every text is one the checker passed a moment ago: its recent
 * passes answer). CPU of this process (every thread) per check, net of the driver's own (the same
 * driver against a source that answers at once, in this process), and of the checker process apart.
 * BENCH_CHECKS (100000), BENCH_TURN (texts handed over in one event-loop turn, 10), BENCH_IN_FLIGHT
 * (turns in flight at once, 20).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { Registry } from 'prom-client'
import { CheckerProcess } from '../src/wechat/checker-client'
import { TextCheckMetrics } from '../src/wechat/security'
import type { TextVerdict, VerdictSource } from '../src/wechat/security'

const N = Number(process.env.BENCH_CHECKS ?? 100_000)
const TURN = Number(process.env.BENCH_TURN ?? 10)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 20)
const USERS = 1000

// WeChat for the first pass of each user's text only.
const fake = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.setHeader('content-type', 'application/json')
    if (req.url?.startsWith('/cgi-bin/stable_token')) return void res.end(JSON.stringify({ access_token: 'BENCH', expires_in: 7200 }))
    res.end(JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } }))
  })
})
await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r))
const apiBase = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`

const registry = new Registry()
const checker = new CheckerProcess({
  settings: {
    api: { appId: 'wx', secret: 's', apiBase, timeoutMs: 5000, refreshAheadMs: 300_000, lockMs: 10_000, retryMax: 0, retryBaseMs: 5 },
    httpPipelining: 0,
    checksPerMin: 1_000_000_000,
    cacheMax: 10_000,
    cacheTtlMs: 3600_000,
    batchMs: 1,
    store: { kind: 'memory' },
    logLevel: 'warn',
  },
  timeoutMs: 60_000,
  registry,
  metrics: new TextCheckMetrics(registry),
  log: pino({ level: 'warn' }),
})
await checker.ready()

const PASSED: TextVerdict = { suggest: 'pass', label: 100 }
/** The driver alone: verdicts at once, no hand-off. */
const here: VerdictSource = { verdict: () => Promise.resolve(PASSED) }

/** `n` checks of `source`, TURN of them a turn, IN_FLIGHT turns in flight. */
async function run(n: number, source: VerdictSource = checker): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < n) {
      const from = next
      next += TURN
      const turn: Promise<unknown>[] = []
      for (let i = from; i < Math.min(n, from + TURN); i++) turn.push(source.verdict(`u${i % USERS}`, `ok ${i % USERS}`))
      await Promise.all(turn)
      await new Promise((r) => setImmediate(r))
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
}

const childCpuUs = () => {
  const stat = readFileSync(`/proc/${checker.pid()}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) / 100) * 1e6
}
await run(20_000, here)
const d0 = process.cpuUsage()
await run(N, here)
const driver = process.cpuUsage(d0)
await run(20_000)
const t0 = process.cpuUsage()
const c0 = childCpuUs()
const w0 = performance.now()
await run(N)
const used = process.cpuUsage(t0)
const child = childCpuUs() - c0
const ms = performance.now() - w0
const perCheck = (u: NodeJS.CpuUsage) => (u.user + u.system) / N
console.log(`BFF side: ${(perCheck(used) - perCheck(driver)).toFixed(2)} us of CPU per check (${perCheck(used).toFixed(2)} with the driver's ${perCheck(driver).toFixed(2)}); checker process: ${(child / N).toFixed(2)} us; ${Math.round(N / (ms / 1000))} checks/s (${TURN} a turn, ${IN_FLIGHT} turns in flight, no HTTP)`)
await checker.close()
fake.close()
