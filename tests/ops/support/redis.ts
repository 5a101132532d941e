/**
 * Redis servers owned by one test: started on free 127.0.0.1 ports (never the shared 6379, which
 * other suites use and which destructive tests must not touch), in a temporary directory, stopped
 * by PID, and removed with their files even when the test fails.
 *
 *  - startRedis: one server, optionally with AOF, that can be killed (-9) and restarted on the same
 *    port and directory (the AOF is replayed on start).
 *  - startCluster: N masters with --cluster-enabled yes joined by `redis-cli --cluster create`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import { guard, release } from '../../../bff/test/support/guard'
import { freePorts, runOk, until } from './proc'


export interface RedisOptions {
  /** appendonly yes + appendfsync <fsync>. Default: no persistence at all. */
  readonly aof?: boolean
  readonly fsync?: 'always' | 'everysec' | 'no'
  readonly port?: number
  readonly extraArgs?: readonly string[]
}

export interface RedisServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  pid(): number | undefined
  /** A client of this server (the caller disconnects it). */
  client(): Redis
  /** SIGKILL and wait for the exit: no shutdown, no final fsync, as a crash. */
  kill9(): Promise<void>
  /** SIGTERM and wait: Redis's own shutdown (flushes the AOF). */
  stop(): Promise<void>
  /** Start again on the same port and directory (AOF replayed); resolves once it answers PING. */
  start(): Promise<void>
  /** Stop and delete its files. Safe to call twice. */
  dispose(): Promise<void>
}

function spawnServer(args: string[], cwd: string): ChildProcess {
  const child = spawn('redis-server', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  // Drain the output (a full pipe would block the server); keep it only for failure messages.
  const lines: string[] = []
  const keep = (d: Buffer) => {
    lines.push(d.toString())
    if (lines.length > 50) lines.shift()
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  ;(child as ChildProcess & { output?: string[] }).output = lines
  // Killed with the test process, whatever ends it (support/proc.ts).
  guard(child.pid)
  child.once('exit', () => release(child.pid))
  return child
}

async function waitPing(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false })
  // Refused connections are expected until the server listens: the loop below retries.
  r.on('error', () => {})
  try {
    await until(`redis-server on ${port} answering`, async () => {
      if (child.exitCode !== null) {
        throw new Error(`redis-server on ${port} exited ${child.exitCode}: ${((child as ChildProcess & { output?: string[] }).output ?? []).join('')}`)
      }
      try {
        if (r.status !== 'ready') {
          r.disconnect()
          await r.connect()
        }
        return (await r.ping()) === 'PONG'
      } catch {
        return false
      }
    }, timeoutMs, 20)
  } finally {
    r.disconnect()
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePorts(1))[0]!
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-redis-'))
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', options.aof ? 'yes' : 'no',
    ...(options.aof ? ['--appendfsync', options.fsync ?? 'everysec'] : []),
    '--dir', dir, '--maxmemory-policy', 'noeviction',
    ...(options.extraArgs ?? []),
  ]
  let child: ChildProcess | undefined
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    pid: () => child?.pid,
    client: () => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 }),
    async kill9() {
      if (!child) return
      const c = child
      child = undefined
      c.kill('SIGKILL')
      await exited(c)
    },
    async stop() {
      if (!child) return
      const c = child
      child = undefined
      c.kill('SIGTERM')
      await exited(c)
    },
    async start() {
      if (child) throw new Error('already running')
      child = spawnServer(args, dir)
      await waitPing(port, child)
    },
    async dispose() {
      await server.kill9()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  await server.start()
  return server
}

/** A port p whose cluster bus port p + 10000 is free too. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const picked: number[] = []
  while (picked.length < count) {
    const [p] = await freePorts(1)
    if (p! + 10000 > 65535 || picked.includes(p!)) continue
    const busFree = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(p! + 10000, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (busFree) picked.push(p!)
  }
  return picked
}

export interface RedisCluster {
  readonly ports: readonly number[]
  /** For REDIS_CLUSTER_NODES. */
  readonly nodes: string
  /** One client per master. */
  masters(): Redis[]
  dispose(): Promise<void>
}

export async function startCluster(count = 3): Promise<RedisCluster> {
  const ports = await freeClusterPorts(count)
  const dirs: string[] = []
  const children: ChildProcess[] = []
  const dispose = async () => {
    for (const c of children) c.kill('SIGKILL')
    await Promise.all(children.map(exited))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      const dir = mkdtempSync(path.join(tmpdir(), 'chat-cluster-'))
      dirs.push(dir)
      const child = spawnServer(
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
          '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--cluster-node-timeout', '5000'],
        dir,
      )
      children.push(child)
      await waitPing(port, child)
    }
    await runOk('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 60_000 })
    // Every node must agree the cluster is ok (all 16384 slots served) before clients use it.
    for (const port of ports) {
      await until(`cluster_state:ok on ${port}`, async () => {
        const out = await runOk('redis-cli', ['-p', String(port), 'cluster', 'info'])
        return out.includes('cluster_state:ok')
      }, 30_000, 100)
    }
  } catch (err) {
    await dispose()
    throw err
  }
  return {
    ports,
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    masters: () => ports.map((port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 })),
    dispose,
  }
}

/** Sum of `calls` per command from INFO commandstats. */
export async function commandCalls(r: Redis): Promise<Map<string, number>> {
  const info = await r.info('commandstats')
  const calls = new Map<string, number>()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]))
  return calls
}

/** Per-command difference b - a, without zero entries and without the probe's own INFO calls. */
export function diffCalls(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>()
  for (const [k, v] of b) {
    const delta = v - (a.get(k) ?? 0)
    if (delta > 0 && k !== 'info') d.set(k, delta)
  }
  return d
}

export function total(calls: Map<string, number>): number {
  let n = 0
  for (const v of calls.values()) n += v
  return n
}
