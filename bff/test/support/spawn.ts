/**
 * Real BFF processes for tests that need several (routing between nodes, workers, SIGTERM):
 * the CLI entry bundled once per test run, started with `node`, its port read from the
 * `"msg":"listening"` log line.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { bundleBff } from '../../bundle.mjs'

const bffDir = path.resolve(__dirname, '../..')
let bundled: Promise<string> | undefined

/** Bundle src/main.ts like build.mjs does, into a folder of this run (npm deps stay external). */
export function bundle(): Promise<string> {
  bundled ??= (async () => {
    const outdir = path.join(bffDir, '.test-dist', String(process.pid))
    mkdirSync(outdir, { recursive: true })
    await bundleBff({ entryPoints: [path.join(bffDir, 'src/main.ts')], outdir })
    return path.join(outdir, 'main.js')
  })()
  return bundled
}

export interface BffProcess {
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** Log lines so far (JSON strings). */
  readonly logs: string[]
  readonly exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

/** Start the CLI; resolves once it listens. A start that fails or times out kills what it spawned. */
export async function spawnBff(env: Record<string, string>, timeoutMs = 20_000): Promise<BffProcess> {
  const p = await startBff(env)
  let timer: NodeJS.Timeout | undefined
  try {
    const port = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no "listening" within ${timeoutMs} ms: ${p.logs.join('\n')}`)), timeoutMs)
      p.onLine((line) => {
        if (line.includes('"msg":"listening"')) resolve(JSON.parse(line).port)
      })
      void p.exited.then((code) => reject(new Error(`exited ${code} before listening: ${p.logs.join('\n')}`)))
    })
    return { url: `http://127.0.0.1:${port}`, port, child: p.child, logs: p.logs, exited: p.exited, kill: (s = 'SIGTERM') => void p.child.kill(s) }
  } catch (err) {
    await stopAll(p)
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Run the CLI until it exits by itself (a start that must fail): its exit code and log lines. Past
 * `timeoutMs` it is killed and the promise rejects; either way nothing it spawned is left running.
 */
export async function runBffToExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; logs: string[]; pids: number[] }> {
  const p = await startBff(env)
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms: ${p.logs.slice(-20).join('\n')}`)), timeoutMs)
  })
  try {
    const code = await Promise.race([p.exited, timedOut])
    return { code, logs: p.logs, pids: pidsOf(p.logs) }
  } finally {
    clearTimeout(timer)
    await stopAll(p)
  }
}

interface Started {
  readonly child: ChildProcess
  readonly logs: string[]
  readonly exited: Promise<number | null>
  onLine(listener: (line: string) => void): void
}

async function startBff(env: Record<string, string>): Promise<Started> {
  const main = await bundle()
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', STATIC_DIR: 'bff/test/support/static', ARCHIVE_URL: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: string[] = []
  const listeners: ((line: string) => void)[] = []
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      logs.push(line)
      for (const l of listeners) l(line)
    })
  }
  return { child, logs, exited, onLine: (l) => void listeners.push(l) }
}

/** Every pid that wrote or was named in a log line (the primary and its workers). */
export function pidsOf(logs: readonly string[]): number[] {
  const pids = new Set<number>()
  for (const line of logs) {
    try {
      const { pid, worker } = JSON.parse(line) as { pid?: unknown; worker?: unknown }
      if (typeof pid === 'number') pids.add(pid)
      if (typeof worker === 'number') pids.add(worker)
    } catch {
      // not a log line
    }
  }
  return [...pids]
}

/** Whether a process is still running. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stop the process and every worker that logged, by pid: SIGTERM, then SIGKILL what is left. */
async function stopAll(p: Started): Promise<void> {
  const pids = [p.child.pid, ...pidsOf(p.logs)].filter((x): x is number => x !== undefined)
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGTERM')
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000).unref())])
  }
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
}

/** Remove this run's bundle. */
export async function dropBundle(): Promise<void> {
  if (!bundled) return
  const main = await bundled
  const { rmSync } = await import('node:fs')
  rmSync(path.dirname(main), { recursive: true, force: true })
  bundled = undefined
}
