/**
 * Subscription messages for offline users, the whole flow: three BFF servers on one Redis (three
 * processes of a deployment), the real client protocol over sockets, the local WeChat fake.
 * Exactly one notification per conversation per qualifying absence; none when the user is online
 * or came back within the grace period; 43101 zeroes the allowance.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ErrorResponse } from '@chat/shared'
import type { RunningServer } from '../../src/app'
import { TestClient, connectUser, newCid } from '../support/client'
import { FakeWeChat } from '../support/fake-wechat'
import { dropPrefix, randomPrefix, startTestServer } from '../support/server'
import { waitFor } from '../support/wait'

const SEND = '/cgi-bin/message/subscribe/send'
const GRACE_MS = 600

describe('notifications for offline users over three processes', () => {
  let fake: FakeWeChat
  let servers: RunningServer[]
  let prefix: string
  const open: TestClient[] = []
  let n = 0
  const uid = (name: string) => `${name}${++n}`

  beforeAll(async () => {
    fake = await new FakeWeChat().start()
    prefix = randomPrefix()
    const env = {
      STORE: 'redis',
      REDIS_PREFIX: prefix,
      WX_APPID: 'wxapp',
      WX_SECRET: 'secret',
      WX_API_BASE: fake.url,
      WX_RETRY_BASE_MS: '5',
      WX_SUBSCRIBE_TEMPLATE_ID: 'tmplNewMsg',
      WX_SUBSCRIBE_GRACE_MS: String(GRACE_MS),
      WX_SUBSCRIBE_MAX: '3',
    }
    servers = await Promise.all([startTestServer(env), startTestServer(env), startTestServer(env)])
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await dropPrefix(prefix)
    await fake.stop()
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })

  const [A, B, C] = [0, 1, 2]
  async function connect(server: number, user: string, name?: string) {
    const r = await connectUser(servers[server]!.url, user, name === undefined ? {} : { name })
    open.push(r.client)
    return r
  }
  async function leave(client: TestClient, user: string) {
    await client.close()
    open.splice(open.indexOf(client), 1)
    await waitFor(async () => !(await servers[0]!.engine.presence.get([user]))[0]!.online)
  }
  async function send(client: TestClient, conv: string, text: string) {
    const cid = newCid()
    client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    await client.nextOf('ack', (f) => f.cid === cid)
  }
  async function subscriptions(server: number, token: string, results?: Record<string, string>) {
    const res = await fetch(`${servers[server]!.url}/wechat/subscriptions`, {
      method: results ? 'POST' : 'GET',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: results ? JSON.stringify({ results }) : undefined,
    })
    return { status: res.status, body: await res.json() }
  }
  /** An outcome of wechat_notifications_total summed over the three processes. */
  async function outcome(name: string): Promise<number> {
    let sum = 0
    for (const s of servers) {
      const metric = s.metrics.registry.getSingleMetric('wechat_notifications_total')
      const v = metric ? (await metric.get()).values.find((x) => x.labels.outcome === name) : undefined
      sum += v?.value ?? 0
    }
    return sum
  }
  const sendsTo = (user: string) => fake.of(SEND).filter((c) => c.body.touser === user)

  it('counts acceptances per user and template, bounded, and tells the client which templates to ask for', async () => {
    const bob = uid('bob')
    const { auth } = await connect(B, bob)
    expect((await subscriptions(B, auth.token)).body).toEqual({ templateIds: ['tmplNewMsg'], allowances: { tmplNewMsg: 0 } })
    expect((await subscriptions(A, auth.token, { tmplNewMsg: 'accept', otherTmpl: 'accept' })).body).toEqual({ allowances: { tmplNewMsg: 1 } })
    expect((await subscriptions(C, auth.token, { tmplNewMsg: 'reject' })).body).toEqual({ allowances: { tmplNewMsg: 1 } })
    for (let i = 0; i < 4; i++) await subscriptions(B, auth.token, { tmplNewMsg: 'accept' })
    // WX_SUBSCRIBE_MAX=3.
    expect(await servers[A]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(3)
    const bad = await fetch(`${servers[B]!.url}/wechat/subscriptions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth.token}` }, body: JSON.stringify({ results: 'accept' }) })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as ErrorResponse).error.code).toBe('INVALID_FRAME')
    expect((await subscriptions(B, 'forged')).status).toBe(401)
  })

  it('sends one notification per conversation per absence, spending one acceptance, and again after the user was back', async () => {
    const ann = uid('ann')
    const bob = uid('bob')
    const cat = uid('cat')
    const b = await connect(B, bob)
    await subscriptions(B, b.auth.token, { tmplNewMsg: 'accept' })
    await subscriptions(B, b.auth.token, { tmplNewMsg: 'accept' })
    await subscriptions(B, b.auth.token, { tmplNewMsg: 'accept' })
    await leave(b.client, bob)
    const a = await connect(A, ann, 'Ann Lee')
    const c = await connect(C, cat, 'Cat')
    const annConv = directConvId(ann, bob)
    await send(a.client, annConv, 'first   line\nof a long message that is clipped')
    await send(a.client, annConv, 'second')
    await send(c.client, directConvId(cat, bob), 'from cat')
    await waitFor(() => sendsTo(bob).length === 2, 5000)
    const fromAnn = sendsTo(bob).find((x) => x.body.page.includes(encodeURIComponent(annConv)))!
    expect(fromAnn.body).toMatchObject({ touser: bob, template_id: 'tmplNewMsg', page: `pages/chat/index?conv=${encodeURIComponent(annConv)}`, miniprogram_state: 'formal' })
    expect(fromAnn.body.data.thing1).toEqual({ value: 'Ann Lee' })
    // A `thing` holds 20 characters: 19 and an ellipsis, spaces collapsed.
    expect(fromAnn.body.data.thing2).toEqual({ value: 'first line of a lon…' })
    expect(fromAnn.body.data.time3.value).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/)
    expect(await servers[C]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(1)

    // Same absence, same conversation: claimed already, nothing sent.
    await send(a.client, annConv, 'third')
    await waitFor(async () => (await outcome('claimed')) === 1, 5000)
    expect(sendsTo(bob)).toHaveLength(2)

    // Back (on another process), then away again: the conversation may notify once more.
    const again = await connect(C, bob)
    await again.client.sync('s1', [{ conv: annConv, seq: 3 }])
    await leave(again.client, bob)
    await send(a.client, annConv, 'fourth')
    await waitFor(() => sendsTo(bob).length === 3, 5000)
    expect(await servers[A]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(0)

    // No acceptance left: nothing is sent.
    await send(c.client, directConvId(cat, bob), 'cat again')
    const before = await outcome('claimed')
    await waitFor(async () => (await outcome('claimed')) === before + 1 || (await outcome('no_allowance')) >= 1, 5000)
    expect(sendsTo(bob)).toHaveLength(3)
  })

  it('sends nothing to a user who is online or comes back within the grace period', async () => {
    const ann = uid('ann')
    const bob = uid('bob')
    const b = await connect(C, bob)
    await subscriptions(C, b.auth.token, { tmplNewMsg: 'accept' })
    const a = await connect(A, ann)
    const conv = directConvId(ann, bob)
    await send(a.client, conv, 'while online')
    await b.client.nextOf('msg')
    await leave(b.client, bob)
    const onlineBefore = await outcome('online')
    await send(a.client, conv, 'quick switch')
    // Back before the grace period ends: delivered by the sync, no notification.
    const back = await connect(B, bob)
    await waitFor(async () => (await outcome('online')) === onlineBefore + 1, 5000)
    expect(sendsTo(bob)).toHaveLength(0)
    expect(await servers[B]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(1)
    expect(back.welcome.user.id).toBe(bob)
  })

  it('sends nothing for a conversation the user muted (on another process), and still notifies the others', async () => {
    const ann = uid('ann')
    const bob = uid('bob')
    const cat = uid('cat')
    const b = await connect(B, bob)
    for (let i = 0; i < 2; i++) await subscriptions(B, b.auth.token, { tmplNewMsg: 'accept' })
    const a = await connect(A, ann)
    const c = await connect(C, cat)
    const mutedConv = directConvId(ann, bob)
    await send(a.client, mutedConv, 'before the mute')
    b.client.send({ type: 'conv.settings', rid: 'mute', conv: mutedConv, muted: true })
    await b.client.nextOf('conv.settings', (f) => f.rid === 'mute' && f.muted)
    await leave(b.client, bob)
    const muted = await outcome('muted')
    await send(a.client, mutedConv, 'muted: no notification')
    await send(c.client, directConvId(cat, bob), 'not muted')
    await waitFor(async () => (await outcome('muted')) === muted + 1 && sendsTo(bob).length === 1, 5000)
    expect(sendsTo(bob)[0]!.body.page).toContain(encodeURIComponent(directConvId(cat, bob)))
    // The muted conversation spent nothing.
    expect(await servers[A]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(1)
  })

  it('zeroes the allowance when WeChat answers 43101, and gives it back on another failure', async () => {
    const ann = uid('ann')
    const bob = uid('bob')
    const b = await connect(A, bob)
    for (let i = 0; i < 3; i++) await subscriptions(A, b.auth.token, { tmplNewMsg: 'accept' })
    await leave(b.client, bob)
    const a = await connect(B, ann)
    fake.script(SEND, { errcode: 47003, errmsg: 'argument invalid' })
    const failed = await outcome('failed')
    await send(a.client, directConvId(ann, bob), 'one')
    await waitFor(async () => (await outcome('failed')) === failed + 1, 5000)
    expect(await servers[A]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(3)

    const b2 = await connect(C, bob)
    await leave(b2.client, bob)
    fake.script(SEND, { errcode: 43101, errmsg: 'user refuse to accept the msg' })
    const refused = await outcome('refused')
    await send(a.client, directConvId(ann, bob), 'two')
    await waitFor(async () => (await outcome('refused')) === refused + 1, 5000)
    expect(await servers[A]!.engine.wechat.allowances(bob, 'tmplNewMsg')).toBe(0)
  })
})
