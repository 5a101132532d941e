/** Start real BFF servers in-process for tests: port 0, silent logs, memory or Redis engine. */
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { Redis } from 'ioredis'
import { loadConfig } from '../../src/config'
import type { Config } from '../../src/config'
import { startServer } from '../../src/app'
import type { RunningServer, ServerDeps } from '../../src/app'
import { connectUser, type TestClient } from './client'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Config for a test server: every variable may be overridden. */
export function testConfig(env: Record<string, string> = {}): Config {
  // An in-process server runs its persister inline: there is no built persister.js to start here
  // (the process topology is tested with real processes: tests/ops/archive-kill.test.ts).
  // Offline announced at the close unless a test asks for the grace (bff/test/offline-grace.test.ts).
  return loadConfig({ NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'silent', STATIC_DIR: 'bff/test/support/static', ARCHIVE_URL: 'none', ARCHIVE_PERSISTER: 'inline', PRESENCE_OFFLINE_GRACE_MS: '0', ...env })
}

export async function startTestServer(env: Record<string, string> = {}, deps: ServerDeps = {}): Promise<RunningServer> {
  return startServer(testConfig(env), deps)
}

/** A key prefix no other test uses. */
export function randomPrefix(): string {
  return `t${randomBytes(6).toString('hex')}:`
}

/** Delete every key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await r.del(...keys)
    } while (cursor !== '0')
  } finally {
    r.disconnect()
  }
}

/**
 * One BFF per describe block on `store`, with its own Redis prefix, and the clients a test opened
 * closed after it: registers the hooks and hands out what the tests use.
 */
export function useTestServer(store: 'memory' | 'redis', env: Record<string, string> = {}) {
  let server: RunningServer | undefined
  let prefix = ''
  const open: TestClient[] = []
  let n = 0
  beforeAll(async () => {
    prefix = randomPrefix()
    server = await startTestServer({ STORE: store, REDIS_PREFIX: prefix, ...env })
  })
  afterAll(async () => {
    await server?.close()
    if (store === 'redis') await dropPrefix(prefix)
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  return {
    get server(): RunningServer {
      if (!server) throw new Error('the test server is not started yet')
      return server
    },
    get prefix(): string {
      return prefix
    },
    /** A user id unique to the test. */
    uid: (name: string) => `${name}${++n}`,
    /** A connected user (closed after the test). */
    async connect(name: string) {
      const r = await connectUser(this.server.url, name)
      open.push(r.client)
      return r
    },
  }
}
