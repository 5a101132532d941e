/**
 * Redis lost entirely: after traffic, every key of the instance is gone (as after FLUSHALL or a
 * new, empty Redis). A BFF on that empty Redis gets conversations, history, read marks and unread
 * counts back from MySQL; seqs continue from MySQL's last one (none reused); nothing acked is
 * missing and nothing is stored twice.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import { openArchive } from '../src/archive/archive'
import { connectUser, newCid } from './support/client'
import type { TestClient } from './support/client'
import { REDIS_URL, dropPrefix, randomPrefix, startTestServer } from './support/server'
import { createTestDatabase } from './support/mysql'
import { waitFor } from './support/wait'

async function send(client: TestClient, conv: string, text: string): Promise<ServerFrameOf<'ack'>> {
  const cid = newCid()
  client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
  return client.nextOf('ack', (f) => f.cid === cid)
}

describe('Redis lost entirely', () => {
  const prefix = randomPrefix()
  afterAll(() => dropPrefix(prefix))

  it('comes back from MySQL: conversations, history, unread counts, seqs continuing', async () => {
    const db = await createTestDatabase()
    const archive = await openArchive({ url: db.url })
    const r = new Redis(REDIS_URL)
    const env = { STORE: 'redis', REDIS_PREFIX: prefix, ARCHIVE_URL: db.url, WINDOW_MESSAGES: '3', RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' }
    try {
      const direct = directConvId('rlann', 'rlbob')
      let group = ''
      const acked: ServerFrameOf<'ack'>[] = []
      const first = await startTestServer(env)
      try {
        const ann = await connectUser(first.url, 'rlann', { name: 'Ann' })
        const bob = await connectUser(first.url, 'rlbob', { name: 'Bob' })
        await (await connectUser(first.url, 'rlcat', { name: 'Cat' })).client.close()
        for (let i = 1; i <= 10; i++) acked.push(await send(i <= 4 ? bob.client : ann.client, direct, `d${i}`))
        bob.client.send({ type: 'read', conv: direct, seq: 7 })
        await bob.client.nextOf('receipt', (f) => f.kind === 'read' && f.seq === 7)
        ann.client.send({ type: 'conv.create', rid: 'g', kind: 'group', title: 'Trio', members: ['rlbob', 'rlcat'] })
        group = (await ann.client.nextOf('conv', (f) => f.rid === 'g')).conv.id
        for (let i = 1; i <= 4; i++) acked.push(await send(ann.client, group, `g${i}`))
        expect(acked.map((a) => a.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4])
        // The persister has everything before Redis goes.
        await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0, 10_000)
        await Promise.all([ann.client.close(), bob.client.close()])
      } finally {
        await first.close()
      }
      await dropPrefix(prefix)
      expect(await r.keys(`${prefix}*`)).toEqual([])

      const second = await startTestServer(env)
      try {
        const bob = await connectUser(second.url, 'rlbob')
        expect(bob.welcome.user).toEqual({ id: 'rlbob', name: 'Bob' })
        bob.client.send({ type: 'convs', rid: 'l' })
        const items = (await bob.client.nextOf('convs', (f) => f.rid === 'l')).items
        const byId = new Map(items.map((c) => [c.id, c]))
        expect([...byId.keys()].sort()).toEqual([direct, group].sort())
        expect(byId.get(direct)).toMatchObject({ lastSeq: 10, readSeq: 7, unread: 3, lastMsg: { seq: 10, body: { text: 'd10' } } })
        expect(byId.get(group)).toMatchObject({ title: 'Trio', lastSeq: 4, readSeq: 0, unread: 4 })
        expect(byId.get(group)!.members.map((m) => m.name)).toEqual(['Ann', 'Bob', 'Cat'])

        bob.client.send({ type: 'history', rid: 'h', conv: direct, limit: 50 })
        const history = await bob.client.nextOf('messages', (f) => f.rid === 'h')
        expect(history.msgs.map((m) => (m.body as { text: string }).text)).toEqual(Array.from({ length: 10 }, (_, i) => `d${i + 1}`))
        expect(history.msgs.map((m) => m.mid)).toEqual(acked.slice(0, 10).map((a) => a.mid))
        const { batches } = await bob.client.sync('s', [{ conv: group, seq: 1 }])
        expect(batches.filter((b) => b.conv === group).flatMap((b) => b.msgs.map((m) => m.seq))).toEqual([2, 3, 4])

        // Seqs continue from MySQL's last: none reused.
        expect((await send(bob.client, direct, 'after')).seq).toBe(11)
        expect((await send(bob.client, group, 'after')).seq).toBe(5)
        bob.client.send({ type: 'users', rid: 'u', q: 'rlc' })
        expect((await bob.client.nextOf('users', (f) => f.rid === 'u')).items).toEqual([{ id: 'rlcat', name: 'Cat' }])
        await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0, 10_000)
        const ready = await fetch(`${second.url}/readyz`)
        expect(ready.status).toBe(200)
        expect(await ready.json()).toMatchObject({ ok: true, archive: { ok: true, backlog: 0 } })
        await bob.client.close()
      } finally {
        await second.close()
      }
      // Every acked message once, in the archive.
      const count = async (conv: string) =>
        Number((await archive.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('conv', '=', conv).executeTakeFirstOrThrow()).n)
      expect([await count(direct), await count(group)]).toEqual([11, 5])
    } finally {
      r.disconnect()
      await archive.close()
      await db.drop()
    }
  })
})
