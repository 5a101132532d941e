/**
 * A real BFF for e2e tests, started with the test kit's two starters (bff/test/support): in-process
 * (weapp harness) or the built CLI in a process of its own (h5, served with the app). Either way on
 * 127.0.0.1, port 0, the memory engine with dev login, uploads and data in a folder of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startTestServer } from '../../bff/test/support/server'
import { spawnBff, type BffProcess } from '../../bff/test/support/spawn'
import { ROOT } from './build'

export interface TestBff {
  readonly url: string
  close(): Promise<void>
}

/** What both starters set: a development BFF on 127.0.0.1 keeping its files in `dir`. */
function baseEnv(dir: string): Record<string, string> {
  return {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    DEV_LOGIN: '1',
    UPLOAD_DIR: dir,
    DATA_DIR: dir,
    // The memory engine's default archive: SQLite in DATA_DIR.
    ARCHIVE_URL: `sqlite:${path.join(dir, 'chat.sqlite')}`,
  }
}

/** In-process; `env` overrides (e.g. a higher rate limit for seeding). */
export async function startBff(env: Record<string, string> = {}): Promise<TestBff> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
  const server = await startTestServer({ ...baseEnv(dir), STATIC_DIR: path.join(dir, 'none'), ...env })
  return {
    url: server.url,
    async close() {
      await server.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** `node bff/dist/main.js` serving the h5 build (one worker), stopped with its process group. */
export async function startBffProcess(env: Record<string, string> = {}): Promise<TestBff & { process: BffProcess }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-e2e-'))
  try {
    const node = await spawnBff(
      { ...baseEnv(dir), STATIC_DIR: path.join(ROOT, 'dist/h5'), WORKERS: '1', ...env },
      { entry: path.join(ROOT, 'bff/dist/main.js'), cwd: ROOT },
    )
    return {
      process: node,
      url: node.url,
      async close() {
        await node.stop()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
