/**
 * Content security of sends and reports, over real sockets against the local WeChat fake: what
 * each verdict does to the ack, what is stored, what the peer receives, what moderators see.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ErrorResponse } from '@chat/shared'
import type { RunningServer } from '../../src/app'
import { TestClient, connectUser, newCid } from '../support/client'
import { FakeWeChat } from '../support/fake-wechat'
import type { AdminLists } from '../support/fake-wechat'
import { dropPrefix, randomPrefix, startTestServer } from '../support/server'
import { create, patch, pdfBytes } from '../upload/harness'

/** POST /reports answers { id } (201) or ErrorResponse: each test reads the one its status says. */
type ReportReply = { id: string } & ErrorResponse

const ADMIN = 'admin-token-0123456789'

describe('content security and reports', () => {
  let fake: FakeWeChat
  let server: RunningServer
  let refusing: RunningServer
  let plain: RunningServer
  const open: TestClient[] = []
  let n = 0
  const uid = (name: string) => `${name}${++n}`

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
    const wx = { WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, WX_RETRY_MAX: '1', WX_RETRY_BASE_MS: '5', ADMIN_TOKEN: ADMIN, RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' }
    server = await startTestServer({ ...wx, REPORTS_PER_HOUR: '3' })
    refusing = await startTestServer({ ...wx, WX_SECCHECK_UNAVAILABLE: 'refuse', WX_TEXT_CHECKS_PER_MIN: '3' })
    plain = await startTestServer({ WX_API_BASE: fake.url })
  })
  afterAll(async () => {
    await Promise.all([server.close(), refusing.close(), plain.close()])
    await fake.stop()
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
    fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } })
  })

  async function pair(s: RunningServer) {
    const a = uid('ann')
    const b = uid('bob')
    const ann = await connectUser(s.url, a, { name: `Ann ${a}` })
    const bob = await connectUser(s.url, b)
    open.push(ann.client, bob.client)
    return { a, b, ann, bob, conv: directConvId(a, b) }
  }
  function send(c: TestClient, conv: string, text: string) {
    const cid = newCid()
    c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return { cid, outcome: c.next((f) => (f.type === 'ack' || f.type === 'error') && f.cid === cid) }
  }
  async function history(c: TestClient, conv: string) {
    const rid = `h${++n}`
    c.send({ type: 'history', rid, conv })
    return (await c.nextOf('messages', (f) => f.rid === rid)).msgs.map((m) => (m.body as { text: string }).text)
  }
  async function admin(s: RunningServer, list: string, token = ADMIN) {
    const res = await fetch(`${s.url}/admin/${list}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: (await res.json()) as AdminLists }
  }

  it('checks text with msgSecCheck v2 before storing; risky is refused and stored nowhere, review is stored and flagged', async () => {
    const { a, b, ann, bob, conv } = await pair(server)
    const ok = send(ann.client, conv, 'hello')
    expect(await ok.outcome).toMatchObject({ type: 'ack' })
    const call = fake.of('/wxa/msg_sec_check').at(-1)!
    expect(call.body).toEqual({ version: 2, openid: a, scene: 2, content: 'hello' })
    expect(call.query.access_token).toMatch(/^T\d+$/)

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20003 } })
    const bad = send(ann.client, conv, 'insult')
    expect(await bad.outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY', temporary: false, cid: bad.cid })

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } })
    const doubtful = send(ann.client, conv, 'borderline')
    expect(await doubtful.outcome).toMatchObject({ type: 'ack' })

    await bob.client.nextOf('msg', (f) => (f.m.body as { text?: string }).text === 'borderline')
    expect(bob.client.all('msg').map((f) => (f.m.body as { text: string }).text)).toEqual(['hello', 'borderline'])
    expect(await history(bob.client, conv)).toEqual(['hello', 'borderline'])
    const flags = await admin(server, 'flags')
    expect(flags.status).toBe(200)
    expect(flags.body.flags.find((f) => f.cid === doubtful.cid)).toMatchObject({ kind: 'review', from: a, conv, label: 20012, text: 'borderline' })
    expect(flags.body.flags.some((f) => f.cid === bad.cid)).toBe(false)
    expect(b).not.toBe(a)
  })

  it('checks group titles like texts: a risky title refuses the create or rename, a review one is stored and flagged', async () => {
    const { a, b, ann } = await pair(server)
    const checked = () => fake.of('/wxa/msg_sec_check').map((c) => c.body.content)
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20003 } })
    ann.client.send({ type: 'conv.create', rid: 'bad-title', kind: 'group', members: [b], title: 'rude title' })
    expect(await ann.client.nextOf('error', (f) => f.rid === 'bad-title')).toMatchObject({ code: 'CONTENT_RISKY', temporary: false })
    expect(checked().at(-1)).toBe('rude title')

    ann.client.send({ type: 'conv.create', rid: 'ok-title', kind: 'group', members: [b], title: 'book club' })
    const conv = (await ann.client.nextOf('conv', (f) => f.rid === 'ok-title')).conv.id
    expect(checked().at(-1)).toBe('book club')

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20003 } })
    ann.client.send({ type: 'group', rid: 'bad-rename', conv, op: 'rename', title: 'rude again' })
    expect(await ann.client.nextOf('error', (f) => f.rid === 'bad-rename')).toMatchObject({ code: 'CONTENT_RISKY' })
    expect((await server.engine.convs.get(conv))?.title).toBe('book club')

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } })
    ann.client.send({ type: 'group', rid: 'doubtful-rename', conv, op: 'rename', title: 'edgy club' })
    expect(await ann.client.nextOf('group', (f) => f.rid === 'doubtful-rename')).toMatchObject({ m: { body: { op: 'rename', title: 'edgy club' } } })
    const flags = (await admin(server, 'flags')).body.flags
    expect(flags.find((f) => f.conv === conv)).toMatchObject({ kind: 'review', from: a, cid: 'title', label: 20012, text: 'edgy club' })
  })

  it("checks a contact request's note like a text: a risky note refuses the request, a review one is delivered and flagged", async () => {
    const { a, b, ann, bob, conv } = await pair(server)
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20001 } })
    ann.client.send({ type: 'relation', rid: 'bad-note', op: 'request', user: b, note: 'buy my pills' })
    expect(await ann.client.nextOf('error', (f) => f.rid === 'bad-note')).toMatchObject({ code: 'CONTENT_RISKY', temporary: false })
    expect(fake.of('/wxa/msg_sec_check').at(-1)!.body).toMatchObject({ openid: a, content: 'buy my pills' })
    expect(bob.client.all('relation')).toEqual([])

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } })
    ann.client.send({ type: 'relation', rid: 'doubtful-note', op: 'request', user: b, note: 'remember me?' })
    expect(await ann.client.nextOf('relation', (f) => f.rid === 'doubtful-note')).toMatchObject({ entry: { state: 'outgoing', note: 'remember me?' } })
    expect(await bob.client.nextOf('relation')).toMatchObject({ entry: { state: 'incoming', note: 'remember me?' } })
    const flags = (await admin(server, 'flags')).body.flags
    expect(flags.find((f) => f.cid === 'note' && f.from === a)).toMatchObject({ kind: 'review', conv, label: 20012, text: 'remember me?' })
  })

  it("checks a file's name like a text: a risky name refuses the send, the peer gets nothing; a doubtful one is delivered and flagged", async () => {
    const { a, ann, bob, conv } = await pair(server)
    expect(await send(ann.client, conv, 'hello').outcome).toMatchObject({ type: 'ack' })
    const upload = async (name: string) => {
      const bytes = pdfBytes(1024)
      const c = await create(server, ann.auth.token, bytes.length, { conv, filename: name })
      expect((await patch(server, ann.auth.token, c.id!, 0, bytes)).status).toBe(200)
      return c.id!
    }
    const sendFile = (fileId: string) => {
      const cid = newCid()
      ann.client.send({ type: 'send', cid, conv, kind: 'file', body: { fileId } })
      return { cid, outcome: ann.client.next((f) => (f.type === 'ack' || f.type === 'error') && f.cid === cid) }
    }
    const riskyFile = await upload('buy my pills.pdf')
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20001 } })
    const risky = sendFile(riskyFile)
    expect(await risky.outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY', temporary: false })
    expect(fake.of('/wxa/msg_sec_check').at(-1)!.body).toMatchObject({ openid: a, content: 'buy my pills.pdf' })

    const doubtfulFile = await upload('remember me.pdf')
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } })
    const doubtful = sendFile(doubtfulFile)
    expect(await doubtful.outcome).toMatchObject({ type: 'ack' })
    expect((await bob.client.nextOf('msg', (f) => f.m.kind === 'file')).m).toMatchObject({ cid: doubtful.cid, body: { name: 'remember me.pdf' } })
    expect(bob.client.all('msg').filter((f) => f.m.cid === risky.cid)).toEqual([])
    const flags = (await admin(server, 'flags')).body.flags
    expect(flags.find((f) => f.cid === doubtful.cid)).toMatchObject({ kind: 'review', from: a, conv, label: 20012, text: 'remember me.pdf' })
  })

  it('checks a text longer than 2,500 characters in parts; one risky part refuses the whole', async () => {
    const { ann, conv } = await pair(server)
    const before = fake.of('/wxa/msg_sec_check').length
    const text = `${'a'.repeat(2499)}😀${'b'.repeat(2000)}`
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } }, { errcode: 0, result: { suggest: 'risky', label: 20001 } })
    const s = send(ann.client, conv, text)
    expect(await s.outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY' })
    const parts = fake.of('/wxa/msg_sec_check').slice(before).map((c) => c.body.content)
    // Cut at 2,500 characters (code points): the emoji is the first part's last, whole.
    const first = parts.find((p) => p.startsWith('a'))!
    const second = parts.find((p) => p.startsWith('b'))!
    expect([Array.from(first).length, Array.from(second).length]).toEqual([2500, 2000])
    expect(first + second).toBe(text)
  })

  it('passes a short text WeChat passed a moment ago for the same sender without another call; review and risky are asked every time', async () => {
    const { ann, bob, conv } = await pair(server)
    const calls = () => fake.of('/wxa/msg_sec_check').length
    const before = calls()
    const again = `好的 ${uid('t')}`
    expect(await send(ann.client, conv, again).outcome).toMatchObject({ type: 'ack' })
    expect(await send(ann.client, conv, again).outcome).toMatchObject({ type: 'ack' })
    expect(calls()).toBe(before + 1)
    // Another sender of the same text is asked for: WeChat judges a text with its sender's openid.
    expect(await send(bob.client, conv, again).outcome).toMatchObject({ type: 'ack' })
    expect(calls()).toBe(before + 2)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/^wechat_text_check_cache_hits_total [1-9]\d*$/m)

    const doubtful = `borderline ${uid('t')}`
    fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } })
    const r1 = send(ann.client, conv, doubtful)
    const r2 = send(ann.client, conv, doubtful)
    expect([await r1.outcome, await r2.outcome]).toMatchObject([{ type: 'ack' }, { type: 'ack' }])
    const bad = `insult ${uid('t')}`
    fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20003 } })
    expect(await send(ann.client, conv, bad).outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY' })
    expect(await send(ann.client, conv, bad).outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY' })
    expect(calls()).toBe(before + 6)
    const flags = (await admin(server, 'flags')).body.flags
    expect(flags.filter((f) => f.text === doubtful).map((f) => f.cid)).toEqual(expect.arrayContaining([r1.cid, r2.cid]))
  })

  it('asks WeChat for every send when the recent passes are off (WX_SECCHECK_CACHE_MAX=0)', async () => {
    const off = await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, WX_SECCHECK_CACHE_MAX: '0', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' })
    try {
      const { ann, conv } = await pair(off)
      const before = fake.of('/wxa/msg_sec_check').length
      expect(await send(ann.client, conv, 'ok').outcome).toMatchObject({ type: 'ack' })
      expect(await send(ann.client, conv, 'ok').outcome).toMatchObject({ type: 'ack' })
      expect(fake.of('/wxa/msg_sec_check').slice(before).map((c) => c.body.content)).toEqual(['ok', 'ok'])
    } finally {
      await Promise.all(open.splice(0).map((c) => c.close()))
      await off.close()
    }
  })

  it('checks through HTTP/1.1 pipelining with WX_HTTP_PIPELINING: pass stored and delivered, risky refused, busy retried', async () => {
    const piped = await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, WX_HTTP_PIPELINING: '4', WX_RETRY_MAX: '1', WX_RETRY_BASE_MS: '5', WX_SECCHECK_CACHE_MAX: '0', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' })
    try {
      const { ann, bob, conv } = await pair(piped)
      const before = fake.of('/wxa/msg_sec_check').length
      // Ten sends at once: more than one connection's depth, each answered with its own verdict.
      const sends = Array.from({ length: 10 }, (_, i) => send(ann.client, conv, `piped ${i}`))
      for (const s of sends) expect(await s.outcome).toMatchObject({ type: 'ack' })
      const got = new Set<string>()
      while (got.size < 10) got.add(((await bob.client.nextOf('msg')).m.body as { text: string }).text)
      expect([...got].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `piped ${i}`).sort())
      const asked = fake.of('/wxa/msg_sec_check').slice(before)
      expect(asked.map((c) => c.body.content).sort()).toEqual([...got].sort())
      // Four a connection: ten calls came on three connections at most (undici's pool opens one a call in flight).
      expect(new Set(asked.map((c) => c.port)).size).toBeLessThanOrEqual(3)
      fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20001 } })
      expect(await send(ann.client, conv, 'piped risky').outcome).toMatchObject({ type: 'error', code: 'CONTENT_RISKY' })
      fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } })
      fake.script('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' })
      const calls = fake.of('/wxa/msg_sec_check').length
      expect(await send(ann.client, conv, 'piped after busy').outcome).toMatchObject({ type: 'ack' })
      expect(fake.of('/wxa/msg_sec_check').length).toBe(calls + 2)
      expect(await history(bob.client, conv)).toContain('piped after busy')
    } finally {
      await Promise.all(open.splice(0).map((c) => c.close()))
      await piped.close()
    }
  })

  it('lets a text through and lists it unchecked when WeChat is busy (policy allow)', async () => {
    const { a, ann, bob, conv } = await pair(server)
    fake.setDefault('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' })
    const s = send(ann.client, conv, 'while busy')
    expect(await s.outcome).toMatchObject({ type: 'ack' })
    await bob.client.nextOf('msg')
    const flags = await admin(server, 'flags')
    expect(flags.body.flags.find((f) => f.cid === s.cid)).toMatchObject({ kind: 'unchecked', from: a, conv, text: 'while busy' })
  })

  it('refuses as temporary when WeChat is busy or the shared budget is spent (policy refuse)', async () => {
    // The budget is a fixed minute window: start well inside one (the window is time itself).
    if (Date.now() % 60_000 > 50_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 10))
    const { ann, bob, conv } = await pair(refusing)
    fake.setDefault('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' })
    const busy = send(ann.client, conv, 'busy')
    expect(await busy.outcome).toMatchObject({ type: 'error', code: 'SECCHECK_UNAVAILABLE', temporary: true })
    fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } })
    // WX_TEXT_CHECKS_PER_MIN=3: the busy send spent one; two more pass, the next is over the budget.
    expect(await send(ann.client, conv, 'one').outcome).toMatchObject({ type: 'ack' })
    expect(await send(ann.client, conv, 'two').outcome).toMatchObject({ type: 'ack' })
    const calls = fake.of('/wxa/msg_sec_check').length
    expect(await send(ann.client, conv, 'three').outcome).toMatchObject({ type: 'error', code: 'SECCHECK_UNAVAILABLE' })
    expect(fake.of('/wxa/msg_sec_check').length).toBe(calls)
    expect(await history(bob.client, conv)).toEqual(['one', 'two'])
  })

  it('checks nothing and calls nobody when WeChat is not configured', async () => {
    const { ann, conv } = await pair(plain)
    const before = fake.calls.length
    expect(await send(ann.client, conv, 'free').outcome).toMatchObject({ type: 'ack' })
    expect(fake.calls.length).toBe(before)
    const res = await fetch(`${plain.url}/wechat/subscriptions`, { headers: { authorization: `Bearer ${(await connectUser(plain.url, uid('x'))).auth.token}` } })
    expect(await res.json()).toEqual({ templateIds: [], allowances: {} })
    // No ADMIN_TOKEN: the admin API does not exist.
    expect((await admin(plain, 'reports')).status).toBe(404)
  })

  it('stores reports of a message (with the message) and of a user, refuses bad ones, limits them per hour', async () => {
    const { a, b, ann, bob, conv } = await pair(server)
    expect(await send(ann.client, conv, 'spam spam').outcome).toMatchObject({ type: 'ack' })
    const report = (token: string, body: unknown) =>
      fetch(`${server.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as ReportReply }))
    const tok = bob.auth.token
    const r1 = await report(tok, { target: 'message', conv, seq: 1, reason: 'spam', text: 'ads' })
    expect(r1.status).toBe(201)
    expect(r1.body.id).toMatch(/^r/)
    expect((await report(tok, { target: 'message', conv, seq: 2, reason: 'spam' })).body.error.code).toBe('SEQ_RANGE_INVALID')
    expect((await report(tok, { target: 'message', conv, seq: 1, reason: 'boring' })).body.error.code).toBe('REPORT_INVALID')
    expect((await report(tok, { target: 'message', conv, seq: 1, reason: 'spam', text: 'x'.repeat(501) })).status).toBe(400)
    expect((await report(tok, { target: 'user', user: 'nobody-here', reason: 'abuse' })).body.error.code).toBe('USER_NOT_FOUND')
    const outsider = await connectUser(server.url, uid('eve'))
    open.push(outsider.client)
    expect((await report(outsider.auth.token, { target: 'message', conv, seq: 1, reason: 'spam' })).body.error.code).toBe('NOT_MEMBER')
    expect((await report('forged', { target: 'user', user: a, reason: 'abuse' })).status).toBe(401)
    expect((await report(tok, { target: 'user', user: a, reason: 'abuse' })).status).toBe(201)
    expect((await report(tok, { target: 'user', user: a, reason: 'fraud' })).status).toBe(201)
    // REPORTS_PER_HOUR=3: the fourth accepted report of the hour is refused.
    const over = await report(tok, { target: 'user', user: a, reason: 'other' })
    expect(over).toMatchObject({ status: 429, body: { error: { code: 'REPORT_RATE_LIMITED', temporary: true } } })

    expect((await admin(server, 'reports', 'wrong-token-0123456789')).status).toBe(401)
    const list = (await admin(server, 'reports')).body.reports.filter((r) => r.reporter === b)
    expect(list).toHaveLength(3)
    expect(list[2]).toMatchObject({ target: 'message', conv, seq: 1, reason: 'spam', text: 'ads', message: { seq: 1, from: a, body: { text: 'spam spam' } } })
    expect(list[0]).toMatchObject({ target: 'user', user: a, reason: 'fraud' })
  })

  it('suspends a user: sockets closed 4001 USER_SUSPENDED, logins, refreshes and upgrades refused, until lifted', async () => {
    const { b, bob, ann, conv } = await pair(server)
    const suspend = (user: string, suspended: unknown, token = ADMIN) =>
      fetch(`${server.url}/admin/users/${user}/suspension`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ suspended }) })
    expect((await suspend(b, true, 'not-the-admin-token-00')).status).toBe(401)
    expect((await suspend(b, 'yes')).status).toBe(400)
    expect((await suspend('nobody-known', true)).status).toBe(404)
    expect((await suspend(b, true)).status).toBe(204)
    const err = await bob.client.nextOf('error', (f) => f.code === 'USER_SUSPENDED')
    expect(err.temporary).toBe(false)
    expect((await bob.client.closed).code).toBe(4001)
    const login = await fetch(`${server.url}/auth/dev-login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: b }) })
    expect(login.status).toBe(403)
    expect(((await login.json()) as ErrorResponse).error.code).toBe('USER_SUSPENDED')
    const refresh = await fetch(`${server.url}/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: bob.auth.refreshToken }) })
    expect(((await refresh.json()) as ErrorResponse).error.code).toBe('USER_SUSPENDED')
    expect(await TestClient.refused(server.url, bob.auth.token)).toMatchObject({ status: 403 })
    // Others are untouched.
    expect(await send(ann.client, conv, 'still here').outcome).toMatchObject({ type: 'ack' })
    expect((await suspend(b, false)).status).toBe(204)
    const back = await connectUser(server.url, b)
    open.push(back.client)
    expect(back.welcome.user.id).toBe(b)
  })

  it('closes a suspended user\'s sockets on every process, not only the one the moderator called', async () => {
    // Two processes on one Redis: Bob's devices on the second, the suspension asked of the first.
    const prefix = randomPrefix()
    const wx = { STORE: 'redis', REDIS_PREFIX: prefix, WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, ADMIN_TOKEN: ADMIN }
    const [one, two] = await Promise.all([startTestServer(wx), startTestServer(wx)])
    try {
      const b = uid('bob')
      const [phone, pad] = await Promise.all([connectUser(two.url, b), connectUser(two.url, b)])
      const other = await connectUser(one.url, uid('cy'))
      open.push(phone.client, pad.client, other.client)
      const res = await fetch(`${one.url}/admin/users/${b}/suspension`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ suspended: true }) })
      expect(res.status).toBe(204)
      expect((await phone.client.closed).code).toBe(4001)
      expect((await pad.client.closed).code).toBe(4001)
      // Someone else's socket on the moderator's process stays.
      other.client.send({ type: 'ping' })
      await other.client.nextOf('pong')
    } finally {
      await Promise.all(open.splice(0).map((c) => c.close()))
      await Promise.all([one.close(), two.close()])
      await dropPrefix(prefix)
    }
  })
})
