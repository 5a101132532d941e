/**
 * `node scripts/run-ts.mjs bff/bench/checker-handoff.ts`: what a text check costs the BFF's process
 * with WX_CHECKER=process (wechat/checker-client.ts): the hand-off to the checker process and the
 * verdict back, without any HTTP (every text is one the checker passed a moment ago: its recent
 * passes answer). CPU of this process (every thread) per check, net of the driver's own (the same
 * driver against a source that answers at once, in this process), and of the checker process apart.
 * BENCH_CHECKS (100000), BENCH_TURN (texts handed over in one event-loop turn, 10), BENCH_IN_FLIGHT
 * (turns in flight at once, 20).
 *
 * BENCH_RATE (checks a second; unset: as fast as it goes, as above): a steady rate instead, paced
 * by 1 ms ticks as bench:bff's load generators send, against a fake WeChat answering each text in
 * BENCH_WX_DELAY_MS (20; no recent passes, every text is a call, pipelined at 16) for
 * BENCH_SECONDS (10): the regime of bench:bff `secure`, where a turn holds a few texts and the
 * verdicts come back spread over the checker's turns. One checker process per value of
 * BENCH_BATCH_MS (comma list, default 0,1,2: WX_CHECKER_BATCH_MS), measured one after the other
 * in the same run, with the hand-off's latency (p50/p99 over the fake's delay), the frames to
 * the checker and the reads of its verdicts.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { Registry } from 'prom-client'
import { CheckerProcess } from '../src/wechat/checker-client'
import { TextCheckMetrics } from '../src/wechat/security'
import type { TextVerdict, VerdictSource } from '../src/wechat/security'

const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined
const DELAY_MS = Number(process.env.BENCH_WX_DELAY_MS ?? 20)
const N = Number(process.env.BENCH_CHECKS ?? 100_000)
const TURN = Number(process.env.BENCH_TURN ?? 10)
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 20)
const USERS = 1000

// A fake WeChat in a process of its own (its HTTP is not this process's CPU): with BENCH_RATE it
// answers every text after BENCH_WX_DELAY_MS, else at once (only the first pass of each text).
const fake = spawn(
  process.execPath,
  [
    '-e',
    `require('node:http').createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        if (req.url.startsWith('/cgi-bin/stable_token')) return void res.end(JSON.stringify({ access_token: 'BENCH', expires_in: 7200 }))
        const answer = () => res.end(JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } }))
        if (${RATE ? DELAY_MS : 0} > 0) setTimeout(answer, ${DELAY_MS})
        else answer()
      })
    }).listen(0, '127.0.0.1', function () { console.log(this.address().port) })`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
)
const port = await new Promise<string>((resolve) => createInterface({ input: fake.stdout }).once('line', resolve))
const apiBase = `http://127.0.0.1:${port}`

function startChecker(batchMs: number): CheckerProcess {
  const registry = new Registry()
  return new CheckerProcess({
    settings: {
      api: { appId: 'wx', secret: 's', apiBase, timeoutMs: 5000, refreshAheadMs: 300_000, lockMs: 10_000, retryMax: 0, retryBaseMs: 5 },
      httpPipelining: RATE ? 16 : 0,
      checksPerMin: 1_000_000_000,
      cacheMax: RATE ? 0 : 10_000,
      cacheTtlMs: 3600_000,
      batchMs,
      store: { kind: 'memory' },
      logLevel: 'warn',
    },
    timeoutMs: 60_000,
    registry,
    metrics: new TextCheckMetrics(registry),
    log: pino({ level: 'warn' }),
  })
}

const PASSED: TextVerdict = { suggest: 'pass', label: 100 }
/** The driver alone: verdicts at once, no hand-off. */
const here: VerdictSource = { verdict: () => Promise.resolve(PASSED) }

