// Over 400 lines on purpose: one orchestrator of every bench:bff scenario and its same-run baselines, sharing process, pinning and Redis helpers.
/**
 * `npm run bench:bff`: the BFF against the minimal ws router (baseline.ts) in the same run, on the
 * five targets of issue 3. Servers are pinned to core 0 and load generators to core 1 (taskset),
 * generators are separate processes of at most ~19,000 sockets each. Prints a table and writes
 * bench/results/bff.json. Figures only: nothing here passes or fails on time.
 *
 * Environment (all optional): BENCH_IDLE (connections, default 100000), BENCH_RATE (msg/s, 5000),
 * BENCH_SECONDS (10), BENCH_GROUP (members, 1000), BENCH_GROUP_ROUNDS (per server, 1000; BENCH_GROUP_BLOCK,
 * BENCH_GROUP_SETS: see groupScenario), BENCH_QUEUED (10000),
 * BENCH_WORKERS_IDLE (server processes for the idle figure, 6; 1 adds heap figures after a full GC), BENCH_ONE2ONE_REPEAT (1:1 runs, 1), BENCH_ONLY (comma list of
 * idle,one2one,group,reconnect,secure,storm), BENCH_STORM (users cut at once, 5000), BENCH_STORM_CONVS
 * (conversations per user, 20), BENCH_ARCHIVE_URL (the BFF's ARCHIVE_URL: a mysql:// URL
 * of an existing, empty database puts the archive and its persister under the measured load; unset:
 * Redis alone, as the recorded figures).
 *
 * `archive` (issue 11, needs BENCH_ARCHIVE_URL): the 1:1 scenario twice in one run, the BFF without
 * and with the archive, and the persister's lag while the archive is on (archiveLag below). With
 * the archive the BFF runs no persister (ARCHIVE_PERSISTER=none): the run starts one persister
 * process (bff/dist/persister.js) pinned to BENCH_PERSISTER_CORE (default the generators' core),
 * and reports the BFF's CPU per message and the persister's apart and summed, and where the
 * persister's batches spent their time (its debug lines: batch size, write and ack times).
 * BENCH_ARCHIVE_ROUNDS (2) rounds, alternating which side runs first; each round also runs the
 * design before (BENCH_ARCHIVE_INLINE=1: the persister inline, one batch at a time) for a
 * same-run comparison of the lag.
 *
 * `secure` (issue 14): the 1:1 scenario in one run with the BFF without and with content
 * security (every text checked by msgSecCheck against a local fake WeChat answering in
 * BENCH_WX_DELAY_MS, 20): the checks must not block the event loop or serialize other users' sends.
 * CPU is reported for the whole process and for its event loop (main thread) alone. Runs with
 * checks: `process` (the default, WX_CHECKER=process: the checker process is measured apart and
 * moved to BENCH_CHECKER_CORE, default the generators' core like the persister; `server` leaves it
 * on the BFF's; its HTTP pipelined at BENCH_WX_CHECKER_PIPELINING, default BENCH_WX_PIPELINING),
 * `turn` (the same with WX_CHECKER_BATCH_MS=0: one message a turn each way), `window` (the same
 * with WX_CHECKER_BATCH_MS=BENCH_CHECKER_BATCH_MS, when set), `before` (the same on the build of
 * BENCH_BFF_BEFORE),
 * and, with the checks on the BFF's process (WX_CHECKER=inline), `threads` (the HTTP on a worker
 * thread), `loop` (WX_HTTP_THREADS=0) and `pipelined` (HTTP/1.1 pipelining on the event loop,
 * WX_HTTP_PIPELINING=BENCH_WX_PIPELINING, default 16). BENCH_SECURE_RUNS picks among them
 * (process,turn,window,before,threads,loop,pipelined; default process,threads,loop,pipelined); BENCH_SECURE_ROUNDS repeats the whole (checks off, then each)
 * that many times.
 * To see where a check's CPU goes on both threads: BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"
 * writes a profile of each server's event loop and of each of its worker threads.
 * BENCH_BFF_NODE_ARGS: node arguments for this build's BFF only (not BENCH_BFF_BEFORE's): with a copy
 * of this build as the one before, a node flag (e.g. --max-semi-space-size=32) against none in the
 * same run; the 1:1 figures carry each server's resident memory at the end of its measured span (rssMB).
 * BENCH_BEFORE_NODE_ARGS: the same for BENCH_BFF_BEFORE's BFF only (the flag on the build run first,
 * for the other order: the one run second tends to take less CPU, docs/SCALING.md M47).
 * BENCH_BEFORE_ENV: a JSON object of environment for BENCH_BFF_BEFORE's BFF only: with a copy of this
 * build as the one before, a setting against its default in the same run (e.g. '{"ACK_WINDOW_MS":"0"}').
 * BENCH_WX_BATCH_MS sets the BFF's WX_HTTP_BATCH_MS (unset: its default). BENCH_BFF_ENV: a JSON object
 * of more environment for every BFF the run starts (e.g. '{"LOG_LEVEL":"warn"}'). CPU per message counts
 * delivered messages: a run that did not deliver all it sent (the server saturated) overstates it.
 * With BENCH_NODE_ARGS=--trace-gc the 1:1 figures list each server's GC pauses of 1 ms or more at
 * their time into the measured span (`gc.pauses`), beside the stall timeline (`stalls.at`).
 * BENCH_SERVER_LOG=<dir>: every server's stdout written there (<kind>-<pid>.log, each line behind
 * the epoch ms it arrived), e.g. with --trace-gc-nvp for what each collection copied and promoted.
 * BENCH_ALLOCATOR=glibc: the BFF on glibc's allocator instead of the image's jemalloc (`JEMALLOC`).
 */
import { execFileSync, fork, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION } from '@chat/shared'
import { SignJWT } from 'jose'
import { byConstructor, findHeld, heapId, parseSnapshot, retainedSize, takeSnapshot } from './heap'
import type { CdpSession } from './heap'
import type { Commands } from './loadgen'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const BFF_MAIN = path.join(repo, 'bff/dist/main.js')
const PERSISTER_MAIN = path.join(repo, 'bff/dist/persister.js')
const BASELINE = path.join(here, 'baseline.ts')
const LOADGEN = path.join(here, 'loadgen.ts')
/** The baseline server and the load generators are TypeScript: started through the scripts' runner. */
const RUN_TS = path.join(repo, 'scripts/run-ts.mjs')
const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0123'
/**
 * The BFF's Redis: by default one this run starts (no persistence, like the default one on
 * 127.0.0.1:6379), pinned to the load generators' core, so that the server core runs only the
 * process measured, as it does for the baseline (which has no Redis). Its CPU is reported beside
 * the BFF's, not in it. REDIS_URL uses an existing Redis instead (unpinned, wherever it runs).
 */
const OWN_REDIS = process.env.REDIS_URL === undefined
const REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 6391)
const REDIS_URL = process.env.REDIS_URL ?? `redis://127.0.0.1:${REDIS_PORT}`
const REDIS_CORE = process.env.BENCH_REDIS_CORE ?? process.env.BENCH_LOAD_CORE ?? '1'
const PER_GENERATOR = 16_000
const SERVER_CORE = process.env.BENCH_SERVER_CORE ?? '0'
const LOAD_CORE = process.env.BENCH_LOAD_CORE ?? '1'
const PERSISTER_CORE = process.env.BENCH_PERSISTER_CORE ?? LOAD_CORE
/** The BFF's checker process (WX_CHECKER=process) is moved to this core; `server`: left on the BFF's. */
const CHECKER_CORE = process.env.BENCH_CHECKER_CORE ?? LOAD_CORE

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)

/**
 * The BFF runs on the allocator its image ships (bff/Dockerfile: Debian's libjemalloc2, preloaded),
 * when this machine has it (`apt-get install libjemalloc2`); BENCH_ALLOCATOR=glibc runs it on
 * glibc's instead. The baselines run as they are, on glibc's. BENCH_BEFORE_ENV can set LD_PRELOAD
 * apart for the build before (e.g. '{"LD_PRELOAD":""}': glibc's, beside this build on jemalloc).
 */
const JEMALLOC = process.env.BENCH_ALLOCATOR === 'glibc' ? undefined : jemallocPath()
const ALLOCATOR_NOTE = JEMALLOC ? `the BFF on jemalloc (${JEMALLOC}), as its image` : `the BFF on glibc's allocator${process.env.BENCH_ALLOCATOR === 'glibc' ? '' : ' (libjemalloc2 not installed: the image runs jemalloc)'}`

function jemallocPath(): string | undefined {
  for (const dir of ['/usr/local/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']) {
    const file = path.join(dir, 'libjemalloc.so.2')
    if (existsSync(file)) return file
  }
  return undefined
}
const IDLE = env('BENCH_IDLE', 100_000)
const RATE = env('BENCH_RATE', 5000)
const SECONDS = env('BENCH_SECONDS', 10)
const GROUP = env('BENCH_GROUP', 1000)
const GROUP_ROUNDS = env('BENCH_GROUP_ROUNDS', 1000)
const QUEUED = env('BENCH_QUEUED', 10_000)
const IDLE_WORKERS = env('BENCH_WORKERS_IDLE', 6)
/** BENCH_ONE2ONE_REPEAT: the 1:1 measurement this many times (each with its own relay run), counting the runs that meet the p99 targets. Default 1. */
const ONE2ONE_REPEAT = env('BENCH_ONE2ONE_REPEAT', 1)
/**
 * BENCH_SATURATE_MS: after each 1:1 measurement, a closed loop of that length (each of the 100
 * senders keeps BENCH_SATURATE_WINDOW messages under way, 20): messages delivered per second when
 * the server never waits for work, with the server's CPU share (1.0: its core was the limit; less:
 * something else was, e.g. the generators' core). 0 skips it. Default 3000.
 */
const SATURATE_MS = env('BENCH_SATURATE_MS', 3000)
const SATURATE_WINDOW = env('BENCH_SATURATE_WINDOW', 20)
const ONLY = new Set((process.env.BENCH_ONLY ?? 'idle,one2one,group,reconnect').split(','))

// ------------------------------------------------------------------ processes

/** The BFF, the raw ws router (baseline.ts) or the ws+Redis relay (baseline.ts with RELAY=1). */
type Kind = 'bff' | 'base' | 'relay'

/** A GC pause of a server (BENCH_NODE_ARGS=--trace-gc): when its line arrived (epoch ms), its kind and length. */
interface GcPause {
  at: number
  kind: string
  ms: number
}
/** GC pauses at least this long are kept with their time (the stall timeline of `one2one` lists them). */
const GC_PAUSE_KEPT_MS = 1
/** The load generator speaks the BFF's protocol or the baselines' (the relay's is the router's). */
const modeOf = (kind: Kind): 'bff' | 'base' => (kind === 'bff' ? 'bff' : 'base')

interface Server {
  readonly kind: Kind
  readonly url: string
  readonly child: ChildProcess
  readonly prefix: string
  /** Log lines seen: warnings and errors, and 'disconnect bookkeeping failed' among them. */
  readonly logs: { warnOrWorse: number; bookkeepingFailed: number; gc: { scavenges: number; markCompacts: number; pauseMs: number }; gcPauses: GcPause[] }
  /** The inspector's WebSocket URL, when started with it. */
  readonly inspector?: string
}

/** Every process this run started, ended however the run ends. */
const started = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of started) c.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130))

