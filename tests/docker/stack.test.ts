/**
 * `npm run test:docker`: the production image and the compose stack, for real. Builds bff/Dockerfile,
 * starts docker-compose.yml (Redis with AOF, two BFF replicas on the Redis engine, HAProxy) with the
 * host-network override docker-compose.test.yml on free 127.0.0.1 ports, waits for /readyz, has two
 * users log in (WeChat's code2session played by a local fake: the image runs in production mode,
 * where dev login is refused) and exchange messages over WebSocket through the balancer, then stops
 * a replica with `docker stop` and checks that it drains (1012) and its client carries on. The archive
 * contract suite runs against the stack's MariaDB 11.8, and a message survives `down && up`.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { stripVTControlCharacters } from 'node:util'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { AuthResponse } from '@chat/shared'
import { newCid, postJson, TestClient } from '../../bff/test/support/client'
import { repoRoot } from '../ops/support/project-copy'
import { freePorts, httpStatus, metricValue, run, runOk, until } from '../ops/support/proc'

const IMAGE = 'chat-bff:test'
const project = `chattest${process.pid}`

const env: NodeJS.ProcessEnv = { ...process.env }
// scripts/container-setup.sh serves podman's Docker API here; a machine with Docker needs nothing.
if (!env.DOCKER_HOST && existsSync('/run/podman/podman.sock')) env.DOCKER_HOST = 'unix:///run/podman/podman.sock'

let compose: string[] = ['docker-compose']
const dc = (args: string[], timeoutMs = 180_000) =>
  runOk(compose[0]!, [...compose.slice(1), '-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.test.yml', ...args], { env, cwd: repoRoot, timeoutMs })

let wechat: Server
let ports: { redis: number; bff1: number; bff2: number; lb: number; mysql: number; metrics1: number; metrics2: number }
const lb = () => `http://127.0.0.1:${ports.lb}`
const bffUrl = (i: 1 | 2) => `http://127.0.0.1:${i === 1 ? ports.bff1 : ports.bff2}`
/** /metrics is not on the public port: each replica serves it on its METRICS_PORT. */
const metricsUrl = (i: 1 | 2) => `http://127.0.0.1:${i === 1 ? ports.metrics1 : ports.metrics2}/metrics`
const clients: TestClient[] = []
let failed = false

beforeAll(async () => {
  if ((await run('docker', ['compose', 'version'], { env })).code === 0) compose = ['docker', 'compose']

  const buildStart = Date.now()
  // --network host: this machine's containers reach the npm registry only through the host.
  await runOk('docker', ['build', '--network', 'host', '-t', IMAGE, '-f', 'bff/Dockerfile', '.'], { env, cwd: repoRoot, timeoutMs: 1_200_000 })
  console.log(`[docker] image built in ${((Date.now() - buildStart) / 1000).toFixed(1)} s`)

  // WeChat's code2session, as the BFF calls it: the code names the user.
  wechat = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const code = url.searchParams.get('js_code') ?? ''
    res.setHeader('content-type', 'application/json')
    if (url.pathname !== '/sns/jscode2session' || url.searchParams.get('appid') !== 'wx00000000000000d0' || url.searchParams.get('secret') !== 'wx-test-secret') {
      res.end(JSON.stringify({ errcode: 40013, errmsg: 'invalid appid' }))
      return
    }
    res.end(JSON.stringify({ openid: `oDocker${code}`, session_key: randomBytes(16).toString('base64') }))
  })
  await new Promise<void>((r) => wechat.listen(0, '127.0.0.1', r))

  const [redis, bff1, bff2, lbPort, mysql, metrics1, metrics2] = await freePorts(7)
  ports = { redis: redis!, bff1: bff1!, bff2: bff2!, lb: lbPort!, mysql: mysql!, metrics1: metrics1!, metrics2: metrics2! }
  Object.assign(env, {
    BFF_IMAGE: IMAGE,
    NODE_ENV: 'production',
    REDIS_PASSWORD: randomBytes(18).toString('hex'),
    MYSQL_PASSWORD: randomBytes(18).toString('hex'),
    MYSQL_ROOT_PASSWORD: randomBytes(18).toString('hex'),
    JWT_SECRET: randomBytes(32).toString('hex'),
    WX_APPID: 'wx00000000000000d0',
    WX_SECRET: 'wx-test-secret',
    WX_API_BASE: `http://127.0.0.1:${(wechat.address() as AddressInfo).port}`,
    SHUTDOWN_TIMEOUT_MS: '5000',
    TEST_REDIS_PORT: String(ports.redis),
    TEST_MYSQL_PORT: String(ports.mysql),
    TEST_BFF_1_PORT: String(ports.bff1),
    TEST_BFF_2_PORT: String(ports.bff2),
    TEST_LB_PORT: String(ports.lb),
    TEST_METRICS_1_PORT: String(ports.metrics1),
    TEST_METRICS_2_PORT: String(ports.metrics2),
  })
  const upStart = Date.now()
  await dc(['up', '-d', '--no-build'])
  const readyMs = await until('both replicas ready and the balancer routing', async () => {
    return (await httpStatus(`${bffUrl(1)}/readyz`)) === 200 && (await httpStatus(`${bffUrl(2)}/readyz`)) === 200 && (await httpStatus(`${lb()}/readyz`)) === 200
  }, 90_000, 200)
  console.log(`[docker] stack up and ready in ${((Date.now() - upStart) / 1000).toFixed(1)} s (readiness polled for ${readyMs} ms)`)
})

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  if (failed) {
    const logs = await run(compose[0]!, [...compose.slice(1), '-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.test.yml', 'logs', '--tail', '40'], { env, cwd: repoRoot })
    console.log(logs.stdout, logs.stderr)
  }
  // Always: containers, network and volumes of this run go, whatever happened above.
  await run(compose[0]!, [...compose.slice(1), '-p', project, '-f', 'docker-compose.yml', '-f', 'docker-compose.test.yml', 'down', '-v', '--timeout', '5'], { env, cwd: repoRoot, timeoutMs: 180_000 })
  await new Promise((r) => wechat?.close(r))
}, 240_000)

