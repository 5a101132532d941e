/**
 * The Redis relations store folds a user's relations index into the chat engine's per-user summary
 * (store/relations.ts, `u~`, `u:<peer>` in `{u:<id>}:s`), so the presence given at a device's
 * connect reads the user's relations with the summary read at welcome, no SMEMBERS. What is
 * asserted: a summary written before (no mark) is read as before and folded by that welcome; once
 * folded, the contacts come from the summary alone (the index removed behind the store's back
 * changes nothing); every later change of the index (a new contact, a removed one) is in the
 * summary; a summary that lost its mark is read as before again and its stale fields dropped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import type { TestClient } from './support/client'
import { newCid } from './support/client'
import { REDIS_URL, useTestServer } from './support/server'

describe('relations index folded into the summary (redis)', () => {
  const t = useTestServer('redis', { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000', MAX_DEVICES_PER_USER: '20' })
  let admin: Redis
  beforeAll(() => {
    admin = new Redis(REDIS_URL)
  })
  afterAll(() => admin.disconnect())

  let rids = 0
  async function relation(c: TestClient, op: string, user: string): Promise<void> {
    const rid = `r${++rids}`
    c.send({ type: 'relation', rid, op, user } as never)
    const reply = await c.next((f) => 'rid' in f && f.rid === rid)
    expect(reply.type, JSON.stringify(reply)).toBe('relation')
  }

  /** The users whose presence a new device of `user` is given at connect. */
  async function presencesAtConnect(user: string): Promise<string[]> {
    const c = (await t.connect(user)).client
    const f: ServerFrameOf<'presences'> = await c.nextOf('presences')
    return f.items.map((p) => p.user).sort()
  }

  const summary = (u: string) => `${t.prefix}{u:${u}}:s`
  const index = (u: string) => `${t.prefix}{u:${u}}:rel`

  it('reads an unfolded summary as before and folds it; then gives contacts from it alone, every later change included', async () => {
    const [ann, bob, cy] = [t.uid('ua'), t.uid('ub'), t.uid('uc')]
    const a = (await t.connect(ann)).client
    const b = (await t.connect(bob)).client
    const c = (await t.connect(cy)).client
    // No conversation between them: presence at connect comes from the relation alone.
    await relation(a, 'request', bob)
    await relation(b, 'accept', ann)
    // As a build without folding left it: no mark, no folded fields.
    await admin.hdel(summary(ann), 'u~', `u:${bob}`)

    expect(await presencesAtConnect(ann)).toEqual([bob])
    // Folded by that welcome.
    expect(await admin.hmget(summary(ann), 'u~', `u:${bob}`, `u:${cy}`)).toEqual(['1', '1', null])

    // From the summary alone: the index gone behind the store's back changes nothing.
    await admin.del(index(ann))
    expect(await presencesAtConnect(ann)).toEqual([bob])
    await admin.sadd(index(ann), bob)

    // Later changes reach the summary: a new contact, a removed one.
    await relation(c, 'request', ann)
    await relation(a, 'accept', cy)
    expect(await admin.hmget(summary(ann), `u:${bob}`, `u:${cy}`)).toEqual(['1', '1'])
    expect(await admin.hget(summary(cy), 'u~')).toBe('1')
    expect(await presencesAtConnect(ann)).toEqual([bob, cy].sort())
    await relation(a, 'remove', bob)
    expect(await admin.smembers(index(ann))).toEqual([cy])
    expect(await admin.hmget(summary(ann), `u:${bob}`, `u:${cy}`)).toEqual([null, '1'])
    expect(await presencesAtConnect(ann)).toEqual([cy])

    // A summary that lost its mark (Redis lost it, or written before): read as before, folded
    // again, a stale field of the earlier fold dropped.
    await admin.hdel(summary(ann), 'u~')
    await admin.hset(summary(ann), `u:${bob}`, '1')
    await admin.del(index(ann))
    await admin.sadd(index(ann), cy)
    expect(await presencesAtConnect(ann)).toEqual([cy])
    expect(await admin.hmget(summary(ann), 'u~', `u:${bob}`, `u:${cy}`)).toEqual(['1', null, '1'])
  })

  it('a block is read from the folded summary too: a new device of the blocked user is not given the blocker\'s presence', async () => {
    const [ann, bob, cy] = [t.uid('ua'), t.uid('ub'), t.uid('uc')]
    const a = (await t.connect(ann)).client
    await t.connect(bob)
    await t.connect(cy)
    // 1:1s with both: without a relation, ann is given the presence of each (no frame without any).
    for (const peer of [bob, cy]) {
      a.send({ type: 'send', cid: newCid(), conv: directConvId(ann, peer), kind: 'text', body: { text: 'hi' } } as never)
      await a.nextOf('ack')
    }
    expect(await presencesAtConnect(ann)).toEqual([bob, cy].sort())
    const b2 = (await t.connect(bob)).client
    await relation(b2, 'block', ann)
    expect(await admin.hmget(summary(ann), 'u~', `u:${bob}`)).toEqual(['1', '1'])
    expect(await presencesAtConnect(ann)).toEqual([cy])
  })
})
