/**
 * Real BFF processes for tests that need several (routing between nodes, workers, SIGTERM), or the
 * built one serving the h5 app: the CLI entry (bundled once per test run, or a given build) started
 * with `node`, its port read from the `"msg":"listening"` log line.
 *
 * Each runs in a process group of its own (the primary and the workers it forks) that is guarded
 * (support/guard.ts): killed when the test process exits or is killed, so no BFF outlives a run,
 * however it ends. `stop()` ends the group; `kill()` signals the primary alone, as a crash does.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { bundleBff } from '../../bundle.mjs'
import { guard, release } from './guard'

const bffDir = path.resolve(__dirname, '../..')
let bundled: Promise<string> | undefined

/** Bundle src/main.ts like build.mjs does, into a folder of this run (npm deps stay external). */
export function bundle(): Promise<string> {
  bundled ??= (async () => {
    const outdir = path.join(bffDir, '.test-dist', String(process.pid))
    mkdirSync(outdir, { recursive: true })
    // The persister and the checker beside main.js: the BFF starts them from there (ARCHIVE_PERSISTER=process, WX_CHECKER=process).
    await bundleBff({ entryPoints: [path.join(bffDir, 'src/main.ts'), path.join(bffDir, 'src/persister.ts'), path.join(bffDir, 'src/checker.ts')], outdir })
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
  /** Signal the primary only (default SIGTERM). */
  kill(signal?: NodeJS.Signals): void
  /** SIGTERM to the whole process group, SIGKILL to what is left after `graceMs` (default 3000). */
  stop(graceMs?: number): Promise<void>
}

export interface SpawnOptions {
  /** The built entry to run (e.g. bff/dist/main.js); default this run's bundle of src/main.ts. */
  readonly entry?: string
  readonly cwd?: string
  /** Give up waiting for "listening" after this long, ms. Default 20,000. */
  readonly timeoutMs?: number
}

/** Start the CLI; resolves once it listens. A start that fails or times out kills what it spawned. */
export async function spawnBff(env: Record<string, string>, options: SpawnOptions | number = {}): Promise<BffProcess> {
  const { timeoutMs = 20_000, ...where } = typeof options === 'number' ? { timeoutMs: options } : options
  const p = await startBff(env, where)
  let timer: NodeJS.Timeout | undefined
  try {
    const port = await new Promise<number>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no "listening" within ${timeoutMs} ms: ${p.logs.join('\n')}`)), timeoutMs)
      p.onLine((line) => {
        if (line.includes('"msg":"listening"')) resolve((JSON.parse(line) as { port: number }).port)
      })
      void p.exited.then((code) => reject(new Error(`exited ${code} before listening: ${p.logs.join('\n')}`)))
    })
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      child: p.child,
      logs: p.logs,
      exited: p.exited,
      kill: (s = 'SIGTERM') => void p.child.kill(s),
      stop: (graceMs) => stopAll(p, graceMs),
    }
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
  const p = await startBff(env, {})
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

/** Several at once; if one fails to start, the others are stopped and the error thrown. */
export async function spawnBffs(count: number, env: Record<string, string>): Promise<BffProcess[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => spawnBff(env)))
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await Promise.all(started.map((n) => n.stop(0)))
    throw failed.reason
  }
  return started
}

interface Started {
  readonly child: ChildProcess
  readonly logs: string[]
  readonly exited: Promise<number | null>
  onLine(listener: (line: string) => void): void
}

async function startBff(env: Record<string, string>, where: Omit<SpawnOptions, 'timeoutMs'>): Promise<Started> {
  const main = where.entry ?? (await bundle())
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', STATIC_DIR: 'bff/test/support/static', ARCHIVE_URL: 'none', PRESENCE_OFFLINE_GRACE_MS: '0', ...env },
    cwd: where.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A group of its own: the primary and its workers are killed together (guard, stopAll).
    detached: true,
  })
  guard(child.pid, { group: true })
  const logs: string[] = []
  const listeners: ((line: string) => void)[] = []
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  for (const stream of [child.stdout, child.stderr]) {
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

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // the group is empty
  }
}

/**
 * Stop the process group (the primary and its workers): SIGTERM, then SIGKILL to what is left,
 * the group and, should one have left it, every pid that logged.
 */
async function stopAll(p: Started, graceMs = 3000): Promise<void> {
  const pgid = p.child.pid
  if (pgid === undefined) return
  const pids = [pgid, ...pidsOf(p.logs)]
  if (p.child.exitCode === null && p.child.signalCode === null) {
    signalGroup(pgid, 'SIGTERM')
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, graceMs).unref())])
  }
  signalGroup(pgid, 'SIGKILL')
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL')
  release(pgid)
}

/** Remove this run's bundle. */
export async function dropBundle(): Promise<void> {
  if (!bundled) return
  const main = await bundled
  const { rmSync } = await import('node:fs')
  rmSync(path.dirname(main), { recursive: true, force: true })
  bundled = undefined
}
