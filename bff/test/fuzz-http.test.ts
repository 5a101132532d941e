/**
 * Bad input over HTTP as a class: every JSON endpoint (logins, refresh, subscriptions, reports, the
 * admin API, WeChat's message push), valid, then with each body field (and nested field) replaced by
 * wrong types, out-of-range values, over-long and malformed strings or prototype keys, or left out;
 * bodies that are not objects, not JSON, or of another content type; odd query strings and file ids.
 * For every request: no 5xx, an error status carries the shared JSON error body with a known code,
 * no log line at warn or above, and the server serves on afterwards. WeChat's APIs are the local fake.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ERROR_CODES, directConvId } from '@chat/shared'
import type { AuthResponse, ErrorResponse } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { pushSignature } from '../src/wechat/media'
import { connectUser, devLogin, newCid } from './support/client'
import { FakeWeChat } from './support/fake-wechat'
import { type Json, BAD_VALUES } from './support/bad-values'
import { startTestServer } from './support/server'
import { tusMetadata } from './upload/harness'

const ADMIN = 'admin-token-fuzz-0123456789'
const PUSH_TOKEN = 'push-token-fuzz'


interface Endpoint {
  readonly name: string
  readonly method: 'POST' | 'GET'
  readonly path: () => string
  readonly headers: () => Record<string, string>
  readonly body?: () => { [k: string]: Json }
}

let server: RunningServer
let fake: FakeWeChat
let dir: string
let token = ''
let refreshToken = ''
let conv = ''
const lines: { level: number; msg: string }[] = []

function signedQuery(): string {
  const timestamp = String(Math.floor(Date.now() / 1000))
  const nonce = `n${Math.random().toString(36).slice(2)}`
  return new URLSearchParams({ timestamp, nonce, signature: pushSignature(PUSH_TOKEN, timestamp, nonce) }).toString()
}

const json = { 'content-type': 'application/json' }
const endpoints: Endpoint[] = [
  { name: 'dev-login', method: 'POST', path: () => '/auth/dev-login', headers: () => json, body: () => ({ user: 'fzh-new', name: 'New' }) },
  { name: 'wx-login', method: 'POST', path: () => '/auth/wx-login', headers: () => json, body: () => ({ code: 'code-ok' }) },
  { name: 'refresh', method: 'POST', path: () => '/auth/refresh', headers: () => json, body: () => ({ refreshToken }) },
  { name: 'subscriptions', method: 'POST', path: () => '/wechat/subscriptions', headers: () => ({ ...json, authorization: `Bearer ${token}` }), body: () => ({ results: { 'tmpl-new-message': 'accept' } }) },
  { name: 'report', method: 'POST', path: () => '/reports', headers: () => ({ ...json, authorization: `Bearer ${token}` }), body: () => ({ target: 'message', conv, seq: 1, reason: 'spam', text: 'bad' }) },
  { name: 'suspension', method: 'POST', path: () => '/admin/users/fzh-victim/suspension', headers: () => ({ ...json, authorization: `Bearer ${ADMIN}` }), body: () => ({ suspended: false }) },
  { name: 'withdrawal', method: 'POST', path: () => '/admin/withdrawals', headers: () => ({ ...json, authorization: `Bearer ${ADMIN}` }), body: () => ({ conv, seq: 2 }) },
  { name: 'push', method: 'POST', path: () => `/wechat/push?${signedQuery()}`, headers: () => json, body: () => ({ Event: 'wxa_media_check', trace_id: 'no-such-trace', result: { suggest: 'risky', label: 100 } }) },
]

interface Case {
  readonly label: string
  readonly method: 'POST' | 'GET'
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string
}

function cases(): Case[] {
  const out: Case[] = []
  for (const e of endpoints) {
    const at = (label: string, body: string | undefined, headers = e.headers()): Case => ({ label: `${e.name} ${label}`, method: e.method, path: e.path(), headers, body })
    const sample = e.body?.()
    if (!sample) continue
    out.push(at('valid', JSON.stringify(sample)))
    for (const key of Object.keys(sample)) {
      for (const bad of BAD_VALUES) out.push(at(`${key}=${JSON.stringify(bad).slice(0, 16)}`, JSON.stringify({ ...sample, [key]: bad })))
      const without: { [k: string]: Json } = { ...sample }
      delete without[key]
      out.push(at(`without ${key}`, JSON.stringify(without)))
      const inner = sample[key]
      if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
        for (const sub of Object.keys(inner)) {
          for (const bad of BAD_VALUES) out.push(at(`${key}.${sub}=${JSON.stringify(bad).slice(0, 16)}`, JSON.stringify({ ...sample, [key]: { ...inner, [sub]: bad } })))
        }
      }
    }
    for (const body of ['null', '[]', '"text"', '42', 'true', '{', '{"a":', '\u0000', `{"__proto__":{"polluted":1},${JSON.stringify(sample).slice(1)}`, `{"pad":${'['.repeat(5000)}${']'.repeat(5000)}}`]) {
      out.push(at(`body ${JSON.stringify(body).slice(0, 16)}`, body))
    }
    out.push(at('as text/plain', JSON.stringify(sample), { ...e.headers(), 'content-type': 'text/plain' }))
    out.push(at('as a form', 'a=1&b=2', { ...e.headers(), 'content-type': 'application/x-www-form-urlencoded' }))
    out.push(at('no body', undefined))
    out.push(at('bearer garbage', JSON.stringify(sample), { ...e.headers(), authorization: 'Bearer \u00ff\u00fe' }))
    out.push(at('bearer without token', JSON.stringify(sample), { ...e.headers(), authorization: 'Bearer' }))
  }
  for (const q of ['limit=-1', 'limit=abc', 'limit=1e308', 'limit[]=1', 'limit=1&limit=2', 'limit=%00', `limit=${'9'.repeat(400)}`]) {
    for (const list of ['reports', 'flags']) out.push({ label: `admin ${list} ?${q.slice(0, 16)}`, method: 'GET', path: `/admin/${list}?${q}`, headers: { authorization: `Bearer ${ADMIN}` } })
  }
  for (const id of ['..%2F..%2Fetc%2Fpasswd', '%00', 'x'.repeat(2000), '%E0%A4%A', 'a.b', '__proto__', 'constructor']) {
    for (const tail of ['', '/thumb', '/info']) out.push({ label: `file ${id.slice(0, 16)}${tail}`, method: 'GET', path: `/files/${id}${tail}`, headers: { authorization: `Bearer ${token}` } })
  }
  for (const q of ['', 'signature=x', 'timestamp=1&nonce=2&signature=&echostr=x', 'echostr=%00', `timestamp=${'1'.repeat(300)}`]) {
    out.push({ label: `push check ?${q.slice(0, 16)}`, method: 'GET', path: `/wechat/push?${q}`, headers: {} })
  }
  return out
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'chat-fuzz-http-'))
  fake = await new FakeWeChat().start()
  fake.setDefault('/sns/jscode2session', (call) => (call.query.js_code === 'code-ok' ? { openid: 'fzh-wx', session_key: 'sk' } : { errcode: 40029, errmsg: 'invalid code' }))
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) })
  server = await startTestServer(
    {
      WX_APPID: 'wxapp',
      WX_SECRET: 'secret',
      WX_API_BASE: fake.url,
      WX_RETRY_BASE_MS: '5',
      WX_PUBLIC_URL: 'https://chat.example.com/',
      WX_PUSH_TOKEN: PUSH_TOKEN,
      WX_TEMPLATE_ID: 'tmpl-new-message',
      ADMIN_TOKEN: ADMIN,
      UPLOAD_DIR: dir,
      DATA_DIR: dir,
      REPORTS_PER_HOUR: '100000',
    },
    { log },
  )
  const auth: AuthResponse = await devLogin(server.url, 'fzh-ann', 'Ann')
  token = auth.token
  refreshToken = auth.refreshToken
  await devLogin(server.url, 'fzh-victim', 'Victim')
  const { client } = await connectUser(server.url, 'fzh-ann')
  conv = directConvId('fzh-ann', 'fzh-victim')
  for (let i = 0; i < 3; i++) {
    const cid = newCid()
    client.send({ type: 'send', cid, conv, kind: 'text', body: { text: `seed ${i}` } })
    await client.nextOf('ack', (f) => f.cid === cid)
  }
  await client.close()
})

afterAll(async () => {
  await server?.close()
  await fake?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('every HTTP endpoint, mutated', () => {
  it('never answers 5xx, answers errors with a known code, logs nothing at warn or above', async () => {
    const all = cases()
    expect(all.length).toBeGreaterThan(400)
    const statuses = new Map<number, number>()
    const from = lines.length
    for (const c of all) {
      const res = await fetch(`${server.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body })
      const text = await res.text()
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      expect([c.label, res.status < 500, res.status >= 500 ? text : '']).toEqual([c.label, true, ''])
      if (c.label.endsWith(' valid')) expect([c.label, res.status < 300]).toEqual([c.label, true])
      if (res.status >= 400) {
        const code = (JSON.parse(text) as ErrorResponse).error?.code
        expect([c.label, ERROR_CODES.includes(code)]).toEqual([c.label, true])
      }
    }
    // Most mutations are refused; the valid samples are served.
    expect([...statuses].filter(([s]) => s >= 400).reduce((n, [, k]) => n + k, 0)).toBeGreaterThan(all.length / 2)
    expect(lines.slice(from).filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const again = await devLogin(server.url, 'fzh-after')
    expect(again.token).toMatch(/\./)
  }, 120_000)

  it('refuses odd tus headers and bodies on create, PATCH (and its POST override) and HEAD with a known code, never 5xx', async () => {
    const from = lines.length
    const meta = tusMetadata({ conv, filename: 'a.txt' })
    const base = { 'Tus-Resumable': '1.0.0', authorization: `Bearer ${token}` }
    const created = await fetch(`${server.url}/uploads`, { method: 'POST', headers: { ...base, 'Upload-Length': '10', 'Upload-Metadata': meta } })
    expect(created.status).toBe(201)
    const id = created.headers.get('location')!.split('/').pop()!
    const requests: [string, string, string, Record<string, string>, Uint8Array?][] = []
    const createHeaders: Record<string, string[]> = {
      'Upload-Length': ['-1', 'abc', '1e3', '99999999999999999999', '', '1.5', ' 10', '0x10', String(2 ** 53)],
      'Upload-Metadata': ['garbage', 'filename', 'filename !!!', `conv ${Buffer.from('g:none').toString('base64')}`, `${meta},${meta}`, 'x'.repeat(8000), 'filename ' + Buffer.from('../../x').toString('base64')],
      'Tus-Resumable': ['0.2.2', '', '1.0.0, 1.0.0'],
      'Upload-Defer-Length': ['1', 'x'],
    }
    for (const [name, values] of Object.entries(createHeaders)) {
      for (const value of values) requests.push([`create ${name}=${value.slice(0, 12)}`, 'POST', '/uploads', { ...base, 'Upload-Length': '10', 'Upload-Metadata': meta, [name]: value }])
    }
    const patchHeaders: Record<string, string[]> = {
      'Upload-Offset': ['-1', 'abc', '999999', '', '1.5', '0x0', String(2 ** 53)],
      'Content-Type': ['application/json', '', 'application/offset+octet-stream; x=1'],
      'X-HTTP-Method-Override': ['DELETE', 'GET', '', 'PATCH, PATCH'],
    }
    const chunk = new TextEncoder().encode('abcd')
    for (const [name, values] of Object.entries(patchHeaders)) {
      for (const value of values) {
        const headers = { ...base, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', [name]: value }
        requests.push([`patch ${name}=${value.slice(0, 12)}`, name === 'X-HTTP-Method-Override' ? 'POST' : 'PATCH', `/uploads/${id}`, headers, chunk])
      }
    }
    const tooMuch = new Uint8Array(64)
    requests.push(['patch past the length', 'PATCH', `/uploads/${id}`, { ...base, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, tooMuch])
    for (const other of ['nosuchupload', '..%2F..%2Fetc', 'x'.repeat(500), '%00']) {
      requests.push([`patch ${other.slice(0, 12)}`, 'PATCH', `/uploads/${other}`, { ...base, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, chunk])
      requests.push([`head ${other.slice(0, 12)}`, 'HEAD', `/uploads/${other}`, base])
    }
    for (const [label, method, at, headers, body] of requests) {
      const res = await fetch(`${server.url}${at}`, { method, headers, body })
      const text = await res.text()
      expect([label, res.status < 500, res.status >= 500 ? text : '']).toEqual([label, true, ''])
      if (res.status >= 400 && method !== 'HEAD') {
        const code = (JSON.parse(text) as ErrorResponse).error?.code
        expect([label, ERROR_CODES.includes(code)]).toEqual([label, true])
      }
    }
    // The upload itself is intact (some mutations were valid and wrote a chunk) and finishes.
    const at = Number((await fetch(`${server.url}/uploads/${id}`, { method: 'HEAD', headers: base })).headers.get('upload-offset'))
    expect(at % chunk.length).toBe(0)
    expect(at).toBeLessThan(10)
    const done = await fetch(`${server.url}/uploads/${id}`, { method: 'PATCH', headers: { ...base, 'Upload-Offset': String(at), 'Content-Type': 'application/offset+octet-stream' }, body: new TextEncoder().encode('0123456789'.slice(at)) })
    expect(done.status).toBe(200)
    expect(lines.slice(from).filter((l) => l.level >= 40).map((l) => l.msg)).toEqual([])
  })
})
