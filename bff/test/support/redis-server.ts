/**
 * A redis-server of the test's own, on a free loopback port, for tests that count its commands or
 * stop answering (the shared Redis on 6379 serves every other test). Stopped by PID.
 */
import { spawn } from 'node:child_process'
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

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
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
