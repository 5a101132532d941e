/**
 * The persister as a process of its own (`node dist/persister.js`, as deploy/k8s/archive runs it):
 * it moves what the stream holds into MySQL, counts it on its own /metrics, finishes and exits 0
 * on SIGTERM; a BFF of several workers starts exactly one (its primary) and stops it with itself;
 * without an archive it refuses to start, naming the variable.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { openArchive } from '../../src/archive/archive'
import { alive, bundle, spawnBff } from '../support/spawn'
import { guard, release } from '../support/guard'
import { createTestDatabase } from '../support/mysql'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { waitFor } from '../support/wait'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The built persister beside this run's main.js, with `env`; its log lines as they come. */
async function startPersister(env: Record<string, string>) {
  const entry = path.join(path.dirname(await bundle()), 'persister.js')
  const child = spawn(process.execPath, [entry], { env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  guard(child.pid)
  const logs: string[] = []
  for (const s of [child.stdout, child.stderr]) createInterface({ input: s }).on('line', (l) => logs.push(l))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    release(child.pid)
  })
  return { child, logs, exited }
}

const json = (conv: string, seq: number) => JSON.stringify({ mid: `m${seq}`, cid: `c${seq}`, conv, seq, from: 'ann', ts: seq, kind: 'text', body: { text: `t${seq}` } })

describe('the persister process', () => {
  it('moves the stream into MySQL, counts it on /metrics, and exits 0 on SIGTERM', async () => {
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const prefix = randomPrefix()
    cleanups.push(() => dropPrefix(prefix))
    const r = new Redis(REDIS_URL)
    cleanups.push(async () => r.disconnect())
    // Acked before the persister runs: the group reads from the stream's start.
    for (let seq = 1; seq <= 5; seq++) await r.xadd(`${prefix}archive`, '*', 'j', json('d:ann:bob', seq))

    const p = await startPersister({ STORE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, ARCHIVE_URL: db.url, PERSISTER_METRICS_PORT: '0' })
    await waitFor(() => p.logs.some((l) => l.includes('"msg":"persisting"')), 20_000)
    const started = JSON.parse(p.logs.find((l) => l.includes('"msg":"persisting"'))!) as { metricsPort: number; consumer: string }
    expect(started.consumer).toMatch(/^p-.+-\d+-/)

    await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0, 10_000)
    const archive = await openArchive({ url: db.url, poolSize: 1 })
    try {
      expect(await archive.after('d:ann:bob', 0, 10)).toEqual([1, 2, 3, 4, 5].map((seq) => json('d:ann:bob', seq)))
    } finally {
      await archive.close()
    }
    const metrics = await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text()
    expect(metrics).toMatch(/^chat_archived_total 5$/m)
    expect(metrics).toMatch(/^chat_archive_lag_seconds_count \d+$/m)
    expect(await (await fetch(`http://127.0.0.1:${started.metricsPort}/healthz`)).json()).toMatchObject({ ok: true })

    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
  })

  it('is started once per BFF instance (by the primary of two workers), and stops with it', async () => {
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const prefix = randomPrefix()
    cleanups.push(() => dropPrefix(prefix))
    const bff = await spawnBff({ STORE: 'redis', REDIS_URL, REDIS_PREFIX: prefix, ARCHIVE_URL: db.url, WORKERS: '2' })
    cleanups.push(() => bff.stop())
    await waitFor(() => bff.logs.some((l) => l.includes('"msg":"persisting"')), 20_000)
    const persisting = bff.logs.filter((l) => l.includes('"msg":"persisting"')).map((l) => JSON.parse(l) as { pid: number })
    expect(persisting).toHaveLength(1)
    const started = JSON.parse(bff.logs.find((l) => l.includes('"msg":"persister process started"'))!) as { pid: number; persister: number }
    // The primary started it (the primary is the process spawned), not a worker.
    expect(started.pid).toBe(bff.child.pid)
    expect(started.persister).toBe(persisting[0]!.pid)
    bff.kill('SIGTERM')
    expect(await bff.exited).toBe(0)
    await waitFor(() => !alive(persisting[0]!.pid), 10_000)
  })

  it('refuses to start without an archive, naming ARCHIVE_URL (exit 2)', async () => {
    const p = await startPersister({ STORE: 'redis', REDIS_URL, ARCHIVE_URL: 'none' })
    expect(await p.exited).toBe(2)
    expect(p.logs.join('\n')).toMatch(/ARCHIVE_URL is needed, with STORE=redis, by the persister/)
  })
})
