/**
 * The deployment's one access_token, against the local fake and the real Redis: three engines on
 * one prefix stand for three processes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Registry } from 'prom-client'
import { pino } from 'pino'
import { createRedisEngine } from '../../src/store/redis'
import type { Engine } from '../../src/store/types'
import { AccessTokens, WxApi, WxError, WxMetrics } from '../../src/wechat/api'
import type { WxApiOptions } from '../../src/wechat/api'
import type { WxHttp } from '../../src/wechat/http'
import { PipelinedHttp } from '../../src/wechat/pipeline'
import { FakeWeChat } from '../support/fake-wechat'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { waitFor } from '../support/wait'

const log = pino({ level: 'silent' })

// Every case over both ways of making the calls: undici (the default) and HTTP/1.1 pipelining (WX_HTTP_PIPELINING).
const transports: Array<[string, (() => WxHttp) | undefined]> = [
  ['undici', undefined],
  ['pipelined', () => new PipelinedHttp({ depth: 4 })],
]

describe.each(transports)('access_token shared by every process (%s)', (_name, makeHttp) => {
  let fake: FakeWeChat
  const transportsMade: WxHttp[] = []
  let prefix: string
  let engines: Engine[]

  beforeEach(async () => {
    fake = await new FakeWeChat().start()
    prefix = randomPrefix()
    engines = await Promise.all(
      ['n1', 'n2', 'n3'].map((node) =>
        createRedisEngine({ queueMaxLength: 10, queueRetentionMs: 60_000, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node }),
      ),
    )
  })
  afterEach(async () => {
    await Promise.all(engines.map((e) => e.close()))
    await Promise.all(transportsMade.splice(0).map((h) => h.close()))
    await dropPrefix(prefix)
    await fake.stop()
  })

  function processes(over: Partial<WxApiOptions> = {}) {
    const options: WxApiOptions = { appId: 'wxapp', secret: 's3cret', apiBase: fake.url, timeoutMs: 2000, refreshAheadMs: 300_000, lockMs: 5000, retryMax: 2, retryBaseMs: 5, ...over }
    return engines.map((e) => {
      // One transport per process, as each process has its own.
      const http = makeHttp?.()
      if (http) transportsMade.push(http)
      const metrics = new WxMetrics(new Registry())
      const own = http ? { ...options, http } : options
      const tokens = new AccessTokens(e.wechat, own, metrics, log)
      return { tokens, api: new WxApi(tokens, own, metrics, log), metrics }
    })
  }
  const count = async (m: WxMetrics, name: 'calls' | 'refreshes', labels: Record<string, string>) => {
    const v = (await m[name].get()).values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k as never] === val))
    return v?.value ?? 0
  }

  it('fetches one token for 30 simultaneous callers on 3 processes and stores it for all', async () => {
    const ps = processes()
    const got = await Promise.all(Array.from({ length: 30 }, (_, i) => ps[i % 3]!.tokens.get()))
    expect(new Set(got)).toEqual(new Set(['T1']))
    expect(fake.of('/cgi-bin/stable_token')).toHaveLength(1)
    expect(fake.of('/cgi-bin/stable_token')[0]!.body).toEqual({ grant_type: 'client_credential', appid: 'wxapp', secret: 's3cret', force_refresh: false })
    const stored = await engines[1]!.wechat.token()
    expect(stored!.token).toBe('T1')
    expect(stored!.expiresAt).toBeGreaterThan(Date.now() + 7_100_000)
    const refreshes = await Promise.all(ps.map((p) => count(p.metrics, 'refreshes', { reason: 'missing' })))
    expect(refreshes.reduce((a, b) => a + b)).toBe(1)
  })

  it('refreshes ahead of expiry once, while every caller keeps the current token', async () => {
    fake.valid.add('OLD')
    await engines[0]!.wechat.setToken({ token: 'OLD', expiresAt: Date.now() + 60_000 })
    const ps = processes({ refreshAheadMs: 120_000 })
    const got = await Promise.all(Array.from({ length: 12 }, (_, i) => ps[i % 3]!.tokens.get()))
    expect(new Set(got)).toEqual(new Set(['OLD']))
    await waitFor(async () => (await engines[2]!.wechat.token())?.token === 'T1')
    expect(fake.of('/cgi-bin/stable_token')).toHaveLength(1)
    expect(await ps[2]!.tokens.get()).toBe('T1')
  })

  it('answers 40001 with one forced refresh and one retry, however many processes saw it', async () => {
    const ps = processes()
    await ps[0]!.tokens.get()
    fake.expire('T1')
    const answers = await Promise.all(ps.map((p) => p.api.call('msg_sec_check', '/wxa/msg_sec_check', { content: 'x' })))
    expect(answers.map((a) => (a.result as { suggest: string }).suggest)).toEqual(['pass', 'pass', 'pass'])
    const tokenCalls = fake.of('/cgi-bin/stable_token')
    expect(tokenCalls.map((c) => c.body.force_refresh)).toEqual([false, true])
    const checks = fake.of('/wxa/msg_sec_check')
    expect(checks.filter((c) => c.query.access_token === 'T1')).toHaveLength(3)
    expect(checks.filter((c) => c.query.access_token === 'T2')).toHaveLength(3)
    expect(await engines[0]!.wechat.token()).toMatchObject({ token: 'T2' })
  })

  it('fails after one refresh when the new token is refused too (42001): no refresh storm', async () => {
    const ps = processes()
    fake.setDefault('/wxa/msg_sec_check', { errcode: 42001, errmsg: 'access_token expired' })
    const err = await ps[0]!.api.call('msg_sec_check', '/wxa/msg_sec_check', {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WxError)
    expect((err as WxError).errcode).toBe(42001)
    expect(fake.of('/cgi-bin/stable_token')).toHaveLength(2)
    expect(fake.of('/wxa/msg_sec_check')).toHaveLength(2)
    expect(await count(ps[0]!.metrics, 'calls', { api: 'msg_sec_check', outcome: '42001' })).toBe(2)
  })

  it('retries -1 (busy) with backoff up to WX_RETRY_MAX, then fails with -1', async () => {
    const ps = processes({ retryMax: 2 })
    fake.script('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' }, { errcode: -1, errmsg: 'system busy' })
    const ok = await ps[0]!.api.call('msg_sec_check', '/wxa/msg_sec_check', {})
    expect(ok.errcode).toBe(0)
    expect(fake.of('/wxa/msg_sec_check')).toHaveLength(3)
    expect(await count(ps[0]!.metrics, 'calls', { api: 'msg_sec_check', outcome: 'retry' })).toBe(2)

    fake.setDefault('/wxa/msg_sec_check', { errcode: -1, errmsg: 'system busy' })
    const err = await ps[1]!.api.call('msg_sec_check', '/wxa/msg_sec_check', {}).catch((e: unknown) => e)
    expect((err as WxError).errcode).toBe(-1)
    expect(fake.of('/wxa/msg_sec_check')).toHaveLength(6)
    // A busy stable_token is retried the same way.
    await engines[0]!.wechat.setToken({ token: 'GONE', expiresAt: Date.now() - 1 })
    fake.script('/cgi-bin/stable_token', { errcode: -1, errmsg: 'system busy' })
    expect(await ps[2]!.tokens.get()).toBe('T2')
  })

  it('gives up on an endpoint that does not answer within WX_TIMEOUT_MS, after its retries', async () => {
    const ps = processes({ timeoutMs: 100, retryMax: 1 })
    await ps[0]!.tokens.get()
    fake.setDefault('/wxa/msg_sec_check', () => new Promise(() => {}))
    const err = await ps[0]!.api.call('msg_sec_check', '/wxa/msg_sec_check', {}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WxError)
    expect((err as WxError).errcode).toBeUndefined()
    expect(fake.of('/wxa/msg_sec_check')).toHaveLength(2)
    expect(await count(ps[0]!.metrics, 'calls', { api: 'msg_sec_check', outcome: 'unreachable' })).toBe(2)
  })
})
