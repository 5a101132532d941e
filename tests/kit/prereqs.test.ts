/**
 * scripts/test-prereqs.mjs, run as `npm test` runs it, with an environment that lacks each thing:
 * the exit code and the one line per missing thing. Nothing is stopped: servers are "missing" by
 * pointing at a port nobody listens on, binaries by a PATH that does not hold them.
 */
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const script = path.resolve(__dirname, '../../scripts/test-prereqs.mjs')

function check(args: string[], env: Record<string, string>): Promise<{ code: number; lines: string[] }> {
  return new Promise((resolve) => {
    // No inherited environment: only what the case gives (and node by its full path).
    execFile(process.execPath, [script, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, lines: `${stdout}${stderr}`.split('\n').filter((l) => l !== '') })
    })
  })
}

function listen(onConnection: (socket: Socket) => void): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer(onConnection)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })
}
const portOf = (s: Server) => (s.address() as AddressInfo).port

describe('test prerequisites check', () => {
  let dir: string
  let empty: string
  let bin: string
  let closedPort: number
  let notRedis: Server
  const real = { TEST_REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', TEST_MYSQL_URL: process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306' }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'chat-prereqs-'))
    empty = path.join(dir, 'empty')
    bin = path.join(dir, 'bin')
    mkdirSync(empty)
    mkdirSync(bin)
    // Stand-ins that only need to exist and be executable: the check never runs them.
    for (const name of ['chromium-browser', 'redis-server', 'redis-cli', 'mariadbd', 'mariadb-install-db']) {
      writeFileSync(path.join(bin, name), '#!/bin/sh\nexit 0\n')
      chmodSync(path.join(bin, name), 0o755)
    }
    writeFileSync(path.join(dir, 'not-executable'), '')
    const closed = await listen(() => {})
    closedPort = portOf(closed)
    await new Promise((r) => closed.close(r))
    // Something on the port that is not an open Redis: answers PING with an auth error.
    notRedis = await listen((socket) => socket.once('data', () => socket.end('-NOAUTH Authentication required.\r\n')))
  })
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true })
    await new Promise((r) => notRedis.close(r))
  })

  it('passes when everything is there, Chromium found on PATH under another name', async () => {
    const r = await check([], { PATH: bin, ...real })
    expect(r).toEqual({ code: 0, lines: [] })
  })

  it('names each missing thing of the fast suites on a line of its own, with how to get it', async () => {
    const r = await check([], { PATH: empty, TEST_REDIS_URL: `redis://127.0.0.1:${closedPort}`, TEST_MYSQL_URL: `mysql://root@127.0.0.1:${closedPort}` })
    expect(r.code).toBe(1)
    expect(r.lines).toEqual([
      'npm test: 3 prerequisite(s) missing (see README.md, Tests):',
      `  - Redis on 127.0.0.1:${closedPort}: connection refused. Start one: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no (Debian: apt-get install redis-server), or set TEST_REDIS_URL`,
      `  - MariaDB on 127.0.0.1:${closedPort} (for the archive tests): connection refused. Start one as .ci/run does (apt-get install mariadb-server; root without a password over TCP), or set TEST_MYSQL_URL`,
      '  - Chromium (for the browser tests): no Chromium on PATH (looked for chromium, chromium-browser, google-chrome-stable, google-chrome). Install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to its binary',
    ])
  })

  it('takes Chromium from CHROMIUM_PATH, and says so when that is not an executable', async () => {
    const ok = await check([], { PATH: empty, CHROMIUM_PATH: path.join(bin, 'chromium-browser'), ...real })
    expect(ok).toEqual({ code: 0, lines: [] })
    const bad = await check([], { PATH: bin, CHROMIUM_PATH: path.join(dir, 'not-executable'), ...real })
    expect(bad.code).toBe(1)
    expect(bad.lines[1]).toBe(
      `  - Chromium (for the browser tests): CHROMIUM_PATH=${path.join(dir, 'not-executable')} is not an executable file. Install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to its binary`,
    )
  })

  it('tells a Redis that refuses us from one that is not there', async () => {
    const r = await check([], { PATH: bin, ...real, TEST_REDIS_URL: `redis://127.0.0.1:${portOf(notRedis)}` })
    expect(r.code).toBe(1)
    expect(r.lines.slice(1)).toEqual([
      `  - Redis on 127.0.0.1:${portOf(notRedis)} answers "-NOAUTH Authentication required." to PING instead of PONG: set TEST_REDIS_URL to a Redis the tests may use`,
    ])
  })

  it('the failure suite also needs the Redis and MariaDB binaries, not Chromium', async () => {
    const r = await check(['ops'], { PATH: empty, ...real })
    expect(r.code).toBe(1)
    expect(r.lines).toEqual([
      'npm run test:ops: 4 prerequisite(s) missing (see README.md, Tests):',
      '  - redis-server (the failure tests start their own Redis) is not on PATH. Debian: apt-get install redis-server',
      '  - redis-cli (the Redis Cluster test creates its cluster with it) is not on PATH. Debian: apt-get install redis-server',
      '  - mariadbd (the archive kill test starts its own MariaDB) is not on PATH. Debian: apt-get install mariadb-server (mariadbd is in /usr/sbin: add it to PATH)',
      '  - mariadb-install-db (the archive kill test initialises its MariaDB) is not on PATH. Debian: apt-get install mariadb-server (mariadbd is in /usr/sbin: add it to PATH)',
    ])
    expect(await check(['ops'], { PATH: bin, ...real })).toEqual({ code: 0, lines: [] })
  })

  it('refuses an unknown suite name with a usage line', async () => {
    expect(await check(['all'], { PATH: bin, ...real })).toEqual({ code: 2, lines: ['usage: node scripts/test-prereqs.mjs [fast|ops] (got "all")'] })
  })
})
