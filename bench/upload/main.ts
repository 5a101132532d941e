// Over 400 lines on purpose: one benchmark, its baseline server and its report, run as one script.
/**
 * `npm run bench:upload`: a file uploaded through our uploader (client/upload, on its Node platform,
 * adaptive chunks) to the real BFF (startServer), against - in the same run, on the same file - one
 * HTTP PUT of the same bytes to a minimal Node handler that streams them to disk.
 *
 * Two parts:
 *  1. **Links** (the targets): both go through a shaping TCP proxy (link.ts) with a phone's round
 *     trip, bandwidth and jitter, profiles "4G" and "weak" (`BENCH_PROFILES`). Target: the uploader's
 *     goodput >= 0.85 of the single PUT's through the same proxy. Rounds alternate (`BENCH_LINK_ROUNDS`).
 *  2. **Loopback** (server cost): no proxy; the server processes' CPU time per MB, BFF against the
 *     minimal handler. Target: <= 2x. Wall times are printed too (on loopback they measure a
 *     request's fixed cost, which no phone sees; not a target). Warm-up rounds first (`BENCH_WARMUP`).
 *
 * Each server runs in its own process pinned to CPU 1 (taskset), the clients in this process pinned
 * to CPU 0, the proxies in their own process (unpinned: their timers must not wait for the client).
 *
 * Roles (argv[2]): none = orchestrator; `bff`, `put` and `links` = the helper processes.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { directConvId } from '@chat/shared'
import type { AuthResponse } from '@chat/shared'
import { startServer } from '../../bff/src/app'
import { loadConfig } from '../../bff/src/config'
import { createLogger } from '../../bff/src/log'
import { createMemoryEngine } from '../../bff/src/store/memory'
import { nodeFileSource, nodeHttp } from '../../client/upload/node'
import { TusUpload } from '../../client/upload/tus'
import type { UploadHttp, UploadStorage } from '../../client/upload/platform'
import { PROFILES, startShapingProxy } from './link'
import type { LinkProfile } from './link'

/** File size, MiB (`BENCH_FILE_MB`, default 20: the file). */
const FILE_BYTES = Number(process.env.BENCH_FILE_MB ?? 20) * 1024 * 1024
/** Loopback rounds, measured (`BENCH_ROUNDS`, default 5). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/**
 * Unmeasured loopback rounds of each row first (JIT, sockets, page cache of the source file): the
 * BFF's request path must run as optimised code, as in any server that has run for a while.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
/** Measured rounds per link profile (`BENCH_LINK_ROUNDS`, default 2; "weak" takes ~85 s per row and round). */
const LINK_ROUNDS = Number(process.env.BENCH_LINK_ROUNDS ?? 2)
/** Link profiles to run (`BENCH_PROFILES`, comma list of link.ts's PROFILES; default all). */
const PROFILE_NAMES = (process.env.BENCH_PROFILES ?? Object.keys(PROFILES).join(',')).split(',').map((x) => x.trim()).filter(Boolean)
const LINK_TARGET = 0.85
const CPU_TARGET = 2
const CONV = directConvId('bench-a', 'bench-b')
const RESULTS = process.env.BENCH_RESULTS ?? path.resolve(process.cwd(), 'bench/results/upload.json')
/** The scripts' TypeScript runner, which starts the helper processes from this file. */
const RUN_TS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/run-ts.mjs')

// ------------------------------------------------------------------ server roles

async function serveBff(dir: string): Promise<void> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: 'silent',
    DEV_LOGIN: '1',
    STATIC_DIR: path.join(dir, 'none'),
    UPLOAD_DIR: path.join(dir, 'store'),
    UPLOAD_SWEEP_INTERVAL_MS: '0',
  })
  const engine = createMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 })
  await engine.convs.create({ id: CONV, kind: 'direct', members: ['bench-a', 'bench-b'], createdAt: Date.now() })
  const server = await startServer(config, { engine, log: createLogger('silent') })
  announce(server.url)
  await untilStdinEnds()
  await server.close()
}

