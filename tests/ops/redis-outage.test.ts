/**
 * Redis unreachable. Two kinds of outage, each on its own Redis (never the shared 6379):
 *  - refused: a TCP proxy between the BFF and Redis resets every connection and refuses new ones;
 *  - hung: the redis-server process is stopped (SIGSTOP): connections stay open, nothing answers.
 * Either way: every send gets STORE_UNAVAILABLE (temporary) and no ack, /readyz fails while
 * /healthz stays up, and when Redis returns the service recovers by itself: /readyz passes, the
 * same cids are accepted, the peer receives them live, and the store holds each acked message once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId, type ServerFrameOf } from '@chat/shared'
import { connectUser, newCid, type TestClient } from '../../bff/test/support/client'
import { dropBundle, type BffProcess, spawnBff } from '../../bff/test/support/spawn'
import { TcpProxy } from '../../bff/test/support/tcp-proxy'
import { storedCids } from './support/pairs'
import { httpStatus, until } from './support/proc'
import { startRedis, type RedisServer } from './support/redis'

const COMMAND_TIMEOUT_MS = 1000
const ENV = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000', REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) }

interface Outage {
  readonly name: string
  begin(): Promise<void>
  end(): Promise<void>
}

async function scenario(redisUrl: string, outage: Outage, tag: string): Promise<{ cleanup: () => Promise<void> }> {
  const node: BffProcess = await spawnBff({ STORE: 'redis', REDIS_URL: redisUrl, ...ENV })
  const clients: TestClient[] = []
  const cleanup = async () => {
    await Promise.all(clients.map((c) => c.close()))
    node.kill('SIGKILL')
    await node.exited
  }
  try {
    const a = await connectUser(node.url, `${tag}-a`)
    const b = await connectUser(node.url, `${tag}-b`)
    clients.push(a.client, b.client)
    const conv = directConvId(`${tag}-a`, `${tag}-b`)
    const send = (cid: string, text: string) => a.client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    const answer = (cid: string, timeoutMs: number) => a.client.next<ServerFrameOf<'ack'> | ServerFrameOf<'error'>>((f) => (f.type === 'ack' || f.type === 'error') && f.cid === cid, timeoutMs)

    // Before: a normal exchange.
    const first = newCid()
    send(first, 'before')
    expect((await answer(first, 5000)).type).toBe('ack')
    await b.client.nextOf('msg', (f) => f.m.cid === first)

    await outage.begin()
    const unreadyMs = await until(`${outage.name}: /readyz failing`, async () => (await httpStatus(`${node.url}/readyz`, 5000)) === 503, 15_000, 20)
    expect(await httpStatus(`${node.url}/healthz`)).toBe(200)

    // During: every send is refused as temporary, none is acked, the peer gets nothing.
    const refused: string[] = []
    const answerMs: number[] = []
    for (let i = 0; i < 5; i++) {
      const cid = newCid()
      const t = Date.now()
      send(cid, `during ${i}`)
      const f = await answer(cid, COMMAND_TIMEOUT_MS * 3 + 5000)
      answerMs.push(Date.now() - t)
      expect(f).toMatchObject({ type: 'error', code: 'STORE_UNAVAILABLE', temporary: true, cid })
      refused.push(cid)
    }
    expect(a.client.all('ack').map((f) => f.cid)).toEqual([first])
    expect(b.client.all('msg').map((f) => f.m.cid)).toEqual([first])

    // After: Redis is back; the service recovers without a restart.
    const restoredAt = Date.now()
    await outage.end()
    const readyMs = await until(`${outage.name}: /readyz ok again`, async () => (await httpStatus(`${node.url}/readyz`, 5000)) === 200, 30_000, 20)
    // The same cids are accepted now (a cid stored late by a hung Redis answers dup: its original ack).
    const acks: ServerFrameOf<'ack'>[] = []
    for (const cid of refused) {
      send(cid, 'retried')
      const f = await answer(cid, 10_000)
      // The whole frame on failure: an error's code says which part of the store was not back.
      expect(f, `retried send after /readyz passed`).toMatchObject({ type: 'ack', cid })
      acks.push(f as ServerFrameOf<'ack'>)
    }
    const firstAckMs = Date.now() - restoredAt
    // Routing works again: a new message reaches the peer live.
    const after = newCid()
    send(after, 'after')
    const afterAck = await answer(after, 10_000)
    expect(afterAck.type).toBe('ack')
    await b.client.nextOf('msg', (f) => f.m.cid === after, 10_000)

    // The store holds the first message, each refused-then-accepted one once, and the last: nothing else.
    const stored = await storedCids(node.url, `${tag}-b`, conv)
    expect([...stored.values()].sort()).toEqual([first, ...refused, after].sort())
    expect([...stored.keys()]).toEqual([...stored.keys()].map((_, i) => i + 1))
    for (const ack of [...acks, afterAck as ServerFrameOf<'ack'>]) expect(stored.get(ack.seq)).toBe(ack.cid)
    console.log(
      `[redis ${outage.name}] /readyz failed ${unreadyMs} ms after the outage began; ` +
        `sends refused STORE_UNAVAILABLE in ${Math.min(...answerMs)}-${Math.max(...answerMs)} ms (command timeout ${COMMAND_TIMEOUT_MS} ms); ` +
        `ready ${readyMs} ms after Redis returned, first retried send acked after ${firstAckMs} ms; ${acks.filter((x) => x.dup).length} of ${acks.length} retries answered dup`,
    )
  } catch (err) {
    await cleanup()
    throw err
  }
  return { cleanup }
}

describe('Redis unreachable', () => {
  const disposers: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const d of disposers.reverse()) await d()
    await dropBundle()
  })

  describe('connections refused', () => {
    let redis: RedisServer
    let proxy: TcpProxy
    beforeAll(async () => {
      redis = await startRedis()
      disposers.push(() => redis.dispose())
      proxy = new TcpProxy('127.0.0.1', redis.port)
      await proxy.start()
      disposers.push(() => proxy.cut())
    })

    it('refuses sends as temporary, fails /readyz, and recovers by itself', async () => {
      const { cleanup } = await scenario(`redis://127.0.0.1:${proxy.port}`, { name: 'refused', begin: () => proxy.cut(), end: () => proxy.restore() }, 'out-r')
      disposers.push(cleanup)
    })
  })

  describe('server hung (SIGSTOP)', () => {
    let redis: RedisServer
    beforeAll(async () => {
      redis = await startRedis()
      disposers.push(async () => {
        const pid = redis.pid()
        if (pid) process.kill(pid, 'SIGCONT')
        await redis.dispose()
      })
    })

    it('refuses sends as temporary, fails /readyz, and recovers by itself', async () => {
      const stop = (signal: NodeJS.Signals) => async () => void process.kill(redis.pid()!, signal)
      const { cleanup } = await scenario(redis.url, { name: 'hung', begin: stop('SIGSTOP'), end: stop('SIGCONT') }, 'out-h')
      disposers.push(cleanup)
    })
  })
})