function track<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    failed = true
    throw err
  })
}

async function containerId(service: string): Promise<string> {
  return (await dc(['ps', '-q', service])).trim()
}

async function wxLogin(code: string): Promise<AuthResponse> {
  const res = await postJson(lb(), '/auth/wx-login', { code })
  if (res.status !== 200) throw new Error(`wx-login ${code}: HTTP ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

async function connections(i: 1 | 2): Promise<number> {
  const text = await (await fetch(metricsUrl(i))).text()
  return metricValue(text, 'chat_connections') ?? -1
}

describe('the BFF image', () => {
  it('is lean, runs as a non-root user and has no build toolchain', () =>
    track((async () => {
      const size = Number((await runOk('docker', ['image', 'inspect', IMAGE, '--format', '{{.Size}}'], { env })).trim())
      const base = Number((await runOk('docker', ['image', 'inspect', 'node:20-bookworm-slim', '--format', '{{.Size}}'], { env })).trim())
      console.log(`[docker] image ${IMAGE}: ${(size / 1e6).toFixed(1)} MB, of which ${((size - base) / 1e6).toFixed(1)} MB above node:20-bookworm-slim`)
      // The bundle, its runtime packages, the h5 build and jemalloc: ~56 MB (apt's caches left in a layer were 80 MB more).
      expect(size - base).toBeLessThan(100e6)
      const probe = await runOk('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c',
        'id -u; node -e "const m = require(\'fs\').readFileSync(\'/proc/self/maps\', \'utf8\'); console.log(/libjemalloc\\.so/.test(m) ? \'jemalloc\' : \'no jemalloc\')"; ' +
        'test -w /app && echo app-writable; for p in typescript @tarojs webpack esbuild vitest @chat; do test -e node_modules/$p && echo has-$p; done; du -sm node_modules | cut -f1'], { env })
      const lines = probe.trim().split('\n')
      expect(lines[0]).toBe('1000')
      // The server's allocator is jemalloc (bff/Dockerfile: glibc's kept what reconnect storms freed).
      expect(lines[1]).toBe('jemalloc')
      // Nothing but the exit of `du`: no toolchain package, the code is not writable by the server.
      expect(lines.slice(2, -1)).toEqual([])
      const nodeModulesMb = Number(lines.at(-1))
      console.log(`[docker] runtime node_modules: ${nodeModulesMb} MB`)
      expect(nodeModulesMb).toBeLessThan(80)
    })()))

  it('passes its own HEALTHCHECK', () =>
    track((async () => {
      const id = await containerId('bff-1')
      const podman = await run('podman', ['healthcheck', 'run', id], { env })
      if (podman.code === 0 || podman.stdout.includes('healthy') || podman.stderr.includes('unhealthy')) {
        // podman: healthchecks run on demand (no systemd timer here). Exit 0 means healthy.
        expect(podman.code).toBe(0)
        return
      }
      // Docker: the engine runs the check itself.
      await until('container healthy', async () => (await runOk('docker', ['inspect', id, '--format', '{{.State.Health.Status}}'], { env })).trim() === 'healthy', 60_000, 500)
    })()))
})

describe('the compose stack', () => {
  it('runs each replica\'s server on jemalloc', () =>
    track((async () => {
      for (const service of ['bff-1', 'bff-2']) {
        const id = await containerId(service)
        // The server's process (PID 1 is compose's init): its mappings name the preloaded allocator.
        const out = await runOk('docker', ['exec', id, 'sh', '-c',
          'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -q "^node bff/dist/main.js" && { grep -q libjemalloc $p/maps && echo jemalloc || echo glibc; }; done'], { env })
        expect(out.trim().split('\n')).toEqual(['jemalloc'])
      }
    })()))

  it('serves the h5 client through the balancer', () =>
    track((async () => {
      const res = await fetch(`${lb()}/`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/text\/html/)
      expect(await res.text()).toMatch(/<script[^>]+src="\/?js\/[^"]+\.js"/)
    })()))

  it('keeps Redis on AOF with fsync every second', () =>
    track((async () => {
      const id = await containerId('redis')
      const cfg = await runOk('docker', ['exec', '-e', `REDISCLI_AUTH=${env.REDIS_PASSWORD}`, id, 'redis-cli', '-p', String(ports.redis), 'config', 'get', 'append*'], { env })
      expect(cfg.split('\n').map((s) => s.trim())).toEqual(expect.arrayContaining(['appendonly', 'yes', 'appendfsync', 'everysec']))
    })()))

  it('two users log in and exchange messages over WebSocket through the balancer, one on each replica', () =>
    track((async () => {
      const [alice, bob] = await Promise.all([wxLogin('Alice'), wxLogin('Bob')])
      expect(alice.user.id).toBe('oDockerAlice')
      // Dev login is refused: the image runs in production mode.
      expect((await postJson(lb(), '/auth/dev-login', { user: 'mallory' })).status).not.toBe(200)

      const a = await TestClient.connect(lb(), alice.token)
      clients.push(a)
      await a.nextOf('welcome')
      await until('alice counted on one replica', async () => (await connections(1)) + (await connections(2)) === 1, 10_000)
      const b = await TestClient.connect(lb(), bob.token)
      clients.push(b)
      await b.nextOf('welcome')
      // leastconn: the second connection goes to the replica that has none.
      await until('one connection per replica', async () => (await connections(1)) === 1 && (await connections(2)) === 1, 10_000)

      const conv = directConvId(alice.user.id, bob.user.id)
      const cid = newCid()
      a.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'hello through the balancer' } })
      const ack = await a.nextOf('ack', (f) => f.cid === cid, 10_000)
      const got = await b.nextOf('msg', (f) => f.m.cid === cid, 10_000)
      expect(got.m).toMatchObject({ mid: ack.mid, seq: ack.seq, from: alice.user.id, body: { text: 'hello through the balancer' } })

      const reply = newCid()
      b.send({ type: 'send', cid: reply, conv, kind: 'text', body: { text: 'and back' } })
      const replyAck = await b.nextOf('ack', (f) => f.cid === reply, 10_000)
      const back = await a.nextOf('msg', (f) => f.m.cid === reply, 10_000)
      expect(back.m.seq).toBe(replyAck.seq)
      expect(replyAck.seq).toBe(ack.seq + 1)
      // Exactly one copy each way.
      expect(a.all('msg')).toHaveLength(1)
      expect(b.all('msg')).toHaveLength(1)
    })()))

  it('docker stop drains a replica: its client gets 1012, reconnects through the balancer to the other and misses nothing', () =>
    track((async () => {
      const [a, b] = clients as [TestClient, TestClient]
      // Stop the replica that holds alice.
      const holder = await whichHolds(a)
      const other: 1 | 2 = holder === 1 ? 2 : 1
      const id = await containerId(holder === 1 ? 'bff-1' : 'bff-2')
      const stopStart = Date.now()
      const stopping = runOk('docker', ['stop', '-t', '20', id], { env, timeoutMs: 60_000 })
      const closed = await a.closed
      await stopping
      const stopMs = Date.now() - stopStart
      expect(closed.code).toBe(1012)
      expect(a.all('notice').map((n) => n.code)).toContain('SHUTTING_DOWN')
      const exitCode = (await runOk('docker', ['inspect', id, '--format', '{{.State.ExitCode}}'], { env })).trim()
      // Exit 0: the process drained by itself, well before the 20 s after which docker kills it.
      expect(exitCode).toBe('0')
      console.log(`[docker] docker stop drained the replica in ${stopMs} ms`)
      expect(stopMs).toBeLessThan(15_000)

      // Bob, on the other replica, keeps sending; alice comes back through the balancer.
      const cid = newCid()
      const conv = directConvId('oDockerAlice', 'oDockerBob')
      b.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'while you were away' } })
      const ack = await b.nextOf('ack', (f) => f.cid === cid, 10_000)
      const alice = await wxLogin('Alice')
      const again = await TestClient.connect(lb(), alice.token)
      clients.push(again)
      await again.nextOf('welcome')
      expect(await connections(other)).toBe(2)
      const { batches } = await again.sync('s1', [{ conv, seq: ack.seq - 1 }])
      expect(batches.flatMap((x) => x.msgs.map((m) => m.cid))).toEqual([cid])
    })()))

  it('the one archive contract passes on the stack’s MariaDB 11.8, as on the machine’s 10.11 and SQLite', () =>
    track((async () => {
      const url = `mysql://root:${env.MYSQL_ROOT_PASSWORD}@127.0.0.1:${ports.mysql}`
      const version = await runOk(process.execPath, ['-e', `require('mysql2/promise').createConnection(${JSON.stringify(url)}).then(async (c) => { const [r] = await c.query('SELECT VERSION() AS v'); console.log(r[0].v); await c.end() })`], { env, cwd: `${repoRoot}/bff`, timeoutMs: 30_000 })
      expect(version.trim()).toMatch(/^11\.8\./)
      // The suite creates and drops a database of its own per test, as it does on 127.0.0.1:3306.
      const out = await runOk('npx', ['vitest', 'run', '--project', 'bff', 'bff/test/archive/mysql.test.ts'], { env: { ...env, TEST_MYSQL_URL: url, NO_COLOR: '1', FORCE_COLOR: '0' }, cwd: repoRoot, timeoutMs: 300_000 })
      const plain = stripVTControlCharacters(out)
      // Every test of the file passed: "Tests  15 passed (15)", nothing failed or skipped.
      const [, passed, all] = /Tests\s+(\d+) passed \((\d+)\)/.exec(plain) ?? []
      expect(Number(passed)).toBeGreaterThan(10)
      expect(passed).toBe(all)
    })()), 360_000)

  it('a message survives docker compose down && up, even with Redis emptied: MariaDB keeps it', () =>
    track((async () => {
      const conv = directConvId('oDockerAlice', 'oDockerBob')
      const a = await TestClient.connect(lb(), (await wxLogin('Alice')).token)
      clients.push(a)
      await a.nextOf('welcome')
      const cid = newCid()
      a.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'kept by MariaDB' } })
      const ack = await a.nextOf('ack', (f) => f.cid === cid, 10_000)
      await until('the persister has it in MariaDB', async () => ((await (await fetch(`${lb()}/readyz`)).json()) as { archive?: { backlog?: number } }).archive?.backlog === 0, 20_000, 200)
      await Promise.all(clients.splice(0).map((c) => c.close()))

      await dc(['down', '--timeout', '10'], 180_000)
      // Redis's volume goes; MariaDB's stays.
      await runOk('docker', ['volume', 'rm', `${project}_redis-data`], { env })
      await dc(['up', '-d', '--no-build'], 300_000)
      // The balancer too: it marks the new replicas up only after its own health checks.
      await until(
        'both replicas ready again and the balancer routing',
        async () => (await httpStatus(`${bffUrl(1)}/readyz`)) === 200 && (await httpStatus(`${bffUrl(2)}/readyz`)) === 200 && (await httpStatus(`${lb()}/readyz`)) === 200,
        180_000,
        500,
      )

      const again = await TestClient.connect(lb(), (await wxLogin('Alice')).token)
      clients.push(again)
      await again.nextOf('welcome')
      again.send({ type: 'history', rid: 'after-down', conv, limit: 50 })
      const page = await again.nextOf('messages', (f) => f.rid === 'after-down', 10_000)
      expect(page.msgs.find((m) => m.cid === cid)).toMatchObject({ seq: ack.seq, mid: ack.mid, body: { text: 'kept by MariaDB' } })
      // Seqs go on after MariaDB's last one.
      const next = newCid()
      again.send({ type: 'send', cid: next, conv, kind: 'text', body: { text: 'after' } })
      expect((await again.nextOf('ack', (f) => f.cid === next, 10_000)).seq).toBe(page.msgs.at(-1)!.seq + 1)
    })()))
})

/** The replica that holds a client: the one whose frames-in counter moves when the client pings. */
async function whichHolds(client: TestClient): Promise<1 | 2> {
  const before = await Promise.all([framesIn(1), framesIn(2)])
  client.send({ type: 'ping', ts: Date.now() })
  await client.nextOf('pong')
  let holder: 1 | 2 | undefined
  await until('the ping counted by one replica', async () => {
    const after = await Promise.all([framesIn(1), framesIn(2)])
    if (after[0] > before[0]) holder = 1
    else if (after[1] > before[1]) holder = 2
    return holder !== undefined
  }, 5000)
  return holder!
}

async function framesIn(i: 1 | 2): Promise<number> {
  const text = await (await fetch(metricsUrl(i))).text()
  let total = 0
  for (const m of text.matchAll(/^chat_frames_in_total(?:\{[^}]*\})? ([0-9.eE+-]+)$/gm)) total += Number(m[1])
  return total
}
