/**
 * bench:persister. The persister alone (no chat), as its own process (bff/dist/persister.js), at a
 * steady BENCH_RATE messages/s (5,000) for BENCH_SECONDS (10) over BENCH_CONVS conversations (100):
 * its lag, and where a batch's time goes, with one batch at a time (ARCHIVE_WRITES_IN_FLIGHT=1:
 * read, write, ack and trim, then the next read: the design before, off the chat's loop) and
 * pipelined (ARCHIVE_WRITES_IN_FLIGHT=BENCH_IN_FLIGHT, 4), alternating over BENCH_ROUNDS (2). With
 * bench:bff `archive` (inline vs process, same mechanics) it separates the two causes of the lag:
 * the chat's event loop and the serial batch loop.
 *
 * Lag: every 20 ms the age of the oldest message in the stream (acked, not yet in MySQL), and the
 * persister's own per-batch figures (its debug lines). Own Redis (a redis-server on a free port)
 * and own MySQL database on 127.0.0.1:3306, dropped after. Writes bench/results/persister.json.
 * Needs the built BFF (`npm run bench:persister` builds it).
 */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createConnection } from 'mysql2/promise'
import { Redis } from 'ioredis'
import { startRedis } from '../../tests/ops/support/redis'

const here = path.dirname(fileURLToPath(import.meta.url))
const PERSISTER = path.resolve(here, '../dist/persister.js')
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const RATE = env('BENCH_RATE', 5000)
const SECONDS = env('BENCH_SECONDS', 10)
const CONVS = env('BENCH_CONVS', 100)
const IN_FLIGHT = env('BENCH_IN_FLIGHT', 4)
const ROUNDS = env('BENCH_ROUNDS', 2)
const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'
/** Messages added per producer tick (every 10 ms), one pipeline each. */
const TICK_MS = 10

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0
const text = 'A message of ordinary length, about as long as people type in a chat. 你好'

interface BatchLine {
  batches: number
  messages: number
  writeMs: { p50: number; p99: number }
  ackMs: { p50: number; p99: number }
  lagMs: { p50: number; p99: number }
}

async function one(redisUrl: string, mysqlUrl: string, inFlight: number, run: number) {
  const prefix = `bp${run}:`
  const stream = `${prefix}archive`
  const child = spawn(process.execPath, [PERSISTER], {
    env: { PATH: process.env.PATH ?? '', STORE: 'redis', REDIS_URL: redisUrl, REDIS_PREFIX: prefix, ARCHIVE_URL: mysqlUrl, ARCHIVE_WRITES_IN_FLIGHT: String(inFlight), LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: BatchLine[] = []
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"msg":"persisting"')) resolve()
      else if (line.includes('"msg":"persister batches"')) lines.push(JSON.parse(line) as BatchLine)
    })
    child.once('exit', (code) => reject(new Error(`persister exited ${code}`)))
  })
  const r = new Redis(redisUrl)
  const sampler = new Redis(redisUrl)
  const ages: number[] = []
  let producing = true
  const sampling = (async () => {
    while (producing) {
      const [first] = (await sampler.xrange(stream, '-', '+', 'COUNT', 1)) as [string, string[]][]
      ages.push(first ? Math.max(0, Date.now() - Number(first[0].slice(0, first[0].indexOf('-')))) : 0)
      await sleep(20)
    }
  })()
  // The producer: what the append script adds, at a steady rate, conversations in turn.
  const seqs = new Array<number>(CONVS).fill(0)
  const t0 = Date.now()
  let sent = 0
  while (Date.now() - t0 < SECONDS * 1000) {
    const due = Math.floor(((Date.now() - t0) / 1000) * RATE)
    const p = r.pipeline()
    for (; sent < due; sent++) {
      const c = sent % CONVS
      const seq = ++seqs[c]!
      const conv = `d:a${c}:b${c}`
      p.xadd(stream, '*', 'j', `{"mid":"m${run}-${sent}","cid":"c${run}-${sent}","conv":"${conv}","seq":${seq},"from":"a${c}","ts":${Date.now()},"kind":"text","body":{"text":"${text}"}}`)
    }
    await p.exec()
    await sleep(TICK_MS)
  }
  producing = false
  await sampling
  const stopped = Date.now()
  while ((await r.xlen(stream)) > 0 && Date.now() - stopped < 60_000) await sleep(20)
  const drainMs = Date.now() - stopped
  // The debug lines come every 5 s: one more after the drain.
  const before = lines.length
  const last = Date.now()
  while (lines.length === before && Date.now() - last < 6000) await sleep(50)
  child.kill('SIGTERM')
  await new Promise((resolve) => child.once('exit', resolve))
  r.disconnect()
  sampler.disconnect()
  const batches = lines.reduce((n, l) => n + l.batches, 0)
  return {
    writesInFlight: inFlight,
    sent,
    lag: { p50Ms: pct(ages, 50), p99Ms: pct(ages, 99), maxMs: Math.max(0, ...ages), samples: ages.length, drainMs },
    batches,
    meanBatch: Math.round(lines.reduce((n, l) => n + l.messages, 0) / Math.max(1, batches)),
    writeMs: { p50: Math.max(0, ...lines.map((l) => l.writeMs.p50)), p99: Math.max(0, ...lines.map((l) => l.writeMs.p99)) },
    ackMs: { p50: Math.max(0, ...lines.map((l) => l.ackMs.p50)), p99: Math.max(0, ...lines.map((l) => l.ackMs.p99)) },
    batchLagMs: { p50: Math.max(0, ...lines.map((l) => l.lagMs.p50)), p99: Math.max(0, ...lines.map((l) => l.lagMs.p99)) },
  }
}

const loadStart = loadavg()[0]!
const redis = await startRedis()
const name = `chat_bench_persister_${process.pid}`
const admin = await createConnection(MYSQL)
await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
const runs: Awaited<ReturnType<typeof one>>[] = []
try {
  let run = 0
  for (let round = 0; round < ROUNDS; round++) {
    for (const inFlight of round % 2 === 0 ? [1, IN_FLIGHT] : [IN_FLIGHT, 1]) {
      const res = await one(redis.url, `${MYSQL}/${name}`, inFlight, run++)
      console.log(JSON.stringify(res))
      runs.push(res)
    }
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
  await admin.end()
  await redis.dispose()
}
const side = (n: number) => runs.filter((x) => x.writesInFlight === n)
const worst = (xs: typeof runs, f: (x: (typeof runs)[number]) => number) => Math.max(...xs.map(f))
for (const n of [1, IN_FLIGHT]) {
  const xs = side(n)
  console.log(
    `writes in flight ${n}: lag p50 ${worst(xs, (x) => x.lag.p50Ms)} / p99 ${worst(xs, (x) => x.lag.p99Ms)} ms (worst round), batches of ${xs.map((x) => x.meanBatch).join(' / ')}, write p99 ${worst(xs, (x) => x.writeMs.p99)} ms, ack p99 ${worst(xs, (x) => x.ackMs.p99)} ms, drained ${worst(xs, (x) => x.lag.drainMs)} ms after`,
  )
}
const out = path.resolve(here, '../../bench/results/persister.json')
const machine = { note: 'this machine, 2 cores shared', loadAverage1m: { start: Math.round(loadStart * 100) / 100, end: Math.round(loadavg()[0]! * 100) / 100 } }
writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), machine, rate: RATE, seconds: SECONDS, conversations: CONVS, runs }, null, 2) + '\n')
console.log(`load average ${machine.loadAverage1m.start} -> ${machine.loadAverage1m.end}; written ${path.relative(process.cwd(), out)}`)
