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

export async function spawnBff(env: Record<string, string>, timeoutMs = 20_000): Promise<BffProcess> {
  const main = await bundle()
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', STATIC_DIR: 'bff/test/support/static', ARCHIVE_URL: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: string[] = []
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" within ${timeoutMs} ms: ${logs.join('\n')}`)), timeoutMs)
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        logs.push(line)
        if (line.includes('"msg":"listening"')) {
          clearTimeout(timer)
          resolve(JSON.parse(line).port)
        }
      })
    }
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${logs.join('\n')}`)))
  })
  return { url: `http://127.0.0.1:${port}`, port, child, logs, exited, kill: (s = 'SIGTERM') => void child.kill(s) }
}

/** Remove this run's bundle. */
export async function dropBundle(): Promise<void> {
  if (!bundled) return
  const main = await bundled
  const { rmSync } = await import('node:fs')
  rmSync(path.dirname(main), { recursive: true, force: true })
  bundled = undefined
}