/** The baseline: the least a server can do with an upload - stream the body to a file. */
async function servePut(dir: string): Promise<void> {
  let n = 0
  const server = http.createServer((req, res) => {
    if (req.method !== 'PUT') return void res.writeHead(405).end()
    // One file per request, overwritten two requests later (the disk does not fill over the rounds).
    const target = createWriteStream(path.join(dir, `put-${n++ % 2}`))
    pipeline(req, target).then(
      () => res.writeHead(204).end(),
      () => res.writeHead(500).end(),
    )
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  announce(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  await untilStdinEnds()
  server.closeAllConnections()
  server.close()
}

/** The proxies: one per profile in front of each server, `targets` = JSON { bff, put } urls. */
async function serveLinks(targets: string): Promise<void> {
  const { bff, put } = JSON.parse(targets) as { bff: string; put: string }
  const proxies: Record<string, string> = {}
  const closers: Array<() => Promise<void>> = []
  for (const [name, profile] of Object.entries(PROFILES)) {
    for (const [role, url] of Object.entries({ bff, put })) {
      const u = new URL(url)
      const proxy = await startShapingProxy({ host: u.hostname, port: Number(u.port) }, profile)
      proxies[`${name}:${role}`] = proxy.url
      closers.push(() => proxy.close())
    }
  }
  announce(JSON.stringify(proxies))
  await untilStdinEnds()
  await Promise.all(closers.map((c) => c()))
}

function announce(url: string): void {
  process.stdout.write(`${JSON.stringify({ url })}\n`)
}

/** Serves `cpu` requests on stdin (answers this process's CPU time, µs) until stdin ends. */
function untilStdinEnds(): Promise<void> {
  return new Promise((resolve) => {
    let buf = ''
    process.stdin.on('data', (b: Buffer) => {
      buf += b.toString()
      while (buf.includes('\n')) {
        const line = buf.slice(0, buf.indexOf('\n'))
        buf = buf.slice(buf.indexOf('\n') + 1)
        if (line === 'cpu') {
          const { user, system } = process.cpuUsage()
          process.stdout.write(`${JSON.stringify({ cpuUs: user + system })}\n`)
        }
      }
    })
    process.stdin.on('end', resolve)
    process.stdin.on('close', resolve)
  })
}

// ------------------------------------------------------------------ orchestrator

interface Server {
  readonly url: string
  readonly child: ChildProcess
  /** CPU time the server process has used so far, µs. */
  cpu(): Promise<number>
}

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()
const cpus = os.availableParallelism()

function startRole(role: 'bff' | 'put' | 'links', arg: string, pinned = true): Promise<Server> {
  const self = fileURLToPath(import.meta.url)
  // BENCH_NODE_ARGS: extra node flags for the server processes (e.g. `--cpu-prof` to profile them).
  // The helper processes run this file through the scripts' TypeScript runner.
  const args = [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), RUN_TS, self, role, arg]
  const child =
    pinned && hasTaskset && cpus > 1
      ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    let url: string | undefined
    const waiting: Array<(us: number) => void> = []
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
      while (out.includes('\n')) {
        const line = out.slice(0, out.indexOf('\n'))
        out = out.slice(out.indexOf('\n') + 1)
        const msg = JSON.parse(line) as { url?: string; cpuUs?: number }
        if (msg.url && !url) {
          url = msg.url
          resolve({
            url,
            child,
            cpu: () =>
              new Promise<number>((r) => {
                waiting.push(r)
                child.stdin.write('cpu\n')
              }),
          })
        } else if (typeof msg.cpuUs === 'number') waiting.shift()?.(msg.cpuUs)
      }
    })
    child.on('exit', (code) => reject(new Error(`${role} process exited with ${code}`)))
  })
}

async function stopRole(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.stdin!.end()
  await exited
}

function memoryStorage(): UploadStorage {
  const m = new Map<string, unknown>()
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v), remove: (k) => void m.delete(k) }
}