async function startServer(kind: Kind, workers: number, extraEnv: Record<string, string> = {}, inspect = false, bffMain = BFF_MAIN): Promise<Server> {
  const prefix = `bench${Date.now().toString(36)}:`
  const main = kind === 'bff' ? bffMain : BASELINE
  // e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the servers under load.
  // `inspect`: the inspector on a free port, for heap figures after a full GC (`heapAfterGc`).
  // BENCH_BFF_NODE_ARGS / BENCH_BEFORE_NODE_ARGS (see the file's head): this build's BFF / the one before only.
  const own = kind !== 'bff' ? [] : ((bffMain === BFF_MAIN ? process.env.BENCH_BFF_NODE_ARGS : process.env.BENCH_BEFORE_NODE_ARGS) ?? '').split(' ').filter(Boolean)
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...own, ...(inspect ? ['--inspect=127.0.0.1:0'] : [])]
  const child = spawn('taskset', ['-c', SERVER_CORE, process.execPath, ...nodeArgs, ...(kind !== 'bff' ? [RUN_TS] : []), main], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      WORKERS: String(workers),
      STORE: 'redis',
      REDIS_URL,
      REDIS_PREFIX: prefix,
      JWT_SECRET,
      LOG_LEVEL: 'info',
      // The production default: every idle socket is pinged twice before memory is measured.
      HEARTBEAT_INTERVAL_MS: '30000',
      RATE_LIMIT_PER_SEC: '1000000',
      RATE_LIMIT_BURST: '1000000',
      QUEUE_MAX_LENGTH: String(Math.max(QUEUED, 10_000)),
      SLOW_CONSUMER_BYTES: String(64 * 1024 * 1024),
      MAX_CONNECTIONS: '19500',
      STATIC_DIR: 'bff/bench',
      ...(kind === 'bff' && process.env.BENCH_ARCHIVE_URL ? { ARCHIVE_URL: process.env.BENCH_ARCHIVE_URL } : {}),
      ...(kind === 'relay' ? { RELAY: '1' } : {}),
      ...(kind === 'bff' && JEMALLOC ? { LD_PRELOAD: JEMALLOC } : {}),
      ...(kind === 'bff' && process.env.BENCH_BFF_ENV ? (JSON.parse(process.env.BENCH_BFF_ENV) as Record<string, string>) : {}),
      ...(kind === 'bff' && bffMain !== BFF_MAIN && process.env.BENCH_BEFORE_ENV ? (JSON.parse(process.env.BENCH_BEFORE_ENV) as Record<string, string>) : {}),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let inspector: (url: string) => void = () => {}
  const inspectorUrl = inspect ? new Promise<string>((resolve) => (inspector = resolve)) : undefined
  createInterface({ input: child.stderr }).on('line', (line) => {
    const m = /Debugger listening on (ws:\S+)/.exec(line)
    if (m) return inspector(m[1]!)
    if (!/^(For help, see|Debugger attached|Debugger ending|Waiting for the debugger)/.test(line)) process.stderr.write(`${line}\n`)
  })
  started.add(child)
  // With BENCH_NODE_ARGS=--trace-gc: V8's collections in this process (not its children's, such as
  // a checker process writing to the same stdout), counted from its lines.
  const logs = { warnOrWorse: 0, bookkeepingFailed: 0, gc: { scavenges: 0, markCompacts: 0, pauseMs: 0 }, gcPauses: [] as GcPause[] }
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${kind} did not start`))
    }, 30_000)
    const last: string[] = []
    // BENCH_SERVER_LOG=<dir>: each server's stdout kept there whole (with --trace-gc-nvp, what each collection copied and promoted).
    const logFile = process.env.BENCH_SERVER_LOG ? path.join(process.env.BENCH_SERVER_LOG, `${kind}-${child.pid}.log`) : undefined
    if (logFile) mkdirSync(path.dirname(logFile), { recursive: true })
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (logFile) appendFileSync(logFile, `${Date.now()} ${line}\n`)
      last.push(line)
      if (last.length > 5) last.shift()
      if (/"level":(4|5|6)\d/.test(line) && ++logs.warnOrWorse <= 5) {
        // The first few say why a run went wrong (a send path failing shows up only as figures).
        process.stderr.write(`${kind}: ${line.slice(0, 500)}\n`)
      }
      if (line.includes('disconnect bookkeeping failed')) logs.bookkeepingFailed++
      const gc = /ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Sweep)\b.*?MB, ([\d.]+) \/ [\d.]+ ms/.exec(line)
      if (gc && line.startsWith(`[${child.pid}:`)) {
        if (gc[1] === 'Scavenge' || gc[1] === 'Minor Mark-Sweep') logs.gc.scavenges++
        else logs.gc.markCompacts++
        logs.gc.pauseMs += Number(gc[2])
        // The longer pauses with the time their line arrived, to be lined up with the stalls of a run.
        if (Number(gc[2]) >= GC_PAUSE_KEPT_MS && logs.gcPauses.length < 10_000) logs.gcPauses.push({ at: Date.now(), kind: gc[1]!, ms: Number(gc[2]) })
      }
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer)
        resolve((JSON.parse(line) as { port: number }).port)
      }
    })
    // Its last log lines say why it stopped (a config error names the variable).
    child.once('exit', (code) => reject(new Error(`${kind} exited ${code}: ${last.join('\n')}`)))
  })
  if (workers > 1) await waitForWorkers(child.pid!, workers)
  return { kind, url: `http://127.0.0.1:${port}`, child, prefix, logs, ...(inspectorUrl ? { inspector: await inspectorUrl } : {}) }
}

/** A Chrome DevTools Protocol session on the server's inspector: `call(method, params)` answers the result. */
async function inspectorSession(s: Server): Promise<CdpSession & { close: () => void }> {
  if (!s.inspector) throw new Error('server started without its inspector')
  const ws = new WebSocket(s.inspector)
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('error', reject)
  })
  let id = 0
  const call = (method: string, params?: object) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const mine = ++id
      const on = (data: Buffer) => {
        const msg = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown> }
        if (msg.id !== mine) return
        ws.off('message', on)
        resolve(msg.result ?? {})
      }
      ws.on('message', on)
      ws.send(JSON.stringify({ id: mine, method, ...(params ? { params } : {}) }))
    })
  // Events (HeapProfiler.addHeapSnapshotChunk): `listener` gets their params until the returned function is called.
  const on = (event: string, listener: (params: Record<string, unknown>) => void) => {
    const onMessage = (data: Buffer) => {
      const msg = JSON.parse(String(data)) as { method?: string; params?: Record<string, unknown> }
      if (msg.method === event) listener(msg.params ?? {})
    }
    ws.on('message', onMessage)
    return () => void ws.off('message', onMessage)
  }
  return { call, on, close: () => ws.close() }
}

/**
 * The server's used heap after a full GC (bytes), through its inspector (Chrome DevTools
 * Protocol: HeapProfiler.collectGarbage, then Runtime.getHeapUsage): the retained size, not what
 * the collector has not reclaimed yet as RSS right after a storm would count.
 */
async function heapAfterGc(s: Server): Promise<number> {
  const session = await inspectorSession(s)
  try {
    // Twice: weak references and finalizers let go of more on the second round.
    await session.call('HeapProfiler.collectGarbage')
    await session.call('HeapProfiler.collectGarbage')
    return Number((await session.call('Runtime.getHeapUsage')).usedSize)
  } finally {
    session.close()
  }
}

/**
 * The server process's own account of its memory (process.memoryUsage(), bytes, and V8's heap
 * spaces: committed over used), through its inspector: what of its resident set is V8's heap,
 * what is memory outside it (Buffers and other native allocations).
 */
async function memoryOf(s: Server): Promise<Record<string, unknown>> {
  const session = await inspectorSession(s)
  try {
    const expression = `JSON.stringify({ ...process.memoryUsage(), spaces: Object.fromEntries(process.getBuiltinModule('node:v8').getHeapSpaceStatistics().map((x) => [x.space_name, { size: x.space_size, used: x.space_used_size }])) })`
    const r = (await session.call('Runtime.evaluate', { expression, includeCommandLineAPI: true })) as { result?: { value?: string } }
    return r.result?.value ? (JSON.parse(r.result.value) as Record<string, unknown>) : {}
  } finally {
    session.close()
  }
}

/**
 * BENCH_PROFILE_DIR: a CPU profile of the server during the measured part of a scenario only (the
 * storm's measured disconnect + reconnect), written there as <scenario>-<kind>.cpuprofile; open it
 * in Chrome DevTools. Without it, `profiled` just runs `work`.
 */
async function profiled<T>(s: Server, name: string, work: () => Promise<T>): Promise<T> {
  const stop = await profileStart(s, name)
  try {
    return await work()
  } finally {
    await stop()
  }
}

/** `profiled` in two steps, for a span other servers' turns interleave with: the returned function ends it and writes the profile. */
async function profileStart(s: Server, name: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_PROFILE_DIR
  if (!dir || !s.inspector) return () => Promise.resolve()
  const session = await inspectorSession(s)
  // BENCH_PROFILE_HEAP=1: where the span's allocations come from instead (sampled every 32 KiB,
  // garbage included: what the young generation's collections pay for).
  const heap = process.env.BENCH_PROFILE_HEAP === '1'
  try {
    if (heap) {
      await session.call('HeapProfiler.enable')
      await session.call('HeapProfiler.startSampling', { samplingInterval: 32 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
    } else {
      await session.call('Profiler.enable')
      await session.call('Profiler.setSamplingInterval', { interval: 100 })
      await session.call('Profiler.start')
    }
  } catch (err) {
    session.close()
    throw err
  }
  return async () => {
    try {
      const { profile } = await session.call(heap ? 'HeapProfiler.stopSampling' : 'Profiler.stop')
      mkdirSync(dir, { recursive: true })
      writeFileSync(path.join(dir, `${name}-${s.kind}-${Date.now().toString(36)}.${heap ? 'heapprofile' : 'cpuprofile'}`), JSON.stringify(profile))
    } finally {
      session.close()
    }
  }
}

async function waitForWorkers(pid: number, n: number): Promise<void> {
  for (let i = 0; i < 200 && descendants(pid).length < n; i++) await sleep(50)
  await sleep(500)
}

async function stopServer(s: Server): Promise<void> {
  // Workers too: one still draining when the primary gives up would outlive the run (orphaned,
  // its stdout a pipe nobody reads) and weigh on the next scenario.
  const pids = serverPids(s)
  const exited = new Promise((r) => s.child.once('exit', r))
  s.child.kill('SIGTERM')
  await Promise.race([exited, sleep(15_000)])
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  if (s.kind !== 'base') await dropPrefix(s.prefix)
}

class Generator {
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly ready: Promise<void>
  constructor(readonly child: ChildProcess) {
    this.ready = new Promise((resolve) => {
      child.on('message', (msg: { id?: number; ready?: boolean; result?: unknown; error?: string }) => {
        if (msg.ready) return resolve()
        const w = this.waiting.get(msg.id!)
        if (!w) return
        this.waiting.delete(msg.id!)
        if (msg.error) w.reject(new Error(msg.error))
        else w.resolve(msg.result)
      })
    })
  }
  call<K extends keyof Commands>(cmd: K, args: Parameters<Commands[K]>[0]): Promise<Awaited<ReturnType<Commands[K]>>> {
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ id, cmd, args })
    })
  }
  stop(): void {
    this.child.kill()
  }
}

