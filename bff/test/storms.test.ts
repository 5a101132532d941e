/**
 * Storms (issue 15). Admission control (gateway/admission.ts): an upgrade beyond those in flight
 * gets a fast 503 with Retry-After. Disconnect bookkeeping (gateway/presence-queue.ts): bounded in concurrency, retried
 * while Redis does not answer, given up (and logged once) only after its attempts, and safe to
 * retry (a socket's presence field removed twice does not remove another socket's).
 *
 * The Redis here is one this file starts on a free port, paused with CLIENT PAUSE so that commands
 * time out as they did when 100,000 sockets closed at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type OwnRedis, startOwnRedis } from './support/redis-server'
import { Redis } from 'ioredis'
import { BookkeepingQueue } from '../src/gateway/presence-queue'
import { WebSocket } from 'ws'
import { connectUser, devLogin, newCid } from './support/client'
import { directConvId } from '@chat/shared'
import { randomPrefix, startTestServer } from './support/server'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'
import type { ErrorResponse } from '@chat/shared'

let redis: OwnRedis | undefined
let url = ''
let engine: Engine

beforeAll(async () => {
  redis = await startOwnRedis()
  url = redis.url
  engine = await createRedisEngine({ url, clusterNodes: [], prefix: 'pq:', commandTimeoutMs: 100, connectTimeoutMs: 2000, node: 'n1', queueMaxLength: 100, queueRetentionMs: 60_000 })
})

afterAll(async () => {
  await engine?.close()
  redis?.stop()
})

describe('disconnect bookkeeping queue', () => {
  it('runs at most `concurrency` jobs at once, retries through a Redis that does not answer, and every user ends offline', async () => {
    const users = Array.from({ length: 300 }, (_, i) => `u${i}`)
    for (const u of users) await engine.presence.connected(u, `n1/${u}`)
    const gaveUp: unknown[] = []
    const queue = new BookkeepingQueue({ concurrency: 8, maxAttempts: 100, retryMinMs: 20, retryMaxMs: 100 }, (err) => gaveUp.push(err))
    let running = 0
    let maxRunning = 0
    let failures = 0
    // Redis stops answering for longer than the command timeout (100 ms): the first attempts fail.
    const admin = new Redis(url)
    await admin.client('PAUSE', 800, 'ALL')
    await Promise.all(
      users.map((u) =>
        queue.push(async () => {
          running++
          maxRunning = Math.max(maxRunning, running)
          try {
            await engine.presence.disconnected(u, `n1/${u}`, 1)
          } catch (err) {
            failures++
            throw err
          } finally {
            running--
          }
        }),
      ),
    )
    admin.disconnect()
    expect(failures).toBeGreaterThan(0)
    expect(queue.stats.retried).toBe(failures)
    expect(gaveUp).toEqual([])
    expect(maxRunning).toBeLessThanOrEqual(8)
    expect(queue.stats.maxQueued).toBeGreaterThan(8)
    expect(queue.pending).toBe(0)
    expect(queue.stats.done).toBe(users.length)
    const presence = await engine.presence.get(users)
    expect(presence.filter((p) => p.online)).toEqual([])
  })

  it('gives a job up after its attempts, reports it once, and its promise still settles', async () => {
    const reports: number[] = []
    const queue = new BookkeepingQueue({ concurrency: 2, maxAttempts: 3, retryMinMs: 1, retryMaxMs: 2 }, (_err, attempts) => reports.push(attempts))
    let tries = 0
    await queue.push(async () => {
      tries++
      throw new Error('always')
    })
    expect(tries).toBe(3)
    expect(reports).toEqual([3])
    expect(queue.stats).toMatchObject({ gaveUp: 1, retried: 2, done: 0 })
    await queue.drained()
    expect(queue.pending).toBe(0)
  })

  it('a job throwing synchronously is retried like a rejected one', async () => {
    const queue = new BookkeepingQueue({ concurrency: 1, maxAttempts: 2, retryMinMs: 1, retryMaxMs: 1 }, () => {})
    let tries = 0
    await queue.push(() => {
      tries++
      if (tries === 1) throw new Error('sync')
      return Promise.resolve()
    })
    expect(tries).toBe(2)
    expect(queue.stats).toMatchObject({ done: 1, retried: 1, gaveUp: 0 })
  })

  it('refuses limits that would stall it', () => {
    expect(() => new BookkeepingQueue({ concurrency: 0, maxAttempts: 1, retryMinMs: 1, retryMaxMs: 1 }, () => {})).toThrow(RangeError)
    expect(() => new BookkeepingQueue({ concurrency: 1, maxAttempts: 0, retryMinMs: 1, retryMaxMs: 1 }, () => {})).toThrow(RangeError)
  })

  it("removing one socket's presence field twice (a retry) leaves the other sockets of the user counted", async () => {
    await engine.presence.connected('twice', 'n1/a')
    await engine.presence.connected('twice', 'n1/b')
    expect(await engine.presence.disconnected('twice', 'n1/a', 5)).toBe(1)
    expect(await engine.presence.disconnected('twice', 'n1/a', 6)).toBe(1)
    const [p] = await engine.presence.get(['twice'])
    expect(p).toMatchObject({ online: true })
    expect(await engine.presence.disconnected('twice', 'n1/b', 7)).toBe(0)
  })
})

describe('admission control', () => {
  it('an upgrade beyond MAX_UPGRADES_IN_FLIGHT gets 503 SERVER_BUSY with Retry-After at once; the one in flight is welcomed', async () => {
    const server = await startTestServer({ STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: randomPrefix(), MAX_UPGRADES_IN_FLIGHT: '1', UPGRADE_QUEUE_MAX: '0', UPGRADE_RETRY_AFTER_S: '3', REDIS_COMMAND_TIMEOUT_MS: '10000' })
    const admin = new Redis(url)
    try {
      const a = await devLogin(server.url, 'adm-a')
      const b = await devLogin(server.url, 'adm-b')
      // Redis holds every command: both upgrades stay in flight (the suspension check, then the
      // subscription, wait for it), so whichever came second is one too many.
      await admin.client('PAUSE', 1500, 'ALL')
      const outcomes = await Promise.all([a.token, b.token].map((token) => attempt(server.url, token)))
      const refused = outcomes.filter((o) => o.status !== undefined)
      const welcomed = outcomes.filter((o) => o.welcomed)
      expect(refused).toEqual([{ status: 503, retryAfter: '3', code: 'SERVER_BUSY', welcomed: false }])
      expect(welcomed).toHaveLength(1)
      // The slot is free again: a retry gets in.
      const retried = await attempt(server.url, outcomes[0]!.welcomed ? b.token : a.token)
      expect(retried.welcomed).toBe(true)
    } finally {
      admin.disconnect()
      await server.close()
    }
  })
})

describe('offline grace while the process is saturated', () => {
  /**
   * Bob's socket closes; past the middle of his grace two upgrades come at once for one slot (Redis
   * holding the first in flight), the second waiting in the line (`queue` 1) or refused (0). Either
   * way the process was saturated: bob keeps the longest grace, announced offline once it ends,
   * last seen at his close.
   */
  async function saturatedDuringGrace(queue: '0' | '1', tag: string): Promise<Array<{ welcomed: boolean; status?: number }>> {
    const GRACE = 1000
    const LONGEST = 2500
    const server = await startTestServer({
      STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: randomPrefix(), MAX_UPGRADES_IN_FLIGHT: '1', UPGRADE_QUEUE_MAX: queue, UPGRADE_QUEUE_WAIT_MS: '5000',
      PRESENCE_OFFLINE_GRACE_MS: String(GRACE), PRESENCE_OFFLINE_GRACE_MAX_MS: String(LONGEST), REDIS_COMMAND_TIMEOUT_MS: '10000',
    })
    const admin = new Redis(url)
    try {
      const [ann, bob] = [`${tag}-a`, `${tag}-b`]
      const alice = (await connectUser(server.url, ann)).client
      const b = await connectUser(server.url, bob)
      const cid = newCid()
      b.client.send({ type: 'send', cid, conv: directConvId(ann, bob), kind: 'text', body: { text: 'hi' } })
      await alice.nextOf('msg', (f) => f.m.cid === cid)
      await alice.nextOf('presence', (f) => f.user === bob && f.online)
      const [c, d] = await Promise.all([`${tag}-c`, `${tag}-d`].map((u) => devLogin(server.url, u)))
      const mark = alice.frames.length
      const closed = Date.now()
      await b.client.close()
      await new Promise((r) => setTimeout(r, GRACE * 0.6))
      await admin.client('PAUSE', 300, 'ALL')
      const asked = Date.now()
      const outcomes = await Promise.all([c!.token, d!.token].map((token) => attempt(server.url, token)))
      // Without the hold bob would be offline GRACE after the close; he is LONGEST after it.
      const off = await alice.nextOf('presence', (f) => f.user === bob, 10_000)
      const at = Date.now()
      expect(off.online).toBe(false)
      expect(at - closed).toBeGreaterThanOrEqual(LONGEST - 50)
      // Last seen at the real close, announced once.
      expect(off.lastSeen).toBeGreaterThanOrEqual(closed - 50)
      expect(off.lastSeen).toBeLessThanOrEqual(asked)
      const ts = Math.floor(Math.random() * 1e9)
      alice.send({ type: 'ping', ts })
      await alice.nextOf('pong', (f) => f.ts === ts)
      expect(alice.frames.slice(mark).filter((f) => f.type === 'presence' && f.user === bob)).toEqual([off])
      await alice.close()
      return outcomes
    } finally {
      admin.disconnect()
      await server.close()
    }
  }

  it('a user whose socket closed before an upgrade was refused keeps the longest grace', async () => {
    const outcomes = await saturatedDuringGrace('0', 'ogr')
    expect(outcomes.filter((o) => o.status === 503)).toHaveLength(1)
  })

  it('a user whose socket closed before an upgrade waited in the line keeps the longest grace', async () => {
    const outcomes = await saturatedDuringGrace('1', 'ogl')
    expect(outcomes.map((o) => o.welcomed)).toEqual([true, true])
  })
})