/** Appends the uploader sent in one round (their sizes are chosen from the measured goodput). */
interface Appends {
  count: number
  bytes: number
}

function counting(inner: UploadHttp, appends: Appends): UploadHttp {
  return {
    send(req) {
      if (req.headers['X-HTTP-Method-Override'] === 'PATCH') {
        appends.count++
        appends.bytes += req.body?.byteLength ?? 0
      }
      return inner.send(req)
    },
  }
}

async function runUploader(bff: string, token: string, file: string, http: UploadHttp): Promise<number> {
  const source = await nodeFileSource(file)
  const upload = new TusUpload({
    endpoint: `${bff}/uploads`,
    source,
    // A fresh fingerprint per round: every round is a new upload, not a resume.
    fingerprint: `bench:${Math.random()}`,
    metadata: { conv: CONV, filename: 'bench.pdf' },
    http,
    storage: memoryStorage(),
    getToken: () => Promise.resolve(token),
  })
  const t0 = process.hrtime.bigint()
  const out = await upload.start()
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  await source.close()
  if (!out.done || out.file.size !== FILE_BYTES) throw new Error(`upload did not finish: ${JSON.stringify(out)}`)
  return ms
}

async function runPut(put: string, file: string, agent: http.Agent): Promise<number> {
  const t0 = process.hrtime.bigint()
  await new Promise<void>((resolve, reject) => {
    const req = http.request(`${put}/file`, { method: 'PUT', agent, headers: { 'Content-Length': String(FILE_BYTES), 'Content-Type': 'application/octet-stream' } }, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`PUT answered ${res.statusCode}`))))
    })
    req.on('error', reject)
    createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(req)
  })
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Keeps the disk from filling over the rounds: the stored copies are not needed. */
async function clearStore(dir: string): Promise<void> {
  await rm(path.join(dir, 'store', 'files'), { recursive: true, force: true })
  await mkdir(path.join(dir, 'store', 'files'), { recursive: true })
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const mbps = (ms: number): number => FILE_BYTES / 1e6 / (ms / 1000)

/** One row of the results: wall times, server and client CPU, over the rounds. */
interface Series {
  ms: number[]
  serverCpuUs: number[]
  clientCpuUs: number[]
}

const series = (): Series => ({ ms: [], serverCpuUs: [], clientCpuUs: [] })

/** Runs one round; records its wall time and the server's and this (the client's) process's CPU time. */
async function measured(s: Server, into: Series, run: () => Promise<number>): Promise<void> {
  const before = await s.cpu()
  const client = process.cpuUsage()
  into.ms.push(await run())
  const { user, system } = process.cpuUsage(client)
  into.clientCpuUs.push(user + system)
  into.serverCpuUs.push((await s.cpu()) - before)
}

function summary(label: string, s: Series): RowOut {
  return {
    label,
    ms: s.ms.map(round1),
    medianMs: round1(median(s.ms)),
    MBps: round2(mbps(median(s.ms))),
    serverCpuMsPerMB: msPerMB(s.serverCpuUs),
    clientCpuMsPerMB: msPerMB(s.clientCpuUs),
  }
}

async function orchestrate(): Promise<void> {
  // -a: every thread of this process (V8's workers exist already), not only the main one.
  if (hasTaskset && cpus > 1) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' })
  const profiles: LinkProfile[] = PROFILE_NAMES.map((n) => {
    const p = (PROFILES as Record<string, LinkProfile>)[n]
    if (!p) throw new Error(`BENCH_PROFILES: unknown profile "${n}" (known: ${Object.keys(PROFILES).join(', ')})`)
    return p
  })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chat-bench-upload-'))
  const servers: Server[] = []
  try {
    const file = path.join(dir, 'bench.pdf')
    await writeBenchFile(file)
    await mkdir(path.join(dir, 'put'), { recursive: true })
    const [bff, put] = await Promise.all([startRole('bff', dir), startRole('put', path.join(dir, 'put'))])
    servers.push(bff, put)
    const links = await startRole('links', JSON.stringify({ bff: bff.url, put: put.url }), false)
    servers.push(links)
    const proxies = JSON.parse(links.url) as Record<string, string>
    const login = await fetch(`${bff.url}/auth/dev-login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'bench-a' }),
    })
    const token = ((await login.json()) as AuthResponse).token
    const upHttp = nodeHttp({ maxSockets: 1 })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    const appends: Appends = { count: 0, bytes: 0 }
    const upCounted = counting(upHttp, appends)

    // ---- loopback: warm-up (JIT, sockets, page cache), then the server cost
    for (let i = 0; i < WARMUP; i++) {
      await runUploader(bff.url, token, file, upHttp)
      await runPut(put.url, file, agent)
      await clearStore(dir)
    }
    const loopUp = series()
    const loopPut = series()
    appends.count = 0
    appends.bytes = 0
    for (let i = 0; i < ROUNDS; i++) {
      await measured(bff, loopUp, () => runUploader(bff.url, token, file, upCounted))
      await measured(put, loopPut, () => runPut(put.url, file, agent))
      await clearStore(dir)
    }
    const loopAppends = appends.count / Math.max(ROUNDS, 1)
    const loopback = {
      uploader: { ...summary('uploader -> BFF, loopback', loopUp), appendsPerUpload: loopAppends },
      baseline: summary('one PUT -> minimal handler, loopback', loopPut),
      goodputRatio: round3(median(loopPut.ms) / median(loopUp.ms)),
      serverCpuRatio: round3(median(loopUp.serverCpuUs) / median(loopPut.serverCpuUs)),
      cpuTarget: CPU_TARGET,
    }

    // ---- links: through the shaping proxies
    const linkResults: LinkResult[] = []
    for (const profile of profiles) {
      const up = series()
      const single = series()
      appends.count = 0
      appends.bytes = 0
      const viaBff = proxies[`${profile.name}:bff`]!
      const viaPut = proxies[`${profile.name}:put`]!
      for (let i = 0; i < LINK_ROUNDS; i++) {
        await measured(bff, up, () => runUploader(viaBff, token, file, upCounted))
        await measured(put, single, () => runPut(viaPut, file, agent))
        await clearStore(dir)
      }
      const ratio = median(single.ms) / median(up.ms)
      linkResults.push({
        profile,
        uploader: { ...summary(`uploader -> ${profile.name} proxy -> BFF`, up), appendsPerUpload: appends.count / LINK_ROUNDS, meanChunkBytes: Math.round(appends.bytes / Math.max(appends.count, 1)) },
        baseline: summary(`one PUT -> ${profile.name} proxy -> minimal handler`, single),
        // What the link model itself delivers: the PUT's goodput against the nominal uplink.
        putShareOfUplink: round3((mbps(median(single.ms)) * 8e6) / profile.upBps),
        ratio: round3(ratio),
        target: LINK_TARGET,
        meetsTarget: ratio >= LINK_TARGET,
      })
    }
    upHttp.close()
    agent.destroy()

    const result = {
      benchmark: 'upload',
      date: new Date().toISOString(),
      node: process.version,
      cpus,
      pinned: hasTaskset && cpus > 1 ? 'servers on CPU 1, clients on CPU 0, proxies unpinned' : 'not pinned',
      loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
      fileBytes: FILE_BYTES,
      warmup: WARMUP,
      rounds: ROUNDS,
      linkRounds: LINK_ROUNDS,
      links: linkResults,
      loopback,
    }
    printResult(result)
    await mkdir(path.dirname(RESULTS), { recursive: true })
    await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`)
    console.log(`\nwritten to ${path.relative(process.cwd(), RESULTS)}`)
  } finally {
    await Promise.all(servers.map(stopRole))
    await rm(dir, { recursive: true, force: true })
  }
}

/** Median CPU time (µs per round) as ms per MB of the file. */
function msPerMB(cpuUs: number[]): number {
  return round2(median(cpuUs) / 1000 / (FILE_BYTES / 1e6))
}

const round1 = (x: number): number => Math.round(x * 10) / 10
const round2 = (x: number): number => Math.round(x * 100) / 100
const round3 = (x: number): number => Math.round(x * 1000) / 1000

/** One link profile's figures: the uploader and the one PUT through the same shaping proxy. */
interface LinkResult {
  profile: LinkProfile
  uploader: RowOut & { appendsPerUpload: number; meanChunkBytes: number }
  baseline: RowOut
  putShareOfUplink: number
  ratio: number
  target: number
  meetsTarget: boolean
}

interface RowOut {
  label: string
  medianMs: number
  MBps: number
  ms: number[]
  serverCpuMsPerMB: number
  clientCpuMsPerMB: number
}

function printResult(r: {
  pinned: string
  links: LinkResult[]
  loopback: { uploader: RowOut & { appendsPerUpload: number }; baseline: RowOut; goodputRatio: number; serverCpuRatio: number; cpuTarget: number }
}): void {
  const rows: string[][] = [['', 'median ms', 'MB/s', 'server CPU ms/MB', 'rounds (ms)']]
  const row = (x: RowOut): string[] => [x.label, String(x.medianMs), String(x.MBps), String(x.serverCpuMsPerMB), x.ms.join(' ')]
  for (const l of r.links) rows.push(row(l.uploader), row(l.baseline))
  rows.push(row(r.loopback.uploader), row(r.loopback.baseline))
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((x) => x[c]!.length)))
  console.log(`\nupload benchmark: ${FILE_BYTES / 1024 / 1024} MiB file (${r.pinned})`)
  for (const x of rows) console.log(x.map((cell, c) => cell.padEnd(widths[c]!)).join('  '))
  console.log('')
  for (const l of r.links) {
    const p = l.profile
    const up = l.uploader
    console.log(
      `${p.name} (RTT ${p.rttMs} ms, up ${p.upBps / 1e6} Mbit/s, jitter ${p.jitterMs} ms): uploader / one PUT = ${l.ratio} ` +
        `(target >= ${l.target}: ${l.meetsTarget ? 'met' : 'NOT met'}); ${up.appendsPerUpload} appends per upload, ` +
        `${(up.meanChunkBytes / 1024).toFixed(0)} KiB mean; the PUT used ${l.putShareOfUplink} of the nominal uplink`,
    )
  }
  const lb = r.loopback
  console.log(
    `loopback: server CPU per MB BFF ${lb.uploader.serverCpuMsPerMB} ms / minimal handler ${lb.baseline.serverCpuMsPerMB} ms = ${lb.serverCpuRatio} ` +
      `(target <= ${lb.cpuTarget}: ${lb.serverCpuRatio <= lb.cpuTarget ? 'met' : 'NOT met'}); goodput ratio ${lb.goodputRatio} (not a target); ` +
      `${lb.uploader.appendsPerUpload} appends per upload`,
  )
  console.log(`client CPU per MB on loopback: uploader ${lb.uploader.clientCpuMsPerMB} ms, one PUT ${lb.baseline.clientCpuMsPerMB} ms`)
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (on ${cpus} CPUs)`)
}

/** A PDF header (so the BFF's content check accepts it) and pseudo-random bytes. */
async function writeBenchFile(file: string): Promise<void> {
  const fh = await open(file, 'w')
  const block = Buffer.alloc(1024 * 1024)
  let x = 12345
  for (let written = 0; written < FILE_BYTES; written += block.length) {
    for (let i = 0; i < block.length; i += 4) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0
      block.writeUInt32LE(x, i)
    }
    if (written === 0) Buffer.from('%PDF-1.7\n').copy(block)
    await fh.write(block, 0, block.length)
  }
  await fh.close()
  if ((await stat(file)).size !== FILE_BYTES) throw new Error('bench file has the wrong size')
}

const [role, dir] = process.argv.slice(2)
if (role === 'bff') await serveBff(dir!)
else if (role === 'put') await servePut(dir!)
else if (role === 'links') await serveLinks(dir!)
else await orchestrate()
