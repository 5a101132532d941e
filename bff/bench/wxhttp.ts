/**
 * `node scripts/run-ts.mjs bff/bench/wxhttp.ts`: CPU a WeChat call costs this process with each
 * HTTP transport (http.ts on the event loop and on worker threads, pipeline.ts, and undici's `request`,
 * undici with pipelining and node:http for comparison), at a steady rate
 * against a fake answering msg_sec_check after BENCH_WX_DELAY_MS (20). The caller is pinned to
 * BENCH_SERVER_CORE (0), the fake to BENCH_LOAD_CORE (1), as bench:bff pins them; with
 * BENCH_UNPINNED=1 the caller is not pinned (its threads may use every core).
 * Prints, per transport: µs of CPU per call for the whole process and for its event loop alone
 * (the driver's own share is the first line, "no HTTP"), and the calls' p50/p99.
 *
 * Environment (all optional): BENCH_RATE (calls/s, 5000), BENCH_SECONDS (5), BENCH_THREADS (1),
 * BENCH_VARIANTS (name prefixes separated by |, e.g. 'no HTTP|dispatch, loop|pipeline').
 */
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { request } from 'undici'
import { WxHttpThreads, inThreadHttp, wxAgent } from '../src/wechat/http'
import type { WxHttp, WxHttpAnswer } from '../src/wechat/http'
import { PipelinedHttp } from '../src/wechat/pipeline'

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const RATE = env('BENCH_RATE', 5000)
const SECONDS = env('BENCH_SECONDS', 5)
const DELAY_MS = env('BENCH_WX_DELAY_MS', 20)
const THREADS = env('BENCH_THREADS', 1)
const SERVER_CORE = process.env.BENCH_SERVER_CORE ?? '0'
const LOAD_CORE = process.env.BENCH_LOAD_CORE ?? '1'

async function fake(): Promise<{ url: string; stop: () => void }> {
  const script = `
    const server = require('node:http').createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        setTimeout(() => res.end(JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } })), ${DELAY_MS})
      })
    })
    server.keepAliveTimeout = 60000
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`
  const child = spawn('taskset', ['-c', LOAD_CORE, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve(Number(line)))
    child.once('exit', (code) => reject(new Error(`fake exited ${code}`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => void child.kill() }
}

/** CPU seconds from a /proc stat file (utime + stime). */
function cpu(file: string): number {
  const stat = readFileSync(file, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

/** The transport before http.ts, for comparison: undici's `request` and `body.json()` (api.ts until then). */
function viaRequest(): WxHttp {
  const agent = wxAgent()
  return {
    post: async (url, body, timeoutMs) => {
      const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, dispatcher: agent })
      return { status: res.statusCode, text: JSON.stringify(await res.body.json()) }
    },
    close: () => agent.close(),
  }
}

/** node:http with a keep-alive Agent of as many sockets as undici's pool. */
function viaNodeHttp(): WxHttp {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 256 })
  return {
    post: (url, body, timeoutMs) =>
      new Promise<WxHttpAnswer>((resolve, reject) => {
        const req = httpRequest(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (c: string) => (text += c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
          res.on('error', reject)
        })
        req.on('timeout', () => req.destroy(new Error('timeout')))
        req.on('error', reject)
        req.end(body)
      }),
    close: async () => agent.destroy(),
  }
}

/** `seconds` of calls at RATE through `http`; resolves when every call is answered, with their latencies (ms). */
async function drive(http: WxHttp, url: string, seconds: number): Promise<number[]> {
  const n = Math.round(RATE * seconds)
  const t0 = performance.now()
  const calls: Array<Promise<unknown>> = []
  const latencies: number[] = []
  let failed = 0
  for (let i = 0; i < n; i++) {
    const wait = t0 + (i * 1000) / RATE - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    const body = JSON.stringify({ version: 2, openid: `p${i % 200}`, scene: 2, content: String(Date.now()) })
    const sent = performance.now()
    calls.push(
      http.post(`${url}/wxa/msg_sec_check?access_token=BENCH`, body, 5000).then(
        (a) => {
          latencies.push(performance.now() - sent)
          return JSON.parse(a.text) as unknown
        },
        () => failed++,
      ),
    )
  }
  await Promise.all(calls)
  if (failed) throw new Error(`${failed} calls failed`)
  return latencies
}

async function measure(name: string, http: WxHttp, url: string): Promise<void> {
  await drive(http, url, 1) // warm-up: JIT, connections, threads
  const p0 = cpu('/proc/self/stat')
  const m0 = cpu(`/proc/self/task/${process.pid}/stat`)
  const latencies = (await drive(http, url, SECONDS)).sort((a, b) => a - b)
  const n = latencies.length
  const at = (q: number) => latencies[Math.min(n - 1, Math.floor(q * n))]!.toFixed(1)
  const p = ((cpu('/proc/self/stat') - p0) / n) * 1e6
  const m = ((cpu(`/proc/self/task/${process.pid}/stat`) - m0) / n) * 1e6
  console.log(`${name.padEnd(24)} process ${p.toFixed(1).padStart(6)} us/call   event loop ${m.toFixed(1).padStart(6)} us/call   p50/p99 ${at(0.5)}/${at(0.99)} ms`)
  await http.close()
}

async function main(): Promise<void> {
  if (process.env.BENCH_UNPINNED !== '1') execFileSync('taskset', ['-a', '-p', '-c', SERVER_CORE, String(process.pid)], { stdio: 'ignore' })
  const f = await fake()
  try {
    console.log(`${RATE} calls/s for ${SECONDS} s, fake answering in ${DELAY_MS} ms${process.env.BENCH_UNPINNED === '1' ? ', caller unpinned' : `, caller on core ${SERVER_CORE}`}`)
    // Twice each, alternating: the machine's other load moves between runs.
    // The driver's own cost (timers, promises, JSON): a transport that answers at once, no HTTP.
    const answer = JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } })
    await measure('no HTTP (driver alone)', { post: () => Promise.resolve({ status: 200, text: answer }), close: async () => {} }, f.url)
    const variants: Array<[string, () => WxHttp]> = [
      ['request, loop', () => viaRequest()],
      ['node:http Agent, loop', () => viaNodeHttp()],
      ['dispatch, loop', () => inThreadHttp(wxAgent())],
      // undici pipelines a POST only marked idempotent (else one at a time a connection: 8 x 1 in flight).
      ['dispatch pipe 16x16, loop', () => inThreadHttp(wxAgent({ connections: 16, pipelining: 16 }), true)],
      ['pipeline 16, loop', () => new PipelinedHttp({ depth: 16 })],
      ['pipeline 64, loop', () => new PipelinedHttp({ depth: 64 })],
      [`dispatch, ${THREADS} thr`, () => new WxHttpThreads({ threads: THREADS })],
      [`dispatch, ${THREADS} thr 2 ms`, () => new WxHttpThreads({ threads: THREADS, batchMs: 2 })],
      [`pipe 16x16, ${THREADS} thr 2 ms`, () => new WxHttpThreads({ threads: THREADS, batchMs: 2, agent: { connections: 16, pipelining: 16 } })],
    ]
    // BENCH_VARIANTS: name prefixes to run, separated by | (default: all).
    const only = (process.env.BENCH_VARIANTS ?? '').split('|').filter(Boolean)
    for (let round = 0; round < 2; round++) {
      for (const [name, make] of variants) if (only.length === 0 || only.some((o) => name.startsWith(o))) await measure(name, make(), f.url)
    }
  } finally {
    f.stop()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
