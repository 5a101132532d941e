/**
 * Re-checks of texts, group titles and contact request notes let through unchecked (WX_SECCHECK_UNAVAILABLE=allow), over
 * real sockets against the local WeChat fake, on the memory engine and on Redis: what each verdict
 * of the re-check does to the message or title, to the members' devices, to the moderation list;
 * the budget's share; one re-check per item across two processes; no listing left without its
 * re-check, whatever stops a send between its listing and its store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AppError, directConvId } from '@chat/shared'
import type { RunningServer } from '../../src/app'
import { createMemoryEngine } from '../../src/store/memory'
import type { AppendInput, AppendResult } from '../../src/store/types'
import { RECHECK_BUDGET_SHARE } from '../../src/wechat/recheck'
import { RECHECK_SEND_GRACE_MS } from '../../src/wechat/recheck-place'
import { OPTIONS } from '../support/engines'
import { connectUser, newCid } from '../support/client'
import type { TestClient } from '../support/client'
import { FakeWeChat } from '../support/fake-wechat'
import type { AdminLists } from '../support/fake-wechat'
import { dropPrefix, randomPrefix, startTestServer } from '../support/server'
import { waitFor } from '../support/wait'
import { create, patch, pdfBytes } from '../upload/harness'

const ADMIN = 'admin-token-0123456789'
const BUSY = { errcode: -1, errmsg: 'system busy' }
const verdict = (suggest: 'pass' | 'review' | 'risky', label = 100) => ({ errcode: 0, result: { suggest, label } })

/** The budget is a fixed clock minute: start well inside one, so a test's checks fall in the same one. */
async function insideAMinute(): Promise<void> {
  if (Date.now() % 60_000 > 45_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 10))
}

