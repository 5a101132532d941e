/**
 * WX_CHECKER=process: the text checks in a checker process of their own (checker-client.ts,
 * src/checker.ts), a real child process against the local WeChat fake. Verdicts, texts in parts,
 * counts in this process's /metrics, and what a dead, restarting or stuck process does to a send
 * under each WX_SECCHECK_UNAVAILABLE policy.
 */
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { Registry } from 'prom-client'
import { AppError, directConvId } from '@chat/shared'
import { MemoryWeChatStore } from '../../src/store/wechat'
import { WxMetrics } from '../../src/wechat/api'
import { CheckerProcess } from '../../src/wechat/checker-client'
import type { CheckerSettings } from '../../src/wechat/checker-client'
import { TextCheckMetrics, TextSecurity } from '../../src/wechat/security'
import { connectUser, newCid } from '../support/client'
import { FakeWeChat } from '../support/fake-wechat'
import { dropPrefix, randomPrefix } from '../support/server'
import { alive, dropBundle, spawnBff } from '../support/spawn'
import { waitFor } from '../support/wait'

const PASS = { errcode: 0, result: { suggest: 'pass', label: 100 } }
const log = pino({ level: 'silent' })

describe('text checks in a checker process', () => {
  let fake: FakeWeChat
  let checker: CheckerProcess
  let registry: Registry
  const store = new MemoryWeChatStore()
  let allow: TextSecurity
  let refuse: TextSecurity

  function start(timeoutMs: number, batchMs = 1): CheckerProcess {
    registry = new Registry()
    const settings: CheckerSettings = {
      api: { appId: 'wxapp', secret: 'secret', apiBase: fake.url, timeoutMs: 2000, refreshAheadMs: 300_000, lockMs: 10_000, retryMax: 0, retryBaseMs: 5 },
      httpPipelining: 0,
      checksPerMin: 1000,
      cacheMax: 0,
      cacheTtlMs: 60_000,
      batchMs,
      store: { kind: 'memory' },
      logLevel: 'silent',
    }
    const collect = () => c.counts()
    new WxMetrics(registry, collect)
    const c: CheckerProcess = new CheckerProcess({ settings, timeoutMs, registry, metrics: new TextCheckMetrics(registry, collect), log })
    return c
  }

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
    checker = start(1500)
    await checker.ready()
    allow = new TextSecurity(checker, store, { unavailablePolicy: 'allow', listMax: 100 })
    refuse = new TextSecurity(checker, store, { unavailablePolicy: 'refuse', listMax: 100 })
  })
  afterAll(async () => {
    await checker.close()
    await fake.stop()
  })
  afterEach(() => fake.setDefault('/wxa/msg_sec_check', PASS))

  it('answers pass, review and risky as WeChat does, with the label; the policy stores, flags or refuses', async () => {
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20012 } }, { errcode: 0, result: { suggest: 'risky', label: 20003 } })
    // Three texts of one turn: they leave in one message, each gets its own verdict.
    const [review, risky, pass] = await Promise.all([checker.verdict('ann', 'borderline'), checker.verdict('ann', 'insult'), checker.verdict('bob', 'hello')])
    expect(review).toEqual({ suggest: 'review', label: 20012 })
    expect(risky).toEqual({ suggest: 'risky', label: 20003 })
    expect(pass).toEqual({ suggest: 'pass', label: 100 })
    const bodies = fake.of('/wxa/msg_sec_check').slice(-3).map((c) => c.body)
    expect(bodies).toEqual(expect.arrayContaining([{ version: 2, openid: 'ann', scene: 2, content: 'borderline' }, { version: 2, openid: 'bob', scene: 2, content: 'hello' }]))

    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20001 } })
    const refused = await allow.text('ann', 'd:ann:bob', 'c1', 'worse').catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(AppError)
    expect(refused).toMatchObject({ code: 'CONTENT_RISKY', details: { label: 20001 } })
    fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'review', label: 20006 } })
    await allow.text('ann', 'd:ann:bob', 'c2', 'doubtful')
    expect(JSON.parse((await store.records('flags', 1))[0]!)).toMatchObject({ kind: 'review', from: 'ann', conv: 'd:ann:bob', cid: 'c2', label: 20006, text: 'doubtful' })
  })

  it('checks a text over 2,500 characters in parts; the worst part counts', async () => {
    const before = fake.of('/wxa/msg_sec_check').length
    fake.script('/wxa/msg_sec_check', PASS, { errcode: 0, result: { suggest: 'risky', label: 20002 } })
    const text = `${'a'.repeat(2500)}${'b'.repeat(30)}`
    expect(await checker.verdict('ann', text)).toEqual({ suggest: 'risky', label: 20002 })
    const parts = fake.of('/wxa/msg_sec_check').slice(before).map((c) => c.body.content)
    expect(parts.sort()).toEqual(['a'.repeat(2500), 'b'.repeat(30)])
  })

  it('hands over texts of any UTF-8 width and length in one turn, each answered as its own', async () => {
    const before = fake.of('/wxa/msg_sec_check').length
    // Chinese, an emoji (a surrogate pair), an openid with an accent, and a text whose frame spans many pipe reads.
    const texts = ['你好，世界', 'ok 😀 café', 'z'.repeat(2400)]
    fake.script('/wxa/msg_sec_check', ...texts.map((_, i) => ({ errcode: 0, result: { suggest: 'review', label: 30000 + i } })))
    const verdicts = await Promise.all(texts.map((t) => checker.verdict('o\u00e9', t)))
    expect(verdicts.map((v) => v.suggest)).toEqual(['review', 'review', 'review'])
    expect(new Set(verdicts.map((v) => ('label' in v ? v.label : 0))).size).toBe(3)
    const bodies = fake.of('/wxa/msg_sec_check').slice(before).map((c) => c.body)
    expect(bodies).toEqual(expect.arrayContaining(texts.map((content) => ({ version: 2, openid: 'o\u00e9', scene: 2, content }))))
  })

  it("shows the process's counts in this process's metrics, by their usual names", async () => {
    await checker.verdict('cat', 'counted')
    const text = await registry.metrics()
    expect(text).toMatch(/^wechat_calls_total\{api="msg_sec_check",outcome="ok"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wechat_text_checks_total\{suggest="pass"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wechat_token_refreshes_total\{reason="missing"\} 1$/m)
  })

  it("a frame's verdicts leave once all its texts are answered, without waiting for the window", async () => {
    // A window of ten minutes: a verdict that waited for it would not come within the test.
    const windowed = start(600_000, 600_000)
    try {
      await windowed.ready()
      let release = () => {}
      const held = new Promise<void>((resolve) => (release = resolve))
      fake.setDefault('/wxa/msg_sec_check', async (call) => {
        if ((call.body as { content: string }).content === 'slow') await held
        return PASS
      })
      // One frame of two texts. The first verdict leaves at the end of its turn (none left before
      // it); the second comes after that message, within its window.
      const fast = windowed.verdict('ann', 'fast')
      const slow = windowed.verdict('ann', 'slow')
      expect(await fast).toEqual({ suggest: 'pass', label: 100 })
      release()
      expect(await slow).toEqual({ suggest: 'pass', label: 100 })
    } finally {
      await windowed.close()
    }
  })

  it('a killed process: texts in flight and texts until its restart are unavailable, allowed and listed or refused; the restarted one checks', async () => {
    // A text in flight when the process dies.
    let asked!: () => void
    const arrived = new Promise<void>((r) => (asked = r))
    fake.script('/wxa/msg_sec_check', () => (asked(), new Promise<Record<string, unknown>>(() => {})))
    const inFlight = checker.verdict('ann', 'never answered')
    await arrived
    const pid = checker.pid()!
    const exited = once(checker.events, 'exit')
    process.kill(pid, 'SIGKILL')
    await exited
    const readyAgain = once(checker.events, 'ready')
    expect(await inFlight).toEqual({ suggest: 'unavailable' })

    // Dead, not yet restarted: each policy decides at once.
    const [let_, refused] = await Promise.allSettled([allow.text('ann', 'd:ann:bob', 'c3', 'while down'), refuse.text('ann', 'd:ann:bob', 'c4', 'while down')])
    expect(let_.status).toBe('fulfilled')
    expect(JSON.parse((await store.records('flags', 1))[0]!)).toMatchObject({ kind: 'unchecked', cid: 'c3', text: 'while down' })
    expect(refused).toMatchObject({ status: 'rejected', reason: { code: 'SECCHECK_UNAVAILABLE', temporary: true } })

    // Started again.
    const [again] = (await readyAgain) as [number]
    expect(again).not.toBe(pid)
    expect(checker.pid()).toBe(again)
    expect(await checker.verdict('ann', 'back')).toEqual({ suggest: 'pass', label: 100 })
    await allow.text('ann', 'd:ann:bob', 'c5', 'back')
  })

  it('a stuck process: texts are unavailable after WX_CHECKER_TIMEOUT_MS, never a hang', async () => {
    const pid = checker.pid()!
    process.kill(pid, 'SIGSTOP')
    try {
      const [let_, refused] = await Promise.allSettled([allow.text('bob', 'd:ann:bob', 'c6', 'stuck'), refuse.text('bob', 'd:ann:bob', 'c7', 'stuck')])
      expect(let_.status).toBe('fulfilled')
      expect(JSON.parse((await store.records('flags', 1))[0]!)).toMatchObject({ kind: 'unchecked', cid: 'c6' })
      expect(refused).toMatchObject({ status: 'rejected', reason: { code: 'SECCHECK_UNAVAILABLE' } })
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    expect(await checker.verdict('bob', 'unstuck')).toEqual({ suggest: 'pass', label: 100 })
  })

  it('close stops the process for good', async () => {
    const other = start(1500)
    await other.ready()
    const pid = other.pid()!
    const exited = once(other.events, 'exit')
    await other.close()
    await exited
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/)
    expect(other.pid()).toBeUndefined()
    expect(await other.verdict('ann', 'after')).toEqual({ suggest: 'unavailable' })
  })
})