async function generators(n: number): Promise<Generator[]> {
  const gens = Array.from({ length: n }, (_, i) => {
    const child = fork(RUN_TS, [LOADGEN], { env: { ...process.env, ADDRESS_OFFSET: String(i * 41) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    // Pinned after the fact: fork cannot go through taskset and keep its IPC channel.
    started.add(child)
    execFileSync('taskset', ['-a', '-p', '-c', LOAD_CORE, String(child.pid)], { stdio: 'ignore' })
    return new Generator(child)
  })
  await Promise.all(gens.map((g) => g.ready))
  return gens
}

async function startRedis(): Promise<void> {
  const child = spawn('taskset', ['-c', REDIS_CORE, 'redis-server', '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  started.add(child)
  child.once('exit', (code) => {
    if (code !== null && code !== 0) console.error(`redis-server exited ${code}`)
  })
  for (let i = 0; i < 100; i++) {
    const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    r.on('error', () => {}) // not listening yet: the next try
    try {
      await r.connect()
      await r.ping()
      return
    } catch {
      await sleep(100)
    } finally {
      r.disconnect()
    }
  }
  throw new Error(`redis-server on port ${REDIS_PORT} did not start`)
}

// ------------------------------------------------------------------ measuring

function descendants(pid: number): number[] {
  const out: number[] = []
  const walk = (p: number) => {
    for (const task of safeReaddir(`/proc/${p}/task`)) {
      const kids = safeRead(`/proc/${p}/task/${task}/children`).trim()
      for (const k of kids ? kids.split(/\s+/).map(Number) : []) {
        out.push(k)
        walk(k)
      }
    }
  }
  walk(pid)
  return out
}

/** The checker processes (dist/checker.js) among `pids`, with their descendants. */
function checkerPids(pids: number[]): number[] {
  const checkers = pids.filter((p) => safeRead(`/proc/${p}/cmdline`).includes('checker.js'))
  return checkers.flatMap((p) => [p, ...descendants(p)])
}

/** The server's node processes: for taskset-launched servers, the node process is the child itself (exec). */
function serverPids(s: Server): number[] {
  return [s.child.pid!, ...descendants(s.child.pid!)]
}

function rssBytes(pids: number[]): number {
  let kb = 0
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(safeRead(`/proc/${pid}/status`))
    if (m) kb += Number(m[1])
  }
  return kb * 1024
}


/** CPU seconds of the processes, user and system. */
function cpuSeconds(pids: number[]): number {
  const { user, system } = cpuSplit(pids)
  return user + system
}

/** CPU seconds of the processes' main threads (their event loops), user + system. */
function mainThreadCpuSeconds(pids: number[]): number {
  const { user, system } = cpuSplit(pids, (pid) => `/proc/${pid}/task/${pid}/stat`)
  return user + system
}

/** CPU seconds of the processes (every thread; `statOf` picks another file) in user and in system (kernel) mode. */
function cpuSplit(pids: number[], statOf = (pid: number) => `/proc/${pid}/stat`): { user: number; system: number } {
  const hz = 100
  let user = 0
  let system = 0
  for (const pid of pids) {
    const stat = safeRead(statOf(pid))
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    user += Number(fields[11] ?? 0)
    system += Number(fields[12] ?? 0)
  }
  return { user: user / hz, system: system / hz }
}

/**
 * System calls of the processes that write and read (`syscw`, `syscr` of /proc/<pid>/io: write,
 * writev, sendmsg... and read, recvmsg...): every socket write to a client or to Redis is one.
 */
function syscalls(pids: number[]): { writes: number; reads: number } {
  let writes = 0
  let reads = 0
  for (const pid of pids) {
    const io = safeRead(`/proc/${pid}/io`)
    writes += Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0)
    reads += Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0)
  }
  return { writes, reads }
}

/** The local mysqld/mariadbd processes, if any (for their CPU beside the BFF's). */
function mysqlServerPids(): number[] {
  try {
    return execFileSync('pgrep', ['-x', 'mariadbd|mysqld'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function redisCpuSeconds(): Promise<number> {
  const r = new Redis(REDIS_URL)
  try {
    const info = await r.info('cpu')
    const get = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0)
    return get('used_cpu_sys') + get('used_cpu_user')
  } finally {
    r.disconnect()
  }
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}
function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function tokens(ids: string[]): Promise<{ id: string; token: string }[]> {
  const key = new TextEncoder().encode(JWT_SECRET)
  const exp = Math.floor(Date.now() / 1000) + 3600
  return Promise.all(
    ids.map(async (id) => ({ id, token: await new SignJWT({ name: id }).setProtectedHeader({ alg: 'HS256' }).setSubject(id).setIssuer('chat-bff').setExpirationTime(exp).sign(key) })),
  )
}

async function devLogin(url: string, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map(async (user) => {
        const res = await fetch(`${url}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) })
        if (!res.ok) throw new Error(`dev-login ${user}: ${res.status} ${await res.text()}`)
      }),
    )
  }
}

async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
      cursor = next
      if (keys.length > 0) await r.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    r.disconnect()
  }
}

/** Users whose packed presence (store/redis-presence.ts: the `{pr:<b>}` bucket hashes) still counts a device. */
async function onlineUsers(prefix: string): Promise<number> {
  const r = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    let online = 0
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}{pr:*}`, 'COUNT', 5000)
      cursor = next
      for (const key of keys) {
        let field = '0'
        do {
          const [after, pairs] = await r.hscan(key, field, 'COUNT', 5000)
          field = after
          for (let i = 1; i < pairs.length; i += 2) if (!pairs[i]!.startsWith('0')) online++
        } while (field !== '0')
      }
    } while (cursor !== '0')
    return online
  } finally {
    r.disconnect()
  }
}

// ------------------------------------------------------------------ archive (issue 11)

/** How often the persister's backlog is looked at, ms. */
const LAG_SAMPLE_MS = 20

/**
 * The persister's lag seen from Redis while the load runs: every LAG_SAMPLE_MS, the age of the
 * oldest message in the server's `archive` stream (acked, not yet in MySQL: the persister XDELs
 * each batch once MySQL has it), 0 when the stream is empty. `stop` answers p50/p99/max of those
 * ages and how long the backlog took to drain after the load stopped.
 */
function archiveLag(prefix: string) {
  const r = new Redis(REDIS_URL)
  const stream = `${prefix}archive`
  const ages: number[] = []
  let running = true
  const sampling = (async () => {
    while (running) {
      const [first] = (await r.xrange(stream, '-', '+', 'COUNT', 1)) as [string, string[]][]
      ages.push(first ? Math.max(0, Date.now() - Number(first[0].slice(0, first[0].indexOf('-')))) : 0)
      await sleep(LAG_SAMPLE_MS)
    }
  })()
  return {
    async stop() {
      running = false
      await sampling
      const stopped = Date.now()
      let backlog = await r.xlen(stream)
      while (backlog > 0 && Date.now() - stopped < 60_000) {
        await sleep(LAG_SAMPLE_MS)
        backlog = await r.xlen(stream)
      }
      r.disconnect()
      const sorted = [...ages].sort((a, b) => a - b)
      const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
      return { p50Ms: at(50), p99Ms: at(99), maxMs: sorted.at(-1) ?? 0, samples: sorted.length, drainMs: Date.now() - stopped, backlogLeft: backlog }
    },
  }
}

/** What the persister's debug lines (`persister batches`, every 5 s) said over a measured span. */
interface BatchLine {
  batches: number
  messages: number
  writeMs: { p50: number; p99: number }
  ackMs: { p50: number; p99: number }
  lagMs: { p50: number; p99: number }
}

/**
 * The persister as its own process, pinned to PERSISTER_CORE, on the server's Redis prefix and
 * the archive `url`; resolves once it logged `persisting`.
 */
async function startPersister(server: Server, url: string): Promise<{ child: ChildProcess; lines: BatchLine[]; stop(): Promise<void> }> {
  const child = spawn('taskset', ['-c', PERSISTER_CORE, process.execPath, PERSISTER_MAIN], {
    env: { PATH: process.env.PATH ?? '', STORE: 'redis', REDIS_URL, REDIS_PREFIX: server.prefix, ARCHIVE_URL: url, JWT_SECRET, LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  started.add(child)
  const lines: BatchLine[] = []
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"msg":"persisting"')) resolve()
      else if (line.includes('"msg":"persister batches"')) lines.push(JSON.parse(line) as BatchLine)
      else if (/"level":(4|5|6)\d/.test(line)) process.stderr.write(`persister: ${line}\n`)
    })
    child.once('exit', (code) => reject(new Error(`persister exited ${code}`)))
  })
  return {
    child,
    lines,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(15_000)])
      child.kill('SIGKILL')
    },
  }
}

/** Rounds of the archive scenario (BENCH_ARCHIVE_ROUNDS): each runs the archive off and on. */
const ARCHIVE_ROUNDS = env('BENCH_ARCHIVE_ROUNDS', 2)
/** BENCH_ARCHIVE_INLINE (1): each round also runs the design before (persister inline, one batch at a time), 0 to skip. */
const ARCHIVE_INLINE = env('BENCH_ARCHIVE_INLINE', 1) !== 0

type One2One = Awaited<ReturnType<typeof one2one>>

/** Rounds summed: CPU over all messages received, latencies and lag p50 the mean of the rounds, the worst lag p99. */
function summed(runs: One2One[]) {
  const received = runs.reduce((n, r) => n + r.received, 0)
  const mean = (f: (r: One2One) => number) => runs.reduce((n, r) => n + f(r), 0) / runs.length
  const cpuS = runs.reduce((n, r) => n + r.serverCpuS, 0)
  const lags = runs.flatMap((r) => (r.persisterLag ? [r.persisterLag] : []))
  const persisters = runs.flatMap((r) => (r.persister ? [r.persister] : []))
  const batches = persisters.reduce((n, p) => n + p.batches, 0)
  return {
    sent: runs.reduce((n, r) => n + r.sent, 0),
    received,
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    cpuUsPerMessage: (cpuS / Math.max(1, received)) * 1e6,
    mysqlCpuUsPerMessage: runs.reduce((n, r) => n + r.mysqlCpuUsPerMessage * r.received, 0) / Math.max(1, received),
    redisCommandsPerMessage: runs.reduce((n, r) => n + r.redisCommandsPerMessage * r.received, 0) / Math.max(1, received),
    ...(lags.length > 0
      ? { persisterLag: { p50Ms: mean((r) => r.persisterLag?.p50Ms ?? 0), p99Ms: Math.max(...lags.map((l) => l.p99Ms)), maxMs: Math.max(...lags.map((l) => l.maxMs)), drainMs: Math.max(...lags.map((l) => l.drainMs)) } }
      : {}),
    ...(persisters.length > 0
      ? {
          persister: {
            cpuUsPerMessage: (persisters.reduce((n, p) => n + p.cpuS, 0) / Math.max(1, received)) * 1e6,
            batches,
            meanBatch: persisters.reduce((n, p) => n + p.meanBatch * p.batches, 0) / Math.max(1, batches),
            writeP99Ms: Math.max(...persisters.map((p) => p.writeP99Ms)),
            ackP99Ms: Math.max(...persisters.map((p) => p.ackP99Ms)),
          },
        }
      : {}),
  }
}

/**
 * 1:1 without and with the archive, in one run; with it, the persister process apart. The machine
 * is shared: rounds alternate the order (off, on, then on, off, ...) so a load that rises or
 * falls during the run weighs on both sides alike.
 */
async function archiveScenario(url: string) {
  const offs: One2One[] = []
  const ons: One2One[] = []
  const inlines: One2One[] = []
  const sides = ['off', 'on', ...(ARCHIVE_INLINE ? ['inline'] : [])]
  for (let round = 0; round < ARCHIVE_ROUNDS; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      if (side === 'off') offs.push(await one2one('bff', { ARCHIVE_URL: '' }, undefined, true))
      else if (side === 'on') ons.push(await one2one('bff', { ARCHIVE_URL: url, ARCHIVE_PERSISTER: 'none' }, url, true))
      // The design before: on the chat's event loop, one batch at a time.
      else inlines.push(await one2one('bff', { ARCHIVE_URL: url, ARCHIVE_PERSISTER: 'inline', ARCHIVE_WRITES_IN_FLIGHT: '1' }, undefined, true))
    }
  }
  const off = summed(offs)
  const on = summed(ons)
  const inline = inlines.length > 0 ? summed(inlines) : undefined
  const persisterUs = on.persister?.cpuUsPerMessage ?? 0
  return {
    rounds: { off: offs, on: ons, inline: inlines },
    off,
    on,
    ...(inline ? { inline, inlineCpuRatio: inline.cpuUsPerMessage / off.cpuUsPerMessage, inlineP99Ratio: inline.p99 / off.p99 } : {}),
    /** The BFF process alone: the chat's event loop. */
    cpuRatio: on.cpuUsPerMessage / off.cpuUsPerMessage,
    /** The BFF and the persister together: what the archive costs the machine, per message. */
    cpuRatioWithPersister: (on.cpuUsPerMessage + persisterUs) / off.cpuUsPerMessage,
    p99Ratio: on.p99 / off.p99,
  }
}

// ------------------------------------------------------------------ scenarios

async function idle(kind: 'bff' | 'base') {
  // One server process (BENCH_WORKERS_IDLE=1): its inspector too, for heap figures after a full GC
  // (RSS over several processes moves by more than a few thousand sockets hold).
  const inspect = IDLE_WORKERS === 1
  const server = await startServer(kind, IDLE_WORKERS, {}, inspect)
  const gens = await generators(Math.ceil(IDLE / PER_GENERATOR))
  try {
    await sleep(1000)
    const rssRaw = rssBytes(serverPids(server))
    const heapBefore = inspect ? await heapAfterGc(server) : undefined
    // With the inspector, RSS is read after each full GC (the storm's settled figure): read without
    // one, the garbage of 19,000 upgrades moved the BFF's figure between 2.8 and 4.7 KB per connection.
    const rssBefore = inspect ? rssBytes(serverPids(server)) : rssRaw
    const ids = Array.from({ length: IDLE }, (_, i) => `i${i}`)
    const peers = kind === 'bff' ? await tokens(ids) : ids.map((id) => ({ id }))
    const t0 = Date.now()
    const results = await Promise.all(gens.map((g, i) => g.call('connect', { url: server.url, mode: kind, peers: peers.slice(i * PER_GENERATOR, (i + 1) * PER_GENERATOR), concurrency: 400 })))
    const connectMs = Date.now() - t0
    const connected = results.reduce((s, r) => s + r.connected, 0)
    // Let two heartbeat rounds pass (30 s interval) before measuring.
    await sleep(65_000)
    const rssAfterRaw = rssBytes(serverPids(server))
    const heapConnected = inspect ? await heapAfterGc(server) : undefined
    const rssAfter = inspect ? rssBytes(serverPids(server)) : rssAfterRaw
    const alive = (await Promise.all(gens.map((g) => g.call('alive', undefined)))).reduce((s, r) => s + r.open, 0)
    const warnBefore = server.logs.warnOrWorse
    await Promise.all(gens.map((g) => g.call('closeAll', undefined)))
    // Mass disconnect (issue 15): every socket closed at once; time until Redis shows every user
    // offline, and the warnings logged meanwhile.
    const closedAt = Date.now()
    let online = -1
    if (kind === 'bff') {
      for (let i = 0; i < 600 && online !== 0; i++) {
        online = await onlineUsers(server.prefix)
        if (online !== 0) await sleep(250)
      }
    }
    const massClose = kind === 'bff' ? { offlineMs: Date.now() - closedAt, stillOnline: online, warnings: server.logs.warnOrWorse - warnBefore, bookkeepingFailed: server.logs.bookkeepingFailed } : undefined
    if (kind !== 'bff') await sleep(2000)
    // As the storm's: connected over the same sockets gone (the token verdicts cache warm in both), and over none.
    const heapClosed = heapBefore !== undefined && heapConnected !== undefined ? await heapAfterGc(server) : undefined
    const n = Math.max(1, connected)
    const heap =
      heapBefore !== undefined && heapConnected !== undefined && heapClosed !== undefined
        ? {
            heapBytesPerConnection: (heapConnected - heapClosed) / n,
            heapBytesPerConnectionWithCaches: (heapConnected - heapBefore) / n,
            /**
             * The resident figure less the heap that stays once every socket is closed (the bounded
             * caches these connections filled, compiled code): what the connections themselves hold,
             * as the heap figure counts it. The caches are bounded (token verdicts: 10,000), so at
             * 100,000 connections their share per connection is a fifth of this run's.
             */
            bytesPerConnectionOwn: (rssAfter - rssBefore - (heapClosed - heapBefore)) / n,
          }
        : undefined
    return { massClose, connected, alive, connectMs, rssBeforeMB: rssBefore / 2 ** 20, rssAfterMB: rssAfter / 2 ** 20, bytesPerConnection: (rssAfter - rssBefore) / n, rssAfterGc: inspect, rawBytesPerConnection: (rssAfterRaw - rssRaw) / n, ...heap, processes: serverPids(server).length }
  } finally {
    for (const g of gens) g.stop()
    await stopServer(server)
  }
}

/**
 * A fake WeChat for `secure`: stable_token, and msg_sec_check answering `pass` after `delayMs`. Its
 * own process, pinned to the load generators' core: in this process (unpinned) it took CPU from the
 * server's core whenever the scheduler put it there, and the server's latency with it.
 */
async function fakeWeChat(delayMs: number): Promise<{ url: string; checks: () => Promise<number>; close: () => void }> {
  const script = `
    let checks = 0
    const server = require('node:http').createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        if (req.url.startsWith('/count')) return void res.end(String(checks))
        if (req.url.startsWith('/cgi-bin/stable_token')) return void res.end(JSON.stringify({ access_token: 'BENCH', expires_in: 7200 }))
        checks++
        setTimeout(() => res.end(JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } })), ${delayMs})
      })
    })
    server.keepAliveTimeout = 60000
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
  const child = spawn('taskset', ['-c', LOAD_CORE, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  started.add(child)
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(Number(line)))
    child.once('exit', (code) => reject(new Error(`fake WeChat exited ${code}`)))
  })
  const url = `http://127.0.0.1:${port}`
  return { url, checks: async () => Number(await (await fetch(`${url}/count`)).text()), close: () => void child.kill() }
}

/**
 * `persisterUrl`: a persister process of its own on that archive, measured apart; `seed`: one send
 * per pair before the warm-up, a few at a time (archive scenario, both sides).
 */
