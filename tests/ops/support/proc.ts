/**
 * Small process and port helpers for the ops and docker suites.
 */
import { execFile } from 'node:child_process'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run a command to completion (no shell); never throws on a non-zero exit, only on a timeout. */
export function run(cmd: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && (err as { killed?: boolean }).killed) {
          reject(new Error(`${cmd} ${args.join(' ')}: timed out\n${stderr}`))
          return
        }
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0
        resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() })
      },
    )
  })
}

/** Like run, but a non-zero exit is an error carrying the output. */
export async function runOk(cmd: string, args: readonly string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const r = await run(cmd, args, options)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/**
 * Ports free right now on 127.0.0.1, for servers that cannot be told to use port 0 and report back
 * (containers, redis-server). All are held open together so the same one is never returned twice.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const s = createServer()
      s.once('error', reject)
      s.listen(0, '127.0.0.1', () => resolve(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

/** Poll until cond() is true or the deadline passes; the error names what was awaited. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<number> {
  const start = Date.now()
  for (;;) {
    let ok = false
    try {
      ok = await cond()
    } catch {
      ok = false
    }
    if (ok) return Date.now() - start
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/** HTTP status of a GET, or 0 when nothing answers. */
export async function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await res.arrayBuffer()
    return res.status
  } catch {
    return 0
  }
}

/** The value of a Prometheus gauge/counter without labels, from a /metrics text. */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)
  return m ? Number(m[1]) : undefined
}
