/**
 * A redis-server of the test's own, on a free loopback port, for tests that count its commands or
 * stop answering (the shared Redis on 6379 serves every other test). Stopped by PID.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'

export interface OwnRedis {
  readonly url: string
  stop(): void
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

export async function startOwnRedis(extraArgs: readonly string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' })
  const stop = () => {
    if (child.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
  }
  // Listening once a PING is answered (no event tells when redis-server is ready).
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      break
    } catch (err) {
      if (i >= 100) {
        stop()
        throw err
      }
      await new Promise((r) => setTimeout(r, 50))
    } finally {
      probe.disconnect()
    }
  }
  return { url, stop }
}

/**
 * A Redis Cluster of one node holding every slot: Redis enforces the Cluster rules on it (every
 * command's and script's keys in one slot, else CROSSSLOT), which is what a test of the engine on
 * Cluster needs; its nodes file goes to a temporary directory.
 */
export async function startOwnCluster(): Promise<OwnRedis & { readonly node: { host: string; port: number } }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'))
  const own = await startOwnRedis(['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--dir', dir, '--cluster-announce-ip', '127.0.0.1'])
  const admin = new Redis(own.url)
  try {
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')
    // The state turns ok once the node has taken its slots (no event tells when).
    for (let i = 0; !/cluster_state:ok/.test(String(await admin.call('CLUSTER', 'INFO'))); i++) {
      if (i >= 100) throw new Error('the test cluster did not come up')
      await new Promise((r) => setTimeout(r, 50))
    }
  } catch (err) {
    own.stop()
    throw err
  } finally {
    admin.disconnect()
  }
  const port = Number(new URL(own.url).port)
  return {
    url: own.url,
    node: { host: '127.0.0.1', port },
    stop() {
      own.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
