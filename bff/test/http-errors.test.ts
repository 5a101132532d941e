/**
 * Client mistakes over HTTP (issue 12, defect 7): a 4xx with the table's JSON error body, never a
 * 500, logged at info at most CLIENT_ERROR_LOGS_PER_MIN times a minute and never at warn or error.
 */
import { gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../src/app'
import { CLIENT_ERROR_LOGS_PER_MIN } from '../src/http/errors'
import { devLogin } from './support/client'
import { startTestServer } from './support/server'

describe('client mistakes over HTTP', () => {
  let server: RunningServer
  let token: string
  const lines: { level: number; msg: string; code?: string; suppressed?: number }[] = []

  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) })
    server = await startTestServer({}, { log })
    token = (await devLogin(server.url, 'mistaken')).token
  })
  afterAll(async () => {
    await server.close()
  })

  const json = { 'content-type': 'application/json' }
  const auth = () => ({ authorization: `Bearer ${token}` })
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['a body that does not inflate', () => fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: 'not gzip' }), 400, 'BAD_REQUEST'],
    ['a truncated gzip body', () => fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync('{"user":"x"}').subarray(0, 12) }), 400, 'BAD_REQUEST'],
    ['an unknown Content-Encoding', () => fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { ...json, 'content-encoding': 'zstd-x' }, body: '{}' }), 415, 'UNSUPPORTED_ENCODING'],
    ['an unknown charset', () => fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json; charset=klingon' }, body: '{}' }), 415, 'UNSUPPORTED_ENCODING'],
    ['JSON that does not parse', () => fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: json, body: '{"refreshToken":' }), 400, 'BAD_JSON'],
    ['a file path that does not decode', () => fetch(`${server.url}/files/%ZZ`, { headers: auth() }), 400, 'BAD_REQUEST'],
    ['a thumbnail path that does not decode', () => fetch(`${server.url}/files/%E0%A4%A/thumb`, { headers: auth() }), 400, 'BAD_REQUEST'],
    ['an upload path that does not decode', () => fetch(`${server.url}/uploads/%ZZ`, { method: 'PATCH', headers: { ...auth(), 'tus-resumable': '1.0.0' } }), 400, 'BAD_REQUEST'],
    ['a path nothing serves', () => fetch(`${server.url}/no/such/thing`, { method: 'POST' }), 404, 'NOT_FOUND'],
  ]

  it.each(cases)('%s: its 4xx and code in the JSON error body', async (_name, request, status, code) => {
    const res = await request()
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    const body = (await res.json()) as { error: { code: string; message: string; temporary: boolean } }
    expect(body.error.code).toBe(code)
    expect(body.error.temporary).toBe(false)
    expect(JSON.stringify(body)).not.toMatch(/ at |node:internal|\.ts:/)
  })

  it('logs client mistakes at info only, at most CLIENT_ERROR_LOGS_PER_MIN a minute, and never a stack', async () => {
    const before = lines.length
    for (let i = 0; i < 3 * CLIENT_ERROR_LOGS_PER_MIN; i++) expect((await fetch(`${server.url}/files/%ZZ`)).status).toBe(400)
    // With the cases above (same minute), 9 + 30 mistakes: exactly the budget was logged, at info.
    expect(lines.length).toBeGreaterThan(before)
    const clientErrors = lines.filter((l) => l.msg === 'client error')
    expect(clientErrors).toHaveLength(CLIENT_ERROR_LOGS_PER_MIN)
    expect(clientErrors.every((l) => l.level === 30 && l.suppressed === 0)).toBe(true)
    expect(lines.filter((l) => l.level >= 40)).toEqual([])
    expect(JSON.stringify(lines)).not.toMatch(/"stack"/)
    // A valid gzip body is still read.
    const ok = await fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync('{"user":"gzipped"}') })
    expect(ok.status).toBe(200)
  })
})