async function one2one(kind: Kind, extraEnv: Record<string, string> = {}, persisterUrl?: string, seed = false, bffMain = BFF_MAIN) {
  // BENCH_PROFILE_DIR: the inspector on, for a CPU profile of the measured span (`profiled`).
  const server = await startServer(kind, 1, extraEnv, process.env.BENCH_PROFILE_DIR !== undefined, bffMain)
  const persister = persisterUrl ? await startPersister(server, persisterUrl) : undefined
  const [gen] = await generators(1)
  try {
    const pairsCount = 100
    const ids = Array.from({ length: pairsCount * 2 }, (_, i) => `p${i}`)
    if (kind === 'bff') await devLogin(server.url, ids)
    const peers = kind === 'bff' ? await tokens(ids) : ids.map((id) => ({ id }))
    const mode = modeOf(kind)
    await gen!.call('connect', { url: server.url, mode, peers })
    const pairs = Array.from({ length: pairsCount }, (_, i) => [ids[2 * i], ids[2 * i + 1]] as [string, string])
    // With an archive a pair's first send reads and writes MySQL (its relation, its conversation):
    // 5,000 of them at once queue on the pool, and on a loaded machine no send was acked within the
    // run (bench:bff archive, 2026-11-28). Made first at a bounded pace, on both sides alike: the
    // figures are of the steady state.
    if (seed && kind === 'bff') await gen!.call('seed', { pairs, window: 20 })
    // Warm up (JIT, conversation creation), then measure a steady rate.
    await gen!.call('rate', { mode, pairs, rate: RATE, durationMs: 2000 })
    const stats0 = await commandStats()
    // A checker process (WX_CHECKER=process) is measured apart from the BFF, on CHECKER_CORE.
    const all = serverPids(server)
    const checker = checkerPids(all)
    const pids = all.filter((p) => !checker.includes(p))
    if (checker.length > 0 && CHECKER_CORE !== 'server') for (const p of checker) execFileSync('taskset', ['-a', '-p', '-c', CHECKER_CORE, String(p)], { stdio: 'ignore' })
    const checkerCpu0 = cpuSeconds(checker)
    // Read before the server's CPU is: the scrape's own work stays out of the span's figures.
    const acks0 = kind === 'bff' ? await ackBuckets(server) : undefined
    const cpu0 = cpuSplit(pids)
    const sys0 = syscalls(pids)
    const persisterPids = persister ? [persister.child.pid!, ...descendants(persister.child.pid!)] : []
    const persisterCpu0 = cpuSeconds(persisterPids)
    const linesBefore = persister?.lines.length ?? 0
    const main0 = mainThreadCpuSeconds(pids)
    const redis0 = await redisCpuSeconds()
    // The MySQL/MariaDB server on this machine (shared with whatever else uses it meanwhile): with
    // the archive it takes CPU from the same two cores as the BFF, Redis and the generators.
    const mysqlPids = mysqlServerPids()
    const mysql0 = cpuSeconds(mysqlPids)
    // With an archive (this scenario's or BENCH_ARCHIVE_URL for every BFF), the persister's lag too.
    const lag = kind === 'bff' && (extraEnv.ARCHIVE_URL ?? process.env.BENCH_ARCHIVE_URL) ? archiveLag(server.prefix) : undefined
    const gen0 = cpuSeconds([gen!.child.pid!])
    const gc0 = { ...server.logs.gc }
    const pauses0 = server.logs.gcPauses.length
    const r = await profiled(server, 'one2one', () => gen!.call('rate', { mode, pairs, rate: RATE, durationMs: SECONDS * 1000 }))
    const cpu1 = cpuSplit(pids)
    const sys1 = syscalls(pids)
    const genCpu = cpuSeconds([gen!.child.pid!]) - gen0
    const serverAck = acks0 ? ackShares(acks0, await ackBuckets(server)) : undefined
    // The servers' resident memory at the end of the measured span (a node flag sizing the young generation shows here).
    const rssMB = rssBytes(pids) / 2 ** 20
    const persisterCpu = cpuSeconds(persisterPids) - persisterCpu0
    const checkerCpu = cpuSeconds(checker) - checkerCpu0
    const mainCpu = mainThreadCpuSeconds(pids) - main0
    const redisCpu = (await redisCpuSeconds()) - redis0
    const mysqlCpu = cpuSeconds(mysqlPids) - mysql0
    const persisterLag = await lag?.stop()
    const batchLines = persister?.lines.slice(linesBefore) ?? []
    const commands = diffStats(stats0, await commandStats())
    const user = cpu1.user - cpu0.user
    const system = cpu1.system - cpu0.system
    const perMessage = (s: number) => (s / Math.max(1, r.received)) * 1e6
    // The pauses of the span at their time into it (ms), beside the stalls' (`r.stalls.at`): whether the tail is the GC's.
    const pauses = server.logs.gcPauses.slice(pauses0).map((p) => [p.at - r.stalls.startedAt, p.kind, p.ms] as const)
    const gc = server.logs.gc.scavenges > gc0.scavenges ? { scavenges: server.logs.gc.scavenges - gc0.scavenges, markCompacts: server.logs.gc.markCompacts - gc0.markCompacts, pauseUsPerMessage: perMessage((server.logs.gc.pauseMs - gc0.pauseMs) / 1000), longestMs: Math.max(0, ...pauses.map((p) => p[2])), pauses: pauses.slice(0, 200) } : undefined
    let saturation: { perSecond: number; serverCpuShare: number; loadCoreShare: number; redisCpuShare: number; serverUsPerMessage: number; p99: number; window: number } | undefined
    if (SATURATE_MS > 0) {
      // The other core too (Redis and the generator share it): which of the two was the limit.
      const c0 = cpuSplit(pids)
      const g0 = cpuSeconds([gen!.child.pid!])
      const r0 = await redisCpuSeconds()
      const s = await gen!.call('saturate', { mode, pairs, window: SATURATE_WINDOW, durationMs: SATURATE_MS })
      const c1 = cpuSplit(pids)
      const redisS = (await redisCpuSeconds()) - r0
      const genS = cpuSeconds([gen!.child.pid!]) - g0
      const serverS = c1.user + c1.system - c0.user - c0.system
      saturation = {
        ...s,
        window: SATURATE_WINDOW,
        serverCpuShare: serverS / (s.ms / 1000),
        loadCoreShare: (redisS + genS) / (s.ms / 1000),
        redisCpuShare: redisS / (s.ms / 1000),
        serverUsPerMessage: (serverS / Math.max(1, s.delivered)) * 1e6,
      }
    }
    return {
      ...r,
      ...(saturation ? { saturation } : {}),
      rate: RATE,
      serverCpuS: user + system,
      rssMB,
      cpuUsPerMessage: perMessage(user + system),
      // The event loops alone: the rest is helper threads (libuv's pool, V8's GC, WeChat's HTTP threads).
      mainThreadUsPerMessage: perMessage(mainCpu),
      userUsPerMessage: perMessage(user),
      systemUsPerMessage: perMessage(system),
      // Socket writes and reads (to clients and Redis alike) per delivered message.
      writeCallsPerMessage: (sys1.writes - sys0.writes) / Math.max(1, r.received),
      readCallsPerMessage: (sys1.reads - sys0.reads) / Math.max(1, r.received),
      redisCpuUsPerMessage: perMessage(redisCpu),
      // The generator, on the other core with Redis: what it spends reading this server's frames (the BFF's acks besides its pushes).
      generatorCpuUsPerMessage: perMessage(genCpu),
      ...(serverAck ? { serverAck } : {}),
      mysqlCpuUsPerMessage: perMessage(mysqlCpu),
      redisCommandsPerMessage: commands.total / Math.max(1, r.received),
      redisCommands: commands.calls,
      ...(gc ? { gc } : {}),
      ...(persisterLag ? { persisterLag } : {}),
      ...(checker.length > 0 ? { checker: { cpuS: checkerCpu, cpuUsPerMessage: perMessage(checkerCpu), core: CHECKER_CORE === 'server' ? SERVER_CORE : CHECKER_CORE } } : {}),
      ...(persister
        ? {
            persister: {
              cpuS: persisterCpu,
              cpuUsPerMessage: perMessage(persisterCpu),
              // Its own account of the span (5 s lines, the worst of each figure).
              batches: batchLines.reduce((n, l) => n + l.batches, 0),
              meanBatch: batchLines.reduce((n, l) => n + l.messages, 0) / Math.max(1, batchLines.reduce((n, l) => n + l.batches, 0)),
              writeP99Ms: Math.max(0, ...batchLines.map((l) => l.writeMs.p99)),
              ackP99Ms: Math.max(0, ...batchLines.map((l) => l.ackMs.p99)),
              lines: batchLines,
            },
          }
        : {}),
    }
  } finally {
    gen!.stop()
    await persister?.stop()
    await stopServer(server)
  }
}

/** The BFF's ack latency histogram (`chat_ack_latency_seconds`: a send frame read to its ack written), cumulative counts by upper bound (s). */
async function ackBuckets(server: Server): Promise<Map<number, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text()
  const out = new Map<number, number>()
  for (const m of text.matchAll(/^chat_ack_latency_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]))
  return out
}

/**
 * The span's acks by the server's own clock, from two reads of that histogram: the share within
 * each bound (ms), and the bound the p50 and p99 fall under. Beside the generator's send-to-delivery
 * latency it tells the server's part of a tail from the rest (Redis and the generator, sharing the other core).
 */
function ackShares(before: Map<number, number>, after: Map<number, number>) {
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0)
  const within: Record<string, number> = {}
  let p50Ms = Infinity
  let p99Ms = Infinity
  for (const [le, n] of [...after].sort((a, b) => a[0] - b[0])) {
    const share = (n - (before.get(le) ?? 0)) / Math.max(1, total)
    if (le !== Infinity) within[String(le * 1000)] = share
    if (share >= 0.5 && p50Ms === Infinity) p50Ms = le * 1000
    if (share >= 0.99 && p99Ms === Infinity) p99Ms = le * 1000
  }
  return { acks: total, withinMs: within, p50AtMostMs: p50Ms, p99AtMostMs: p99Ms }
}

const GROUP_BLOCK = env('BENCH_GROUP_BLOCK', 20)
const GROUP_SETS = env('BENCH_GROUP_SETS', 4)

/** One server of the group scenario: connected, warmed, its rounds' times kept in the order run. */
interface GroupSide {
  readonly name: string
  readonly server: Server
  readonly gen: Generator
  readonly conv: string | undefined
  readonly ids: string[]
  readonly times: number[]
  /** Each round's time until its first member had it. */
  readonly firsts: number[]
  /** Redis's time running the commands of the measured rounds (INFO commandstats), µs. */
  redisUs: number
  incomplete: number
  frameBytes: number
}

/** A server of the group scenario, its members connected: the BFF's dev-logged in and in one group. */
async function groupSide(name: string, kind: 'bff' | 'base', gen: Generator, bffMain = BFF_MAIN): Promise<GroupSide> {
  const server = await startServer(kind, 1, {}, process.env.BENCH_PROFILE_DIR !== undefined, bffMain)
  const ids = Array.from({ length: GROUP }, (_, i) => `m${i}`)
  let conv: string | undefined
  if (kind === 'bff') {
    await devLogin(server.url, ids)
    conv = await createGroup(server.url, ids)
  }
  const peers = kind === 'bff' ? await tokens(ids) : ids.map((id) => ({ id }))
  await gen.call('connect', { url: server.url, mode: kind, peers, group: 'g' })
  return { name, server, gen, conv, ids, times: [], firsts: [], redisUs: 0, incomplete: 0, frameBytes: 0 }
}

async function groupRounds(side: GroupSide, rounds: number, frameBytes?: number) {
  const mode = side.server.kind === 'bff' ? 'bff' : 'base'
  const sized = frameBytes === undefined ? {} : { frameBytes }
  return side.gen.call('group', { mode, sender: side.ids[0]!, members: side.ids, conv: side.conv, rounds, gapMs: 5, ...sized })
}

/**
 * Group of GROUP (issue 15): one message to every member, time until the last member has it, the
 * BFF against the raw router broadcasting frames of the size the BFF delivered (and, with
 * BENCH_BFF_BEFORE, the previous build too). Every server is started and connected at once (each
 * with a generator of its own) and they take turns: GROUP_ROUNDS rounds each, in blocks of
 * GROUP_BLOCK (BENCH_GROUP_BLOCK, 20) whose order rotates, so that the load other processes put on
 * the machine during the run weighs on every side alike. Run one after the other (200 rounds
 * each, as before), two back-to-back runs on a loaded machine gave p99 ratios of 0.65x and 3.08x:
 * the p99 of 200 rounds is their second slowest, one stall of the machine. Figures: p50 / p99 of
 * all rounds of each side, and the rounds cut into GROUP_SETS (BENCH_GROUP_SETS, 4) consecutive
 * sets, each with its own p99 ratio, and their median; the p50 until the first member had it tells
 * the time before the fan-out (the store's round trip) from the fan-out's own; a BFF's Redis time
 * per message (INFO commandstats around its blocks: Redis shares the generators' core, so this is
 * time the generators' reading may wait for).
 */
async function groupScenario() {
  const kinds: Array<{ name: string; kind: 'bff' | 'base'; main?: string }> = [
    { name: 'bff', kind: 'bff' },
    ...(BFF_BEFORE ? [{ name: 'before', kind: 'bff' as const, main: BFF_BEFORE }] : []),
    { name: 'base', kind: 'base' },
  ]
  const gens = await generators(kinds.length)
  const sides: GroupSide[] = []
  try {
    for (const [i, k] of kinds.entries()) sides.push(await groupSide(k.name, k.kind, gens[i]!, k.main))
    // The BFFs first: the size of the BFF's delivered frame is what the raw router then broadcasts.
    for (const s of sides) {
      const warm = await groupRounds(s, 20, s.server.kind === 'base' ? sides[0]!.frameBytes : undefined)
      s.frameBytes = warm.frameBytes
    }
    const stops = await Promise.all(sides.map((s) => profileStart(s.server, `group-${s.name}`)))
    for (let done = 0, block = 0; done < GROUP_ROUNDS; done += GROUP_BLOCK, block++) {
      const n = Math.min(GROUP_BLOCK, GROUP_ROUNDS - done)
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(block + j) % sides.length]!
        const usec = s.server.kind === 'bff' ? await redisUsec() : 0
        const r = await groupRounds(s, n, s.server.kind === 'base' ? sides[0]!.frameBytes : undefined)
        if (s.server.kind === 'bff') s.redisUs += (await redisUsec()) - usec
        s.times.push(...r.times)
        s.firsts.push(...r.firsts)
        s.incomplete += r.incomplete
      }
    }
    for (const stop of stops) await stop()
  } finally {
    for (const g of gens) g.stop()
    for (const s of sides) await stopServer(s.server)
  }
  const base = sides.find((s) => s.name === 'base')!
  const figures = (s: GroupSide) => ({
    ...percentiles(s.times),
    firstP50: percentiles(s.firsts).p50,
    ...(s.server.kind === 'bff' ? { redisUsPerMessage: s.redisUs / Math.max(1, s.times.length + s.incomplete) } : {}),
    incomplete: s.incomplete,
    frameBytes: s.frameBytes,
  })
  const setsOf = (s: GroupSide) => {
    const size = Math.ceil(s.times.length / GROUP_SETS)
    return Array.from({ length: GROUP_SETS }, (_, i) => percentiles(s.times.slice(i * size, (i + 1) * size)))
  }
  const against = (s: GroupSide) => {
    const sets = setsOf(s).map((x, i) => ({ p50: x.p50, p99: x.p99, baseP50: setsOf(base)[i]!.p50, baseP99: setsOf(base)[i]!.p99, ratio: x.p99 / setsOf(base)[i]!.p99 }))
    const all = figures(s)
    const b = figures(base)
    return { ...all, ratio: all.p99 / b.p99, p50Ratio: all.p50 / b.p50, sets, medianSetRatio: median(sets.map((x) => x.ratio)) }
  }
  return {
    bff: against(sides[0]!),
    ...(BFF_BEFORE ? { before: { build: path.relative(repo, BFF_BEFORE), ...against(sides[1]!) } } : {}),
    baseline: figures(base),
  }
}

/** As loadgen's: the value at each rank of the sorted values. */
function percentiles(values: number[]) {
  const s = [...values].sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] ?? NaN }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** conv.create over a socket of the first member. */
