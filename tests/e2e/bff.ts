/** A real BFF for e2e tests: in-process (weapp harness) or the built CLI (h5, served with the app). */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServer } from '../../bff/src/app'
import { loadConfig } from '../../bff/src/config'
import { ROOT } from './build'

export interface TestBff {
  readonly url: string
  close(): Promise<void>
}

/** The memory engine on 127.0.0.1, port 0; `env` overrides (e.g. a higher rate limit for seeding). */
export async function startBff(env: Record<string, string> = {}): Promise<TestBff> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
  const server = await startServer(
    loadConfig({ PORT: '0', HOST: '127.0.0.1', DEV_LOGIN: '1', LOG_LEVEL: 'silent', UPLOAD_DIR: dir, DATA_DIR: dir, STATIC_DIR: path.join(dir, 'none'), ...env }),
  )
  return {
    url: server.url,
    async close() {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `node bff/dist/main.js` serving the h5 build, on a free port read from its "listening" log line. */
export async function startBffProcess(env: Record<string, string> = {}): Promise<TestBff & { child: ChildProcess }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
  const child = spawn(process.execPath, [path.join(ROOT, 'bff/dist/main.js')], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'development', PORT: '0', HOST: '127.0.0.1', DEV_LOGIN: '1', UPLOAD_DIR: dir, DATA_DIR: dir, STATIC_DIR: path.join(ROOT, 'dist/h5'), LOG_LEVEL: 'info', WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (!line.includes('"listening"')) continue
        try {
          const j = JSON.parse(line) as { msg?: string; port?: number }
          if (j.msg === 'listening' && typeof j.port === 'number') {
            child.stdout!.off('data', onData)
            child.stdout!.resume()
            resolve(j.port)
          }
        } catch {
          // a partial line
        }
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    child.once('exit', (code) => reject(new Error(`BFF exited (${code}) before listening:\n${out.slice(-2000)}`)))
  })
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
