/**
 * Starting against the archive (real processes): MySQL away at start is waited for up to
 * ARCHIVE_CONNECT_TIMEOUT_MS, then the process exits non-zero saying why; a MySQL that comes up
 * within the wait is used; a schema newer than the code is refused at once.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { sql } from 'kysely'
import { openArchive } from '../../src/archive/archive'
import { createTestDatabase } from '../support/mysql'
import { bundle, dropBundle, spawnBff } from '../support/spawn'
import { TcpProxy } from '../support/tcp-proxy'

/** A pino line, the fields read here. */
interface LogLine {
  level: number
  msg: string
}

afterAll(() => dropBundle())

/** Run the BFF until it exits; its exit code and log lines. */
async function runToExit(env: Record<string, string>): Promise<{ code: number | null; logs: string[] }> {
  const child = spawn(process.execPath, [await bundle()], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info', STATIC_DIR: 'bff/test/support/static', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: string[] = []
  for (const s of [child.stdout, child.stderr]) createInterface({ input: s }).on('line', (l) => logs.push(l))
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, logs }
}

describe('BFF start with an archive', () => {
  it('exits 1 naming the cause when MySQL is not reachable within ARCHIVE_CONNECT_TIMEOUT_MS', async () => {
    const proxy = new TcpProxy('127.0.0.1', 3306)
    await proxy.start()
    await proxy.cut() // a port that refuses connections
    const started = Date.now()
    const { code, logs } = await runToExit({ STORE: 'memory', ARCHIVE_URL: `mysql://root@127.0.0.1:${proxy.port}/chat`, ARCHIVE_CONNECT_TIMEOUT_MS: '1500' })
    expect(code).toBe(1)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    const fatal = logs.map((l) => JSON.parse(l) as LogLine).find((l) => l.level === 60)
    expect(fatal?.msg).toMatch(/^start failed: archive not reachable within 1500 ms: .*ECONNREFUSED/)
    expect(logs.some((l) => l.includes('"listening"'))).toBe(false)
  })

  it('waits for a MySQL that comes up during the wait, migrates it, and serves', async () => {
    const db = await createTestDatabase()
    const proxy = new TcpProxy('127.0.0.1', 3306)
    await proxy.start()
    await proxy.cut()
    try {
      const starting = spawnBff({ STORE: 'memory', ARCHIVE_URL: db.url.replace('127.0.0.1:3306', `127.0.0.1:${proxy.port}`), ARCHIVE_CONNECT_TIMEOUT_MS: '20000' })
      await new Promise((r) => setTimeout(r, 700)) // the BFF is retrying meanwhile
      await proxy.restore()
      const node = await starting
      try {
        const ready = await fetch(`${node.url}/readyz`)
        expect(ready.status).toBe(200)
        const check = await openArchive({ url: db.url })
        expect(await check.appliedMigrations()).toEqual(check.knownMigrations())
        await check.close()
      } finally {
        node.kill()
        await node.exited
      }
    } finally {
      await proxy.cut()
      await db.drop()
    }
  })

  it('refuses to start on a schema newer than the code, and leaves it as it is', async () => {
    const db = await createTestDatabase()
    try {
      const a = await openArchive({ url: db.url })
      await sql`insert into kysely_migration (name, timestamp) values ('9000_later', '2030-01-01T00:00:00.000Z')`.execute(a.db)
      const { code, logs } = await runToExit({ STORE: 'memory', ARCHIVE_URL: db.url })
      expect(code).toBe(1)
      const fatal = logs.map((l) => JSON.parse(l) as LogLine).find((l) => l.level === 60)
      expect(fatal?.msg).toMatch(/^start failed: archive schema is newer than this code: it ran 9000_later/)
      expect(await a.appliedMigrations()).toEqual([...a.knownMigrations(), '9000_later'])
      await a.close()
    } finally {
      await db.drop()
    }
  })
})
