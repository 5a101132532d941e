/**
 * A reconnect storm of 10,000 clients at once, twice:
 *  - every socket cut at the same instant (a network blip at a load balancer): the same two BFF
 *    processes take 10,000 reconnects and syncs;
 *  - both BFF processes killed (-9) and started again on their ports (a crash or a careless deploy).
 * Clients are ChatUsers (the real client, tests/kit/chat-user.ts: full-jitter backoff with the
 * protocol's RECONNECT bounds) in two generator processes of 5,000 (20,000 open files per process here).
 * Measured and reported: time until all are back (welcome and sync done), the spread of their first
 * attempts, connection attempts, and the servers' memory before, during and after.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RECONNECT } from '@chat/shared'
import { CLIENT_DEFAULTS } from '../../client/config'
import { dropBundle, type BffProcess, spawnBff } from '../../bff/test/support/spawn'
import { guard, release } from '../../bff/test/support/guard'
import { freePorts, until } from './support/proc'
import { repoRoot } from './support/project-copy'
import { startRedis, type RedisServer } from './support/redis'
import type { BackReport } from './support/storm-worker'

const CLIENTS = 10_000
const WORKERS = 2
const ENV = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000', MAX_CONNECTIONS: '19000' }

interface Worker {
  readonly child: ChildProcess
  request<T>(msg: unknown, reply: string, timeoutMs: number): Promise<T>
}

function startWorker(): Promise<Worker> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts/run-ts.mjs'), path.join(repoRoot, 'tests/ops/support/storm-worker.ts')], {
    cwd: repoRoot,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  guard(child.pid)
  child.once('exit', () => release(child.pid))
  const inbox: { type: string; [k: string]: unknown }[] = []
  const waiters: { type: string; resolve: (m: never) => void }[] = []
  child.on('message', (m: { type: string; [k: string]: unknown }) => {
    if (m.type === 'error') console.error(`[storm worker] ${String(m.message)}`)
    const i = waiters.findIndex((w) => w.type === m.type)
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m as never)
    else inbox.push(m)
  })
  const next = <T>(type: string, timeoutMs: number): Promise<T> => {
    const i = inbox.findIndex((m) => m.type === type)
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as T)
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`storm worker: no "${type}" within ${timeoutMs} ms`)), timeoutMs)
      waiters.push({ type, resolve: (m) => (clearTimeout(t), resolve(m)) })
      child.once('exit', (code) => reject(new Error(`storm worker exited ${code} while waiting for "${type}"`)))
    })
  }
  const worker: Worker = {
    child,
    request: <T>(msg: unknown, reply: string, timeoutMs: number) => {
      child.send(msg as object)
      return next<T>(reply, timeoutMs)
    },
  }
  return next('alive', 30_000).then(() => worker)
}

/** CPU time of a process so far (user + system), ms. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100 // clock ticks of 10 ms (USER_HZ 100)
}

/** Resident memory of a process, bytes (VmRSS). */
function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}

const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** The largest share of first attempts falling in any 100 ms window: 1.0 means all at once. */
function peakShare(firstAttemptMs: number[]): number {
  const buckets = new Map<number, number>()
  for (const t of firstAttemptMs) buckets.set(Math.floor(t / 100), (buckets.get(Math.floor(t / 100)) ?? 0) + 1)
  return Math.max(...buckets.values()) / firstAttemptMs.length
}

function merge(reports: BackReport[]): BackReport {
  return {
    users: reports.reduce((s, r) => s + r.users, 0),
    backMs: reports.flatMap((r) => r.backMs),
    firstAttemptMs: reports.flatMap((r) => r.firstAttemptMs),
    attempts: reports.reduce((s, r) => s + r.attempts, 0),
    missing: reports.reduce((s, r) => s + r.missing, 0),
    rssBytes: reports.reduce((s, r) => s + r.rssBytes, 0),
    cpuMs: reports.reduce((s, r) => s + r.cpuMs, 0),
    openTimeouts: reports.reduce((s, r) => s + r.openTimeouts, 0),
    welcomeTimeouts: reports.reduce((s, r) => s + r.welcomeTimeouts, 0),
    missingStates: sumCounts(reports.map((r) => r.missingStates)),
    errors: sumCounts(reports.map((r) => r.errors)),
    stalled: reports.some((r) => r.stalled),
  }
}

