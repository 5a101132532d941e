/**
 * A MariaDB server of the test's own (its own data directory and port), so a test can kill -9 it
 * and start it again (InnoDB crash recovery) without touching the MariaDB other tests use.
 * root over TCP without a password, like the shared one on 3306.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createConnection } from 'mysql2/promise'
import { freePorts, runOk } from './proc'

export interface MariaDbServer {
  readonly port: number
  /** mysql://root@127.0.0.1:<port> */
  readonly url: string
  /** SIGKILL and wait for the exit: no shutdown, as a crash. */
  kill9(): Promise<void>
  /** Start again on the same data directory; resolves once it accepts connections. */
  start(): Promise<void>
  dispose(): Promise<void>
}

export async function startMariaDb(): Promise<MariaDbServer> {
  const [port] = await freePorts(1)
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-mariadb-'))
  chmodSync(dir, 0o755)
  const data = path.join(dir, 'data')
  await runOk('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--user=root'], { timeoutMs: 60_000 })
  let child: ChildProcess | undefined
  const url = `mysql://root@127.0.0.1:${port}`
  const server: MariaDbServer = {
    port: port!,
    url,
    async kill9() {
      const c = child
      child = undefined
      if (!c || c.exitCode !== null) return
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGKILL')
      await exited
    },
    async start() {
      if (child) throw new Error('already running')
      child = spawn(
        'mariadbd',
        ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${path.join(dir, 'sock')}`, '--user=root', `--log-error=${path.join(dir, 'error.log')}`, '--character-set-server=utf8mb4', '--collation-server=utf8mb4_bin'],
        { stdio: 'ignore' },
      )
      const started = Date.now()
      for (;;) {
        try {
          const c = await createConnection(url)
          await c.end()
          return
        } catch (err) {
          if (child.exitCode !== null) throw new Error(`mariadbd exited ${child.exitCode}`)
          if (Date.now() - started > 60_000) throw err
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    },
    async dispose() {
      await server.kill9()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await server.start()
  return server
}