async function createGroup(url: string, ids: string[]): Promise<string> {
  const [peer] = await tokens([ids[0]!])
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?v=${PROTOCOL_VERSION}&token=${peer!.token}`)
  return new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('message', (data) => {
      // ws's default binaryType: one Buffer.
      const f = JSON.parse((data as Buffer).toString()) as { type: string; rid?: string; code?: string; conv?: { id: string } }
      if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'conv.create', rid: 'g', kind: 'group', members: ids.slice(1), title: 'bench' }))
      else if (f.type === 'conv' && f.rid === 'g') {
        ws.close()
        resolve(f.conv!.id)
      } else if (f.type === 'error') reject(new Error(f.code ?? 'error'))
    })
  })
}

async function reconnect(kind: 'bff' | 'base') {
  const server = await startServer(kind, 1)
  const [gen] = await generators(1)
  try {
    const [sender, receiver] = ['rs', 'rr']
    if (kind === 'bff') await devLogin(server.url, [sender, receiver])
    const [s, r] = kind === 'bff' ? await tokens([sender, receiver]) : [{ id: sender }, { id: receiver }]
    await gen!.call('connect', { url: server.url, mode: kind, peers: [s] })
    await gen!.call('blast', { mode: kind, from: sender, to: receiver, count: QUEUED, window: 200 })
    if (kind === 'bff') {
      const redis = new Redis(REDIS_URL)
      for (let i = 0; i < 500 && (await redis.xlen(`${server.prefix}{u:${receiver}}:q`)) < QUEUED; i++) await sleep(20)
      redis.disconnect()
    } else await sleep(500)
    return await gen!.call('reconnect', { url: server.url, mode: kind, peer: r, conv: `d:${receiver}:${sender}`, expect: QUEUED })
  } finally {
    gen!.stop()
    await stopServer(server)
  }
}

/** INFO commandstats: calls per command (lower case), scripts' inner commands included. */
async function commandStats(): Promise<Record<string, number>> {
  const r = new Redis(REDIS_URL)
  try {
    const out: Record<string, number> = {}
    for (const m of (await r.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out[m[1]!] = Number(m[2])
    return out
  } finally {
    r.disconnect()
  }
}

/** INFO commandstats: Redis's time in every command so far (the bench's own INFO left out), µs. */
async function redisUsec(): Promise<number> {
  const r = new Redis(REDIS_URL)
  try {
    let usec = 0
    for (const m of (await r.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=\d+,usec=(\d+)/g)) if (m[1] !== 'info') usec += Number(m[2])
    return usec
  } finally {
    r.disconnect()
  }
}

/** Calls made between two commandstats readings, without the bench's own INFO. */
function diffStats(before: Record<string, number>, after: Record<string, number>): { total: number; calls: Record<string, number> } {
  const calls: Record<string, number> = {}
  let total = 0
  for (const [cmd, n] of Object.entries(after)) {
    if (cmd === 'info') continue
    const d = n - (before[cmd] ?? 0)
    if (d > 0) {
      calls[cmd] = d
      total += d
    }
  }
  return { total, calls }
}

const STORM = env('BENCH_STORM', 5000)
const STORM_CONVS = env('BENCH_STORM_CONVS', 20)
/**
 * BENCH_STORM_WARMUPS: storms before the measured one (3). After a single warm-up the BFF's measured
 * storm still took paths and shapes the warm-up had not (dozens of its hot functions deoptimized,
 * "insufficient type feedback" and "wrong map", and were compiled again: TurboFan's threads were 15%
 * of the process's CPU in that span, perf); from the third on a storm runs on settled code, as a
 * process that has served for a while does. With more than one, the second storm's figures are
 * kept too (`secondStorm`: the figure as measured up to M46), for every server alike, and every
 * warm-up's (`warmRuns`: time, CPU, lists same, refusals, Redis commands; the first is a new
 * process's, cold code and caches, and each user's first list).
 */
const STORM_WARMUPS = env('BENCH_STORM_WARMUPS', 3)
/** BENCH_STORM_TAGS=0: every storm's lists asked without a tag (as a client that keeps none). */
const STORM_TAGS = process.env.BENCH_STORM_TAGS !== '0'
/** BENCH_STORM_REPEATS: measured storms after the first, for the median CPU per reconnect (2). */
const STORM_REPEATS = env('BENCH_STORM_REPEATS', 2)
/**
 * BENCH_BFF_BEFORE: the path of another build of the BFF (e.g. an earlier commit bundled into
 * bff/dist/before/main.js, so its packages resolve from bff/node_modules): the storm and the 1:1
 * measurement (every repeat) run it too, in the same run as the current build, for before/after
 * figures under the same load; so does the group scenario, its rounds interleaved with the others'.
 */
const BFF_BEFORE = process.env.BENCH_BFF_BEFORE ? path.resolve(process.env.BENCH_BFF_BEFORE) : undefined

/**
 * Reconnect storm (issue 15), as the app does it: STORM users, each in STORM_CONVS 1:1
 * conversations (user i with i±1 .. i±STORM_CONVS/2, one message in each), all connected; then
 * every socket is cut at once and reopened at once, each sending `sync` with its cursors and
 * `convs`. Figures: time until all are back and synced, server CPU per disconnect + reconnect,
 * Redis commands per reconnect (INFO commandstats deltas), memory per connected user with its
 * conversations, and the process caches apart.
 *
 * Memory, three used-heap readings after a full GC (`heapAfterGc`): `cold` before any socket,
 * `connected` after the measured storm, `closed` once every socket is cut and every user shown
 * offline again (the presence grace over). The process caches the users filled (conversation
 * records, profiles, send checks, token verdicts, append keys; all bounded) are as warm at
 * `closed` as at `connected`, so `heapBytesPerUser` = (connected - closed) / STORM is what the
 * connected users themselves hold: sockets, connections, devices, rate buckets, sent seqs. What
 * stays after they are gone is not hidden: `leftAfterClose` = (closed - cold), split into what
 * the caches grew by (their retained bytes in heap snapshots at `cold`, of a fresh process of the
 * same build, and `closed`, each cache with its entries: `caches`) and the rest (`leftOtherBytesPerUser`: per-user state that outlives the socket would
 * show there). `heapBytesPerUserWithCaches` = (connected - cold) / STORM is the figure as first
 * measured. BENCH_HEAP_SNAPSHOT_DIR: the snapshots at `cold`, `connected` and `closed` are written there
 * (open them in DevTools' Memory tab), and the largest differences by constructor, per user, printed.
 */
async function stormScenario(list: ReadonlyArray<{ kind: Kind; main?: string }>) {
  const sides: StormSide[] = []
  try {
    for (const s of list) sides.push(await stormSide(s.kind, s.main ?? BFF_MAIN))
    for (const s of sides) await stormWarmUp(s)
    // The measured storms, in rounds whose order rotates (as the group scenario's blocks): the
    // server that storms second in a row took ~0.8x the CPU of the same build first (M47's A/A),
    // so a fixed order favoured whichever came last, the BFF against its baselines included.
    // Round 0 is profiled and counts Redis' commands; in later rounds a BFF also takes a storm
    // whose lists are all asked without a tag, right before its tagged one.
    for (let round = 0; round <= STORM_REPEATS; round++) {
      for (let j = 0; j < sides.length; j++) {
        const s = sides[(round + j) % sides.length]!
        if (round === 0) await stormFirst(s)
        else {
          if (s.kind === 'bff') s.afresh.push(await stormMeasure(s, false))
          const m = await stormMeasure(s, true)
          s.runs.push(m.cpuMs)
          s.times.push(m.ms)
        }
      }
    }
    const out: Array<Awaited<ReturnType<typeof stormFinish>>> = []
    for (const s of sides) out.push(await stormFinish(s))
    return out
  } finally {
    for (const s of sides) {
      s.gen.stop()
      await stopServer(s.server)
    }
  }
}

type StormSide = Awaited<ReturnType<typeof stormSide>>

/** One server of the storm scenario with its generator, its STORM users connected and their conversations seeded. */
async function stormSide(kind: Kind, bffMain: string) {
  const server = await startServer(kind, 1, {}, true, bffMain)
  const [gen] = await generators(1)
  const mode = modeOf(kind)
  try {
    const ids = Array.from({ length: STORM }, (_, i) => `s${i}`)
    const half = STORM_CONVS / 2
    const pairs: [string, string][] = []
    for (let i = 0; i < STORM; i++) for (let k = 1; k <= half; k++) pairs.push([ids[i]!, ids[(i + k) % STORM]!])
    const convOf = (a: string, b: string) => (a < b ? `d:${a}:${b}` : `d:${b}:${a}`)
    const cursors = ids.map((_, i) => Array.from({ length: STORM_CONVS }, (_, j) => {
      const k = j < half ? j + 1 : -(j - half + 1)
      return { conv: convOf(ids[i]!, ids[(i + k + STORM) % STORM]!), seq: 1 }
    }))
    if (kind === 'bff') await devLogin(server.url, ids)
    const peers = kind === 'bff' ? await tokens(ids) : ids.map((id) => ({ id }))
    await sleep(500)
    const pids = serverPids(server)
    const rssBefore = rssBytes(pids)
    const heapBefore = await heapAfterGc(server)
    const rssAfterGc = rssBytes(pids)
    const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR
    // The caches as constructed (lru-cache allocates its bookkeeping for `max` entries up front),
    // read from a fresh process of the same build: a heap snapshot of the measured one raised its
    // resident set from 105 to 287 MB (the snapshot's native memory, kept by the allocator), into
    // which the process's later native allocations went without raising it, so its resident figures
    // understated it (M55: 15-16 KB per user over that base, 23-25 over this one); the baselines
    // take no snapshot.
    const emptyCaches = kind === 'bff' ? await coldCaches(bffMain, snapshotDir) : undefined
    // The base of the resident figures (bytesPerUserSettled, bytesPerUserOwn): after that collection.
    const rssBase = rssBytes(pids)
    // Fewer at once than the BFF's MAX_UPGRADES_IN_FLIGHT (200): none refused while setting up.
    const setup = await gen!.call('connect', { url: server.url, mode, peers, concurrency: 100 })
    if (setup.failed > 0) throw new Error(`storm setup: ${setup.failed} of ${STORM} did not connect`)
    if (kind === 'bff') await gen!.call('seed', { pairs, window: 500 })
    return {
      kind,
      bffMain,
      server,
      gen: gen!,
      mode,
      peers,
      cursors,
      pids,
      rssBefore,
      rssAfterGc,
      rssBase,
      heapBefore,
      snapshotDir,
      emptyCaches,
      warm: undefined as { ms: number } | undefined,
      /** Every warm-up storm in order: CPU per reconnect, time until all were back, lists same by tag, refusals, Redis commands per reconnect. */
      warmRuns: [] as { cpuMs: number; ms: number; sameLists: number; refused: number; redisCommands: number }[],
      second: undefined as { cpuMs: number; ms: number } | undefined,
      first: undefined as { r: Awaited<ReturnType<Commands['storm']>>; cpuMs: number; redisCpu: number; commands: ReturnType<typeof diffStats>; calls: { writes: number; reads: number } } | undefined,
      /** CPU per reconnect (ms) and time until all were back (ms) of each tagged measured storm. */
      runs: [] as number[],
      times: [] as number[],
      afresh: [] as { cpuMs: number; ms: number; sameLists: number }[],
    }
  } catch (err) {
    gen!.stop()
    await stopServer(server)
    throw err
  }
}

/**
 * Warm-up storms (JIT, caches as after a first reconnect). The second storm is measured too (the
 * figure with one warm-up, as up to M46): see STORM_WARMUPS. They alternate lists asked afresh
 * and lists asked with their tag (PROTOCOL.md, Conversation list), so that both ways are settled
 * for the measured storms after them.
 */
async function stormWarmUp(s: StormSide) {
  for (let i = 0; i < STORM_WARMUPS; i++) {
    const at = cpuSeconds(s.pids)
    const stats0 = await commandStats()
    const r = await s.gen.call('storm', { url: s.server.url, mode: s.mode, peers: s.peers, cursors: s.cursors, tags: STORM_TAGS && i % 2 === 1 })
    s.warm = r
    await sleep(2000)
    const cpuMs = ((cpuSeconds(s.pids) - at) / STORM) * 1000
    const redisCommands = diffStats(stats0, await commandStats()).total / STORM
    s.warmRuns.push({ cpuMs, ms: r.ms, sameLists: r.sameLists, refused: r.refused, redisCommands })
    if (i === 1) s.second = { cpuMs, ms: r.ms }
  }
}

/** The first measured storm of a side: profiled (BENCH_PROFILE_DIR), its Redis commands and Redis CPU counted. */
async function stormFirst(s: StormSide) {
  const stats0 = await commandStats()
  const redis0 = await redisCpuSeconds()
  const m = await profiled(s.server, 'storm', () => stormMeasure(s, true))
  const redisCpu = (await redisCpuSeconds()) - redis0
  const commands = diffStats(stats0, await commandStats())
  s.first = { r: m.answer, cpuMs: m.cpuMs, redisCpu, commands, calls: m.calls }
  s.runs.push(m.cpuMs)
  s.times.push(m.ms)
}

/**
 * One measured storm of a side, its lists asked with their tag or all afresh. Disconnect bookkeeping
 * and presence can trail the last `sync.done`: the 2 s after it are counted too.
 */
async function stormMeasure(s: StormSide, tags: boolean) {
  const at = cpuSeconds(s.pids)
  const calls0 = syscalls(s.pids)
  const answer = await s.gen.call('storm', { url: s.server.url, mode: s.mode, peers: s.peers, cursors: s.cursors, tags: STORM_TAGS && tags })
  await sleep(2000)
  const calls1 = syscalls(s.pids)
  // Socket writes and reads per reconnect (to clients and Redis alike), the upgrade's included.
  const calls = { writes: (calls1.writes - calls0.writes) / STORM, reads: (calls1.reads - calls0.reads) / STORM }
  return { cpuMs: ((cpuSeconds(s.pids) - at) / STORM) * 1000, ms: answer.ms, sameLists: answer.sameLists, answer, calls }
}

/** A side's figures once its storms are over: CPU as the median of its measured storms, then memory, connected and with every socket closed. */
async function stormFinish(s: StormSide) {
  const { kind, server, pids, snapshotDir, emptyCaches } = s
  const { r, cpuMs, redisCpu, commands } = s.first!
  const { afresh, runs } = s
  const untagged = afresh.length > 0 ? { cpuMsPerReconnect: median(afresh.map((a) => a.cpuMs)), runs: afresh.map((a) => a.cpuMs), ms: median(afresh.map((a) => a.ms)), sameLists: Math.max(...afresh.map((a) => a.sameLists)) } : undefined
  const rssAfter = rssBytes(pids)
  const heapConnected = await heapAfterGc(server)
  const rssConnectedGc = rssBytes(pids)
  const memoryConnected = await memoryOf(server)
  const connectedSnapshot = snapshotDir ? await snapshotTo(server, snapshotDir, `storm-${kind}-connected`) : undefined
  await s.gen.call('closeAll', undefined)
  if (kind === 'bff') await allOffline(server.prefix)
  else await sleep(2000)
  const heapClosed = await heapAfterGc(server)
  const rssClosedGc = rssBytes(pids)
  const caches = kind === 'bff' ? await processCaches(server, snapshotDir, 'closed') : undefined
  if (connectedSnapshot && caches?.snapshot) printLargestDifferences(kind, connectedSnapshot, caches.snapshot)
  // What the caches grew by since they were empty: the fixed part was in `cold` already.
  const cachedBytes = (caches?.totalBytes ?? 0) - (emptyCaches?.totalBytes ?? 0)
  const cacheRows = caches ? Object.fromEntries(Object.entries(caches.caches).map(([name, c]) => {
    const empty = emptyCaches!.caches[name]!.bytes
    return [name, { instances: c.instances, entries: c.entries, bytes: c.bytes, emptyBytes: empty, bytesPerEntry: c.entries > 0 ? (c.bytes - empty) / c.entries : 0 }]
  })) : undefined
  console.log(`storm ${kind}${s.bffMain === BFF_MAIN ? '' : ` (${path.relative(repo, s.bffMain)})`}: ${STORM} back in ${r.ms.toFixed(0)} ms, CPU ${cpuMs.toFixed(3)} ms and ${(commands.total / STORM).toFixed(1)} Redis commands per reconnect`)
  return {
    ...r,
    warmMs: s.warm!.ms,
    warmRuns: s.warmRuns,
    warmups: STORM_WARMUPS,
    /** The storm after one warm-up (STORM_WARMUPS > 1): its CPU per reconnect and time until all were back. */
    ...(s.second ? { secondStorm: { cpuMsPerReconnect: s.second.cpuMs, ms: s.second.ms } } : {}),
    /** The same storm with every list asked without its tag (built and sent whole). */
    ...(untagged ? { untagged } : {}),
    conversationsPerUser: kind === 'bff' ? STORM_CONVS : 0,
    /** The median of the measured storms' (`cpuRuns`: the first, then STORM_REPEATS more, in rotating order with the other servers'). */
    cpuMsPerReconnect: median(runs),
    cpuRuns: runs,
    /** Time until all were back and synced in each tagged measured storm (`ms`: the first's). */
    msRuns: s.times,
    redisCpuMsPerReconnect: (redisCpu / STORM) * 1000,
    redisCommandsPerReconnect: commands.total / STORM,
    redisCommands: commands.calls,
    /** Write and read system calls per reconnect in the first measured storm (/proc/<pid>/io). */
    callsPerReconnect: s.first!.calls,
    /** Resident set right after the storms over the settled figure's base: the peak, the storms' garbage not collected yet. */
    bytesPerUser: (rssAfter - s.rssBase) / STORM,
    /** Resident set after a full GC with the users connected over the same before any socket (caches cold), per user. */
    bytesPerUserSettled: (rssConnectedGc - s.rssBase) / STORM,
    /**
     * The same less the heap that stays once every user is gone (`leftAfterClose`: the bounded
     * process caches these users filled, compiled code): what the connected users themselves hold,
     * their sockets' native memory included. The caches are bounded: at 100,000 users per node
     * their share is ~0.55 KB per user, not this run's.
     */
    bytesPerUserOwn: (rssConnectedGc - s.rssBase - (heapClosed - s.heapBefore)) / STORM,
    /**
     * Resident set after a full GC with the users connected over the same once they are all gone
     * (caches warm in both), per user: what their leaving gives back to the system. A floor of
     * what they hold (memory freed into the allocator and kept by it is not given back); the
     * figures over `rssBase` are a ceiling (they count what the storms' churn left the allocator
     * holding).
     */
    bytesPerUserReturned: (rssConnectedGc - rssClosedGc) / STORM,
    memoryConnected,
    rssMB: { cold: s.rssBefore / 2 ** 20, coldAfterGc: s.rssAfterGc / 2 ** 20, base: s.rssBase / 2 ** 20, afterStorms: rssAfter / 2 ** 20, connectedAfterGc: rssConnectedGc / 2 ** 20, closedAfterGc: rssClosedGc / 2 ** 20 },
    /** Used heap after a full GC, connected users over the same users gone, the process caches warm in both, per user. */
    heapBytesPerUser: (heapConnected - heapClosed) / STORM,
    /** Used heap after a full GC, connected users over none before any socket (process caches cold), per user. */
    heapBytesPerUserWithCaches: (heapConnected - s.heapBefore) / STORM,
    heap: { cold: s.heapBefore, connected: heapConnected, closed: heapClosed },
    /** What stays once the users are gone: what the process caches grew by (retained bytes) and the rest. */
    leftAfterClose: { bytes: heapClosed - s.heapBefore, cachesBytes: cachedBytes, otherBytesPerUser: (heapClosed - s.heapBefore - cachedBytes) / STORM },
    ...(cacheRows ? { caches: cacheRows } : {}),
  }
}

/** Wait until Redis shows no user of `prefix` online (every disconnect's bookkeeping and grace done), 60 s at most. */
async function allOffline(prefix: string): Promise<number> {
  let online = await onlineUsers(prefix)
  for (let i = 0; i < 240 && online !== 0; i++) {
    await sleep(250)
    online = await onlineUsers(prefix)
  }
  return online
}

/**
 * The process caches a storm fills, each found in a heap snapshot by the object holding it
 * (constructor name, property name); all bounded, each by its own maximum.
 */
const PROCESS_CACHES = [
  { name: 'token verdicts (auth/tokens.ts)', owner: /^Tokens\d*$/, prop: 'verified' },
  { name: 'conversation records (chat/service.ts)', owner: /^ChatService\d*$/, prop: 'convCache' },
  { name: 'member ids shared by the records (chat/service.ts)', owner: /^ChatService\d*$/, prop: 'userIds' },
  { name: 'profiles (chat/service.ts)', owner: /^ChatService\d*$/, prop: 'profileCache' },
  { name: 'send-check pairs (social/service.ts)', owner: /^Relations\d*$/, prop: 'sendPairs' },
  { name: 'append keys per conversation (store/redis.ts)', owner: /^RedisMessages\d*$/, prop: 'convKeys' },
  { name: 'summary keys per user (store/redis.ts)', owner: /^RedisMessages\d*$/, prop: 'summaryKeys' },
] as const

/** A full-GC heap snapshot of the server written to dir/name.heapsnapshot; parsed. */
async function snapshotTo(s: Server, dir: string, name: string) {
  const session = await inspectorSession(s)
  try {
    const json = await takeSnapshot(session)
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, `${name}-${Date.now().toString(36)}.heapsnapshot`), json)
    return parseSnapshot(json)
  } finally {
    session.close()
  }
}

/** The process caches of a fresh BFF process of build `main`, as constructed (stormSide: the measured process takes no snapshot before its users connect). */
async function coldCaches(main: string, snapshotDir: string | undefined) {
  const fresh = await startServer('bff', 1, {}, true, main)
  try {
    return await processCaches(fresh, snapshotDir, 'cold')
  } finally {
    await stopServer(fresh)
  }
}

/**
 * Each of PROCESS_CACHES: instances found, entries (its `size`, asked of the live object) and the
 * bytes it retains, typed arrays' backing stores included; `totalBytes` all of them together (the
 * same string held by two caches counts once).
 */
async function processCaches(s: Server, snapshotDir: string | undefined, label: 'cold' | 'closed') {
  const session = await inspectorSession(s)
  try {
    const json = await takeSnapshot(session)
    if (snapshotDir) {
      mkdirSync(snapshotDir, { recursive: true })
      writeFileSync(path.join(snapshotDir, `storm-${s.kind}-${label}-${Date.now().toString(36)}.heapsnapshot`), json)
    }
    const snapshot = parseSnapshot(json)
    const caches: Record<string, { instances: number; entries: number; bytes: number }> = {}
    const everyOne: number[] = []
    for (const c of PROCESS_CACHES) {
      const held = findHeld(snapshot, c.owner, c.prop)
      let entries = 0
      for (const n of held) {
        const found = (await session.call('HeapProfiler.getObjectByHeapObjectId', { objectId: String(heapId(snapshot, n)) })) as { result?: { objectId?: string } }
        const size = (await session.call('Runtime.callFunctionOn', { objectId: found.result?.objectId, functionDeclaration: 'function () { return this.size }', returnByValue: true })) as { result?: { value?: number } }
        entries += Number(size.result?.value ?? NaN)
      }
      const bytes = retainedSize(snapshot, held)
      caches[c.name] = { instances: held.length, entries, bytes }
      everyOne.push(...held)
    }
    return { caches, totalBytes: retainedSize(snapshot, everyOne), snapshot: snapshotDir ? snapshot : undefined }
  } finally {
    // A heap snapshot leaves V8 tracking every object a collection moves (for the snapshot's ids)
    // until the profiler is disabled: the storm measured after the `cold` one would pay for it in
    // every scavenge, the baselines (no snapshot) not.
    await session.call('HeapProfiler.disable').catch(() => undefined)
    session.close()
  }
}

/** The 15 largest differences by constructor between two snapshots, per storm user. */
function printLargestDifferences(kind: Kind, connected: ReturnType<typeof parseSnapshot>, closed: ReturnType<typeof parseSnapshot>): void {
  const after = byConstructor(connected)
  const before = byConstructor(closed)
  const rows = [...new Set([...after.keys(), ...before.keys()])].map((key) => {
    const a = after.get(key) ?? { count: 0, bytes: 0 }
    const b = before.get(key) ?? { count: 0, bytes: 0 }
    return { key, count: (a.count - b.count) / STORM, bytes: (a.bytes - b.bytes) / STORM }
  })
  rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes))
  console.log(`storm ${kind}: heap per connected user by constructor (connected - closed, / ${STORM})`)
  for (const r of rows.slice(0, 15)) console.log(`  ${r.bytes.toFixed(0).padStart(7)} B ${r.count.toFixed(2).padStart(7)} objects  ${r.key}`)
}

// ------------------------------------------------------------------ report

async function main() {
  if (OWN_REDIS) await startRedis()
  const redisNote = OWN_REDIS ? `Redis started by the run, pinned to core ${REDIS_CORE}` : `Redis at ${REDIS_URL}, unpinned`
  console.log(`bench:bff: ${redisNote}; ${ALLOCATOR_NOTE}`)
  const results: Record<string, unknown> = { when: new Date().toISOString(), machine: { cores: 2, note: `servers on core ${SERVER_CORE}, generators on core ${LOAD_CORE}; ${redisNote}; ${ALLOCATOR_NOTE}`, bffAllocator: JEMALLOC ? 'jemalloc' : 'glibc' } }
  const rows: [string, string, string, string, string][] = []
  const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
  /** System calls per message or reconnect as printed: writes / reads. */
  const callsText = (c: { writes: number; reads: number }): string => `${fmt(c.writes, 2)} / ${fmt(c.reads, 2)}`

  if (ONLY.has('idle')) {
    const base = await idle('base')
    const bff = await idle('bff')
    results.idle = { target: `${IDLE} connections, <= 1.2x the raw router's memory per connection (issue 15)`, bff, baseline: base, ratio: bff.bytesPerConnection / base.bytesPerConnection }
    rows.push([`idle connections (${IDLE}, heartbeats)${bff.rssAfterGc ? ', RSS after a full GC' : ''}`, `${bff.alive} alive, ${fmt(bff.bytesPerConnection / 1024, 2)} KB/conn`, `${base.alive} alive, ${fmt(base.bytesPerConnection / 1024, 2)} KB/conn`, fmt(bff.bytesPerConnection / base.bytesPerConnection, 2), '<= 1.2x'])
    if (bff.heapBytesPerConnection !== undefined && base.heapBytesPerConnection !== undefined) {
      rows.push([`idle RSS per connection after GC, less the heap left once closed`, `${fmt(bff.bytesPerConnectionOwn! / 1024, 2)} KB`, `${fmt(base.bytesPerConnectionOwn! / 1024, 2)} KB`, fmt(bff.bytesPerConnectionOwn! / base.bytesPerConnectionOwn!, 2), '<= 1.2x'])
      rows.push([`idle heap per connection after GC, one process`, `${fmt(bff.heapBytesPerConnection / 1024, 2)} KB (${fmt(bff.heapBytesPerConnectionWithCaches! / 1024, 2)} with caches)`, `${fmt(base.heapBytesPerConnection / 1024, 2)} KB (${fmt(base.heapBytesPerConnectionWithCaches! / 1024, 2)})`, fmt(bff.heapBytesPerConnection / base.heapBytesPerConnection, 2), '<= 1.2x'])
    }
    const mc = bff.massClose
    if (mc) rows.push([`${IDLE} sockets closed at once`, `all offline after ${fmt(mc.offlineMs / 1000, 1)} s (${mc.stillOnline} left), ${mc.bookkeepingFailed} bookkeeping failures, ${mc.warnings} warnings`, '', '', 'no error logs'])
    console.log('idle', JSON.stringify(results.idle))
  }
  if (ONLY.has('one2one')) {
    const base = await one2one('base')
    const relay = await one2one('relay')
    // BENCH_BFF_BEFORE: the previous build too, in the same run, right before this one.
    const before = BFF_BEFORE ? await one2one('bff', {}, undefined, false, BFF_BEFORE) : undefined
    const bff = await one2one('bff')
    results.one2one = {
      target: `1:1 at ${RATE}/s, Redis engine: CPU per delivered message <= 1.0x the relay; p99 <= the relay's and <= 10 ms`,
      bff,
      baseline: base,
      relay,
      cpuRatio: bff.cpuUsPerMessage / base.cpuUsPerMessage,
      cpuRatioRelay: bff.cpuUsPerMessage / relay.cpuUsPerMessage,
      ...(before ? { before: { build: path.relative(repo, BFF_BEFORE!), ...before, cpuRatioRelay: before.cpuUsPerMessage / relay.cpuUsPerMessage } } : {}),
    }
    if (before) {
      rows.push([
        `1:1 before (${path.relative(repo, BFF_BEFORE!)}): CPU / p99 / saturation`,
        `${fmt(before.cpuUsPerMessage)} us / ${fmt(before.p99, 2)} ms / ${fmt(before.saturation?.perSecond ?? 0, 0)}/s`,
        `relay ${fmt(relay.cpuUsPerMessage)} us`,
        fmt(before.cpuUsPerMessage / relay.cpuUsPerMessage, 2),
        'same run as below',
      ])
    }
    rows.push([`1:1 CPU per delivered msg (${RATE}/s)`, `${fmt(bff.cpuUsPerMessage)} us (+Redis ${fmt(bff.redisCpuUsPerMessage)} us)`, `raw ${fmt(base.cpuUsPerMessage)} us / relay ${fmt(relay.cpuUsPerMessage)} us (+Redis ${fmt(relay.redisCpuUsPerMessage)})`, `${fmt(bff.cpuUsPerMessage / base.cpuUsPerMessage, 2)} / ${fmt(bff.cpuUsPerMessage / relay.cpuUsPerMessage, 2)}`, '<= 1.0x relay'])
    rows.push([`1:1 Redis commands per msg`, fmt(bff.redisCommandsPerMessage, 2), `relay ${fmt(relay.redisCommandsPerMessage, 2)}`, fmt(bff.redisCommandsPerMessage / relay.redisCommandsPerMessage, 2), ''])
    const calls = (x: One2One) => callsText({ writes: x.writeCallsPerMessage, reads: x.readCallsPerMessage })
    rows.push([`1:1 write / read system calls per msg`, calls(bff) + (before ? ` (before ${calls(before)})` : ''), `raw ${calls(base)} / relay ${calls(relay)}`, fmt(bff.writeCallsPerMessage / relay.writeCallsPerMessage, 2), ''])
    if (bff.saturation && relay.saturation && base.saturation) {
      const sat = (x: { perSecond: number; serverCpuShare: number; loadCoreShare?: number; serverUsPerMessage?: number; p99: number }) =>
        `${fmt(x.perSecond, 0)}/s (server CPU ${fmt(x.serverCpuShare, 2)}, ${fmt(x.serverUsPerMessage ?? NaN, 1)} us/msg; Redis + generator core ${fmt(x.loadCoreShare ?? NaN, 2)}; p99 ${fmt(x.p99, 0)} ms)`
      rows.push([`1:1 saturation, ${SATURATE_WINDOW} under way per sender`, sat(bff.saturation), `raw ${sat(base.saturation)} / relay ${sat(relay.saturation)}`, `${fmt(bff.saturation.perSecond / base.saturation.perSecond, 2)} / ${fmt(bff.saturation.perSecond / relay.saturation.perSecond, 2)}`, '>= 1.0x relay'])
    }
    rows.push([`1:1 latency at ${RATE}/s p50/p99`, `${fmt(bff.p50, 2)} / ${fmt(bff.p99, 2)} ms (${bff.received}/${bff.sent})`, `raw ${fmt(base.p50, 2)} / ${fmt(base.p99, 2)} ms, relay ${fmt(relay.p50, 2)} / ${fmt(relay.p99, 2)} ms`, `${fmt(bff.p99 / base.p99, 2)} / ${fmt(bff.p99 / relay.p99, 2)}`, 'p99 <= relay, <= 10 ms'])
    if (bff.serverAck) {
      const w = bff.serverAck.withinMs
      rows.push([`1:1 acks by the BFF's clock (frame read to ack written)`, `p50 <= ${bff.serverAck.p50AtMostMs} ms, p99 <= ${bff.serverAck.p99AtMostMs} ms; within 2 / 5 / 10 ms: ${['2', '5', '10'].map((k) => fmt((w[k] ?? 0) * 100, 2) + '%').join(' / ')}`, '', '', 'the server\'s part of the p99'])
    }
    if (ONE2ONE_REPEAT > 1) {
      // The p99 target, repeated (issue 15): each run beside a relay run of its own, the first being the one above.
      // Each run's CPU and saturation too: one run's ratio says little on a shared machine.
      const runOf = (b: One2One, r: One2One, o?: One2One) => ({
        ...(o ? { beforeP99: o.p99, beforeCpuUs: o.cpuUsPerMessage, beforeCpuRatioRelay: o.cpuUsPerMessage / r.cpuUsPerMessage, beforeSaturation: o.saturation?.perSecond, beforeRedisUs: o.redisCpuUsPerMessage } : {}),
        bffP99: b.p99,
        relayP99: r.p99,
        bffP50: b.p50,
        relayP50: r.p50,
        bffCpuUs: b.cpuUsPerMessage,
        relayCpuUs: r.cpuUsPerMessage,
        bffWriteCalls: b.writeCallsPerMessage,
        relayWriteCalls: r.writeCallsPerMessage,
        ...(o ? { beforeWriteCalls: o.writeCallsPerMessage } : {}),
        // Redis' CPU per message (it shares the generators' core: what saturation runs into).
        bffRedisUs: b.redisCpuUsPerMessage,
        relayRedisUs: r.redisCpuUsPerMessage,
        cpuRatioRelay: b.cpuUsPerMessage / r.cpuUsPerMessage,
        ...(b.saturation && r.saturation
          ? {
              bffSaturation: b.saturation.perSecond,
              relaySaturation: r.saturation.perSecond,
              bffSaturationServerShare: b.saturation.serverCpuShare,
              relaySaturationServerShare: r.saturation.serverCpuShare,
              bffSaturationLoadCoreShare: b.saturation.loadCoreShare,
              relaySaturationLoadCoreShare: r.saturation.loadCoreShare,
              bffSaturationServerUs: b.saturation.serverUsPerMessage,
              relaySaturationServerUs: r.saturation.serverUsPerMessage,
            }
          : {}),
        loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      })
      const runs: Array<ReturnType<typeof runOf> & { order?: string }> = [{ ...runOf(bff, relay, before), order: 'relay first' }]
      // The order turned round every other repeat (relay, before, BFF; then BFF, before, relay): the
      // server measured later in a row tends to take less CPU (M47), which favoured the BFF.
      for (let i = 1; i < ONE2ONE_REPEAT; i++) {
        const turned = i % 2 === 1
        const r1 = turned ? undefined : await one2one('relay')
        const b1 = turned ? await one2one('bff') : undefined
        const o = BFF_BEFORE ? await one2one('bff', {}, undefined, false, BFF_BEFORE) : undefined
        const r = r1 ?? (await one2one('relay'))
        const b = b1 ?? (await one2one('bff'))
        runs.push({ ...runOf(b, r, o), order: turned ? 'bff first' : 'relay first' })
        console.log(`one2one run ${i + 1}/${ONE2ONE_REPEAT}: BFF p99 ${fmt(b.p99, 2)} ms, relay p99 ${fmt(r.p99, 2)} ms; CPU ${fmt(b.cpuUsPerMessage)} vs ${fmt(r.cpuUsPerMessage)} us` + (o ? `; before ${fmt(o.cpuUsPerMessage)} us, p99 ${fmt(o.p99, 2)} ms` : ''))
      }
      const within10 = runs.filter((r) => r.bffP99 <= 10).length
      const withinRelay = runs.filter((r) => r.bffP99 <= r.relayP99).length
      results.one2one = { ...(results.one2one as object), repeats: { runs, within10ms: within10, withinRelay } }
      rows.push([`1:1 p99 at ${RATE}/s, ${runs.length} runs`, runs.map((r) => fmt(r.bffP99, 1)).join(' / ') + ' ms', `relay ${runs.map((r) => fmt(r.relayP99, 1)).join(' / ')} ms`, `${within10}/${runs.length} <= 10 ms, ${withinRelay}/${runs.length} <= relay`, 'all runs'])
    }
    console.log('one2one', JSON.stringify(results.one2one))
  }
  if (ONLY.has('group')) {
    const g = await groupScenario()
    results.group = { target: `one message to ${GROUP} members: p99 until the last has it <= 1.1x the raw router broadcasting a frame of the same size`, ...g, ratio: g.bff.ratio, p50Ratio: g.bff.p50Ratio }
    const sets = (x: { sets: { ratio: number }[]; medianSetRatio: number }) => `sets ${x.sets.map((t) => fmt(t.ratio, 2)).join(' / ')}, median ${fmt(x.medianSetRatio, 2)}`
    for (const [name, x] of [['', g.bff], ...(g.before ? [[` before (${g.before.build})`, g.before] as const] : [])] as const) {
      rows.push([`group of ${GROUP}${name}: last member p50/p99 (${x.frameBytes} B frames)`, `${fmt(x.p50, 2)} / ${fmt(x.p99, 2)} ms, first ${fmt(x.firstP50, 2)}, Redis ${fmt(x.redisUsPerMessage ?? NaN, 0)} us/msg (${x.n} rounds, ${x.incomplete} incomplete)`, `${fmt(g.baseline.p50, 2)} / ${fmt(g.baseline.p99, 2)} ms, first ${fmt(g.baseline.firstP50, 2)} (${g.baseline.frameBytes} B)`, `${fmt(x.ratio, 2)} (p50 ${fmt(x.p50Ratio, 2)}; ${sets(x)})`, '<= 1.1x'])
    }
    console.log('group', JSON.stringify(results.group))
  }
  if (ONLY.has('reconnect')) {
    const base = await reconnect('base')
    const bff = await reconnect('bff')
    results.reconnect = { target: `${QUEUED} queued: all delivered in order once within 0.5 s`, bff, baseline: base }
    rows.push([`reconnect with ${QUEUED} queued`, `${fmt(bff.ms, 0)} ms, ${bff.unique}/${QUEUED} once, ${bff.inOrder ? 'in order' : 'OUT OF ORDER'}`, `${fmt(base.ms, 0)} ms, ${base.unique}/${QUEUED}`, fmt(bff.ms / base.ms, 2), '<= 500 ms'])
    console.log('reconnect', JSON.stringify(results.reconnect))
  }

  if (ONLY.has('storm')) {
    // Every server set up at once, their measured storms in rotating order (`stormScenario`).
    const storms = await stormScenario([{ kind: 'base' }, { kind: 'relay' }, ...(BFF_BEFORE ? [{ kind: 'bff' as const, main: BFF_BEFORE }] : []), { kind: 'bff' }])
    const [base, relay] = storms as [(typeof storms)[number], (typeof storms)[number]]
    const before = BFF_BEFORE ? storms[2] : undefined
    const bff = storms[storms.length - 1]!
    if (before) {
      rows.push([`storm before (${path.relative(repo, BFF_BEFORE!)}): CPU / Redis commands per reconnect`, `${fmt(before.cpuMsPerReconnect, 3)} ms / ${fmt(before.redisCommandsPerReconnect, 1)}`, `relay ${fmt(relay.cpuMsPerReconnect, 3)} ms / ${fmt(relay.redisCommandsPerReconnect, 1)}`, fmt(before.cpuMsPerReconnect / relay.cpuMsPerReconnect, 2), 'same run as below'])
      rows.push([`storm before: all back and synced`, `${fmt(before.ms, 0)} ms (${before.back}/${STORM})`, `relay ${fmt(relay.ms, 0)} ms`, fmt(before.ms / relay.ms, 2), ''])
    }
    results.storm = {
      ...(before ? { before: { build: path.relative(repo, BFF_BEFORE!), ...before, cpuRatioRelay: before.cpuMsPerReconnect / relay.cpuMsPerReconnect, timeRatioRelay: before.ms / relay.ms } } : {}),
      target: `${STORM} users in ${STORM_CONVS} conversations cut at once: Redis commands per reconnect independent of conversations, CPU per reconnect <= 2x the relay, all back and synced within 2x the relay's time; memory per user <= 8 KB`,
      bff,
      baseline: base,
      relay,
      cpuRatioRelay: bff.cpuMsPerReconnect / relay.cpuMsPerReconnect,
      timeRatioRelay: bff.ms / relay.ms,
    }
    rows.push([`storm ${STORM}: all back and synced`, `${fmt(bff.ms, 0)} ms (${bff.back}/${STORM}, ${bff.refused} refused)`, `raw ${fmt(base.ms, 0)} ms / relay ${fmt(relay.ms, 0)} ms`, `${fmt(bff.ms / base.ms, 2)} / ${fmt(bff.ms / relay.ms, 2)}`, '<= 2x relay'])
    rows.push([`storm: CPU per disconnect+reconnect (after ${STORM_WARMUPS} warm-ups, median of ${bff.cpuRuns.length})`, `${fmt(bff.cpuMsPerReconnect, 3)} ms (${bff.cpuRuns.map((x) => fmt(x, 3)).join(' / ')}; +Redis ${fmt(bff.redisCpuMsPerReconnect, 3)}; ${bff.sameLists}/${STORM} lists same by tag)`, `raw ${fmt(base.cpuMsPerReconnect, 3)} / relay ${fmt(relay.cpuMsPerReconnect, 3)} ms`, `${fmt(bff.cpuMsPerReconnect / base.cpuMsPerReconnect, 2)} / ${fmt(bff.cpuMsPerReconnect / relay.cpuMsPerReconnect, 2)}`, '<= 2x relay'])
    if (bff.untagged) {
      const u = bff.untagged
      rows.push([`storm: the same, every list asked without its tag`, `${fmt(u.cpuMsPerReconnect, 3)} ms (${u.runs.map((x) => fmt(x, 3)).join(' / ')}), back in ${fmt(u.ms, 0)} ms (${u.sameLists} same)`, `raw ${fmt(base.cpuMsPerReconnect, 3)} / relay ${fmt(relay.cpuMsPerReconnect, 3)} ms`, `${fmt(u.cpuMsPerReconnect / base.cpuMsPerReconnect, 2)} / ${fmt(u.cpuMsPerReconnect / relay.cpuMsPerReconnect, 2)}`, 'lists changed while away'])
    }
    if (bff.secondStorm && base.secondStorm && relay.secondStorm) {
      const [b2, r2, x2] = [bff.secondStorm, base.secondStorm, relay.secondStorm]
      rows.push([`storm: the same, second storm (one warm-up; its lists tagged)`, `${fmt(b2.cpuMsPerReconnect, 3)} ms, back in ${fmt(b2.ms, 0)} ms`, `raw ${fmt(r2.cpuMsPerReconnect, 3)} / relay ${fmt(x2.cpuMsPerReconnect, 3)} ms, relay back in ${fmt(x2.ms, 0)} ms`, `${fmt(b2.cpuMsPerReconnect / r2.cpuMsPerReconnect, 2)} / ${fmt(b2.cpuMsPerReconnect / x2.cpuMsPerReconnect, 2)}`, 'the figure up to M46'])
    }
    const warmText = (w: typeof bff.warmRuns) => w.map((x) => `${fmt(x.ms, 0)} ms`).join(' / ')
    rows.push([`storm: the warm-up storms, all back (first storm first)`, `${warmText(bff.warmRuns)} (CPU ${bff.warmRuns.map((x) => fmt(x.cpuMs, 3)).join(' / ')} ms; same lists ${bff.warmRuns.map((x) => x.sameLists).join(' / ')}; refused ${bff.warmRuns.map((x) => x.refused).join(' / ')}; Redis commands ${bff.warmRuns.map((x) => fmt(x.redisCommands, 1)).join(' / ')})`, `raw ${warmText(base.warmRuns)} / relay ${warmText(relay.warmRuns)}`, fmt(bff.warmRuns[0]!.ms / relay.warmRuns[0]!.ms, 2), 'cold code, as a new process'])
    rows.push([`storm: write / read system calls per reconnect`, callsText(bff.callsPerReconnect), `raw ${callsText(base.callsPerReconnect)} / relay ${callsText(relay.callsPerReconnect)}`, fmt(bff.callsPerReconnect.writes / relay.callsPerReconnect.writes, 2), ''])
    rows.push([`storm: Redis commands per reconnect`, fmt(bff.redisCommandsPerReconnect, 1), `relay ${fmt(relay.redisCommandsPerReconnect, 1)}`, fmt(bff.redisCommandsPerReconnect / relay.redisCommandsPerReconnect, 2), 'a handful'])
    rows.push([`heap per connected user after GC (${STORM_CONVS} convs), caches warm`, `${fmt(bff.heapBytesPerUser / 1024, 2)} KB`, `raw ${fmt(base.heapBytesPerUser / 1024, 2)} / relay ${fmt(relay.heapBytesPerUser / 1024, 2)} KB`, `${fmt(bff.heapBytesPerUser / base.heapBytesPerUser, 2)} / ${fmt(bff.heapBytesPerUser / relay.heapBytesPerUser, 2)}`, '<= 8 KB'])
    rows.push([`heap per connected user, process caches counted in`, `${fmt(bff.heapBytesPerUserWithCaches / 1024, 2)} KB`, `raw ${fmt(base.heapBytesPerUserWithCaches / 1024, 2)} / relay ${fmt(relay.heapBytesPerUserWithCaches / 1024, 2)} KB`, `${fmt(bff.heapBytesPerUserWithCaches / base.heapBytesPerUserWithCaches, 2)} / ${fmt(bff.heapBytesPerUserWithCaches / relay.heapBytesPerUserWithCaches, 2)}`, 'the figure as first measured'])
    const left = bff.leftAfterClose
    rows.push([`heap left once the ${STORM} users are gone`, `${fmt(left.bytes / 2 ** 20, 2)} MB: caches grew ${fmt(left.cachesBytes / 2 ** 20, 2)} MB, other ${fmt(left.otherBytesPerUser, 0)} B/user`, `raw ${fmt(base.leftAfterClose.otherBytesPerUser, 0)} / relay ${fmt(relay.leftAfterClose.otherBytesPerUser, 0)} B/user`, '', 'bounded caches'])
    for (const [name, c] of Object.entries(bff.caches ?? {})) rows.push([`  cache: ${name}`, `${c.entries} entries, ${fmt(c.bytes / 1024, 0)} KB (${fmt(c.emptyBytes / 1024, 0)} KB empty, ${fmt(c.bytesPerEntry, 0)} B/entry)`, '', '', ''])
    rows.push([`RSS per connected user after a full GC (${STORM_CONVS} convs)`, `${fmt(bff.bytesPerUserSettled / 1024, 2)} KB`, `raw ${fmt(base.bytesPerUserSettled / 1024, 2)} / relay ${fmt(relay.bytesPerUserSettled / 1024, 2)} KB`, `${fmt(bff.bytesPerUserSettled / base.bytesPerUserSettled, 2)} / ${fmt(bff.bytesPerUserSettled / relay.bytesPerUserSettled, 2)}`, '<= 8 KB'])
    rows.push([`RSS per connected user, less the heap left once they are gone`, `${fmt(bff.bytesPerUserOwn / 1024, 2)} KB (caches ${fmt(bff.leftAfterClose.cachesBytes / STORM / 1024, 2)} KB/user)`, `raw ${fmt(base.bytesPerUserOwn / 1024, 2)} / relay ${fmt(relay.bytesPerUserOwn / 1024, 2)} KB`, `${fmt(bff.bytesPerUserOwn / base.bytesPerUserOwn, 2)} / ${fmt(bff.bytesPerUserOwn / relay.bytesPerUserOwn, 2)}`, '<= 8 KB'])
    rows.push([`RSS given back once the users are gone (after a full GC)`, `${fmt(bff.bytesPerUserReturned / 1024, 2)} KB/user`, `raw ${fmt(base.bytesPerUserReturned / 1024, 2)} / relay ${fmt(relay.bytesPerUserReturned / 1024, 2)} KB`, `${fmt(bff.bytesPerUserReturned / base.bytesPerUserReturned, 2)} / ${fmt(bff.bytesPerUserReturned / relay.bytesPerUserReturned, 2)}`, 'a floor of what they hold'])
    rows.push([`RSS per connected user right after the storms (${STORM_CONVS} convs)`, `${fmt(bff.bytesPerUser / 1024, 2)} KB`, `raw ${fmt(base.bytesPerUser / 1024, 2)} / relay ${fmt(relay.bytesPerUser / 1024, 2)} KB`, `${fmt(bff.bytesPerUser / base.bytesPerUser, 2)} / ${fmt(bff.bytesPerUser / relay.bytesPerUser, 2)}`, 'peak: garbage not collected yet'])
    console.log('storm', JSON.stringify(results.storm))
  }

  if (ONLY.has('secure')) {
    const delayMs = env('BENCH_WX_DELAY_MS', 20)
    const fake = await fakeWeChat(delayMs)
    try {
      const wx = { WX_APPID: 'wxbench', WX_SECRET: 'bench', WX_API_BASE: fake.url, WX_TEXT_CHECKS_PER_MIN: '1000000', ...(process.env.BENCH_WX_BATCH_MS ? { WX_HTTP_BATCH_MS: process.env.BENCH_WX_BATCH_MS } : {}) }
      // process: the default (WX_CHECKER=process: the checks in a checker process, measured apart,
      // its HTTP pipelined unless BENCH_WX_CHECKER_PIPELINING=0); the checks on the BFF's process
      // (WX_CHECKER=inline): threads (WX_HTTP_THREADS=1), loop: the HTTP on the event loop (what
      // the threads take off it); pipelined: HTTP/1.1 pipelining on the event loop (wechat/pipeline.ts).
      const inline = { ...wx, WX_CHECKER: 'inline' }
      const pipelining = process.env.BENCH_WX_PIPELINING ?? '16'
      const inProcess = { ...wx, WX_HTTP_PIPELINING: process.env.BENCH_WX_CHECKER_PIPELINING ?? pipelining }
      const variants: Record<string, Record<string, string>> = {
        process: inProcess,
        // The checker process with one message a turn each way (WX_CHECKER_BATCH_MS=0), and the
        // build of BENCH_BFF_BEFORE with the checker process (its own defaults).
        turn: { ...inProcess, WX_CHECKER_BATCH_MS: '0' },
        // The checker process with the window of BENCH_CHECKER_BATCH_MS (a candidate default).
        ...(process.env.BENCH_CHECKER_BATCH_MS ? { window: { ...inProcess, WX_CHECKER_BATCH_MS: process.env.BENCH_CHECKER_BATCH_MS } } : {}),
        ...(BFF_BEFORE ? { before: inProcess } : {}),
        threads: inline,
        loop: { ...inline, WX_HTTP_THREADS: '0' },
        pipelined: { ...inline, WX_HTTP_PIPELINING: pipelining },
      }
      const names = (process.env.BENCH_SECURE_RUNS ?? 'process,threads,loop,pipelined').split(',').filter((n) => n in variants)
      type Run = Awaited<ReturnType<typeof one2one>>
      const rounds: Array<{ plain: Run } & Record<string, Run>> = []
      // BENCH_SECURE_ROUNDS (1): each round measures checks off, then each variant, so a ratio
      // compares runs a minute apart at most (the machine's other load moves).
      for (let round = 0; round < env('BENCH_SECURE_ROUNDS', 1); round++) {
        const r: { plain: Run } & Record<string, Run> = { plain: await one2one('bff') }
        for (const name of names) r[name] = await one2one('bff', variants[name], undefined, false, name === 'before' ? BFF_BEFORE : BFF_MAIN)
        rounds.push(r)
        const plain = r.plain
        for (const name of names) {
          const v = r[name]!
          rows.push([`1:1 CPU per msg, checks ${name} (${RATE}/s, round ${round + 1})`, `${fmt(v.cpuUsPerMessage)} us (loop ${fmt(v.mainThreadUsPerMessage)} us)`, `${fmt(plain.cpuUsPerMessage)} us (loop ${fmt(plain.mainThreadUsPerMessage)} us), checks off`, `${fmt(v.cpuUsPerMessage / plain.cpuUsPerMessage, 2)} (loop ${fmt(v.mainThreadUsPerMessage / plain.mainThreadUsPerMessage, 2)})`, '<= 1.1x'])
          if (v.gc && plain.gc) rows.push([`GC on the BFF, checks ${name} (BENCH_NODE_ARGS=--trace-gc)`, `${v.gc.scavenges} scavenges, ${v.gc.markCompacts} mark-compacts, ${fmt(v.gc.pauseUsPerMessage, 2)} us paused per msg`, `${plain.gc.scavenges} / ${plain.gc.markCompacts}, ${fmt(plain.gc.pauseUsPerMessage, 2)} us, checks off`, '', ''])
          if (v.checker) rows.push([`checker process CPU per msg, checks ${name}`, `${fmt(v.checker.cpuUsPerMessage)} us (core ${v.checker.core})`, '-', '-', 'apart from the BFF'])
          rows.push([`1:1 delivered, p50/p99, checks ${name}`, `${v.received}/${v.sent}, ${fmt(v.p50, 2)} / ${fmt(v.p99, 2)} ms`, `${plain.received}/${plain.sent}, ${fmt(plain.p50, 2)} / ${fmt(plain.p99, 2)} ms`, `${fmt(v.p50 / plain.p50, 2)} / ${fmt(v.p99 / plain.p99, 2)}`, `+${delayMs} ms expected`])
        }
      }
      const last = rounds[rounds.length - 1]!
      results.secure = {
        target: `1:1 at ${RATE}/s with msgSecCheck (fake answers in ${delayMs} ms): within 10% of the same BFF without`,
        plain: last.plain,
        ...(last.process ? { checkerProcess: last.process, checkerProcessCpuRatio: last.process.cpuUsPerMessage / last.plain.cpuUsPerMessage, checkerProcessCpuUsPerMessage: last.process.checker?.cpuUsPerMessage } : {}),
        ...(last.threads ? { secure: last.threads, cpuRatio: last.threads.cpuUsPerMessage / last.plain.cpuUsPerMessage, mainThreadRatio: last.threads.mainThreadUsPerMessage / last.plain.mainThreadUsPerMessage } : {}),
        ...(last.loop ? { onLoop: last.loop, onLoopCpuRatio: last.loop.cpuUsPerMessage / last.plain.cpuUsPerMessage } : {}),
        ...(last.pipelined ? { pipelined: last.pipelined, pipelinedCpuRatio: last.pipelined.cpuUsPerMessage / last.plain.cpuUsPerMessage } : {}),
        rounds,
        checks: await fake.checks(),
      }
      console.log('secure', JSON.stringify(results.secure))
    } finally {
      fake.close()
    }
  }

  if (ONLY.has('archive')) {
    const url = process.env.BENCH_ARCHIVE_URL
    if (!url) throw new Error('BENCH_ONLY=archive needs BENCH_ARCHIVE_URL (mysql://.../<an empty database>)')
    const a = await archiveScenario(url)
    const lag = a.on.persisterLag!
    results.archive = { target: `1:1 at ${RATE}/s with the archive (MySQL): CPU per message and p99 within 10% of the archive off; persister lag p99 <= 1 s`, ...a }
    const p = a.on.persister!
    rows.push([`1:1 BFF CPU per msg, archive on (${RATE}/s)`, `${fmt(a.on.cpuUsPerMessage)} us`, `${fmt(a.off.cpuUsPerMessage)} us (archive off)`, fmt(a.cpuRatio, 2), '<= 1.1x'])
    rows.push([`persister process CPU per msg`, `${fmt(p.cpuUsPerMessage)} us (core ${PERSISTER_CORE})`, '-', '-', ''])
    rows.push([`MySQL server CPU per msg (same cores)`, `${fmt(a.on.mysqlCpuUsPerMessage)} us`, `${fmt(a.off.mysqlCpuUsPerMessage)} us (archive off)`, '', ''])
    rows.push([`Redis commands per msg`, fmt(a.on.redisCommandsPerMessage, 2), `${fmt(a.off.redisCommandsPerMessage, 2)} (archive off)`, fmt(a.on.redisCommandsPerMessage / a.off.redisCommandsPerMessage, 2), ''])
    rows.push([`BFF + persister CPU per msg`, `${fmt(a.on.cpuUsPerMessage + p.cpuUsPerMessage)} us`, `${fmt(a.off.cpuUsPerMessage)} us (archive off)`, fmt(a.cpuRatioWithPersister, 2), ''])
    rows.push([`1:1 p50/p99, archive on`, `${fmt(a.on.p50, 2)} / ${fmt(a.on.p99, 2)} ms (${a.on.received}/${a.on.sent})`, `${fmt(a.off.p50, 2)} / ${fmt(a.off.p99, 2)} ms`, fmt(a.p99Ratio, 2), '<= 1.1x'])
    rows.push([`persister lag p50/p99/max`, `${lag.p50Ms} / ${lag.p99Ms} / ${lag.maxMs} ms, drained in ${lag.drainMs} ms`, '-', '-', 'p99 <= 1000 ms'])
    if (a.inline) {
      const il = a.inline
      rows.push([`before: persister inline, serial`, `CPU ${fmt(il.cpuUsPerMessage)} us, p99 ${fmt(il.p99, 2)} ms, lag p99 ${il.persisterLag?.p99Ms ?? '-'} ms`, `${fmt(a.off.cpuUsPerMessage)} us, p99 ${fmt(a.off.p99, 2)} ms (off)`, `${fmt(a.inlineCpuRatio ?? NaN, 2)} / ${fmt(a.inlineP99Ratio ?? NaN, 2)}`, ''])
    }
    rows.push([`persister batches`, `${p.batches}, mean ${fmt(p.meanBatch, 0)} msgs; write p99 ${p.writeP99Ms} ms, ack p99 ${p.ackP99Ms} ms`, '-', '-', ''])
    console.log('archive', JSON.stringify(results.archive))
  }

  const out = path.join(repo, 'bench/results/bff.json')
  mkdirSync(path.dirname(out), { recursive: true })
  // Scenarios not run this time (BENCH_ONLY) keep their last figures.
  let previous: Record<string, unknown> = {}
  try {
    previous = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>
  } catch {
    // first run: nothing to keep
  }
  writeFileSync(out, JSON.stringify({ ...previous, ...results }, null, 2) + '\n')
  const head: [string, string, string, string, string] = ['target', 'BFF', 'baseline (minimal ws router)', 'ratio', 'goal']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n${rows.map(line).join('\n')}\n\nwritten to ${path.relative(repo, out)}`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
