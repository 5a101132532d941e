/**
 * Replies (quotes) and mentions (PROTOCOL.md, Reply and Mentions) on every engine: memory, memory
 * over SQLite, Redis, Redis over MariaDB (own prefix, own database). The quote is made by the
 * server, checked against what the sender may read, and scrubbed in every tier when its original
 * is retracted; mentions are checked against the group, and `convs` tells an offline user where
 * they were mentioned (`mentionSeq`).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { AppError, LIMITS, decodeClientFrame } from '@chat/shared'
import type { Message } from '@chat/shared'
import { Delivery } from '../src/chat/delivery'
import { noFiles } from '../src/chat/files'
import { ChatService } from '../src/chat/service'
import { snippetOf } from '../src/chat/reply'
import { decodeFrame } from '../src/gateway/decode'
import { Metrics } from '../src/ops/metrics'
import { NO_CHECKS, type SendChecks } from '../src/wechat/security'
import { ENGINES, cleanups, runCleanups, type Fixture } from './support/engines'
import { HeldOutlets, RecordingOutlet } from './support/outlets'

afterEach(runCleanups)

async function setup(make: () => Promise<Fixture>, checks: SendChecks = NO_CHECKS) {
  const fx = await make()
  const held = new HeldOutlets<RecordingOutlet>()
  const delivery = new Delivery('n1', held, fx.engine.bus, fx.engine.queue, new Metrics(), pino({ level: 'silent' }))
  cleanups.push(() => delivery.settle())
  const chat = new ChatService(fx.engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1 << 20 }, checks)
  for (const id of ['ann', 'bob', 'cat', 'dan']) await fx.engine.users.upsert({ id, name: id.toUpperCase() })
  await chat.create({ id: 'ann', name: 'ANN' }, { kind: 'group', members: ['bob', 'cat'], title: 't' })
  const [conv] = await fx.engine.convs.listForUser('ann')
  return { ...fx, chat, held, delivery, conv: conv! }
}

let n = 0
type Extras = { reply?: { seq: number }; mentions?: string[]; mentionAll?: true }
const send = (chat: ChatService, user: string, conv: string, text: string, extras: Extras = {}) =>
  chat.send(user, { cid: `cid-${user}-${++n}-xxxx`, conv, kind: 'text', body: { text, ...extras } })

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: unknown) => (err instanceof AppError ? err.code : String(err)),
  )

const parse = (json: readonly string[]) => json.map((j) => JSON.parse(j) as Message)

for (const [name, make] of Object.entries(ENGINES)) {
  describe(`reply and mentions on the ${name} engine`, () => {
    it('stores a server-made quote (seq, sender, kind, snippet) and delivers it', async () => {
      const { chat, engine, conv, held, delivery } = await setup(make)
      const long = '一二三四五六七八九十'.repeat(5)
      await send(chat, 'ann', conv, long)
      await engine.messages.append({
        conv, from: 'bob', cid: 'cid-img-xxxx', mid: 'img1', ts: Date.now(), kind: 'image',
        body: { fileId: 'f1', name: 'a.png', size: 1, mime: 'image/png', width: 1, height: 1, url: '/files/f1', thumbUrl: '/files/f1/thumb' }, dedupWindowMs: 60_000,
      })
      const cat = held.add(new RecordingOutlet('cat'))
      const r1 = await send(chat, 'bob', conv, 'agreed', { reply: { seq: 1 } })
      const r2 = await send(chat, 'cat', conv, 'nice picture', { reply: { seq: 2 } })
      await delivery.settle()
      expect(r1.msg).toMatchObject({ seq: 3, kind: 'text', body: { text: 'agreed', reply: { seq: 1, from: 'ann', kind: 'text', snippet: `${long.slice(0, 40)}…` } } })
      expect(r2.msg.body).toEqual({ text: 'nice picture', reply: { seq: 2, from: 'bob', kind: 'image' } })
      const stored = parse(await engine.messages.after(conv, 2, 10))
      expect(stored.map((m) => m.body)).toEqual([r1.msg.body, r2.msg.body])
      // Every member's devices get the quote as stored.
      expect((cat.frames.find((f) => f.type === 'msg' && (f.m as Message).seq === 3)!.m as Message).body).toEqual(r1.msg.body)
      // A voice message is quoted by its kind, like a file.
      await engine.messages.append({
        conv, from: 'bob', cid: 'cid-voice-xxx', mid: 'voice1', ts: Date.now(), kind: 'voice',
        body: { fileId: 'f2', name: 'v.m4a', size: 1, mime: 'audio/mp4', url: '/files/f2', duration: 3000 }, dedupWindowMs: 60_000,
      })
      const r3 = await send(chat, 'ann', conv, 'heard it', { reply: { seq: 5 } })
      expect(r3.msg.body).toEqual({ text: 'heard it', reply: { seq: 5, from: 'bob', kind: 'voice' } })
    })

    it('refuses quotes with stable codes: unknown seq, a seq of another conversation, before the sender joined, an event, a recalled message; non-members', async () => {
      const { chat, conv } = await setup(make)
      await send(chat, 'ann', conv, 'one')
      await send(chat, 'ann', conv, 'two')
      const other = await chat.create({ id: 'ann', name: 'ANN' }, { kind: 'group', members: ['bob'], title: 'o' })
      for (let i = 0; i < 5; i++) await send(chat, 'ann', other.id, `x${i}`)
      expect(await code(send(chat, 'bob', conv, 'r', { reply: { seq: 9 } }))).toBe('REPLY_NOT_FOUND')
      // Seq 5 exists in the other group only.
      expect(await code(send(chat, 'bob', conv, 'r', { reply: { seq: 5 } }))).toBe('REPLY_NOT_FOUND')
      // dan joins at seq 2 (the add is seq 3): seqs up to 2 are not his to quote; the add is an event.
      await chat.group('ann', { conv, op: 'add', users: ['dan'] })
      expect(await code(send(chat, 'dan', conv, 'r', { reply: { seq: 2 } }))).toBe('REPLY_NOT_FOUND')
      expect(await code(send(chat, 'dan', conv, 'r', { reply: { seq: 3 } }))).toBe('REPLY_NOT_ALLOWED')
      expect(await code(send(chat, 'bob', conv, 'r', { reply: { seq: 3 } }))).toBe('REPLY_NOT_ALLOWED')
      await chat.recall('ann', { conv, seq: 2 })
      expect(await code(send(chat, 'bob', conv, 'r', { reply: { seq: 2 } }))).toBe('REPLY_NOT_ALLOWED')
      // The recall event (seq 4) is an event too.
      expect(await code(send(chat, 'bob', conv, 'r', { reply: { seq: 4 } }))).toBe('REPLY_NOT_ALLOWED')
      expect(await code(send(chat, 'dan', other.id, 'r', { reply: { seq: 1 } }))).toBe('NOT_MEMBER')
      // Nothing refused was stored: the last seq is still the recall event's.
      const [state] = await chat.list('bob').then((l) => l.filter((c) => c.id === conv))
      expect(state!.lastSeq).toBe(4)
      expect(await code(send(chat, 'dan', conv, 'ok', { reply: { seq: 1 } }))).toBe('REPLY_NOT_FOUND')
      expect(await code(send(chat, 'bob', conv, 'ok', { reply: { seq: 1 } }))).toBe('ok')
    })

    it('a recall scrubs the quotes of the recalled message in every tier (window, archive, last message, history, sync)', async () => {
      const { chat, engine, archive, settled, conv, held } = await setup(make)
      await send(chat, 'ann', conv, 'secret-plan')
      await send(chat, 'bob', conv, 'about that', { reply: { seq: 1 } })
      for (let i = 0; i < 4; i++) await send(chat, 'cat', conv, `filler-${i}`)
      await send(chat, 'cat', conv, 'me too', { reply: { seq: 1 } })
      // seq 2 left the window (3 newest kept) when there is an archive; seq 7 is in it and is the last message.
      await settled?.(conv, 7)
      expect((await chat.recall('ann', { conv, seq: 1 })).event).toBe(8)
      await settled?.(conv, 8)
      const all = parse(await engine.messages.after(conv, 0, 100))
      expect(JSON.stringify(all)).not.toContain('secret')
      expect(all[1]!.body).toEqual({ text: 'about that', reply: { seq: 1, from: 'ann', kind: 'retracted' } })
      expect(all[6]!.body).toEqual({ text: 'me too', reply: { seq: 1, from: 'ann', kind: 'retracted' } })
      if (archive) expect((await archive.after(conv, 0, 100)).join('')).not.toContain('secret')
      const page = await chat.history('cat', { conv, limit: 3 })
      const older = await chat.history('cat', { conv, before: 6, limit: 10 })
      expect([...older.msgs, ...page.msgs].join('')).not.toContain('secret')
      const fresh = held.add(new RecordingOutlet('bob'))
      await chat.sync('bob', 'r1', [{ conv, seq: 0 }], fresh)
      expect(JSON.stringify(fresh.frames)).not.toContain('secret')
      // A scrubbed reply recalled later is a tombstone, and stays one when scrubbing runs again.
      await chat.recall('cat', { conv, seq: 7 })
      expect(parse(await engine.messages.after(conv, 6, 1))[0]!.kind).toBe('recalled')
    })

    it('a reply whose original is recalled while the reply is being stored is scrubbed before delivery', async () => {
      let chat: ChatService | undefined
      // Off while the group is made (its title is checked too) and the original is sent.
      let recallOnce = false
      // Content security runs after the quote was checked and before the append: the recall lands in between.
      const checks: SendChecks = {
        text: async (_user, conv) => {
          if (!recallOnce) return
          recallOnce = false
          await chat!.recall('ann', { conv, seq: 1 })
        },
      }
      const fx = await setup(make, checks)
      chat = fx.chat
      await send(chat, 'ann', fx.conv, 'secret-race')
      const bob = fx.held.add(new RecordingOutlet('cat'))
      recallOnce = true
      const r = await send(chat, 'bob', fx.conv, 'answer', { reply: { seq: 1 } })
      await fx.delivery.settle()
      expect(r.msg.body).toEqual({ text: 'answer', reply: { seq: 1, from: 'ann', kind: 'retracted' } })
      expect(JSON.stringify(bob.frames)).not.toContain('secret')
      expect((await fx.engine.messages.after(fx.conv, 0, 10)).join('')).not.toContain('secret')
    })

    it('a plain text send reads nothing more from the store than before; a reply reads its original (and again after the append)', async () => {
      const { chat, engine, conv } = await setup(make)
      await send(chat, 'ann', conv, 'original')
      const calls: string[] = []
      const messages = engine.messages as unknown as Record<string, (...a: unknown[]) => unknown>
      for (const name of ['append', 'after', 'before', 'retract']) {
        const real = messages[name]!.bind(engine.messages)
        messages[name] = (...a: unknown[]) => (calls.push(name), real(...a))
      }
      await send(chat, 'bob', conv, 'plain')
      expect(calls).toEqual(['append'])
      calls.length = 0
      await send(chat, 'bob', conv, '@CAT', { mentions: ['cat'] })
      expect(calls).toEqual(['append'])
      calls.length = 0
      await send(chat, 'bob', conv, 'quoting', { reply: { seq: 1 } })
      expect(calls).toEqual(['after', 'append', 'after'])
    })

    it('checks mentions (members only, groups only, @all from the owner or an admin) and stores them as sent', async () => {
      const { chat, conv } = await setup(make)
      const ok = await send(chat, 'bob', conv, '@CAT hi', { mentions: ['cat', 'cat'] })
      expect(ok.msg.body).toEqual({ text: '@CAT hi', mentions: ['cat'] })
      expect(await code(send(chat, 'bob', conv, '@DAN', { mentions: ['dan'] }))).toBe('MENTION_INVALID')
      expect(await code(send(chat, 'bob', conv, '@all', { mentionAll: true }))).toBe('MENTION_ALL_NOT_ALLOWED')
      expect((await send(chat, 'ann', conv, '@all', { mentionAll: true })).msg.body).toEqual({ text: '@all', mentionAll: true })
      await chat.group('ann', { conv, op: 'admin', users: ['bob'] })
      expect(await code(send(chat, 'bob', conv, '@all', { mentionAll: true }))).toBe('ok')
      const direct = await chat.createDirect({ id: 'ann', name: 'ANN' }, 'dan')
      expect(await code(send(chat, 'ann', direct.id, '@DAN', { mentions: ['dan'] }))).toBe('MENTION_INVALID')
      expect(await code(send(chat, 'ann', direct.id, '@all', { mentionAll: true }))).toBe('MENTION_INVALID')
    })

    it('convs carries mentionSeq: the highest unread mention of the user (or @all), gone once read', async () => {
      const { chat, conv } = await setup(make)
      await send(chat, 'ann', conv, 'hello')
      await send(chat, 'ann', conv, '@BOB look', { mentions: ['bob'] })
      await send(chat, 'cat', conv, 'plain')
      const mark = async (user: string) => (await chat.list(user)).find((c) => c.id === conv)!.mentionSeq
      expect(await mark('bob')).toBe(2)
      expect(await mark('cat')).toBeUndefined()
      // The sender's own mention is not theirs to be told about.
      expect(await mark('ann')).toBeUndefined()
      await chat.read('bob', { conv, seq: 2 })
      expect(await mark('bob')).toBeUndefined()
      await send(chat, 'ann', conv, '@all meeting', { mentionAll: true })
      expect(await mark('bob')).toBe(4)
      expect(await mark('cat')).toBe(4)
      expect(await mark('ann')).toBeUndefined()
      // A recalled mention no longer mentions anyone.
      await chat.recall('ann', { conv, seq: 4 })
      expect(await mark('cat')).toBeUndefined()
    })
  })
}

describe('reply and mentions on the wire', () => {
  const good = { type: 'send', cid: 'c1234567', conv: 'g:room', kind: 'text', body: { text: 'hi' } }
  const codeOf = (text: string) => {
    try {
      decodeFrame(text)
      return 'ok'
    } catch (err) {
      return (err as AppError).code
    }
  }

  it('the text fast path leaves a quote or mentions to the full decoder, which keeps them', () => {
    for (const body of [{ text: 'hi', reply: { seq: 3 } }, { text: 'hi', mentions: ['bob'] }, { text: 'hi', mentionAll: true }]) {
      const text = JSON.stringify({ ...good, body })
      expect(decodeFrame(text)).toEqual(decodeClientFrame(text))
      expect((decodeFrame(text) as { body: unknown }).body).toEqual(body)
    }
  })

  it('refuses malformed quotes and mentions with INVALID_FRAME, the mention cap included', () => {
    const bad = [
      { text: 'hi', reply: { seq: 0 } },
      { text: 'hi', reply: { seq: -1 } },
      { text: 'hi', reply: { seq: 1.5 } },
      { text: 'hi', reply: {} },
      { text: 'hi', reply: 3 },
      { text: 'hi', mentions: [] },
      { text: 'hi', mentions: ['has space'] },
      { text: 'hi', mentions: 'bob' },
      { text: 'hi', mentions: Array.from({ length: LIMITS.maxMentions + 1 }, (_, i) => `u${i}`) },
      { text: 'hi', mentionAll: false },
      { text: 'hi', mentionAll: 'yes' },
    ]
    for (const body of bad) expect(codeOf(JSON.stringify({ ...good, body }))).toBe('INVALID_FRAME')
    const capped = Array.from({ length: LIMITS.maxMentions }, (_, i) => `u${i}`)
    expect(codeOf(JSON.stringify({ ...good, body: { text: 'hi', mentions: capped } }))).toBe('ok')
  })

  it('cuts snippets at whole code points', () => {
    expect(snippetOf('short')).toBe('short')
    expect(snippetOf('😀'.repeat(41))).toBe(`${'😀'.repeat(40)}…`)
    expect(snippetOf('a'.repeat(40))).toBe('a'.repeat(40))
  })
})
