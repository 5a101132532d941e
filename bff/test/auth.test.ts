/**
 * Auth over HTTP and at the socket upgrade, against a local fake of WeChat's code2session that
 * answers step by step like the real one, errors included.
 */
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SignJWT } from 'jose'
import { pino } from 'pino'
import type { RunningServer } from '../src/app'
import { TestClient, devLogin, postJson } from './support/client'
import { startTestServer } from './support/server'

/** code -> what the fake answers: a JSON body, an HTTP status, or a dropped connection. */
const wxAnswers: Record<string, { body?: unknown; status?: number; drop?: boolean }> = {
  good: { body: { openid: 'oAbCdEfGhIjKlMnOpQrStUvWxYz01', session_key: 'secret-key' } },
  used: { body: { errcode: 40029, errmsg: 'invalid code' } },
  busy: { body: { errcode: 45011, errmsg: 'api minute-quota reach limit' } },
  risky: { body: { errcode: 40226, errmsg: 'high risk user' } },
  down: { status: 502 },
  drop: { drop: true },
  busyAlways: { body: { errcode: -1, errmsg: 'system error' } },
}
/** Codes WeChat answers -1 (busy) for this many times, then takes (`flaky*`). */
const busyFirst = new Map<string, number>()

describe('auth', () => {
  let wx: Server
  let wxBase: string
  const wxRequests: URL[] = []
  let server: RunningServer

  beforeAll(async () => {
    wx = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      wxRequests.push(url)
      const js = url.searchParams.get('js_code') ?? ''
      const left = busyFirst.get(js)
      if (left !== undefined) busyFirst.set(js, left - 1)
      const answer = left !== undefined && left > 0 ? wxAnswers.busyAlways! : js.startsWith('flaky') ? wxAnswers.good! : (wxAnswers[js] ?? { body: { errcode: 40029 } })
      if (answer.drop) return req.socket.destroy()
      res.writeHead(answer.status ?? 200, { 'content-type': 'text/plain' }) // WeChat answers JSON as text/plain
      res.end(answer.body ? JSON.stringify(answer.body) : 'bad gateway')
    })
    await new Promise<void>((r) => wx.listen(0, '127.0.0.1', r))
    wxBase = `http://127.0.0.1:${(wx.address() as AddressInfo).port}`
    server = await startTestServer({ WX_APPID: 'wx-app', WX_SECRET: 'wx-secret', WX_API_BASE: wxBase, TOKEN_TTL_MS: '60000' })
  })
  afterAll(async () => {
    await server.close()
    await new Promise((r) => wx.close(r))
  })

  it('exchanges a wx.login code for tokens, sending appid, secret and code to code2session', async () => {
    const res = await postJson(server.url, '/auth/wx-login', { code: 'good' })
    expect(res.status).toBe(200)
    expect(res.body.user.id).toBe('oAbCdEfGhIjKlMnOpQrStUvWxYz01')
    expect(res.body.expiresAt).toBeGreaterThan(Date.now() + 50_000)
    expect(res.body.refreshExpiresAt).toBeGreaterThan(res.body.expiresAt)
    expect(JSON.stringify(res.body)).not.toContain('secret-key')
    const call = wxRequests.at(-1)!
    expect(call.pathname).toBe('/sns/jscode2session')
    expect(Object.fromEntries(call.searchParams)).toEqual({ appid: 'wx-app', secret: 'wx-secret', js_code: 'good', grant_type: 'authorization_code' })
    const client = await TestClient.connect(server.url, res.body.token)
    expect((await client.nextOf('welcome')).user.id).toBe('oAbCdEfGhIjKlMnOpQrStUvWxYz01')
    await client.close()
  })

  it.each([
    ['used', 401, 'WX_CODE_INVALID', false],
    ['busy', 429, 'WX_RATE_LIMITED', true],
    ['risky', 403, 'WX_USER_BLOCKED', false],
    ['down', 502, 'WX_UNAVAILABLE', true],
    ['drop', 502, 'WX_UNAVAILABLE', true],
  ])('maps code2session answer %s to HTTP %i %s', async (code, status, errCode, temporary) => {
    const res = await postJson(server.url, '/auth/wx-login', { code })
    expect(res.status).toBe(status)
    expect(res.body.error).toMatchObject({ code: errCode, temporary })
  })

  it('counts code2session calls in wechat_calls_total by outcome and logs failures without the secret or the code', async () => {
    const lines: string[] = []
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) })
    const counted = await startTestServer({ WX_APPID: 'wx-app', WX_SECRET: 'wx-secret', WX_API_BASE: wxBase, WX_CHECKER: 'inline' }, { log })
    try {
      for (const code of ['good', 'used', 'risky', 'down', 'drop']) await postJson(counted.url, '/auth/wx-login', { code })
      const text = await counted.metrics.registry.metrics()
      const count = (outcome: string) => Number(new RegExp(`wechat_calls_total\\{api="code2session",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
      expect([count('ok'), count('40029'), count('40226'), count('unreachable')]).toEqual([1, 1, 1, 2])
      const failures = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.api === 'code2session')
      // The client's bad code or blocked user at info; WeChat not answering at warn (pino: 30 info, 40 warn).
      expect(failures.map((l) => [l.level, l.msg, l.errcode])).toEqual([
        [30, 'wechat call refused', 40029],
        [30, 'wechat call refused', 40226],
        [40, 'wechat call failed', undefined],
        [40, 'wechat call failed', undefined],
      ])
      expect(lines.join('\n')).not.toMatch(/wx-secret|js_code|"(used|risky|down|drop)"/)
    } finally {
      await counted.close()
    }
  })

  it('retries a busy WeChat (-1) and a refused connection, at most WX_RETRY_MAX times; never a code WeChat may have spent', async () => {
    const retrying = await startTestServer({ WX_APPID: 'wx-app', WX_SECRET: 'wx-secret', WX_API_BASE: wxBase, WX_RETRY_MAX: '2', WX_RETRY_BASE_MS: '1', WX_CHECKER: 'inline' })
    const calls = (code: string) => wxRequests.filter((u) => u.searchParams.get('js_code') === code).length
    try {
      // Busy twice, then the login goes through: three calls, one login.
      busyFirst.set('flaky1', 2)
      const ok = await postJson(retrying.url, '/auth/wx-login', { code: 'flaky1' })
      expect(ok.status).toBe(200)
      expect(calls('flaky1')).toBe(3)
      // Busy for good: 1 + 2 calls, then WX_UNAVAILABLE (temporary).
      const busy = await postJson(retrying.url, '/auth/wx-login', { code: 'busyAlways' })
      expect([busy.status, busy.body.error.code, busy.body.error.temporary]).toEqual([502, 'WX_UNAVAILABLE', true])
      expect(calls('busyAlways')).toBe(3)
      // A 5xx or a connection cut after the request may have spent the code: one call each.
      for (const code of ['down', 'drop']) {
        const before = calls(code)
        expect((await postJson(retrying.url, '/auth/wx-login', { code })).body.error.code).toBe('WX_UNAVAILABLE')
        expect(calls(code) - before).toBe(1)
      }
      const text = await retrying.metrics.registry.metrics()
      expect(text).toMatch(/wechat_calls_total\{api="code2session",outcome="retry"\} 4\b/)
    } finally {
      await retrying.close()
    }
    // Nothing listening: refused before anything was sent, so retried, then WX_UNAVAILABLE.
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    const refused = await startTestServer({ WX_APPID: 'wx-app', WX_SECRET: 'wx-secret', WX_API_BASE: `http://127.0.0.1:${port}`, WX_RETRY_MAX: '2', WX_RETRY_BASE_MS: '1', WX_CHECKER: 'inline' })
    try {
      const res = await postJson(refused.url, '/auth/wx-login', { code: 'good' })
      expect([res.status, res.body.error.code]).toEqual([502, 'WX_UNAVAILABLE'])
      const text = await refused.metrics.registry.metrics()
      expect(text).toMatch(/wechat_calls_total\{api="code2session",outcome="retry"\} 2\b/)
      expect(text).toMatch(/wechat_calls_total\{api="code2session",outcome="unreachable"\} 1\b/)
    } finally {
      await refused.close()
    }
  })

  it('refuses malformed login bodies with the error table', async () => {
    expect((await postJson(server.url, '/auth/wx-login', {})).body.error.code).toBe('INVALID_FRAME')
    expect((await postJson(server.url, '/auth/dev-login', { user: 'has space' })).status).toBe(400)
    const raw = await fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })
    expect(raw.status).toBe(400)
    expect(((await raw.json()) as { error: { code: string } }).error.code).toBe('BAD_JSON')
  })

  it('rotates refresh tokens: a refresh token works once, and its reuse revokes its family', async () => {
    const first = await devLogin(server.url, 'rot1', 'Rot')
    const second = await postJson(server.url, '/auth/refresh', { refreshToken: first.refreshToken })
    expect(second.status).toBe(200)
    expect(second.body.user).toEqual({ id: 'rot1', name: 'Rot' })
    expect(second.body.refreshToken).not.toBe(first.refreshToken)
    const again = await postJson(server.url, '/auth/refresh', { refreshToken: first.refreshToken })
    expect(again.status).toBe(401)
    expect(again.body.error.code).toBe('UNAUTHORIZED')
    // The reuse revoked the family: the successor no longer works either (sessions.test.ts, both engines).
    expect((await postJson(server.url, '/auth/refresh', { refreshToken: second.body.refreshToken })).status).toBe(401)
  })

  it('refuses sockets without, with forged or with expired tokens, with HTTP 401 and a code', async () => {
    expect(await TestClient.refused(server.url, undefined)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    const good = await devLogin(server.url, 'forger')
    const forged = good.token.slice(0, -4) + (good.token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    expect(await TestClient.refused(server.url, forged)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    const otherKey = await new SignJWT({ name: 'x' }).setProtectedHeader({ alg: 'HS256' }).setSubject('forger').setIssuer('chat-bff').setExpirationTime('1h').sign(new TextEncoder().encode('another-secret-another-secret-another'))
    expect(await TestClient.refused(server.url, otherKey)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    const secret = new TextEncoder().encode('dev-only-secret-do-not-use-in-production-0123456789')
    const expired = await new SignJWT({ name: 'x' }).setProtectedHeader({ alg: 'HS256' }).setSubject('forger').setIssuer('chat-bff').setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(secret)
    expect(await TestClient.refused(server.url, expired)).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_EXPIRED', temporary: false } } })
  })

  it('accepts the token in an Authorization header', async () => {
    const auth = await devLogin(server.url, 'header-user')
    const client = await TestClient.connect(server.url, auth.token, { useHeader: true })
    expect((await client.nextOf('welcome')).user.id).toBe('header-user')
    await client.close()
  })

  it('refuses an unsupported protocol version with an error frame and close 4003', async () => {
    const auth = await devLogin(server.url, 'old-app')
    const client = await TestClient.connect(server.url, auth.token, { version: 99 })
    const err = await client.nextOf('error')
    expect(err.code).toBe('UNSUPPORTED_VERSION')
    expect((await client.closed).code).toBe(4003)
  })
})

describe('dev login switched off', () => {
  it('answers 403 DEV_LOGIN_DISABLED', async () => {
    const server = await startTestServer({ DEV_LOGIN: '0' })
    try {
      const res = await postJson(server.url, '/auth/dev-login', { user: 'x' })
      expect(res.status).toBe(403)
      expect(res.body.error.code).toBe('DEV_LOGIN_DISABLED')
    } finally {
      await server.close()
    }
  })
})