describe('the built BFF and its checker process', () => {
  const prefix = randomPrefix()
  let fake: FakeWeChat
  beforeAll(async () => {
    fake = await new FakeWeChat().start()
  })
  afterAll(async () => {
    await fake.stop()
    await dropPrefix(prefix)
    await dropBundle()
  })

  it('starts dist/checker.js beside main.js (Redis store), checks sends through it, and the checker goes when the BFF is killed -9', async () => {
    const bff = await spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' })
    try {
      const kids = readFileSync(`/proc/${bff.child.pid}/task/${bff.child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number)
      const checker = kids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('checker.js'))
      expect(checker).toBeDefined()

      const ann = await connectUser(bff.url, 'kann')
      const bob = await connectUser(bff.url, 'kbob')
      const conv = directConvId('kann', 'kbob')
      fake.script('/wxa/msg_sec_check', { errcode: 0, result: { suggest: 'risky', label: 20003 } })
      const bad = newCid()
      ann.client.send({ type: 'send', cid: bad, conv, kind: 'text', body: { text: 'insult' } })
      expect(await ann.client.next((f) => f.type === 'error' && f.cid === bad)).toMatchObject({ code: 'CONTENT_RISKY' })
      const ok = newCid()
      ann.client.send({ type: 'send', cid: ok, conv, kind: 'text', body: { text: 'hello' } })
      await ann.client.nextOf('ack', (f) => f.cid === ok)
      expect(fake.of('/wxa/msg_sec_check').map((c) => c.body.content)).toEqual(['insult', 'hello'])
      await Promise.all([ann.client.close(), bob.client.close()])

      bff.kill('SIGKILL')
      await bff.exited
      await waitFor(() => !alive(checker!))
    } finally {
      await bff.stop()
    }
  })
})