function sumCounts(counts: Record<string, number>[]): Record<string, number> {
  const m: Record<string, number> = {}
  for (const c of counts) for (const [k, n] of Object.entries(c)) m[k] = (m[k] ?? 0) + n
  return m
}

/** Upgrades the servers refused busy (MAX_UPGRADES_IN_FLIGHT, 503 + Retry-After) since they started. */
async function busyRefusals(urls: string[]): Promise<number> {
  const texts = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()))
  return texts.reduce((n, t) => n + Number(/^chat_errors_total\{code="SERVER_BUSY"\} (\d+)/m.exec(t)?.[1] ?? 0), 0)
}

/**
 * The wait for "all back" ends early when no user came back for this long, ms: a client that is not
 * stuck makes a new attempt at least every RECONNECT.maxDelayMs (its backoff cap) plus one attempt
 * abandoned at the connect timeout (CLIENT_DEFAULTS.connectTimeoutMs), and asks a refused sync again
 * within one more RECONNECT.maxDelayMs (client/net/sync.ts); with thousands of clients in that
 * state, none coming back for all of it means they are stuck. How long the storm takes depends
 * on how much of the shared machine it gets: printed with the CPU it took, never asserted.
 */
const STALL_MS = 2 * RECONNECT.maxDelayMs + CLIENT_DEFAULTS.connectTimeoutMs
/** The longest wait for "all back", ms: what the test's own timeout (TEST_MS) leaves. */
const AWAIT_CAP_MS = 330_000
const TEST_MS = 420_000