describe.each(['memory', 'redis'] as const)('re-checks of unchecked texts (%s)', (store) => {
  let fake: FakeWeChat
  const servers: RunningServer[] = []
  const prefixes: string[] = []
  const open: TestClient[] = []
  /** Sends held by `stall`, failed before the servers close (a stopped process answers nothing). */
  const stalled: Array<() => void> = []
  let n = 0
  const uid = (name: string) => `${name}${++n}`

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
  })
  afterAll(async () => {
    await fake.stop()
  })
  afterEach(async () => {
    for (const release of stalled.splice(0)) release()
    await Promise.all(open.splice(0).map((c) => c.close()))
    await Promise.all(servers.splice(0).map((s) => s.close()))
    if (store === 'redis') await Promise.all(prefixes.splice(0).map((p) => dropPrefix(p)))
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
  })

  /** A BFF with checks on and policy allow; its sweeps are run by the test (the interval is long) unless `env` says. */
  async function start(env: Record<string, string> = {}, prefix = randomPrefix()) {
    if (!prefixes.includes(prefix)) prefixes.push(prefix)
    const s = await startTestServer({
      STORE: store,
      REDIS_PREFIX: prefix,
      WX_APPID: 'wxapp',
      WX_SECRET: 'secret',
      WX_API_BASE: fake.url,
      WX_RETRY_MAX: '0',
      ADMIN_TOKEN: ADMIN,
      RATE_LIMIT_PER_SEC: '1000',
      RATE_LIMIT_BURST: '1000',
      WX_RECHECK_INTERVAL_MS: '600000',
      ...env,
    })
    servers.push(s)
    return s
  }
  async function pair(s: RunningServer, t: RunningServer = s) {
    const a = uid('ann')
    const b = uid('bob')
    const ann = await connectUser(s.url, a)
    const bob = await connectUser(t.url, b)
    open.push(ann.client, bob.client)
    return { a, b, ann: ann.client, bob: bob.client, conv: directConvId(a, b), annToken: ann.auth.token }
  }
  /** A text sent while WeChat is busy: acked (policy allow) and delivered to `peer`. */
  async function sendWhileBusy(from: TestClient, peer: TestClient, conv: string, text: string) {
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    from.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    const ack = await from.nextOf('ack', (f) => f.cid === cid)
    await peer.nextOf('msg', (f) => f.m.cid === cid)
    return { cid, seq: ack.seq }
  }
  async function flags(s: RunningServer) {
    const res = await fetch(`${s.url}/admin/flags`, { headers: { authorization: `Bearer ${ADMIN}` } })
    return ((await res.json()) as AdminLists).flags
  }
  async function history(c: TestClient, conv: string) {
    const rid = `h${++n}`
    c.send({ type: 'history', rid, conv })
    return (await c.nextOf('messages', (f) => f.rid === rid)).msgs
  }
  const checked = (text: string) => fake.of('/wxa/msg_sec_check').filter((c) => c.body.content === text).length
  /** The store of `s` as `change` has it for the first send of `cid` (every other send, its resends too, stored as ever). */
  function storeOf(s: RunningServer, cid: string, change: (append: () => Promise<AppendResult>) => Promise<AppendResult>) {
    const append = s.engine.messages.append.bind(s.engine.messages)
    let first = true
    s.engine.messages.append = (input: AppendInput, onStored?: (stored: AppendResult) => void) => {
      if (input.cid !== cid || !first) return append(input, onStored)
      first = false
      return change(() => append(input, onStored))
    }
  }
  /** The first send of `cid` on `s` stops before its store, as a process that died there: its store never happens. */
  function stall(s: RunningServer, cid: string) {
    storeOf(s, cid, () => new Promise((_, reject) => stalled.push(() => reject(new AppError('STORE_UNAVAILABLE')))))
  }
  async function group(owner: TestClient, members: string[], title: string) {
    const rid = `g${++n}`
    owner.send({ type: 'conv.create', rid, kind: 'group', members, title })
    return (await owner.nextOf('conv', (f) => f.rid === rid)).conv.id
  }
  async function rename(c: TestClient, conv: string, title: string) {
    const rid = `r${++n}`
    c.send({ type: 'group', rid, conv, op: 'rename', title })
    return c.nextOf('group', (f) => f.rid === rid)
  }
  async function listed(c: TestClient, conv: string) {
    const rid = `l${++n}`
    c.send({ type: 'convs', rid })
    return (await c.nextOf('convs', (f) => f.rid === rid)).items.find((i) => i.id === conv)
  }

  it('withdraws a text the re-check finds risky: both members get the withdrawal, history stops returning it, it is listed risky', async () => {
    const s = await start()
    const { a, ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'sent while busy')
    expect((await flags(s)).find((f) => f.cid === sent.cid)).toMatchObject({ kind: 'unchecked', from: a, conv, text: 'sent while busy' })

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    for (const c of [ann, bob]) expect((await c.nextOf('msg', (f) => f.m.kind === 'recall')).m).toMatchObject({ from: a, body: { seq: sent.seq, by: 'moderation' } })
    const msgs = await history(bob, conv)
    expect(msgs.some((m) => (m.body as { text?: string }).text === 'sent while busy')).toBe(false)
    expect(msgs.find((m) => m.seq === sent.seq)).toMatchObject({ kind: 'recalled', body: { by: 'moderation' } })
    const listed = (await flags(s)).filter((f) => f.cid === sent.cid)
    expect(listed).toEqual([expect.objectContaining({ kind: 'risky', from: a, conv, seq: sent.seq, label: 20001 })])
    const metrics = await (await fetch(`${s.url}/metrics`)).text()
    expect(metrics).toMatch(/^wechat_rechecks_total\{kind="text",outcome="risky"\} 1$/m)
  })

  it('takes a text the re-check passes off the list, and checks it only once', async () => {
    const s = await start()
    const { ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'fine after all')
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, pass: 1, left: 0 })
    expect((await flags(s)).some((f) => f.cid === sent.cid)).toBe(false)
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 0 })
    // Once at the send (busy) and once at the re-check.
    expect(checked('fine after all')).toBe(2)
    expect((await history(bob, conv)).map((m) => (m.body as { text?: string }).text)).toEqual(['fine after all'])
  })

  it('lists a text the re-check finds doubtful as review', async () => {
    const s = await start()
    const { a, ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'doubtful words')
    fake.setDefault('/wxa/msg_sec_check', verdict('review', 20012))
    expect(await s.rechecks!.sweep()).toMatchObject({ review: 1, left: 0 })
    const listed = (await flags(s)).filter((f) => f.cid === sent.cid)
    expect(listed).toEqual([expect.objectContaining({ kind: 'review', from: a, conv, seq: sent.seq, label: 20012, text: 'doubtful words' })])
    expect((await history(bob, conv)).map((m) => (m.body as { text?: string }).text)).toEqual(['doubtful words'])
  })

  it('keeps a text WeChat still cannot check for the next sweep', async () => {
    const s = await start()
    const { ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'still busy')
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, unavailable: 1, left: 1 })
    expect((await flags(s)).find((f) => f.cid === sent.cid)).toMatchObject({ kind: 'unchecked' })
    expect(checked('still busy')).toBe(2)
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    expect(await s.rechecks!.sweep()).toMatchObject({ pass: 1, left: 0 })
    expect((await flags(s)).some((f) => f.cid === sent.cid)).toBe(false)
  })

  it('makes no re-check call once the budget left to re-checks is spent: the text waits', async () => {
    await insideAMinute()
    // A process reserves the whole minute's budget with its first check: nothing is left to re-checks.
    const s = await start({ WX_TEXT_CHECKS_PER_MIN: '4' })
    const { ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'over budget')
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    const calls = fake.of('/wxa/msg_sec_check').length
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, deferred: 1, left: 1 })
    expect(fake.of('/wxa/msg_sec_check')).toHaveLength(calls)
    expect((await flags(s)).find((f) => f.cid === sent.cid)).toMatchObject({ kind: 'unchecked' })
    // Live sends still have the budget the process holds.
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    const cid = newCid()
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'live' } })
    await ann.nextOf('ack', (f) => f.cid === cid)
    expect(checked('live')).toBe(1)
    expect(RECHECK_BUDGET_SHARE).toBeLessThan(1)
  })

  it('drops a text whose message is gone (recalled by its sender) without checking it', async () => {
    const s = await start()
    const { ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'taken back')
    ann.send({ type: 'recall', rid: 'r1', conv, seq: sent.seq })
    await bob.nextOf('msg', (f) => f.m.kind === 'recall')
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    expect(await s.rechecks!.sweep()).toMatchObject({ dropped: 1, left: 0 })
    expect(checked('taken back')).toBe(1)
    expect((await flags(s)).some((f) => f.cid === sent.cid)).toBe(false)
  })

  it('sweeps on its own every WX_RECHECK_INTERVAL_MS while something is queued', async () => {
    const s = await start({ WX_RECHECK_INTERVAL_MS: '50' })
    const { ann, bob, conv } = await pair(s)
    const sent = await sendWhileBusy(ann, bob, conv, 'swept by the timer')
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    await bob.nextOf('msg', (f) => f.m.kind === 'recall' && f.m.body.seq === sent.seq)
    await waitFor(async () => (await flags(s)).some((f) => f.cid === sent.cid && f.kind === 'risky'))
  })

  it.runIf(store === 'memory')('keeps the listing of a text the store refused until the grace has passed, then drops it with its item: no message, nothing to re-check', async () => {
    const engine = createMemoryEngine(OPTIONS)
    const append = engine.messages.append.bind(engine.messages)
    engine.messages.append = (input, onStored) => ((input.body as { text?: string }).text === 'refused by the store' ? Promise.reject(new AppError('STORE_UNAVAILABLE')) : append(input, onStored))
    const s = await startTestServer({ WX_APPID: 'wxapp', WX_SECRET: 'secret', WX_API_BASE: fake.url, WX_RETRY_MAX: '0', ADMIN_TOKEN: ADMIN, WX_RECHECK_INTERVAL_MS: '600000' }, { engine })
    servers.push(s)
    const { ann, bob, conv } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'refused by the store' } })
    expect(await ann.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'STORE_UNAVAILABLE' })
    // A failed store may have stored it all the same: the sweep tells by its cid.
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'unchecked' })
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, waiting: 1, left: 1 })
    expect(await s.rechecks!.sweep(Date.now() + RECHECK_SEND_GRACE_MS + 1000)).toMatchObject({ texts: 1, dropped: 1, left: 0 })
    expect((await flags(s)).some((f) => f.cid === cid)).toBe(false)
    expect(checked('refused by the store')).toBe(1)
    // A text the store took is queued with its seq by its send.
    const sent = await sendWhileBusy(ann, bob, conv, 'taken by the store')
    expect(await engine.wechat.dueRechecks(10)).toEqual([expect.stringContaining(`"seq":${sent.seq}`)])
  })

  it('re-checks a text whose process stopped between its listing and its store, once a resend with its cid is stored', async () => {
    // No recent passes kept: the re-check asks WeChat again rather than take the resend's pass.
    const s = await start({ WX_SECCHECK_CACHE_MAX: '0' })
    const { a, ann, bob, conv } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    stall(s, cid)
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'stopped before its store' } })
    await waitFor(async () => (await flags(s)).some((f) => f.cid === cid && f.kind === 'unchecked'))
    // The outbox sends it again (WeChat answers by then: no listing of its own) and the store takes it.
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    const other = await connectUser(s.url, a)
    open.push(other.client)
    other.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'stopped before its store' } })
    const ack = await other.client.nextOf('ack', (f) => f.cid === cid)
    await bob.nextOf('msg', (f) => f.m.cid === cid)

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    for (const c of [ann, bob]) expect((await c.nextOf('msg', (f) => f.m.kind === 'recall')).m).toMatchObject({ body: { seq: ack.seq, by: 'moderation' } })
    expect((await flags(s)).filter((f) => f.cid === cid)).toEqual([expect.objectContaining({ kind: 'risky', conv, seq: ack.seq, label: 20001, text: 'stopped before its store' })])
  })

  it('re-checks a text the store took whose send then failed (its reply lost): delivered, so still checked', async () => {
    const s = await start()
    const { ann, bob, conv } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    storeOf(s, cid, async (append) => {
      await append()
      throw new AppError('STORE_UNAVAILABLE')
    })
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'stored, reply lost' } })
    expect(await ann.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'STORE_UNAVAILABLE' })
    const delivered = await bob.nextOf('msg', (f) => f.m.cid === cid)
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'unchecked' })

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    expect((await bob.nextOf('msg', (f) => f.m.kind === 'recall')).m).toMatchObject({ body: { seq: delivered.m.seq, by: 'moderation' } })
    expect((await flags(s)).filter((f) => f.cid === cid)).toEqual([expect.objectContaining({ kind: 'risky', seq: delivered.m.seq })])
  })

  it('drops the item and the listing of a text whose store never happened, once the grace has passed, without a check', async () => {
    const s = await start()
    const { ann, conv } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    stall(s, cid)
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'never stored' } })
    await waitFor(async () => (await flags(s)).some((f) => f.cid === cid && f.kind === 'unchecked'))
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    // Its store may still be under way: it waits.
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, waiting: 1, left: 1 })
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'unchecked' })
    expect(await s.rechecks!.sweep(Date.now() + RECHECK_SEND_GRACE_MS + 1000)).toMatchObject({ texts: 1, dropped: 1, left: 0 })
    expect((await flags(s)).some((f) => f.cid === cid)).toBe(false)
    expect(await s.engine.wechat.pendingRechecks()).toBe(0)
    expect(checked('never stored')).toBe(1)
  })

  it('refuses a send whose re-check cannot be queued (STORE_UNAVAILABLE, temporary): nothing listed, stored or delivered; its resend is', async () => {
    const s = await start()
    const { ann, bob, conv } = await pair(s)
    const queue = s.engine.wechat.queueRecheck.bind(s.engine.wechat)
    s.engine.wechat.queueRecheck = () => Promise.reject(new Error('the queue write was lost'))
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'not queued' } })
    expect(await ann.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'STORE_UNAVAILABLE', temporary: true })
    expect((await flags(s)).some((f) => f.cid === cid)).toBe(false)
    expect(await history(bob, conv)).toEqual([])
    expect(bob.all('msg')).toEqual([])

    s.engine.wechat.queueRecheck = queue
    ann.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'not queued' } })
    const ack = await ann.nextOf('ack', (f) => f.cid === cid)
    await bob.nextOf('msg', (f) => f.m.cid === cid)
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'unchecked' })
    expect(await s.engine.wechat.dueRechecks(10)).toEqual([expect.stringContaining(`"seq":${ack.seq}`)])
  })

  it('takes back a group title the re-check finds risky: the group is untitled, every member is told as of a rename, listed risky', async () => {
    const s = await start()
    const { a, b, ann, bob } = await pair(s)
    const c = uid('cy')
    const cy = (await connectUser(s.url, c)).client
    open.push(cy)
    const conv = await group(ann, [b, c], 'book club')
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const renamed = await rename(ann, conv, 'shady title')
    expect((await flags(s)).find((f) => f.conv === conv)).toMatchObject({ kind: 'unchecked', from: a, cid: 'title', text: 'shady title' })

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20003))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    for (const member of [ann, bob, cy]) {
      const told = await member.nextOf('msg', (f) => f.m.conv === conv && f.m.kind === 'system' && f.m.seq > renamed.m.seq)
      expect(told.m).toMatchObject({ from: a, body: { op: 'rename', by: 'moderation' } })
      expect(told.m.body).not.toHaveProperty('title')
    }
    // The lists show it untitled (its default name: its members), as a group created without one.
    for (const member of [ann, cy]) expect((await listed(member, conv))?.title).toBeUndefined()
    expect((await s.engine.convs.get(conv))?.title).toBeUndefined()
    const rev = (await s.engine.convs.get(conv))!.rev! - 1
    expect((await flags(s)).filter((f) => f.conv === conv)).toEqual([expect.objectContaining({ kind: 'risky', from: a, cid: 'title', text: 'shady title', label: 20003, rev })])
    // Taken back once: a later sweep has nothing left.
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 0, left: 0 })
  })

  it('takes a title the re-check passes off the list and keeps it; a group created while WeChat is busy is re-checked too', async () => {
    const s = await start()
    const { b, ann, bob } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const conv = await group(ann, [b], 'created unchecked')
    expect((await flags(s)).find((f) => f.conv === conv)).toMatchObject({ kind: 'unchecked', cid: 'title' })
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, pass: 1, left: 0 })
    expect((await flags(s)).some((f) => f.conv === conv)).toBe(false)
    expect((await listed(bob, conv))?.title).toBe('created unchecked')
    expect(checked('created unchecked')).toBe(2)
  })

  it('drops the item and listing of a title renamed again before its re-check, without a check', async () => {
    const s = await start()
    const { b, ann, bob } = await pair(s)
    const conv = await group(ann, [b], 'first title')
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    await rename(ann, conv, 'unchecked title')
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    await rename(ann, conv, 'checked title')
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, dropped: 1, left: 0 })
    expect(checked('unchecked title')).toBe(1)
    expect((await flags(s)).some((f) => f.conv === conv)).toBe(false)
    expect((await listed(bob, conv))?.title).toBe('checked title')
    expect(bob.all('msg').filter((f) => f.m.kind === 'system' && (f.m.body as { by?: string }).by === 'moderation')).toEqual([])
  })

  /** `op` of `from` about user `to` (a request with `note`); resolves the answer (the entry, or an error). */
  async function relation(from: TestClient, op: 'request' | 'accept', to: string, note?: string) {
    const rid = `q${++n}`
    from.send({ type: 'relation', rid, op, user: to, ...(note !== undefined ? { note } : {}) })
    return from.next((f) => (f.type === 'relation' || f.type === 'error') && (f as { rid?: string }).rid === rid)
  }
  const request = (from: TestClient, to: string, note: string) => relation(from, 'request', to, note)
  async function contacts(c: TestClient) {
    const rid = `c${++n}`
    c.send({ type: 'contacts', rid })
    return (await c.nextOf('contacts', (f) => f.rid === rid)).items
  }

  /** A finished upload of a PDF named `name` by the holder of `token` into `conv`: its file id. */
  async function uploaded(s: RunningServer, token: string, conv: string, name: string) {
    const bytes = pdfBytes(2048)
    const c = await create(s, token, bytes.length, { conv, filename: name })
    expect((await patch(s, token, c.id!, 0, bytes)).status).toBe(200)
    return c.id!
  }

  it("re-checks a file's name let through unchecked as a text: a risky one withdraws the file message", async () => {
    const s = await start()
    const { a, ann, bob, conv, annToken } = await pair(s)
    // The 1:1 exists once its first message is stored (checked: passes).
    const opener = newCid()
    ann.send({ type: 'send', cid: opener, conv, kind: 'text', body: { text: 'hello' } })
    await bob.nextOf('msg', (f) => f.m.cid === opener)
    const fileId = await uploaded(s, annToken, conv, 'shady name.pdf')
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    const cid = newCid()
    ann.send({ type: 'send', cid, conv, kind: 'file', body: { fileId } })
    const ack = await ann.nextOf('ack', (f) => f.cid === cid)
    expect((await bob.nextOf('msg', (f) => f.m.cid === cid)).m).toMatchObject({ kind: 'file', body: { name: 'shady name.pdf' } })
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'unchecked', from: a, conv, text: 'shady name.pdf' })

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    for (const c of [ann, bob]) expect((await c.nextOf('msg', (f) => f.m.kind === 'recall' && (f.m.body as { seq: number }).seq === ack.seq)).m).toMatchObject({ from: a, body: { by: 'moderation' } })
    expect((await history(bob, conv)).find((m) => m.seq === ack.seq)).toMatchObject({ kind: 'recalled', body: { by: 'moderation' } })
    expect((await flags(s)).find((f) => f.cid === cid)).toMatchObject({ kind: 'risky', text: 'shady name.pdf', seq: ack.seq })
  })

  it("takes a risky note off a contact request on its re-check: the request stays, both users' devices see it without the note, listed risky", async () => {
    const s = await start()
    const { a, b, ann, bob, conv } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    expect(await request(ann, b, 'shady note')).toMatchObject({ type: 'relation', entry: { state: 'outgoing', note: 'shady note' } })
    expect(await bob.nextOf('relation')).toMatchObject({ entry: { state: 'incoming', note: 'shady note' } })
    expect((await flags(s)).find((f) => f.cid === 'note')).toMatchObject({ kind: 'unchecked', from: a, conv, text: 'shady note' })

    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    const told = await bob.nextOf('relation', (f) => f.entry.note === undefined)
    expect(told.entry).toMatchObject({ user: { id: a }, state: 'incoming' })
    expect((await ann.nextOf('relation', (f) => f.entry.note === undefined)).entry).toMatchObject({ user: { id: b }, state: 'outgoing' })
    // What a device sees afresh: the request, without its note; and it can still be accepted.
    const incoming = (await contacts(bob)).find((e) => e.user.id === a)
    expect(incoming).toMatchObject({ state: 'incoming' })
    expect(incoming).not.toHaveProperty('note')
    expect((await flags(s)).filter((f) => f.cid === 'note')).toEqual([expect.objectContaining({ kind: 'risky', from: a, conv, text: 'shady note', label: 20001, rechecked: true })])
    expect(await relation(bob, 'accept', a)).toMatchObject({ type: 'relation', entry: { state: 'contact' } })
    // Taken off once: a later sweep has nothing left.
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 0, left: 0 })
  })

  it('takes a note the re-check passes off the list and keeps it on the request', async () => {
    const s = await start()
    const { a, b, ann, bob } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    await request(ann, b, 'fine note')
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, pass: 1, left: 0 })
    expect((await flags(s)).some((f) => f.cid === 'note')).toBe(false)
    expect((await contacts(bob)).find((e) => e.user.id === a)).toMatchObject({ state: 'incoming', note: 'fine note' })
    expect(checked('fine note')).toBe(2)
  })

  it('drops the item and listing of a note whose request was answered before its re-check, without a check', async () => {
    const s = await start()
    const { a, b, ann, bob } = await pair(s)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    await request(ann, b, 'answered note')
    expect(await relation(bob, 'accept', a)).toMatchObject({ entry: { state: 'contact' } })
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    // Within the grace a note not shown may be one whose request is still being stored: it waits, unchecked.
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, waiting: 1, left: 1 })
    expect(await s.rechecks!.sweep(Date.now() + RECHECK_SEND_GRACE_MS + 1000)).toMatchObject({ texts: 1, dropped: 1, left: 0 })
    expect(checked('answered note')).toBe(1)
    expect((await flags(s)).some((f) => f.cid === 'note')).toBe(false)
    expect((await contacts(ann)).find((e) => e.user.id === b)).toMatchObject({ state: 'contact' })
  })

  it('keeps the item of a note whose request was never stored while its store may be under way, then drops it with its listing', async () => {
    const s = await start()
    const { a, b, ann } = await pair(s)
    expect(await request(ann, b, 'first note')).toMatchObject({ type: 'relation' })
    // A second request is refused after its note's check (REQUEST_EXISTS): that note is stored nowhere.
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    expect(await request(ann, b, 'never stored note')).toMatchObject({ type: 'error', code: 'REQUEST_EXISTS' })
    expect((await flags(s)).find((f) => f.text === 'never stored note')).toMatchObject({ kind: 'unchecked', from: a })
    fake.setDefault('/wxa/msg_sec_check', verdict('risky'))
    expect(await s.rechecks!.sweep()).toMatchObject({ texts: 1, waiting: 1, left: 1 })
    expect(await s.rechecks!.sweep(Date.now() + RECHECK_SEND_GRACE_MS + 1000)).toMatchObject({ texts: 1, dropped: 1, left: 0 })
    expect(checked('never stored note')).toBe(1)
    expect((await flags(s)).some((f) => f.text === 'never stored note')).toBe(false)
    expect((await contacts(ann)).find((e) => e.user.id === b)).toMatchObject({ state: 'outgoing', note: 'first note' })
  })

  it.runIf(store === 'redis')("takes a risky note off on another process than the one that took the request: both users' devices are told wherever they are connected", async () => {
    const prefix = randomPrefix()
    const one = await start({}, prefix)
    const two = await start({}, prefix)
    const { a, b, ann, bob } = await pair(one, two)
    fake.setDefault('/wxa/msg_sec_check', BUSY)
    await request(ann, b, 'note taken on one')
    await bob.nextOf('relation', (f) => f.entry.note === 'note taken on one')
    fake.setDefault('/wxa/msg_sec_check', verdict('risky', 20001))
    // Swept by the other process: it reads the pair and pushes through the bus.
    expect(await two.rechecks!.sweep()).toMatchObject({ texts: 1, risky: 1, left: 0 })
    expect((await ann.nextOf('relation', (f) => f.entry.note === undefined)).entry).toMatchObject({ user: { id: b }, state: 'outgoing' })
    expect((await bob.nextOf('relation', (f) => f.entry.note === undefined)).entry).toMatchObject({ user: { id: a }, state: 'incoming' })
    expect((await contacts(ann)).find((e) => e.user.id === b)).not.toHaveProperty('note')
  })

  it.runIf(store === 'redis')('re-checks each text once with two processes sweeping', async () => {
    const prefix = randomPrefix()
    const one = await start({}, prefix)
    const two = await start({}, prefix)
    const { ann, bob, conv } = await pair(one, two)
    const texts = ['first unchecked', 'second unchecked', 'third unchecked']
    for (const [i, text] of texts.entries()) await (i % 2 === 0 ? sendWhileBusy(ann, bob, conv, text) : sendWhileBusy(bob, ann, conv, text))
    fake.setDefault('/wxa/msg_sec_check', verdict('pass'))
    const reports = await Promise.all([one.rechecks!.sweep(), two.rechecks!.sweep(), one.rechecks!.sweep(), two.rechecks!.sweep()])
    expect(reports.reduce((sum, r) => sum + (r?.pass ?? 0), 0)).toBe(3)
    // Each once at the send, once at its re-check.
    expect(texts.map(checked)).toEqual([2, 2, 2])
    expect((await flags(one)).some((f) => f.kind === 'unchecked')).toBe(false)
  })
})
