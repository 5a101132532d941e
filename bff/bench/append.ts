/**
 * bench:append. The send's Redis round trip alone (the append script through the Redis engine, no
 * sockets, no BFF process), without and with the archive, interleaved in slices of BENCH_SLICE_MS
 * (200) so that a machine whose load changes weighs on both alike: what the archive adds to a
 * send on the Redis side (issue 11: the XADD in the script; the persister's reads, acks and trims
 * on the same Redis). With the archive a persister process (bff/dist/persister.js) moves the
 * stream to MySQL meanwhile, as in production. BENCH_RATE appends/s (5,000) over BENCH_CONVS 1:1
 * conversations (100), open loop, for BENCH_SECONDS (10) per side. BENCH_PERSISTER=0 runs no
 * persister: the stream only grows, and what is left is the script's own XADD. Own Redis (a redis-server on a
 * free port) and own MySQL database on 127.0.0.1:3306, dropped after. Prints one JSON line.
 * Needs the built BFF (`npm run bench:append` builds it).
 */
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createConnection } from 'mysql2/promise'
import { Redis } from 'ioredis'
import { startRedis } from '../../tests/ops/support/redis'
import { openArchive } from '../src/archive/archive'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'

const here = path.dirname(fileURLToPath(import.meta.url))
const PERSISTER = path.resolve(here, '../dist/persister.js')
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const RATE = env('BENCH_RATE', 5000)
const SECONDS = env('BENCH_SECONDS', 10)
const CONVS = env('BENCH_CONVS', 100)
const SLICE_MS = env('BENCH_SLICE_MS', 200)
const WITH_PERSISTER = env('BENCH_PERSISTER', 1) !== 0
const MYSQL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'
/** Appends started per tick, every TICK_MS. */
const TICK_MS = 5

/** INFO commandstats: microseconds spent per command (lower case), scripts' inner commands apart too. */
async function usecByCommand(r: Redis): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const m of (await r.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=\d+,usec=(\d+)/g)) out[m[1]!] = Number(m[2])
  return out
}

/** Commands only the archive sends: the append script's XADD, and the persister's reads, acks and trims. */
const ARCHIVE_COMMANDS = ['xadd', 'xreadgroup', 'xack', 'xdel', 'xrange', 'xautoclaim', 'zremrangebyscore', 'hget', 'xlen']

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0

async function engineOn(url: string, prefix: string, archiveUrl?: string): Promise<Engine> {
  return createRedisEngine({
    queueMaxLength: 1000,
    queueRetentionMs: 60_000,
    url,
    clusterNodes: [],
    prefix,
    commandTimeoutMs: 5000,
    connectTimeoutMs: 5000,
    node: `bench-${prefix}`,
    ...(archiveUrl
      ? { archive: { archive: await openArchive({ url: archiveUrl, poolSize: 2 }), windowMessages: 200, backlogMax: 1_000_000, batchMax: 1000, claimIdleMs: 30_000, persister: 'elsewhere' as const } }
      : {}),
  })
}

