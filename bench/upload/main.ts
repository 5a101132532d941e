/**
 * `npm run bench:upload`: a 50 MB file uploaded in 1 MiB chunks through our uploader (client/upload,
 * on its Node platform) to the real BFF (startServer), against - in the same run, on the same file -
 * one single HTTP PUT of the same bytes to a minimal Node handler that writes them to disk.
 *
 * Each server runs in its own process pinned to CPU 1 (taskset), the clients in this process pinned
 * to CPU 0, so the two sides do not compete for one core and the figures compare like with like.
 * Rounds alternate (uploader, PUT, 1 MiB PUTs, uploader, ...) after warm-up rounds (`BENCH_WARMUP`,
 * default 3); the median of the rounds is reported. Target: the uploader reaches >= 0.7x the single
 * PUT's throughput.
 *
 * Roles (argv[2]): none = orchestrator; `bff` and `put` = the server processes.
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
import type { UploadStorage } from '../../client/upload/platform'

const FILE_BYTES = 50 * 1024 * 1024
const CHUNK_BYTES = 1024 * 1024
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/**
 * Unmeasured rounds of each row first (JIT, sockets, page cache of the source file). One round is
 * only 50 requests to the BFF: its request path still runs as baseline (unoptimised) code then,
 * as no long-running server does; three let V8 optimise it. The same for every row.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const TARGET_RATIO = 0.7
const CONV = directConvId('bench-a', 'bench-b')
const RESULTS = process.env.BENCH_RESULTS ?? path.resolve(process.cwd(), 'bench/results/upload.json')

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
    // `X-Offset`: a chunk of a file written in pieces (the chunked reference row); else a new file.
    const offset = req.headers['x-offset']
    const target =
      offset === undefined
        ? createWriteStream(path.join(dir, `put-${n++}`))
        : createWriteStream(path.join(dir, 'chunked'), { flags: offset === '0' ? 'w' : 'r+', start: Number(offset) })
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

function startRole(role: 'bff' | 'put', dir: string): Promise<Server> {
  const self = fileURLToPath(import.meta.url)
  // BENCH_NODE_ARGS: extra node flags for the server processes (e.g. `--cpu-prof` to profile them).
  const args = [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), self, role, dir]
  const child =
    hasTaskset && cpus > 1
      ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    let url: string | undefined
    const waiting: Array<(us: number) => void> = []
    child.stdout!.on('data', (b: Buffer) => {
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
                child.stdin!.write('cpu\n')
              }),
          })
        } else if (typeof msg.cpuUs === 'number') waiting.shift()?.(msg.cpuUs)
      }
    })
    child.on('exit', (code) => reject(new Error(`${role} server exited with ${code}`)))
  })
}

async function stopRole(s: Server): Promise<void> {
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.stdin!.end()
  await exited
}

function memoryStorage(): UploadStorage {
  const m = new Map<string, unknown>()
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v), remove: (k) => void m.delete(k) }
}

async function runUploader(bff: string, token: string, file: string, http: ReturnType<typeof nodeHttp>): Promise<number> {
  const source = await nodeFileSource(file)
  const upload = new TusUpload({
    endpoint: `${bff}/uploads`,
    source,
    // A fresh fingerprint per round: every round is a new upload, not a resume.
    fingerprint: `bench:${Math.random()}`,
    metadata: { conv: CONV, filename: 'bench.pdf' },
    http,
    storage: memoryStorage(),
    getToken: async () => token,
    chunkSize: CHUNK_BYTES,
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

/**
 * Reference row, not a target: the same file as sequential 1 MiB PUTs to the minimal handler, each
 * waiting for the previous answer. The ceiling any request-per-chunk protocol (tus included) can
 * reach here, against which the uploader's own overhead can be read.
 */
