/**
 * Recall and moderation withdraw: one retraction, replacing the content by a `recalled` tombstone in
 * every tier (memory window, Redis window, the SQL archive after the window evicted the message)
 * and appending a `recall` event every member learns through the normal delivery and sync. Real
 * engines: memory, memory over SQLite, Redis, Redis over MariaDB (own prefix, own database).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { AppError } from '@chat/shared'
import type { Message } from '@chat/shared'
import { Delivery } from '../src/chat/delivery'
import { noFiles } from '../src/chat/files'
import { ChatService } from '../src/chat/service'
import { Metrics } from '../src/ops/metrics'
import { ENGINES, cleanups, runCleanups, type Fixture } from './support/engines'
import { HeldOutlets, RecordingOutlet } from './support/outlets'

class Held extends HeldOutlets<RecordingOutlet> {}

afterEach(runCleanups)


async function setup(make: () => Promise<Fixture>, recallWindowMs?: number) {
  const fx = await make()
  const held = new Held()
  const delivery = new Delivery('n1', held, fx.engine.bus, fx.engine.queue, new Metrics(), pino({ level: 'silent' }))
  cleanups.push(() => delivery.settle())
  const chat = new ChatService(fx.engine, delivery, noFiles, {
    dedupWindowMs: 60_000,
    queueMaxLength: 100,
    presenceFanoutMax: 100,
    syncPauseBytes: 1 << 20,
    ...(recallWindowMs !== undefined ? { recallWindowMs } : {}),
  })
  for (const id of ['ann', 'bob', 'cat', 'dan']) await fx.engine.users.upsert({ id, name: id.toUpperCase() })
  await chat.create({ id: 'ann', name: 'ANN' }, { kind: 'group', members: ['bob', 'cat'], title: 't' })
  // The group's id is random: the list has it.
  const [conv] = await fx.engine.convs.listForUser('ann')
  return { ...fx, chat, held, delivery, conv: conv! }
}

const send = (chat: ChatService, user: string, conv: string, text: string, n: number) =>
  chat.send(user, { cid: `cid-${user}-${n}-xxxx`, conv, kind: 'text', body: { text } })

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  )

const parse = (json: readonly string[]) => json.map((j) => JSON.parse(j) as Message)

for (const [name, make] of Object.entries(ENGINES)) {
  describe(`recall on the ${name} engine`, () => {
    it('replaces the content by a tombstone in history, sync and the archive (also after the window evicted it) and delivers a recall event', async () => {
      const { chat, engine, archive, settled, conv, held, delivery } = await setup(make)
      for (let i = 1; i <= 6; i++) await send(chat, i === 3 ? 'bob' : 'ann', conv, `secret-${i}`, i)
      // seq 1 left the window (3 newest kept) when there is an archive; seq 6 is in it.
      await settled?.(conv, 6)
      const bob = held.add(new RecordingOutlet('bob'))
      const r1 = await chat.recall('ann', { conv, seq: 1 })
      const r6 = await chat.recall('ann', { conv, seq: 6 })
      expect(r1).toEqual({ event: 7 })
      expect(r6).toEqual({ event: 8 })
      await delivery.settle()
      // The online member got both events as ordinary messages.
      expect(bob.frames.map((f) => (f.m as Message).body)).toMatchObject([
        { seq: 1, by: 'sender' },
        { seq: 6, by: 'sender' },
      ])
      await settled?.(conv, 8)
      const all = await engine.messages.after(conv, 0, 100)
      expect(all.join('')).not.toContain('secret-1')
      expect(all.join('')).not.toContain('secret-6')
      expect(all.join('')).toContain('secret-2')
      const msgs = parse(all)
      expect(msgs.map((m) => m.kind)).toEqual(['recalled', 'text', 'text', 'text', 'text', 'recalled', 'recall', 'recall'])
      expect(msgs[0]).toMatchObject({ seq: 1, from: 'ann', kind: 'recalled', body: { by: 'sender' } })
      expect(Object.keys(msgs[0]!.body)).toEqual(['by', 'at'])
      expect(msgs[6]).toMatchObject({ seq: 7, from: 'ann', kind: 'recall', body: { seq: 1, by: 'sender' } })
      // History pages (newest first, then older across the window's edge) say the same.
      const page = await chat.history('cat', { conv, limit: 3 })
      const older = await chat.history('cat', { conv, before: 6, limit: 10 })
      expect([...older.msgs, ...page.msgs].join('')).toBe(all.join(''))
      if (archive) {
        const cold = (await archive.after(conv, 0, 100)).join('')
        expect(cold).not.toContain('secret-1')
        expect(cold).not.toContain('secret-6')
      }
      // The conversation list previews the notice.
      const [listed] = await chat.list('cat')
      expect(listed!.lastMsg).toMatchObject({ seq: 8, kind: 'recall', body: { seq: 6 } })
    })

    it('refuses with stable codes: not the sender, non-member, unknown seq, an event, after the window; a second recall succeeds without a new event', async () => {
      const { chat, engine, conv } = await setup(make)
      await send(chat, 'ann', conv, 'hello', 1)
      expect(await code(chat.recall('bob', { conv, seq: 1 }))).toBe('RECALL_NOT_ALLOWED')
      expect(await code(chat.recall('dan', { conv, seq: 1 }))).toBe('NOT_MEMBER')
      expect(await code(chat.recall('ann', { conv: 'g:nosuchconv', seq: 1 }))).toBe('NOT_MEMBER')
      expect(await code(chat.recall('ann', { conv, seq: 2 }))).toBe('SEQ_RANGE_INVALID')
      expect(await code(chat.recall('ann', { conv, seq: 0 }))).toBe('SEQ_RANGE_INVALID')
      expect(await chat.recall('ann', { conv, seq: 1 })).toEqual({ event: 2 })
      // Idempotent: recalled already, no second event.
      expect(await chat.recall('ann', { conv, seq: 1 })).toEqual({})
      expect(await code(chat.recall('ann', { conv, seq: 2 }))).toBe('RECALL_NOT_ALLOWED')
      expect(await code(chat.recall('bob', { conv, seq: 1 }))).toBe('RECALL_NOT_ALLOWED')
      // A message older than RECALL_WINDOW_MS (stored with an old server time).
      await engine.messages.append({ conv, from: 'ann', cid: 'cid-old-xxxx', mid: 'old1', ts: Date.now() - 120_001, kind: 'text', body: { text: 'old' }, dedupWindowMs: 60_000 })
      expect(await code(chat.recall('ann', { conv, seq: 3 }))).toBe('RECALL_WINDOW_PASSED')
      expect((await engine.messages.after(conv, 0, 10)).length).toBe(3)
      // Racing recalls of one message: one event.
      await send(chat, 'ann', conv, 'race', 4)
      const both = await Promise.all([chat.recall('ann', { conv, seq: 4 }), chat.recall('ann', { conv, seq: 4 })])
      expect(both.filter((r) => r.event !== undefined)).toHaveLength(1)
      expect(parse(await engine.messages.after(conv, 0, 10)).map((m) => m.kind)).toEqual(['recalled', 'recall', 'text', 'recalled', 'recall'])
    })

    it('a member offline at the time learns it on reconnect: the queued event and the tombstone in sync', async () => {
      const { chat, engine, conv, held, delivery } = await setup(make)
      for (let i = 1; i <= 2; i++) await send(chat, 'ann', conv, `secret-${i}`, i)
      // bob read up to 2 (his device holds them), then went away.
      await chat.recall('ann', { conv, seq: 2 })
      await delivery.settle()
      const queued = await engine.queue.read('bob', 10)
      expect(queued.map((q) => q.seq)).toEqual([1, 2, 3])
      const bob = held.add(new RecordingOutlet('bob'))
      await chat.sync('bob', 'r1', [{ conv, seq: 2 }], bob)
      const batch = bob.frames.find((f) => f.type === 'messages')!
      expect((batch.msgs as Message[]).map((m) => [m.seq, m.kind])).toEqual([[3, 'recall']])
      // A device with nothing gets the tombstone in place, never the text.
      const fresh = held.add(new RecordingOutlet('bob'))
      await chat.sync('bob', 'r2', [{ conv, seq: 0 }], fresh)
      const got = JSON.stringify(fresh.frames)
      expect(got).not.toContain('secret-2')
      expect(got).toContain('secret-1')
    })

    it('a recall right after the send (the archive may not hold the message yet) leaves the tombstone in the archive', async () => {
      const { chat, archive, settled, conv } = await setup(make)
      if (!archive) return
      const sent = []
      for (let i = 1; i <= 5; i++) sent.push(await send(chat, 'ann', conv, `quick-${i}`, i))
      for (const a of sent) await chat.recall('ann', { conv, seq: a.msg.seq })
      await settled?.(conv, 10)
      const cold = parse(await archive.after(conv, 0, 100))
      expect(cold.map((m) => m.kind)).toEqual([...Array<string>(5).fill('recalled'), ...Array<string>(5).fill('recall')])
      expect(JSON.stringify(cold)).not.toContain('quick-')
    })

    it('a recall event never counts as unread, and a group change one made oneself neither', async () => {
      const { chat, conv } = await setup(make)
      const unread = async (user: string) => (await chat.list(user)).find((c) => c.id === conv)!.unread
      // bob has read up to 2; ann sends 3, recalls it (event 4), sends 5 and recalls 2 (event 6).
      await send(chat, 'ann', conv, 'one', 1)
      await send(chat, 'ann', conv, 'two', 2)
      await chat.read('bob', { conv, seq: 2 })
      await send(chat, 'ann', conv, 'three', 3)
      await chat.recall('ann', { conv, seq: 3 })
      expect(await unread('bob')).toBe(1)
      expect(await unread('cat')).toBe(3)
      await send(chat, 'ann', conv, 'five', 5)
      await chat.recall('ann', { conv, seq: 2 })
      expect(await unread('bob')).toBe(2)
      expect(await unread('cat')).toBe(4)
      expect(await unread('ann')).toBe(0)
      // Read to the end: nothing left, events included.
      await chat.read('bob', { conv, seq: 6 })
      expect(await unread('bob')).toBe(0)
      // Own group changes are read by making them; others' count.
      await chat.group('ann', { conv, op: 'rename', title: 'renamed' })
      await chat.group('ann', { conv, op: 'admin', users: ['bob'] })
      await chat.group('bob', { conv, op: 'rename', title: 'again' })
      expect(await unread('ann')).toBe(1)
      expect(await unread('bob')).toBe(0)
      expect(await unread('cat')).toBe(7)
    })

    it('moderation withdraws any message at any age, with by = moderation', async () => {
      const { chat, engine, conv } = await setup(make, 0)
      await send(chat, 'bob', conv, 'risky', 1)
      expect(await code(chat.withdraw({ conv: 'g:nosuchconv', seq: 1 }))).toBe('CONV_NOT_FOUND')
      expect(await code(chat.withdraw({ conv, seq: 9 }))).toBe('SEQ_RANGE_INVALID')
      expect(await chat.withdraw({ conv, seq: 1 })).toEqual({ event: 2 })
      expect(await chat.withdraw({ conv, seq: 1 })).toEqual({})
      const msgs = parse(await engine.messages.after(conv, 0, 10))
      expect(msgs).toMatchObject([
        { seq: 1, from: 'bob', kind: 'recalled', body: { by: 'moderation' } },
        { seq: 2, from: 'bob', kind: 'recall', body: { seq: 1, by: 'moderation' } },
      ])
    })
  })
}