const loadStart = loadavg()[0]!
const redis = await startRedis()
const name = `chat_bench_append_${process.pid}`
const admin = await createConnection(MYSQL)
await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
const archiveUrl = `${MYSQL}/${name}`
const off = await engineOn(redis.url, 'off:')
const on = await engineOn(redis.url, 'on:', archiveUrl)
const persister = spawn(process.execPath, WITH_PERSISTER ? [PERSISTER] : ['-e', 'console.log(JSON.stringify({ msg: "persisting" })); setInterval(() => {}, 1000)'], {
  env: { PATH: process.env.PATH ?? '', STORE: 'redis', REDIS_URL: redis.url, REDIS_PREFIX: 'on:', ARCHIVE_URL: archiveUrl, LOG_LEVEL: 'info' },
  stdio: ['ignore', 'pipe', 'inherit'],
})
try {
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: persister.stdout }).on('line', (line) => line.includes('"msg":"persisting"') && resolve())
    persister.once('exit', (code) => reject(new Error(`persister exited ${code}`)))
  })
  const convs = Array.from({ length: CONVS }, (_, i) => ({ id: `d:a${i}:b${i}`, members: [`a${i}`, `b${i}`] }))
  for (const e of [off, on]) for (const c of convs) await e.convs.create({ id: c.id, kind: 'direct', members: c.members, createdAt: Date.now() })
  const lat = { off: [] as number[], on: [] as number[] }
  const stats = new Redis(redis.url)
  let usec0: Record<string, number> = {}
  const failed = { off: 0, on: 0 }
  let n = 0
  const pending = new Set<Promise<void>>()
  const text = 'A message of ordinary length, about as long as people type in a chat. 你好'
  // Warm-up (JIT, scripts loaded), then the measured slices, alternating.
  for (const [measure, seconds] of [
    [false, 1],
    [true, SECONDS * 2],
  ] as const) {
    if (measure) usec0 = await usecByCommand(stats)
    const t0 = Date.now()
    let started = 0
    while (Date.now() - t0 < seconds * 1000) {
      const slice = Math.floor((Date.now() - t0) / SLICE_MS)
      const side = slice % 2 === 0 ? 'off' : 'on'
      const e = side === 'off' ? off : on
      // Each side runs half the time at RATE: the same rate while it runs.
      const due = Math.floor(((Date.now() - t0) / 1000) * RATE)
      for (; started < due; started++) {
        const c = convs[started % CONVS]!
        const i = ++n
        const at = performance.now()
        const p = e.messages
          .append({ conv: c.id, from: c.members[0]!, cid: `cid-bench-${i}-x`, mid: `m${i}`, ts: Date.now(), kind: 'text', body: { text }, dedupWindowMs: 60_000, members: c.members })
          .then(
            () => void (measure && lat[side].push(performance.now() - at)),
            () => void (measure && failed[side]++),
          )
        pending.add(p)
        void p.finally(() => pending.delete(p))
      }
      await sleep(TICK_MS)
    }
    await Promise.all(pending)
  }
  const usec1 = await usecByCommand(stats)
  const spent: Record<string, number> = {}
  for (const [k, v] of Object.entries(usec1)) if (v > (usec0[k] ?? 0)) spent[k] = v - (usec0[k] ?? 0)
  const archiveUs = ARCHIVE_COMMANDS.reduce((n, k) => n + (spent[k] ?? 0), 0)
  const backlog = await stats.xlen('on:archive')
  stats.disconnect()
  const side = (xs: number[]) => ({ appends: xs.length, p50Ms: pct(xs, 50), p99Ms: pct(xs, 99), p999Ms: pct(xs, 99.9), maxMs: Math.max(0, ...xs) })
  const redisUs = {
    /** Redis' time in the commands only the archive sends, per message appended with it (inner commands of scripts counted once, by name). */
    archivePerMessage: archiveUs / Math.max(1, lat.on.length),
    /** Every command's time, µs, over the measured span (both sides). */
    byCommand: spent,
  }
  const res = { persister: WITH_PERSISTER, redisUs, rate: RATE, seconds: SECONDS, convs: CONVS, sliceMs: SLICE_MS, off: side(lat.off), on: side(lat.on), failed, backlogAtEnd: backlog, loadavg: [loadStart, loadavg()[0]] }
  console.log(JSON.stringify({ ...res, p99Ratio: res.on.p99Ms / res.off.p99Ms, p50Ratio: res.on.p50Ms / res.off.p50Ms }))
} finally {
  persister.kill('SIGTERM')
  await new Promise((resolve) => persister.once('exit', resolve))
  await Promise.all([off.close(), on.close()])
  await admin.query(`DROP DATABASE IF EXISTS \`${name}\``)
  await admin.end()
  await redis.dispose()
}
