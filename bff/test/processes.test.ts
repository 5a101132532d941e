/**
 * Real BFF processes sharing one Redis: messages routed between nodes and between the workers of
 * one instance, offline members queued, and a graceful SIGTERM that loses no send.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import { TestClient, connectUser, devLogin, newCid } from './support/client'
import { dropPrefix, randomPrefix } from './support/server'
import { alive, dropBundle, runBffToExit, spawnBff } from './support/spawn'
import { waitFor } from './support/wait'
import type { BffProcess } from './support/spawn'

const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }

afterAll(async () => {
  await dropBundle()
})

describe('three BFF processes on one Redis', () => {
  const prefix = randomPrefix()
  let nodes: BffProcess[] = []
  const clients: TestClient[] = []

  beforeAll(async () => {
    nodes = await Promise.all([1, 2, 3].map(() => spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, ...LIMITS })))
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    for (const n of nodes) n.kill()
    await Promise.all(nodes.map((n) => n.exited))
    await dropPrefix(prefix)
  })

  async function on(node: number, user: string) {
    const r = await connectUser(nodes[node]!.url, user)
    clients.push(r.client)
    return r.client
  }

  it('routes 1:1 messages between nodes, to the peer and the sender’s other device', async () => {
    const alice = await on(0, 'x-alice')
    const alice2 = await on(2, 'x-alice')
    const bob = await on(1, 'x-bob')
    const conv = directConvId('x-alice', 'x-bob')
    const cid = newCid()
    alice.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'across nodes' } })
    const ack = await alice.nextOf('ack', (f) => f.cid === cid)
    const [atBob, atAlice2] = await Promise.all([bob.nextOf('msg'), alice2.nextOf('msg')])
    expect(atBob.m.mid).toBe(ack.mid)
    expect(atAlice2.m.mid).toBe(ack.mid)
    const reply = newCid()
    bob.send({ type: 'send', cid: reply, conv, kind: 'text', body: { text: 'back' } })
    await bob.nextOf('ack', (f) => f.cid === reply)
    const [r1, r2] = await Promise.all([alice.nextOf('msg', (f) => f.m.cid === reply), alice2.nextOf('msg', (f) => f.m.cid === reply)])
    expect(r1.m.seq).toBe(2)
    expect(r2.m.seq).toBe(2)
    expect(alice.all('msg')).toHaveLength(1)
  })

  it('reaches a device that joins another node while the sender and the first device share one', async () => {
    const ann = await on(0, 'j-ann')
    const ben = await on(0, 'j-ben')
    const conv = directConvId('j-ann', 'j-ben')
    const first = newCid()
    ann.send({ type: 'send', cid: first, conv, kind: 'text', body: { text: 'local only' } })
    await ben.nextOf('msg', (f) => f.m.cid === first)
    // Ben's second device elsewhere: node 0 must learn it before that device is welcomed.
    const ben2 = await on(2, 'j-ben')
    const second = newCid()
    ann.send({ type: 'send', cid: second, conv, kind: 'text', body: { text: 'now two nodes' } })
    await Promise.all([ben.nextOf('msg', (f) => f.m.cid === second), ben2.nextOf('msg', (f) => f.m.cid === second)])
    // Ben's first device leaves: his remaining device is now only elsewhere.
    await ben.close()
    const third = newCid()
    ann.send({ type: 'send', cid: third, conv, kind: 'text', body: { text: 'after leave' } })
    await ben2.nextOf('msg', (f) => f.m.cid === third)
  })

  it('fans a group message out over every node and queues it for the offline member', async () => {
    const users = ['g-ann', 'g-ben', 'g-cat', 'g-dan']
    await Promise.all(users.map((u) => devLogin(nodes[0]!.url, u)))
    const ann = await on(0, 'g-ann')
    const ben = await on(1, 'g-ben')
    const cat = await on(2, 'g-cat')
    ann.send({ type: 'conv.create', rid: 'c', kind: 'group', members: ['g-ben', 'g-cat', 'g-dan'], title: 'spread' })
    const conv = (await ann.nextOf('conv', (f) => f.rid === 'c')).conv.id
    await Promise.all([ben.nextOf('conv'), cat.nextOf('conv')])
    const sent: ServerFrameOf<'ack'>[] = []
    for (let i = 0; i < 20; i++) {
      const cid = newCid()
      ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: `g${i}` } })
      sent.push(await ann.nextOf('ack', (f) => f.cid === cid))
    }
    await Promise.all([ben.nextOf('msg', (f) => f.m.seq === 20), cat.nextOf('msg', (f) => f.m.seq === 20)])
    for (const c of [ben, cat]) expect(c.all('msg').map((f) => f.m.seq)).toEqual(sent.map((a) => a.seq))
    // Dan was never connected: everything waits in his queue, and a sync on yet another node gets it once.
    const dan = await on(1, 'g-dan')
    const { batches, done } = await dan.sync('s', [{ conv, seq: 0 }])
    expect(batches.flatMap((b) => b.msgs.map((m) => m.seq))).toEqual(sent.map((a) => a.seq))
    expect(done.q).toBeDefined()
  })
})

describe('one instance with three workers', () => {
  const prefix = randomPrefix()
  let instance: BffProcess

  beforeAll(async () => {
    instance = await spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, WORKERS: '3', ...LIMITS })
  })
  afterAll(async () => {
    instance.kill()
    await instance.exited
    await dropPrefix(prefix)
  })

  it('routes between workers sharing the port, and /metrics sums all workers', async () => {
    const names = ['w-a', 'w-b', 'w-c', 'w-d', 'w-e', 'w-f']
    const conns = []
    for (const n of names) conns.push(await connectUser(instance.url, n))
    // Every pair exchanges one message, so whichever workers round-robin gave them, each pair crosses.
    for (let i = 0; i < names.length; i++) {
      const from = conns[i]!.client
      const to = conns[(i + 1) % names.length]!.client
      const conv = directConvId(names[i]!, names[(i + 1) % names.length]!)
      const cid = newCid()
      from.send({ type: 'send', cid, conv, kind: 'text', body: { text: `from ${names[i]}` } })
      await from.nextOf('ack', (f) => f.cid === cid)
      expect((await to.nextOf('msg', (f) => f.m.cid === cid)).m.from).toBe(names[i])
    }
    // A scrape gathers every worker over IPC; on a loaded machine one may answer late: ask again.
    let metrics = ''
    await waitFor(async () => {
      const res = await fetch(`${instance.url}/metrics`)
      metrics = await res.text()
      return res.status === 200
    }, 20_000)
    expect(metrics).toMatch(/^chat_connections 6$/m)
    expect(metrics).toMatch(/^chat_frames_in_total\{type="send"\} 6$/m)
    await Promise.all(conns.map((c) => c.client.close()))
  })
})

describe('SIGTERM', () => {
  const prefix = randomPrefix()

  afterAll(async () => {
    await dropPrefix(prefix)
  })

  it('tells clients to reconnect (notice, 1012), answers every send received, and exits', async () => {
    const node = await spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, SHUTDOWN_RETRY_AFTER_MS: '750', SHUTDOWN_TIMEOUT_MS: '3000', ...LIMITS })
    const alice = (await connectUser(node.url, 's-alice')).client
    const bob = (await connectUser(node.url, 's-bob')).client
    const conv = directConvId('s-alice', 's-bob')
    const cids: string[] = [newCid()]
    alice.send({ type: 'send', cid: cids[0]!, conv, kind: 'text', body: { text: 'first' } })
    await alice.nextOf('ack')
    // Sends keep flowing (a few hundred a second) while the signal lands: each must end acked or
    // refused, never unanswered.
    let sending = true
    const pump = (async () => {
      while (sending && alice.ws.readyState === alice.ws.OPEN) {
        const cid = newCid()
        cids.push(cid)
        alice.send({ type: 'send', cid, conv, kind: 'text', body: { text: cid } })
        await new Promise((r) => setTimeout(r, 2))
      }
    })()
    await alice.nextOf('ack', (a) => a.seq >= 20)
    node.kill('SIGTERM')
    const [noticeA, noticeB] = await Promise.all([alice.nextOf('notice'), bob.nextOf('notice')])
    sending = false
    await pump
    expect(noticeA).toMatchObject({ code: 'SHUTTING_DOWN', retryAfterMs: 750 })
    expect(noticeB.code).toBe('SHUTTING_DOWN')
    expect((await alice.closed).code).toBe(1012)
    expect((await bob.closed).code).toBe(1012)
    expect(await node.exited).toBe(0)

    const acked = new Set(alice.all('ack').map((a) => a.cid))
    const refused = new Set(alice.all('error').filter((e) => e.code === 'SHUTTING_DOWN').map((e) => e.cid))
    const sentBeforeNotice = cids.slice(0, cids.length)
    const unanswered = sentBeforeNotice.filter((c) => !acked.has(c) && !refused.has(c))
    // Frames still on the wire when the socket closed were never read by the server: at most the
    // tail after the notice. Everything the server read is answered.
    const readByServer = alice.all('ack').length + refused.size
    expect(readByServer).toBeGreaterThan(0)
    expect(unanswered.every((c) => cids.indexOf(c) >= cids.length - unanswered.length)).toBe(true)

    // Every ack is durable: a new node on the same Redis serves them all from history, in order.
    const next = await spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, ...LIMITS })
    try {
      const bob2 = (await connectUser(next.url, 's-bob')).client
      const { batches } = await bob2.sync('after', [{ conv, seq: 0 }], 20_000)
      const stored = batches.flatMap((b) => b.msgs.map((m) => m.cid))
      expect(stored).toEqual(alice.all('ack').sort((x, y) => x.seq - y.seq).map((a) => a.cid))
      await bob2.close()
    } finally {
      next.kill()
      await next.exited
    }
  })
})

describe('worker supervision', () => {
  const prefix = randomPrefix()
  afterAll(async () => {
    await dropPrefix(prefix)
  })

  const fatal = (logs: readonly string[]) => logs.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string }).find((l) => l.msg === 'instance cannot run: exiting')

  it('a worker that cannot start ends the instance: exit 1 with the reason, every process gone', async () => {
    const run = await runBffToExit({ STORE: 'redis', WORKERS: '3', REDIS_URL: 'redis://127.0.0.1:1', REDIS_CONNECT_TIMEOUT_MS: '300' })
    expect(run.code).toBe(1)
    const line = fatal(run.logs)
    expect(line?.level).toBe(60)
    expect(line?.reason).toMatch(/redis|ECONNREFUSED|STORE_UNAVAILABLE|storage/i)
    // No restart loop: at most the three first workers were started.
    expect(run.logs.filter((l) => l.includes('worker died'))).toEqual([])
    expect(run.pids.length).toBeGreaterThanOrEqual(2)
    await waitFor(() => run.pids.every((pid) => !alive(pid)))
  })

  it('a worker that dies later is replaced after a backoff; deaths past WORKER_RESTART_MAX end the instance', async () => {
    const node = await spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, WORKERS: '2', WORKER_RESTART_MAX: '1', ...LIMITS })
    const workers = () =>
      node.logs
        .map((l) => JSON.parse(l) as { msg: string; worker?: number })
        .filter((l) => l.msg === 'worker started')
        .map((l) => l.worker!)
    await waitFor(() => workers().length === 2)
    const [first, second] = workers() as [number, number]
    process.kill(first, 'SIGKILL')
    await waitFor(() => workers().length === 3, 15_000)
    const died = node.logs.map((l) => JSON.parse(l) as { msg: string; worker?: number; delayMs?: number }).find((l) => l.msg === 'worker died: starting another')
    expect(died?.worker).toBe(first)
    expect(died?.delayMs).toBeGreaterThanOrEqual(0)
    expect(died?.delayMs).toBeLessThan(250)
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200)
    // A second death within the window is one too many.
    process.kill(second, 'SIGKILL')
    expect(await node.exited).toBe(1)
    expect(fatal(node.logs)?.reason).toMatch(/2 worker deaths within 60000 ms/)
    const pids = [first, second, ...workers(), node.child.pid!]
    await waitFor(() => pids.every((pid) => !alive(pid)))
  })
})

describe('the start line', () => {
  it('prints the URL to open, and a browser asking for /favicon.ico gets no 404', async () => {
    for (const [host, expected] of [
      ['127.0.0.1', '127.0.0.1'],
      // A wildcard bind is opened on the loopback address.
      ['0.0.0.0', '127.0.0.1'],
    ] as const) {
      const p = await spawnBff({ HOST: host })
      try {
        const line = JSON.parse(p.logs.find((l) => l.includes('"msg":"listening"'))!) as { url?: string; port: number }
        expect(line.url).toBe(`http://${expected}:${p.port}`)
        // The test static folder has no icon: "no content", not "not found".
        const icon = await fetch(`${line.url}/favicon.ico`)
        expect(icon.status).toBe(204)
        expect(await icon.text()).toBe('')
      } finally {
        p.kill()
        await p.exited
      }
    }
  })
})