describe('admission line', () => {
  it('an upgrade beyond the slots waits in line and is welcomed when one frees; one beyond the line is refused at once', async () => {
    const server = await startTestServer({ STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: randomPrefix(), MAX_UPGRADES_IN_FLIGHT: '1', UPGRADE_QUEUE_MAX: '1', UPGRADE_QUEUE_WAIT_MS: '10000', UPGRADE_RETRY_AFTER_S: '2', REDIS_COMMAND_TIMEOUT_MS: '10000' })
    const admin = new Redis(url)
    try {
      const users = await Promise.all(['adl-a', 'adl-b', 'adl-c'].map((u) => devLogin(server.url, u)))
      // Redis holds every command: the first upgrade keeps its slot until Redis answers.
      await admin.client('PAUSE', 1500, 'ALL')
      const started = Date.now()
      const order: string[] = []
      const outcomes = await Promise.all(
        users.map((u, i) =>
          (async () => {
            // In this order: the slot, the line, one too many.
            await new Promise((r) => setTimeout(r, i * 100))
            const o = await attempt(server.url, u.token)
            order.push(`${i}:${o.welcomed ? 'welcomed' : o.status}`)
            return { ...o, ms: Date.now() - started }
          })(),
        ),
      )
      expect(outcomes.map((o) => o.welcomed)).toEqual([true, true, false])
      expect(outcomes[2]).toMatchObject({ status: 503, retryAfter: '2', code: 'SERVER_BUSY' })
      // Refused at once (Redis still paused), the waiting one welcomed after the first.
      expect(order[0]).toBe('2:503')
      expect(outcomes[2]!.ms).toBeLessThan(1000)
      expect(order.slice(1)).toEqual(['0:welcomed', '1:welcomed'])
    } finally {
      admin.disconnect()
      await server.close()
    }
  })

  it('an upgrade that waits longer than UPGRADE_QUEUE_WAIT_MS gets the 503', async () => {
    const server = await startTestServer({ STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: randomPrefix(), MAX_UPGRADES_IN_FLIGHT: '1', UPGRADE_QUEUE_MAX: '10', UPGRADE_QUEUE_WAIT_MS: '300', REDIS_COMMAND_TIMEOUT_MS: '10000' })
    const admin = new Redis(url)
    try {
      const [a, b] = await Promise.all(['adw-a', 'adw-b'].map((u) => devLogin(server.url, u)))
      await admin.client('PAUSE', 1500, 'ALL')
      const started = Date.now()
      const first = attempt(server.url, a!.token)
      await new Promise((r) => setTimeout(r, 50))
      const second = await attempt(server.url, b!.token)
      const waited = Date.now() - started
      expect(second).toMatchObject({ welcomed: false, status: 503, code: 'SERVER_BUSY' })
      expect(waited).toBeGreaterThanOrEqual(300)
      expect(waited).toBeLessThan(1500)
      expect((await first).welcomed).toBe(true)
    } finally {
      admin.disconnect()
      await server.close()
    }
  })
})

/** One upgrade: welcomed (then closed), or refused with its status, Retry-After and error code. */
function attempt(base: string, token: string): Promise<{ welcomed: boolean; status?: number; retryAfter?: string | undefined; code?: string }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?v=1&token=${token}`)
  return new Promise((resolve, reject) => {
    ws.on('error', reject)
    ws.on('message', (data) => {
      if (!(data as Buffer).toString().startsWith('{"type":"welcome"')) return // a Buffer: ws's default binaryType
      ws.close()
      resolve({ welcomed: true })
    })
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => {
        ws.terminate()
        resolve({ welcomed: false, status: res.statusCode, retryAfter: res.headers['retry-after'], code: (JSON.parse(body) as ErrorResponse).error.code })
      })
    })
  })
}
