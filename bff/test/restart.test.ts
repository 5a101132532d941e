/**
 * The embedded default keeps everything across restarts: users, conversations, every message,
 * read marks and unread counts are in the SQLite archive under DATA_DIR, and a new process reads
 * them back (history across the window's edge, sync from a cursor, seqs continuing).
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import { connectUser, newCid } from './support/client'
import type { TestClient } from './support/client'
import { startTestServer } from './support/server'

const dir = mkdtempSync(path.join(tmpdir(), 'chat-restart-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// No ARCHIVE_URL: the default for STORE=memory, a SQLite file under DATA_DIR. A window of 5 makes
// most of the 12 messages come from the file after the restart.
const env = { STORE: 'memory', ARCHIVE_URL: '', DATA_DIR: dir, WINDOW_MESSAGES: '5', RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' }

async function send(client: TestClient, conv: string, text: string): Promise<ServerFrameOf<'ack'>> {
  const cid = newCid()
  client.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
  return client.nextOf('ack', (f) => f.cid === cid)
}

describe('embedded engine restart', () => {
  it('keeps users, conversations, messages, read marks and seqs across a restart', async () => {
    const conv = directConvId('rsann', 'rsbob')
    let group = ''
    const first = await startTestServer(env)
    try {
      const ann = await connectUser(first.url, 'rsann', { name: 'Ann' })
      const bob = await connectUser(first.url, 'rsbob', { name: 'Bob' })
      for (let i = 1; i <= 12; i++) expect((await send(i % 3 === 0 && i < 12 ? bob.client : ann.client, conv, `m${i}`)).seq).toBe(i)
      bob.client.send({ type: 'read', conv, seq: 10 })
      await bob.client.nextOf('receipt', (f) => f.kind === 'read' && f.seq === 10)
      ann.client.send({ type: 'conv.create', rid: 'g1', kind: 'group', title: 'Team', members: ['rsbob'] })
      group = (await ann.client.nextOf('conv', (f) => f.rid === 'g1')).conv.id
      expect((await send(bob.client, group, 'in group')).seq).toBe(1)
      await Promise.all([ann.client.close(), bob.client.close()])
    } finally {
      await first.close()
    }
    expect(existsSync(path.join(dir, 'chat.sqlite'))).toBe(true)

    const second = await startTestServer(env)
    try {
      const bob = await connectUser(second.url, 'rsbob')
      bob.client.send({ type: 'convs', rid: 'l1' })
      const list = await bob.client.nextOf('convs', (f) => f.rid === 'l1')
      const byId = new Map(list.items.map((c) => [c.id, c]))
      expect([...byId.keys()].sort()).toEqual([conv, group].sort())
      // Bob sent 3, 6 and 9 (each moved his mark), then read up to 10.
      expect(byId.get(conv)).toMatchObject({ lastSeq: 12, readSeq: 10, unread: 2, lastMsg: { seq: 12, body: { text: 'm12' } } })
      expect(byId.get(conv)!.members.map((m) => m.name).sort()).toEqual(['Ann', 'Bob'])
      expect(byId.get(group)).toMatchObject({ kind: 'group', title: 'Team', lastSeq: 1 })

      const ann = await connectUser(second.url, 'rsann')
      ann.client.send({ type: 'convs', rid: 'l2' })
      const annList = (await ann.client.nextOf('convs', (f) => f.rid === 'l2')).items
      const annConv = annList.find((c) => c.id === conv)!
      // Ann's mark moved with her last send (12); the group's one message is Bob's.
      expect(annConv).toMatchObject({ readSeq: 12, unread: 0 })
      expect(annList.find((c) => c.id === group)).toMatchObject({ unread: 1 })

      // History pages across the window's edge, ascending, with `more` until seq 1.
      ann.client.send({ type: 'history', rid: 'h1', conv, before: 11, limit: 8 })
      const page = await ann.client.nextOf('messages', (f) => f.rid === 'h1')
      expect(page.msgs.map((m) => m.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10])
      expect(page.more).toBe(true)
      // A sync from a cursor below the window gets every later message once, in order.
      const { batches } = await ann.client.sync('s1', [{ conv, seq: 2 }])
      expect(batches.filter((b) => b.conv === conv).flatMap((b) => b.msgs.map((m) => m.body))).toEqual(
        Array.from({ length: 10 }, (_, i) => ({ text: `m${i + 3}` })),
      )
      // Seqs continue after the last stored one: none reused.
      expect((await send(ann.client, conv, 'after restart')).seq).toBe(13)
      await Promise.all([ann.client.close(), bob.client.close()])
    } finally {
      await second.close()
    }
  })
})
