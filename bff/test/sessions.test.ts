/**
 * Sessions and shares per user, on both engines (issue 12): refresh-token families revoked on reuse,
 * user ids checked at every entry, sockets closed with 4002 when their token expires, a cap of
 * devices per user that concurrent upgrades cannot race past, and one rate limit per user.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import type { AuthResponse } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { TestClient, connectUser, devLogin, postJson } from './support/client'
import { dropPrefix, randomPrefix, startTestServer } from './support/server'

const DEV_SECRET = new TextEncoder().encode('dev-only-secret-do-not-use-in-production-0123456789')

describe.each(['memory', 'redis'] as const)('sessions over the %s engine', (store) => {
  const prefixes: string[] = []
  const servers: RunningServer[] = []
  const open: TestClient[] = []
  let n = 0
  const uid = (name: string) => `${name}${++n}`

  async function start(env: Record<string, string> = {}): Promise<RunningServer> {
    const prefix = randomPrefix()
    prefixes.push(prefix)
    const server = await startTestServer({ STORE: store, REDIS_PREFIX: prefix, ...env })
    servers.push(server)
    return server
  }
  let server: RunningServer
  beforeAll(async () => {
    server = await start({ MAX_DEVICES_PER_USER: '3', RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '10', FLOOD_MAX_REJECTS: '1000' })
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    if (store === 'redis') await Promise.all(prefixes.map(dropPrefix))
  })

  const refresh = (url: string, refreshToken: string) => postJson(url, '/auth/refresh', { refreshToken })

  it('a spent refresh token presented again revokes its whole family, not other logins', async () => {
    const u = uid('fam')
    const login = await devLogin(server.url, u)
    const other = await devLogin(server.url, u)
    const r1 = await refresh(server.url, login.refreshToken)
    expect(r1.status).toBe(200)
    const r2 = await refresh(server.url, (r1.body as AuthResponse).refreshToken)
    expect(r2.status).toBe(200)
    // The thief (or the victim) presents the first token again.
    const reused = await refresh(server.url, login.refreshToken)
    expect(reused).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED', temporary: false } } })
    expect(reused.body.error.message).toMatch(/revoked/)
    // The family's live token is dead now, and stays dead.
    expect((await refresh(server.url, (r2.body as AuthResponse).refreshToken)).body.error.code).toBe('UNAUTHORIZED')
    // Another login of the same user is its own family.
    expect((await refresh(server.url, other.refreshToken)).status).toBe(200)
    // Malformed tokens: the same answer, nothing looked up.
    for (const bad of ['x', `${login.refreshToken}x`, login.refreshToken.replace('.', '-')]) {
      expect((await refresh(server.url, bad)).body.error.code).toBe('UNAUTHORIZED')
    }
  })

  it('a correctly signed token naming an invalid user id is refused at the upgrade (401 UNAUTHORIZED)', async () => {
    for (const sub of ['../../x:y{z}', '', 'a'.repeat(65), 'sp ace']) {
      const token = await new SignJWT({ name: 'x' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuer('chat-bff').setExpirationTime('1h').sign(DEV_SECRET)
      expect(await TestClient.refused(server.url, token)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    }
    // And at dev-login, with the shared schema's INVALID_FRAME.
    expect((await postJson(server.url, '/auth/dev-login', { user: '../../x:y{z}' })).body.error.code).toBe('INVALID_FRAME')
  })

  it('a socket whose token expires is closed with an error frame and 4002 within one heartbeat interval', async () => {
    const quick = await start({ TOKEN_TTL_MS: '2000', HEARTBEAT_INTERVAL_MS: '100' })
    const { client, auth } = await connectUser(quick.url, uid('exp'))
    open.push(client)
    const closed = await client.closed
    const at = Date.now()
    expect(closed.code).toBe(4002)
    expect(client.all('error').map((e) => e.code)).toEqual(['TOKEN_EXPIRED'])
    // Not before the expiry, and at most one heartbeat interval after it (plus scheduling slack).
    expect(at).toBeGreaterThanOrEqual(auth.expiresAt)
    expect(at - auth.expiresAt).toBeLessThan(100 + 1000)
    // The renewed token connects again.
    const renewed = await refresh(quick.url, auth.refreshToken)
    const again = await TestClient.connect(quick.url, (renewed.body as AuthResponse).token)
    open.push(again)
    await again.nextOf('welcome')
  })

  it('devices per user are capped (oldest win) even when upgrades race: 429 TOO_MANY_DEVICES beyond', async () => {
    const u = uid('many')
    const auth = await devLogin(server.url, u)
    const attempts = await Promise.allSettled(Array.from({ length: 10 }, () => TestClient.connect(server.url, auth.token)))
    const accepted = attempts.filter((a): a is PromiseFulfilledResult<TestClient> => a.status === 'fulfilled').map((a) => a.value)
    open.push(...accepted)
    expect(accepted).toHaveLength(3)
    expect(attempts.filter((a) => a.status === 'rejected').map((a) => String(a.reason))).toEqual(Array(7).fill('Error: upgrade refused: HTTP 429'))
    await Promise.all(accepted.map((c) => c.nextOf('welcome')))
    expect(await TestClient.refused(server.url, auth.token)).toEqual({
      status: 429,
      body: { error: { code: 'TOO_MANY_DEVICES', message: 'too many devices of this user are connected', temporary: true } },
    })
    // The accepted ones are untouched; another user connects; a slot freed is taken again.
    for (const c of accepted) expect(c.ws.readyState).toBe(c.ws.OPEN)
    open.push((await connectUser(server.url, uid('else'))).client)
    await accepted[0]!.close()
    const next = await TestClient.connect(server.url, auth.token)
    open.push(next)
    await next.nextOf('welcome')
    const refused = (await server.metrics.errorsOut.get()).values.find((v) => v.labels.code === 'TOO_MANY_DEVICES')?.value
    expect(refused).toBe(8)
  })

  it('the rate limit holds per user: three sockets share one bucket', async () => {
    const u = uid('rate')
    const auth = await devLogin(server.url, u)
    const sockets = await Promise.all([0, 1, 2].map(() => TestClient.connect(server.url, auth.token)))
    open.push(...sockets)
    await Promise.all(sockets.map((c) => c.nextOf('welcome')))
    // 30 pings over three sockets against a burst of 10 at 1/s: about 10 answered, the rest refused.
    for (const c of sockets) for (let i = 0; i < 10; i++) c.send({ type: 'ping', ts: i })
    const answers = async (c: TestClient) => {
      for (let i = 0; i < 10; i++) await c.next((f) => f.type === 'pong' || (f.type === 'error' && f.code === 'RATE_LIMITED'))
    }
    await Promise.all(sockets.map(answers))
    const pongs = sockets.reduce((sum, c) => sum + c.all('pong').length, 0)
    const limited = sockets.reduce((sum, c) => sum + c.all('error').filter((e) => e.code === 'RATE_LIMITED').length, 0)
    expect(pongs + limited).toBe(30)
    // The bucket refills at 1/s: at most one more than the burst while the test runs.
    expect(pongs).toBeGreaterThanOrEqual(10)
    expect(pongs).toBeLessThanOrEqual(12)
    // Another user has a full bucket of its own.
    const other = (await connectUser(server.url, uid('calm'))).client
    open.push(other)
    other.send({ type: 'ping', ts: 1 })
    expect((await other.nextOf('pong')).ts).toBe(1)
  })
})