describe(`reconnect storm of ${CLIENTS.toLocaleString('en')} clients`, () => {
  let redis: RedisServer
  let ports: number[] = []
  let servers: BffProcess[] = []
  let workers: Worker[] = []
  const sampler = { peak: 0, timer: undefined as NodeJS.Timeout | undefined }

  const sampleFrom = () => {
    sampler.peak = 0
    clearInterval(sampler.timer)
    sampler.timer = setInterval(() => {
      try {
        sampler.peak = Math.max(sampler.peak, servers.reduce((s, n) => s + rss(n.child.pid!), 0))
      } catch {
        // a process between kill and restart
      }
    }, 50)
  }

  beforeAll(async () => {
    redis = await startRedis()
    ports = await freePorts(2)
    servers = await Promise.all(ports.map((p) => spawnBff({ STORE: 'redis', REDIS_URL: redis.url, PORT: String(p), ...ENV })))
    workers = await Promise.all(Array.from({ length: WORKERS }, startWorker))
  })
  afterAll(async () => {
    clearInterval(sampler.timer)
    await Promise.all(workers.map((w) => w.request({ type: 'stop' }, 'never', 20_000).catch(() => {})))
    for (const w of workers) w.child.kill('SIGKILL')
    for (const n of servers) n.kill('SIGKILL')
    await Promise.all(servers.map((n) => n.exited))
    await redis?.dispose()
    await dropBundle()
  }, 120_000)

  let steadyRss = 0
  let perConnectionBytes = 0

  it('connects 10,000 users (the steady state the storms start from)', async () => {
    const idle = servers.reduce((s, n) => s + rss(n.child.pid!), 0)
    const urls = servers.map((n) => n.url)
    const perWorker = CLIENTS / WORKERS
    const t = Date.now()
    await Promise.all(
      workers.map((w, i) =>
        w.request({ type: 'start', users: Array.from({ length: perWorker }, (_, j) => `st${i}-${j}`), urls, concurrency: 50 }, 'ready', 240_000),
      ),
    )
    // Both processes counted, each holding about half.
    const counts = await Promise.all(servers.map(async (n) => Number(/^chat_connections (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())![1])))
    expect(counts.reduce((a, b) => a + b, 0)).toBe(CLIENTS)
    steadyRss = servers.reduce((s, n) => s + rss(n.child.pid!), 0)
    perConnectionBytes = (steadyRss - idle) / CLIENTS
    console.log(
      `[storm] ${CLIENTS} users logged in and connected in ${Date.now() - t} ms (${counts.join(' + ')}); BFF RSS ${mb(idle)} idle -> ${mb(steadyRss)} ` +
        `(${(perConnectionBytes / 1024).toFixed(1)} KB per connection incl. GC headroom)`,
    )
  }, 400_000)

  let generatorCpuMs = 0
  const serverCpuMs = () => servers.reduce((s, n) => s + cpuMs(n.child.pid!), 0)

  it('every socket cut at once: all back (none stuck), retries spread by jitter, memory bounded', async () => {
    expect(steadyRss).toBeGreaterThan(0)
    sampleFrom()
    const cpu0 = serverCpuMs()
    const redisCpu0 = cpuMs(redis.pid()!)
    const busy0 = await busyRefusals(servers.map((n) => n.url))
    const dropped = await Promise.all(workers.map((w) => w.request<{ at: number; cpuMs: number }>({ type: 'drop' }, 'dropped', 10_000)))
    const after = Math.min(...dropped.map((d) => d.at))
    const r = merge((await Promise.all(workers.map((w) => w.request<{ report: BackReport }>({ type: 'await', after, timeoutMs: AWAIT_CAP_MS, stallMs: STALL_MS }, 'back', AWAIT_CAP_MS + 10_000)))).map((x) => x.report))
    clearInterval(sampler.timer)
    const serverCpu = serverCpuMs() - cpu0
    const redisCpu = cpuMs(redis.pid()!) - redisCpu0
    const busy = (await busyRefusals(servers.map((n) => n.url))) - busy0
    const genCpu = r.cpuMs - dropped.reduce((s, d) => s + d.cpuMs, 0)
    generatorCpuMs = r.cpuMs
    const settled = servers.reduce((s, n) => s + rss(n.child.pid!), 0)
    const allBackMs = Math.max(...r.backMs)
    const share = peakShare(r.firstAttemptMs)
    console.log(
      `[storm: sockets cut] all ${r.users - r.missing}/${r.users} back in ${allBackMs} ms (p50 ${pct(r.backMs, 50)} ms, p99 ${pct(r.backMs, 99)} ms); ` +
        `first attempts ${pct(r.firstAttemptMs, 1)}-${pct(r.firstAttemptMs, 99)} ms after the cut (p1-p99), at most ${(share * 100).toFixed(1)}% in any 100 ms; ` +
        `${r.attempts} attempts (${busy} refused busy; abandoned after 15 s: ${r.openTimeouts} never opened, ${r.welcomeTimeouts} opened without welcome); ` +
        `error frames since start ${JSON.stringify(r.errors)}; ` +
        `CPU: BFF ${serverCpu} ms (${(serverCpu / r.users).toFixed(2)} ms per reconnect), Redis ${redisCpu} ms, generators ${genCpu.toFixed(0)} ms; ` +
        `BFF RSS ${mb(steadyRss)} before, peak ${mb(sampler.peak)}, ${mb(settled)} after; generators ${mb(r.rssBytes)}`,
    )
    expect(r.missing, `users not back, by client state: ${JSON.stringify(r.missingStates)}; error frames ${JSON.stringify(r.errors)}; ${r.stalled ? `none back for ${STALL_MS} ms` : `not all back within ${AWAIT_CAP_MS} ms`}`).toBe(0)
    // Measured here: 45 s with the machine shared, 136 s with it loaded 7 times over (load average
    // 14 on 2 cores). The storm is CPU-bound: ~1.2-2.7 ms of BFF CPU per reconnect (token check,
    // welcome, presence, subscription, sync) plus ~1.6-4 ms in the generators, 10,000 times.
    // Jitter: first attempts spread over the first backoff window, not all at once.
    expect(pct(r.firstAttemptMs, 99) - pct(r.firstAttemptMs, 1)).toBeGreaterThan(RECONNECT.minDelayMs * 0.8)
    expect(share).toBeLessThan(0.35)
    // Memory bounded: at its peak the storm (10,000 handshakes, syncs and closes in flight at once)
    // costs less than the connections themselves; measured +24-35 % on a quiet machine, +63 % with
    // two storms running at once. (RSS right after is reported, not asserted: V8 returns freed heap
    // to the system lazily.)
    expect(sampler.peak).toBeLessThan(steadyRss * 2 + 64 * 1048576)
  }, TEST_MS)

  it('both BFF processes killed -9 and restarted: all back (none stuck)', async () => {
    const killedAt = Date.now()
    const oldServerCpu = serverCpuMs()
    const redisCpu0 = cpuMs(redis.pid()!)
    for (const n of servers) n.kill('SIGKILL')
    await Promise.all(servers.map((n) => n.exited))
    servers = await Promise.all(ports.map((p) => spawnBff({ STORE: 'redis', REDIS_URL: redis.url, PORT: String(p), ...ENV })))
    const upMs = Date.now() - killedAt
    sampleFrom()
    const r = merge((await Promise.all(workers.map((w) => w.request<{ report: BackReport }>({ type: 'await', after: killedAt, timeoutMs: AWAIT_CAP_MS, stallMs: STALL_MS }, 'back', AWAIT_CAP_MS + 10_000)))).map((x) => x.report))
    clearInterval(sampler.timer)
    const serverCpu = serverCpuMs()
    const redisCpu = cpuMs(redis.pid()!) - redisCpu0
    const busy = await busyRefusals(servers.map((n) => n.url))
    const genCpu = r.cpuMs - generatorCpuMs
    await until('connection gauges settle', async () => {
      const counts = await Promise.all(servers.map(async (n) => Number(/^chat_connections (\d+)/m.exec(await (await fetch(`${n.url}/metrics`)).text())![1])))
      return counts.reduce((a, b) => a + b, 0) === CLIENTS
    }, 30_000, 200)
    const settled = servers.reduce((s, n) => s + rss(n.child.pid!), 0)
    const allBackMs = Math.max(...r.backMs)
    console.log(
      `[storm: servers killed] processes listening again ${upMs} ms after the kill; all ${r.users - r.missing}/${r.users} back ${allBackMs} ms after the kill ` +
        `(p50 ${pct(r.backMs, 50)} ms, p99 ${pct(r.backMs, 99)} ms); ${r.attempts} attempts (${(r.attempts / r.users).toFixed(2)} per client; ${busy} refused busy; abandoned after 15 s: ${r.openTimeouts} never opened, ${r.welcomeTimeouts} opened without welcome); ` +
        `error frames since start ${JSON.stringify(r.errors)}; ` +
        `CPU: new BFF processes ${serverCpu} ms (killed ones had used ${oldServerCpu} ms in all), Redis ${redisCpu} ms, generators ${genCpu.toFixed(0)} ms; ` +
        `BFF RSS peak ${mb(sampler.peak)}, ${mb(settled)} settled`,
    )
    expect(r.missing, `users not back, by client state: ${JSON.stringify(r.missingStates)}; error frames ${JSON.stringify(r.errors)}; ${r.stalled ? `none back for ${STALL_MS} ms` : `not all back within ${AWAIT_CAP_MS} ms`}`).toBe(0)
    // Measured here: 24-87 s (the processes take 3-4 s to listen again; attempts that met a closed
    // port or a busy server back off exponentially, up to RECONNECT.maxDelayMs 20 s, and a
    // reachability probe skips the rest of a window once the server answers again).
    expect(sampler.peak).toBeLessThan(steadyRss * 2 + 64 * 1048576)
  }, TEST_MS)
})