/** `n` checks of `source`, TURN of them a turn, IN_FLIGHT turns in flight. */
async function run(n: number, source: VerdictSource): Promise<void> {
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

const childCpuUs = (checker: CheckerProcess) => {
  const stat = readFileSync(`/proc/${checker.pid()}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(f[11]) + Number(f[12])) / 100) * 1e6
}
/** `rate` checks a second for `ms`, paced by 1 ms ticks; the latency of each. */
async function paced(rate: number, ms: number, source: VerdictSource): Promise<number[]> {
  const total = Math.round((rate * ms) / 1000)
  const latencies: number[] = []
  const waits: Promise<unknown>[] = []
  const start = performance.now()
  let sent = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000))
      for (; sent < due; sent++) {
        const at = performance.now()
        waits.push(source.verdict(`u${sent % USERS}`, `text ${sent}`).then(() => void latencies.push(performance.now() - at)))
      }
      if (sent >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  await Promise.all(waits)
  return latencies
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!

if (RATE) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10)
  const batches = (process.env.BENCH_BATCH_MS ?? '0,1,2').split(',').map(Number)
  const d0 = process.cpuUsage()
  await paced(RATE, seconds * 1000, here)
  const driver = process.cpuUsage(d0)
  const n = RATE * seconds
  for (const batchMs of batches) {
    const checker = startChecker(batchMs)
    await checker.ready()
    // The frames to the checker (writes on the checks pipe) and the reads of its verdicts (a
    // read may hold several frames).
    let toChecker = 0
    let fromChecker = 0
    const pipe = (checker as unknown as { pipe: import('node:net').Socket }).pipe
    const write: (b: Buffer) => boolean = pipe.write.bind(pipe)
    pipe.write = (b: Buffer) => (toChecker++, write(b))
    pipe.on('data', () => void fromChecker++)
    await paced(RATE, 2000, checker)
    toChecker = fromChecker = 0
    const t0 = process.cpuUsage()
    const c0 = childCpuUs(checker)
    const latencies = (await paced(RATE, seconds * 1000, checker)).sort((a, b) => a - b)
    const used = process.cpuUsage(t0)
    const childUs = childCpuUs(checker) - c0
    const us = (u: NodeJS.CpuUsage) => (u.user + u.system) / n
    console.log(
      `WX_CHECKER_BATCH_MS=${batchMs}: BFF side ${(us(used) - us(driver)).toFixed(2)} us of CPU per check (${us(used).toFixed(2)} with the driver's ${us(driver).toFixed(2)}); checker process ${(childUs / n).toFixed(2)} us; ` +
        `latency p50/p99 ${pct(latencies, 50).toFixed(1)} / ${pct(latencies, 99).toFixed(1)} ms (WeChat ${DELAY_MS}); frames to the checker ${toChecker}, reads of its verdicts ${fromChecker} (${RATE}/s for ${seconds} s)`,
    )
    await checker.close()
  }
} else {
  const checker = startChecker(Number(process.env.BENCH_BATCH_MS ?? 1))
  await checker.ready()
  await run(20_000, here)
  const d0 = process.cpuUsage()
  await run(N, here)
  const driver = process.cpuUsage(d0)
  await run(20_000, checker)
  const t0 = process.cpuUsage()
  const c0 = childCpuUs(checker)
  const w0 = performance.now()
  await run(N, checker)
  const used = process.cpuUsage(t0)
  const child = childCpuUs(checker) - c0
  const ms = performance.now() - w0
  const perCheck = (u: NodeJS.CpuUsage) => (u.user + u.system) / N
  console.log(`BFF side: ${(perCheck(used) - perCheck(driver)).toFixed(2)} us of CPU per check (${perCheck(used).toFixed(2)} with the driver's ${perCheck(driver).toFixed(2)}); checker process: ${(child / N).toFixed(2)} us; ${Math.round(N / (ms / 1000))} checks/s (${TURN} a turn, ${IN_FLIGHT} turns in flight, no HTTP)`)
  await checker.close()
}
fake.kill()
