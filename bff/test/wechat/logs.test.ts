/**
 * What the WeChat integration writes to the log: whether it is on, said once at start, and lines
 * about calls to WeChat (refusals, retries, refreshes, unavailable checks) that never carry the
 * app secret or an access_token.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { directConvId } from '@chat/shared'
import type { RunningServer } from '../../src/app'
import { TestClient, connectUser, newCid } from '../support/client'
import { FakeWeChat } from '../support/fake-wechat'
import { startTestServer } from '../support/server'

const SECRET = 'app-secret-never-logged-0123'

/** A logger at debug whose lines the test reads, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = []
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) })
  return { log, lines }
}

describe('the WeChat integration in the log', () => {
  let fake: FakeWeChat
  const servers: RunningServer[] = []
  const open: TestClient[] = []

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })
  afterAll(async () => {
    await fake.stop()
  })

  function send(c: TestClient, conv: string, text: string) {
    const cid = newCid()
    c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return c.next((f) => (f.type === 'ack' || f.type === 'error') && f.cid === cid)
  }

  it('says at start that it is off when WX_APPID/WX_SECRET are unset, and on with its settings when they are set', async () => {
    const off = capture()
    servers.push(await startTestServer({ WX_API_BASE: fake.url }, { log: off.log }))
    expect(off.lines.filter((l) => String(l.msg).startsWith('wechat integration'))).toEqual([expect.objectContaining({ msg: expect.stringContaining('wechat integration off') as unknown })])

    const on = capture()
    servers.push(await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: SECRET, WX_API_BASE: fake.url, WX_CHECKER: 'inline' }, { log: on.log }))
    expect(on.lines.filter((l) => String(l.msg).startsWith('wechat integration'))).toEqual([expect.objectContaining({ msg: 'wechat integration on', secCheck: true, unavailablePolicy: 'allow' })])
  })

  it('logs refreshes, refusals and unavailable checks without the secret or any access_token', async () => {
    const { log, lines } = capture()
    const server = await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: SECRET, WX_API_BASE: fake.url, WX_CHECKER: 'inline', WX_RETRY_MAX: '1', WX_RETRY_BASE_MS: '5', WX_SECCHECK_CACHE_MAX: '0', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' }, { log })
    servers.push(server)
    const [ann, bob] = await Promise.all([connectUser(server.url, 'logann'), connectUser(server.url, 'logbob')])
    open.push(ann.client, bob.client)
    const conv = directConvId('logann', 'logbob')
    expect(await send(ann.client, conv, 'first')).toMatchObject({ type: 'ack' })
    // The token is forgotten by WeChat (40001: one forced refresh, logged), then WeChat is busy past the retries, then refuses outright.
    for (const t of fake.valid) fake.expire(t)
    expect(await send(ann.client, conv, 'after expiry')).toMatchObject({ type: 'ack' })
    fake.script('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' }, { errcode: -1, errmsg: 'system busy' })
    expect(await send(ann.client, conv, 'while busy')).toMatchObject({ type: 'ack' })
    fake.script('/wxa/msg_sec_check', { errcode: 45009, errmsg: 'reach max api daily quota limit' })
    expect(await send(ann.client, conv, 'over quota')).toMatchObject({ type: 'ack' })

    const text = lines.map((l) => JSON.stringify(l)).join('\n')
    expect(lines.some((l) => l.msg === 'wechat access_token refreshed' && l.reason === 'invalid')).toBe(true)
    expect(lines.some((l) => l.msg === 'wechat call failed' && l.errcode === -1)).toBe(true)
    expect(lines.some((l) => l.msg === 'wechat call refused' && l.errcode === 45009)).toBe(true)
    expect(lines.filter((l) => l.msg === 'text check unavailable')).toHaveLength(2)
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain('access_token=')
    const tokens = fake.of('/cgi-bin/stable_token').length
    expect(tokens).toBeGreaterThanOrEqual(2)
    for (let i = 1; i <= tokens; i++) expect(text).not.toMatch(new RegExp(`"T${i}"|[=: ]T${i}\\b`))
  })

  it('logs one line per re-check sweep with its counts, never the content (checks on this process, WX_CHECKER=inline)', async () => {
    const { log, lines } = capture()
    const server = await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: SECRET, WX_API_BASE: fake.url, WX_CHECKER: 'inline', WX_RETRY_MAX: '0', WX_RECHECK_INTERVAL_MS: '600000', RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' }, { log })
    servers.push(server)
    const [ann, bob] = await Promise.all([connectUser(server.url, 'rlogann'), connectUser(server.url, 'rlogbob')])
    open.push(ann.client, bob.client)
    const conv = directConvId('rlogann', 'rlogbob')
    fake.setDefault('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' })
    expect(await send(ann.client, conv, 'words never logged')).toMatchObject({ type: 'ack' })
    fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20001 } })
    try {
      expect(await server.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    } finally {
      fake.setDefault('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'pass', label: 100 } })
    }
    expect(lines.filter((l) => l.msg === 'recheck sweep')).toEqual([expect.objectContaining({ texts: 1, images: 0, risky: 1, left: 0 })])
    expect(lines.some((l) => l.msg === 'moderation: risky text withdrawn on its re-check' && l.conv === conv && l.label === 20001)).toBe(true)
    const text = lines.map((l) => JSON.stringify(l)).join('\n')
    expect(text).not.toContain('words never logged')
    expect(text).not.toContain(SECRET)
  })
})
