/**
 * Operations: health, readiness, metrics, and Redis outages (through a proxy that can be cut):
 * sends fail fast with a temporary STORE_UNAVAILABLE, never an ack, and recover by themselves.
 */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { TestClient, connectUser, newCid } from './support/client'
import { dropPrefix, randomPrefix, startTestServer } from './support/server'
import { TcpProxy } from './support/tcp-proxy'
import { waitFor } from './support/wait'

describe('/metrics is not public', () => {
  const TOKEN = 'scrape-secret-0123456789'
  const servers: RunningServer[] = []
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
  })
  const start = async (env: Record<string, string>) => {
    const s = await startTestServer(env)
    servers.push(s)
    return s
  }

  it('behind METRICS_TOKEN: 401 UNAUTHORIZED without or with a wrong bearer credential, the text with it', async () => {
    const server = await start({ METRICS_TOKEN: TOKEN })
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, { authorization: 'Bearer ' }]) {
      const res = await fetch(`${server.url}/metrics`, { headers })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED')
    }
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.status).toBe(200)
    expect(await ok.text()).toMatch(/^chat_connections 0$/m)
    expect(server.metricsUrl).toBe(server.url)
  })

  it('on METRICS_PORT: served there only (404 on the main port), with the credential too when both are set', async () => {
    const server = await start({ METRICS_PORT: '0' })
    expect(server.metricsUrl).not.toBe(server.url)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
    const res = await fetch(`${server.metricsUrl}/metrics`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/^chat_connections 0$/m)
    // Nothing else is served on the metrics port.
    expect((await fetch(`${server.metricsUrl}/healthz`)).status).toBe(404)
    const both = await start({ METRICS_PORT: '0', METRICS_TOKEN: TOKEN })
    expect((await fetch(`${both.metricsUrl}/metrics`)).status).toBe(401)
    expect((await fetch(`${both.metricsUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
  })
})

describe('ops endpoints', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startTestServer({ CORS_ORIGINS: 'http://h5.example' })
  })
  afterAll(async () => {
    await server.close()
  })

  it('answers healthz and readyz, and serves the web client at /', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).json()).toEqual({ ok: true, protocol: 3 })
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    const page = await fetch(`${server.url}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('chat test page')
  })

  it('sends security headers with the page and the API: CSP, nosniff, no framing, no referrer', async () => {
    for (const path of ['/', '/healthz', '/auth/refresh']) {
      const res = await fetch(`${server.url}${path}`, { method: path === '/auth/refresh' ? 'POST' : 'GET' })
      const csp = res.headers.get('content-security-policy') ?? ''
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]))
      expect(directives.get('default-src')).toEqual(["'self'"])
      // The inline script of the page served, by hash, and nothing else inline.
      const inline = createHash('sha256').update('document.title += " (scripted)"').digest('base64')
      expect(directives.get('script-src')).toEqual(["'self'", `'sha256-${inline}'`])
      expect(directives.get('object-src')).toEqual(["'none'"])
      expect(directives.get('frame-ancestors')).toEqual(["'none'"])
      const host = new URL(server.url).host
      expect(directives.get('connect-src')).toEqual(["'self'", `ws://${host}`, `wss://${host}`])
      expect(directives.has('upgrade-insecure-requests')).toBe(false)
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('referrer-policy')).toBe('no-referrer')
      expect(res.headers.get('x-powered-by')).toBeNull()
    }
  })

  it('allows the configured origin to call the API', async () => {
    const pre = await fetch(`${server.url}/auth/dev-login`, {
      method: 'OPTIONS',
      headers: { origin: 'http://h5.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://h5.example')
    const other = await fetch(`${server.url}/healthz`, { headers: { origin: 'http://evil.example' } })
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('counts connections, frames by type, errors and ack latency', async () => {
    const a = await connectUser(server.url, 'metrics-a')
    const b = await connectUser(server.url, 'metrics-b')
    const cid = newCid()
    a.client.send({ type: 'send', cid, conv: directConvId('metrics-a', 'metrics-b'), kind: 'text', body: { text: 'count me' } })
    await a.client.nextOf('ack')
    await b.client.nextOf('msg')
    a.client.sendRaw('nope')
    await a.client.nextOf('error')
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toMatch(/^chat_connections 2$/m)
    expect(text).toMatch(/^chat_frames_in_total\{type="send"\} 1$/m)
    expect(text).toMatch(/^chat_frames_in_total\{type="invalid"\} 1$/m)
    expect(text).toMatch(/^chat_frames_out_total\{type="ack"\} 1$/m)
    expect(text).toMatch(/^chat_frames_out_total\{type="msg"\} 1$/m)
    expect(text).toMatch(/^chat_errors_total\{code="BAD_JSON"\} 1$/m)
    expect(text).toMatch(/^chat_ack_latency_seconds_count 1$/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m)
    await Promise.all([a.client.close(), b.client.close()])
    await waitFor(() => server.connections() === 0)
  })
})

describe('Redis outage', () => {
  const proxy = new TcpProxy('127.0.0.1', 6379)
  const prefix = randomPrefix()
  let server: RunningServer

  beforeAll(async () => {
    await proxy.start()
    server = await startTestServer({
      STORE: 'redis',
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      REDIS_PREFIX: prefix,
      REDIS_COMMAND_TIMEOUT_MS: '500',
    })
  })
  afterAll(async () => {
    await server.close()
    await proxy.cut()
    await dropPrefix(prefix)
  })

  /** A token minted while Redis is away (dev-login would need the store). */
  async function devLoginDirect() {
    const { SignJWT } = await import('jose')
    const key = new TextEncoder().encode('dev-only-secret-do-not-use-in-production-0123456789')
    const token = await new SignJWT({ name: 'late' }).setProtectedHeader({ alg: 'HS256' }).setSubject('out-late').setIssuer('chat-bff').setExpirationTime('1h').sign(key)
    return { token }
  }

  it('refuses sends with a temporary STORE_UNAVAILABLE, fails readiness, and recovers when Redis returns', async () => {
    const alice = (await connectUser(server.url, 'out-alice')).client
    const bob = (await connectUser(server.url, 'out-bob')).client
    const conv = directConvId('out-alice', 'out-bob')
    const first = newCid()
    alice.send({ type: 'send', cid: first, conv, kind: 'text', body: { text: 'before' } })
    await alice.nextOf('ack', (f) => f.cid === first)

    await proxy.cut()
    const during = newCid()
    const sentAt = Date.now()
    alice.send({ type: 'send', cid: during, conv, kind: 'text', body: { text: 'during' } })
    const err = await alice.nextOf('error', (f) => f.cid === during)
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', temporary: true })
    expect(Date.now() - sentAt).toBeLessThan(2000)
    expect(alice.all('ack').map((a) => a.cid)).not.toContain(during)
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(((await ready.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE')
    expect(await server.metrics.storeErrors.get().then((m) => m.values[0]?.value ?? 0)).toBeGreaterThan(0)
    // The socket itself stays up: the client retries the same cid later.
    alice.send({ type: 'ping' })
    await alice.nextOf('pong')
    // A device connecting meanwhile is told to come back later, and the process stays up.
    const late = await TestClient.connect(server.url, (await devLoginDirect()).token)
    expect((await late.nextOf('error')).code).toBe('STORE_UNAVAILABLE')
    expect((await late.closed).code).toBe(1013)

    await proxy.restore()
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 10_000)
    alice.send({ type: 'send', cid: during, conv, kind: 'text', body: { text: 'during' } })
    const ack = await alice.nextOf('ack', (f) => f.cid === during)
    expect(ack).toMatchObject({ seq: 2 })
    expect(ack.dup).toBeUndefined()
    expect((await bob.nextOf('msg', (f) => f.m.cid === during)).m.seq).toBe(2)
    await Promise.all([alice.close(), bob.close()])
  })
})
