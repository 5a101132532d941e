/**
 * The Redis settings store folds a user's settings and newest hidden seqs into the chat engine's
 * per-user summary (store/conv-settings.ts, `c~`, `c:<conv>`, `h:<conv>` in `{u:<id>}:s`), so a
 * `convs` reads them with the summary. What is asserted: a summary written before (no mark) is read
 * as before and folded by that `convs`; once folded, the list comes from the summary alone (the
 * settings hash and the hidden-conversation set removed behind the store's back change nothing)
 * and every later change (unmute, unpin, a newer hidden message, a message after a hidden one)
 * shows; a summary that lost its mark is read as before again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import type { Conversation } from '@chat/shared'
import type { TestClient } from './support/client'
import { devLogin, newCid } from './support/client'
import { REDIS_URL, useTestServer } from './support/server'
import { SUMMARIES_IN_SCRIPT_MAX } from '../src/store/redis'

describe('conversation settings folded into the summary (redis)', () => {
  const t = useTestServer('redis', { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' })
  let admin: Redis
  beforeAll(() => {
    admin = new Redis(REDIS_URL)
  })
  afterAll(() => admin.disconnect())

  async function send(c: TestClient, conv: string, text: string): Promise<number> {
    const cid = newCid()
    c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return (await c.nextOf('ack', (f) => f.cid === cid)).seq
  }

  async function ask(c: TestClient, frame: Record<string, unknown> & { rid: string }): Promise<void> {
    c.send(frame as never)
    const reply = await c.next((f) => 'rid' in f && f.rid === frame.rid)
    expect(reply.type, JSON.stringify(reply)).not.toBe('error')
  }

  let n = 0
  async function convs(c: TestClient): Promise<Map<string, Conversation>> {
    const rid = `c${++n}`
    c.send({ type: 'convs', rid })
    const reply = await c.nextOf('convs', (f) => f.rid === rid)
    return new Map(reply.items.map((x) => [x.id, x]))
  }

  const summary = (u: string) => `${t.prefix}{u:${u}}:s`

  it('reads an unfolded summary as before and folds it; then lists from it alone, every later change included', async () => {
    const [ann, bob, cy] = [t.uid('fa'), t.uid('fb'), t.uid('fc')]
    const me = (await t.connect(ann)).client
    const b = (await t.connect(bob)).client
    const c = (await t.connect(cy)).client
    const ab = directConvId(ann, bob)
    const ac = directConvId(ann, cy)
    await send(b, ab, 'one')
    const two = await send(b, ab, 'two')
    await send(c, ac, 'three')
    await ask(me, { type: 'conv.settings', rid: 's1', conv: ab, muted: true, pinned: true })
    await ask(me, { type: 'hide', rid: 'h1', conv: ab, seq: two })
    // As a build without folding left it: no mark, no folded fields.
    await admin.hdel(summary(ann), 'c~', `c:${ab}`, `h:${ab}`)

    const before = await convs(me)
    expect([before.get(ab)!.muted, (before.get(ab)!.pinned ?? 0) > 0, before.get(ab)!.lastMsg?.kind]).toEqual([true, true, 'hidden'])
    expect(before.get(ac)!.muted).toBeUndefined()
    // Folded by that list.
    expect(await admin.hmget(summary(ann), 'c~', `c:${ab}`, `h:${ab}`, `c:${ac}`, `h:${ac}`)).toEqual(['1', (await admin.hget(`${t.prefix}{u:${ann}}:cs`, ab))!, String(two), null, null])

    // From the summary alone: the store's own keys gone behind its back change nothing.
    const cs = await admin.hgetall(`${t.prefix}{u:${ann}}:cs`)
    await admin.del(`${t.prefix}{u:${ann}}:cs`, `${t.prefix}{u:${ann}}:hdc`)
    expect(await convs(me)).toEqual(before)
    await admin.hset(`${t.prefix}{u:${ann}}:cs`, cs)
    await admin.sadd(`${t.prefix}{u:${ann}}:hdc`, ab)

    // Later changes: unmute and unpin one, mute the other, a message after the hidden one, then
    // hide that one too.
    await ask(me, { type: 'conv.settings', rid: 's2', conv: ab, muted: false, pinned: false })
    await ask(me, { type: 'conv.settings', rid: 's3', conv: ac, muted: true })
    const three = await send(b, ab, 'after')
    let now = await convs(me)
    expect([now.get(ab)!.muted, now.get(ab)!.pinned, now.get(ab)!.lastMsg?.body]).toEqual([undefined, undefined, { text: 'after' }])
    expect(now.get(ac)!.muted).toBe(true)
    await ask(me, { type: 'hide', rid: 'h2', conv: ab, seq: three })
    // An older seq hidden after a newer one leaves the newest in the summary.
    await ask(me, { type: 'hide', rid: 'h3', conv: ab, seq: 1 })
    expect(await admin.hget(summary(ann), `h:${ab}`)).toBe(String(three))
    now = await convs(me)
    expect(now.get(ab)!.lastMsg?.kind).toBe('hidden')
    expect(now.get(ab)!.lastMsg?.seq).toBe(three)

    // A summary that lost its mark (Redis lost it, or written before): read as before, folded again.
    await admin.hdel(summary(ann), 'c~')
    await admin.hset(summary(ann), `c:${ac}`, '0 0', `c:${bob}`, '1 1')
    expect(await convs(me)).toEqual(now)
    expect(await admin.hmget(summary(ann), 'c~', `c:${ac}`, `c:${bob}`)).toEqual(['1', '1 0', null])
  })
  it('keeps the settings of a large group (named by reference in the summary) folded beside its reference', async () => {
    const [ann, bob] = [t.uid('ga'), t.uid('gb')]
    const me = (await t.connect(ann)).client
    const b = (await t.connect(bob)).client
    const others = Array.from({ length: SUMMARIES_IN_SCRIPT_MAX }, (_, i) => t.uid(`gm${i}-`))
    for (const o of others) await devLogin(t.server.url, o)
    b.send({ type: 'conv.create', rid: 'g', kind: 'group', title: 'big', members: [ann, ...others] })
    const g = (await b.nextOf('conv', (f) => f.rid === 'g')).conv.id
    await send(b, g, 'hello')
    expect(await admin.hget(summary(ann), `l:${g}`)).toBe('*')
    await ask(me, { type: 'conv.settings', rid: 'gs1', conv: g, muted: true })
    await admin.hdel(summary(ann), 'c~', `c:${g}`)
    const before = await convs(me)
    expect([before.get(g)!.muted, before.get(g)!.lastMsg?.body]).toEqual([true, { text: 'hello' }])
    // Folded beside the reference, and read from the summary alone.
    expect(await admin.hmget(summary(ann), 'c~', `l:${g}`)).toEqual(['1', '*'])
    await admin.del(`${t.prefix}{u:${ann}}:cs`)
    expect((await convs(me)).get(g)!.muted).toBe(true)
    await ask(me, { type: 'conv.settings', rid: 'gs2', conv: g, muted: false })
    await send(b, g, 'again')
    const now = (await convs(me)).get(g)!
    expect([now.muted, now.lastMsg?.body]).toEqual([undefined, { text: 'again' }])
  })
})