async function runChunkedPut(put: string, file: string, agent: http.Agent): Promise<number> {
  const source = await nodeFileSource(file)
  const t0 = process.hrtime.bigint()
  for (let offset = 0; offset < FILE_BYTES; offset += CHUNK_BYTES) {
    const body = Buffer.from(await source.read(offset, Math.min(offset + CHUNK_BYTES, FILE_BYTES)))
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${put}/file`, { method: 'PUT', agent, headers: { 'Content-Length': String(body.length), 'X-Offset': String(offset) } }, (res) => {
        res.resume()
        res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`PUT answered ${res.statusCode}`))))
      })
      req.on('error', reject)
      req.end(body)
    })
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  await source.close()
  return ms
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

async function orchestrate(): Promise<void> {
  // -a: every thread of this process (V8's workers exist already), not only the main one.
  if (hasTaskset && cpus > 1) execFileSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' })
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chat-bench-upload-'))
  const servers: Server[] = []
  try {
    const file = path.join(dir, 'bench.pdf')
    await writeBenchFile(file)
    await mkdir(path.join(dir, 'put'), { recursive: true })
    const [bff, put] = await Promise.all([startRole('bff', dir), startRole('put', path.join(dir, 'put'))])
    servers.push(bff, put)
    const login = await fetch(`${bff.url}/auth/dev-login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'bench-a' }),
    })
    const token = ((await login.json()) as AuthResponse).token
    const upHttp = nodeHttp({ maxSockets: 1 })
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

    // Warm-up (JIT, sockets, page cache of the source file), not counted.
    for (let i = 0; i < WARMUP; i++) {
      await runUploader(bff.url, token, file, upHttp)
      await runPut(put.url, file, agent)
      await runChunkedPut(put.url, file, agent)
      await clearStore(dir)
    }
    const up: number[] = []
    const single: number[] = []
    const chunked: number[] = []
    const upCpu: number[] = []
    const singleCpu: number[] = []
    const chunkedCpu: number[] = []
    const upClientCpu: number[] = []
    const singleClientCpu: number[] = []
    const chunkedClientCpu: number[] = []
    /** Runs one round; records the server's and this (the client's) process's CPU time, µs. */
    const measured = async (s: Server, cpu: number[], clientCpu: number[], run: () => Promise<number>): Promise<number> => {
      const before = await s.cpu()
      const client = process.cpuUsage()
      const ms = await run()
      const { user, system } = process.cpuUsage(client)
      clientCpu.push(user + system)
      cpu.push((await s.cpu()) - before)
      return ms
    }
    for (let i = 0; i < ROUNDS; i++) {
      up.push(await measured(bff, upCpu, upClientCpu, () => runUploader(bff.url, token, file, upHttp)))
      single.push(await measured(put, singleCpu, singleClientCpu, () => runPut(put.url, file, agent)))
      chunked.push(await measured(put, chunkedCpu, chunkedClientCpu, () => runChunkedPut(put.url, file, agent)))
      await clearStore(dir)
    }
    upHttp.close()
    agent.destroy()

    const upMBps = mbps(median(up))
    const putMBps = mbps(median(single))
    const ratio = upMBps / putMBps
    const result = {
      benchmark: 'upload',
      date: new Date().toISOString(),
      node: process.version,
      cpus,
      pinned: hasTaskset && cpus > 1 ? 'servers on CPU 1, clients on CPU 0' : 'not pinned',
      loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
      fileBytes: FILE_BYTES,
      chunkBytes: CHUNK_BYTES,
      rounds: ROUNDS,
      uploader: { label: 'our uploader, 1 MiB chunks (POST + X-HTTP-Method-Override: PATCH) -> BFF', ms: up.map(round1), medianMs: round1(median(up)), MBps: round1(upMBps) },
      baseline: { label: 'one PUT -> minimal Node handler writing to disk', ms: single.map(round1), medianMs: round1(median(single)), MBps: round1(putMBps) },
      reference: {
        label: 'sequential 1 MiB PUTs -> the same minimal handler (ceiling of any request-per-chunk protocol here; not a target)',
        ms: chunked.map(round1),
        medianMs: round1(median(chunked)),
        MBps: round1(mbps(median(chunked))),
        ratioToSinglePut: Math.round((mbps(median(chunked)) / putMBps) * 1000) / 1000,
      },
      // CPU the server process spent per MB: robust to other load on the machine, unlike wall time.
      serverCpuMsPerMB: {
        bff: msPerMB(upCpu),
        minimalPut: msPerMB(singleCpu),
        minimalChunkedPuts: msPerMB(chunkedCpu),
      },
      // The same for the client process (the whole process: reads of the file, HTTP, the uploader).
      clientCpuMsPerMB: {
        uploader: msPerMB(upClientCpu),
        singlePut: msPerMB(singleClientCpu),
        chunkedPuts: msPerMB(chunkedClientCpu),
      },
      ratio: Math.round(ratio * 1000) / 1000,
      target: TARGET_RATIO,
      meetsTarget: ratio >= TARGET_RATIO,
    }
    printTable(result)
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
  return Math.round((median(cpuUs) / 1000 / (FILE_BYTES / 1e6)) * 100) / 100
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}

interface Row {
  MBps: number
  medianMs: number
  ms: number[]
}

function printTable(r: {
  uploader: Row
  baseline: Row
  reference: Row & { ratioToSinglePut: number }
  ratio: number
  target: number
  meetsTarget: boolean
  pinned: string
  serverCpuMsPerMB: { bff: number; minimalPut: number; minimalChunkedPuts: number }
  clientCpuMsPerMB: { uploader: number; singlePut: number; chunkedPuts: number }
}): void {
  const rows = [
    ['', 'median ms', 'MB/s', 'rounds (ms)'],
    ['uploader -> BFF (1 MiB chunks)', String(r.uploader.medianMs), String(r.uploader.MBps), r.uploader.ms.join(' ')],
    ['single PUT -> minimal handler', String(r.baseline.medianMs), String(r.baseline.MBps), r.baseline.ms.join(' ')],
    ['(ref) 1 MiB PUTs -> minimal handler', String(r.reference.medianMs), String(r.reference.MBps), r.reference.ms.join(' ')],
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  console.log(`\nupload benchmark: ${FILE_BYTES / 1024 / 1024} MiB file (${r.pinned})`)
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  '))
  const cpu = r.serverCpuMsPerMB
  const ccpu = r.clientCpuMsPerMB
  console.log(`\nserver CPU per MB: BFF ${cpu.bff} ms, minimal handler ${cpu.minimalPut} ms (one PUT) / ${cpu.minimalChunkedPuts} ms (1 MiB PUTs)`)
  console.log(`client CPU per MB: uploader ${ccpu.uploader} ms, one PUT ${ccpu.singlePut} ms, 1 MiB PUTs ${ccpu.chunkedPuts} ms`)
  console.log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (on ${cpus} CPUs)`)
  console.log(`\nratio uploader / single PUT: ${r.ratio} (target >= ${r.target}: ${r.meetsTarget ? 'met' : 'NOT met'})`)
  console.log(`ratio 1 MiB PUTs / single PUT (ceiling of one request per chunk here): ${r.reference.ratioToSinglePut}`)
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
else await orchestrate()
