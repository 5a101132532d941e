// Over 400 lines on purpose: one store contract run against every engine, so they cannot drift apart.
/**
 * The one contract every engine passes (as tus-node-server's stores share one suite). Run against
 * the memory engine and against the real Redis (a fresh key prefix per test, dropped after).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AppError } from '@chat/shared'
import type { AppendInput, AppendResult, ConvSummary, Engine, EngineOptions } from '../../src/store/types'
import { SUMMARIES_IN_SCRIPT_MAX } from '../../src/store/redis'

export interface EngineFixture {
  readonly engine: Engine
  /** A second engine on the same data (another process); only the bus test uses it. */
  readonly peer?: Engine
  cleanup(): Promise<void>
}

export type MakeEngine = (options: EngineOptions) => Promise<EngineFixture>

const OPTIONS: EngineOptions = { queueMaxLength: 5, queueRetentionMs: 60_000 }
/** A group the Redis engine's summaries name by reference (read from the conversation). */
const LARGE_GROUP = SUMMARIES_IN_SCRIPT_MAX + 8
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

let counter = 0
function input(conv: string, from: string, text: string, over: Partial<AppendInput> = {}): AppendInput {
  counter++
  return { conv, from, cid: `cid-${counter}-xxxx`, mid: `mid${counter}`, ts: 1_700_000_000_000 + counter, kind: 'text', body: { text }, dedupWindowMs: 60_000, ...over }
}

/** A queue reference; conversation ids as long as the protocol allows, to see nothing is cut. */
const ref = (seq: number) => ({ conv: `g:${'q'.repeat(60)}`, seq: 2 ** 40 + seq })
const place = (e: { conv: string; seq: number }) => ({ conv: e.conv, seq: e.seq })

export function engineContract(name: string, make: MakeEngine): void {
  describe(`${name} engine contract`, () => {
    let fx: EngineFixture
    let e: Engine
    beforeEach(async () => {
      fx = await make(OPTIONS)
      e = fx.engine
    })
    afterEach(async () => {
      await fx.cleanup()
    })

    const direct = async (a = 'ann', b = 'bob') => {
      const id = `d:${a}:${b}`
      await e.convs.create({ id, kind: 'direct', members: [a, b], createdAt: 1000 })
      return id
    }

    describe('messages', () => {
      it('assigns gap-free seqs per conversation and stores the exact JSON', async () => {
        const c1 = await direct()
        const c2 = await direct('ann', 'cat')
        const r1 = await e.messages.append(input(c1, 'ann', 'a'))
        const r2 = await e.messages.append(input(c1, 'bob', 'b'))
        const r3 = await e.messages.append(input(c2, 'ann', 'c'))
        expect([r1.msg.seq, r2.msg.seq, r3.msg.seq]).toEqual([1, 2, 1])
        expect(JSON.parse(r2.json)).toEqual(r2.msg)
        expect(r2.msg).toMatchObject({ conv: c1, from: 'bob', kind: 'text', body: { text: 'b' } })
        expect(await e.messages.after(c1, 0, 10)).toEqual([r1.json, r2.json])
      })

      it('answers a repeated (sender, cid) with the original and stores nothing', async () => {
        const c = await direct()
        const first = await e.messages.append(input(c, 'ann', 'once', { cid: 'same-cid-1' }))
        const again = await e.messages.append(input(c, 'ann', 'changed', { cid: 'same-cid-1', mid: 'other' }))
        expect(again.dup).toBe(true)
        expect(again.msg).toEqual(first.msg)
        expect(again.json).toBe(first.json)
        // Another sender may use the same cid.
        const other = await e.messages.append(input(c, 'bob', 'mine', { cid: 'same-cid-1' }))
        expect(other).toMatchObject({ dup: false, msg: { seq: 2 } })
        expect((await e.messages.after(c, 0, 10)).length).toBe(2)
        const [state] = await e.convs.states([c], 'ann')
        expect(state!.lastSeq).toBe(2)
      })

      it('forgets a cid after the dedup window', async () => {
        const c = await direct()
        await e.messages.append(input(c, 'ann', 'x', { cid: 'short-lived', dedupWindowMs: 30 }))
        await sleep(80) // the window is time itself: nothing to wait for but the clock
        const later = await e.messages.append(input(c, 'ann', 'x', { cid: 'short-lived', dedupWindowMs: 30 }))
        expect(later).toMatchObject({ dup: false, msg: { seq: 2 } })
      })

      it('tells where a (sender, cid) was stored while the dedup window remembers it, as a repeated send finds its original', async () => {
        const c = await direct()
        expect(await e.messages.placeOf(c, 'ann', 'placed-cid')).toBeUndefined()
        await e.messages.append(input(c, 'bob', 'before'))
        await e.messages.append(input(c, 'ann', 'here', { cid: 'placed-cid' }))
        await e.messages.append(input(c, 'ann', 'brief', { cid: 'placed-brief', dedupWindowMs: 30 }))
        expect(await e.messages.placeOf(c, 'ann', 'placed-cid')).toBe(2)
        // Another sender's cid, another conversation's: not this one.
        expect(await e.messages.placeOf(c, 'bob', 'placed-cid')).toBeUndefined()
        expect(await e.messages.placeOf(await direct('ann', 'cy'), 'ann', 'placed-cid')).toBeUndefined()
        await sleep(80)
        expect(await e.messages.placeOf(c, 'ann', 'placed-brief')).toBeUndefined()
      })

      it('refuses a conversation that does not exist', async () => {
        await expect(e.messages.append(input('d:no:one', 'no', 'x'))).rejects.toMatchObject({ code: 'CONV_NOT_FOUND' })
        expect(await e.messages.after('d:no:one', 0, 10)).toEqual([])
      })

      it('pages after and before a seq, ascending', async () => {
        const c = await direct()
        const all: string[] = []
        for (let i = 1; i <= 10; i++) all.push((await e.messages.append(input(c, 'ann', `m${i}`))).json)
        expect(await e.messages.after(c, 3, 4)).toEqual(all.slice(3, 7))
        expect(await e.messages.after(c, 10, 4)).toEqual([])
        expect(await e.messages.before(c, undefined, 3)).toEqual(all.slice(7))
        expect(await e.messages.before(c, 5, 3)).toEqual(all.slice(1, 4))
        expect(await e.messages.before(c, 3, 10)).toEqual(all.slice(0, 2))
        expect(await e.messages.before(c, 1, 10)).toEqual([])
      })

      it('tells `onStored` of a stored message once, before the append settles, and never of a duplicate', async () => {
        const c = await direct()
        const told: AppendResult[] = []
        let settled = false
        const appending = e.messages.append(input(c, 'ann', 'hi', { cid: 'told-once-1' }), (stored) => {
          expect(settled).toBe(false)
          told.push(stored)
        })
        void appending.then(() => (settled = true))
        const result = await appending
        expect(told).toEqual([result])
        expect(result).toMatchObject({ dup: false, msg: { seq: 1, cid: 'told-once-1' } })
        const again = await e.messages.append(input(c, 'ann', 'hi', { cid: 'told-once-1' }), (stored) => told.push(stored))
        expect(again).toMatchObject({ dup: true, json: result.json })
        expect(told).toHaveLength(1)
      })

      it('keeps every member of a large group summarised (past the script\'s bound), a retried send never moving them back', async () => {
        const members = Array.from({ length: LARGE_GROUP }, (_, i) => `u${i}`)
        await e.convs.create({ id: 'g:big', kind: 'group', members, createdAt: 3 })
        const first = await e.messages.append(input('g:big', 'u1', 'one', { members }))
        const second = await e.messages.append(input('g:big', 'u2', 'two', { members }))
        // The first send retried: its duplicate repairs the summaries, with the older seq, which moves nothing.
        expect(await e.messages.append(input('g:big', 'u1', 'one', { cid: first.msg.cid, members }))).toMatchObject({ dup: true, msg: first.msg })
        for (const user of members) {
          const [state] = await e.convs.overview(user)
          expect(state).toMatchObject({ conv: 'g:big', lastSeq: 2, lastMsg: second.msg, readSeq: user === 'u2' ? 2 : user === 'u1' ? 1 : 0 })
        }
      })
    })

    describe('conversations', () => {
      it('creates once, lists per member, keeps last message and read marks', async () => {
        const rec = { id: 'g:abc', kind: 'group' as const, title: 'T', members: ['ann', 'bob', 'cat'], createdAt: 5 }
        expect(await e.convs.create(rec)).toEqual({ record: rec, created: true })
        const again = await e.convs.create({ ...rec, title: 'other', members: ['ann'] })
        expect(again).toEqual({ record: rec, created: false })
        expect(await e.convs.get('g:abc')).toEqual(rec)
        expect(await e.convs.get('g:none')).toBeUndefined()
        expect(await e.convs.listForUser('cat')).toEqual(['g:abc'])
        expect(await e.convs.listForUser('dan')).toEqual([])
        const sent = await e.messages.append(input('g:abc', 'bob', 'hi'))
        await e.messages.append(input('g:abc', 'bob', 'there'))
        const [ann, bob] = [(await e.convs.states(['g:abc'], 'ann'))[0]!, (await e.convs.states(['g:abc'], 'bob'))[0]!]
        expect(ann.lastSeq).toBe(2)
        expect(ann.lastMsg).toMatchObject({ seq: 2, body: { text: 'there' } })
        expect(ann.readSeq).toBe(0)
        // Sending moved the sender's read mark.
        expect(bob.readSeq).toBe(2)
        expect(sent.msg.seq).toBe(1)
      })

      it('summarises every conversation of a user: states and a 1:1 peer\'s read mark, kept up by append and markRead', async () => {
        const d = await direct()
        await e.convs.create({ id: 'g:sum', kind: 'group', members: ['ann', 'bob', 'cat'], createdAt: 7 })
        // Marks (recall events, mentions) are an engine's option: compared in their own test below;
        // so is the creation time, checked here where an engine gives it.
        const strip = ({ marks: _marks, createdAt: _createdAt, ...s }: ConvSummary) => s
        const empty = await e.convs.overview('ann')
        expect(empty.map((s) => s.conv).sort()).toEqual([d, 'g:sum'].sort())
        for (const s of empty) if (s.createdAt !== undefined) expect(s.createdAt).toBe((await e.convs.get(s.conv))!.createdAt)
        expect(strip(empty.find((s) => s.conv === d)!)).toEqual({ conv: d, lastSeq: 0, lastMsg: undefined, readSeq: 0, peerRead: 0 })
        const a1 = await e.messages.append(input(d, 'ann', 'one'))
        const b2 = await e.messages.append(input(d, 'bob', 'two', { members: ['ann', 'bob'] }))
        const g1 = await e.messages.append(input('g:sum', 'cat', 'hey'))
        // A retried send changes nothing.
        await e.messages.append(input(d, 'ann', 'one', { cid: a1.msg.cid }))
        expect(await e.convs.markRead(d, 'ann', 2)).toBe(2)
        const byConv = (list: Awaited<ReturnType<typeof e.convs.overview>>) => new Map(list.map((s) => [s.conv, strip(s)]))
        const ann = byConv(await e.convs.overview('ann'))
        expect(ann.get(d)).toEqual({ conv: d, lastSeq: 2, lastMsg: b2.msg, readSeq: 2, peerRead: 2 })
        expect(ann.get('g:sum')).toEqual({ conv: 'g:sum', lastSeq: 1, lastMsg: g1.msg, readSeq: 0 })
        const bob = byConv(await e.convs.overview('bob'))
        expect(bob.get(d)).toEqual({ conv: d, lastSeq: 2, lastMsg: b2.msg, readSeq: 2, peerRead: 2 })
        const cat = byConv(await e.convs.overview('cat'))
        expect(cat.get('g:sum')).toEqual({ conv: 'g:sum', lastSeq: 1, lastMsg: g1.msg, readSeq: 1 })
        // The same as the per-conversation reads.
        for (const [user, list] of [['ann', ann], ['bob', bob], ['cat', cat]] as const) {
          const ids = [...list.keys()]
          const states = await e.convs.states(ids, user)
          ids.forEach((id, i) => expect(list.get(id)).toMatchObject(states[i]!))
        }
        expect(await e.convs.overview('dan')).toEqual([])
        // Seqs only (a sync's read): the same seqs and marks, last messages optional.
        const seqs = (list: ConvSummary[]) => list.map((x) => [x.conv, x.lastSeq, x.readSeq, x.peerRead]).sort()
        expect(seqs(await e.convs.overview('ann', { messages: false }))).toEqual(seqs(await e.convs.overview('ann')))
      })

      it('a 1:1 with oneself (a note to self): its peer is its one member, whose read mark is the peer\'s, in the summary as in the states', async () => {
        const self = 'd:ann:ann'
        await e.convs.create({ id: self, kind: 'direct', members: ['ann', 'ann'], createdAt: 5 })
        await e.messages.append(input(self, 'ann', 'note one'))
        const two = await e.messages.append(input(self, 'ann', 'note two'))
        const strip = ({ marks: _marks, createdAt: _createdAt, ...s }: ConvSummary) => s
        const mine = async () => strip((await e.convs.overview('ann')).find((s) => s.conv === self)!)
        expect(await mine()).toEqual({ conv: self, lastSeq: 2, lastMsg: two.msg, readSeq: 2, peerRead: 2 })
        expect(await e.convs.markRead(self, 'ann', 2)).toBe(2)
        expect(await mine()).toEqual({ conv: self, lastSeq: 2, lastMsg: two.msg, readSeq: 2, peerRead: 2 })
        const [state] = await e.convs.states([self], 'ann')
        expect(await mine()).toMatchObject(state!)
      })

      it('keeps each member\'s recall events and mentions in its summary from the conversation\'s creation on (engines that keep marks)', async () => {
        if (!e.convs.noteMarks) return
        await e.convs.create({ id: 'g:mk', kind: 'group', members: ['ann', 'bob'], createdAt: 1 })
        const marks = async (user: string) => (await e.convs.overview(user)).find((s) => s.conv === 'g:mk')?.marks
        expect(await marks('ann')).toBe('|')
        await e.convs.noteMarks('g:mk', ['ann', 'bob'], 'event', 'add', 3, 2)
        await e.convs.noteMarks('g:mk', ['ann'], 'mention', 'add', 2, 20)
        await e.convs.noteMarks('g:mk', ['ann'], 'event', 'add', 5, 2)
        // The newest `cap` only, ascending; adding one again changes nothing.
        await e.convs.noteMarks('g:mk', ['ann'], 'event', 'add', 4, 2)
        await e.convs.noteMarks('g:mk', ['ann'], 'event', 'add', 5, 2)
        expect(await marks('ann')).toBe('4 5|2')
        // A recalled mention goes; removing what is not there changes nothing.
        await e.convs.noteMarks('g:mk', ['ann'], 'mention', 'remove', 2, 20)
        await e.convs.noteMarks('g:mk', ['bob'], 'mention', 'remove', 9, 20)
        expect(await marks('ann')).toBe('4 5|')
        expect(await marks('bob')).toBe('3|')
        // Raw last messages: the stored JSON as it is.
        const sent = await e.messages.append(input('g:mk', 'bob', 'raw'))
        const raw = (await e.convs.overview('ann', { messages: 'raw' })).find((s) => s.conv === 'g:mk')!
        expect(raw.lastJson === undefined ? raw.lastMsg : JSON.parse(raw.lastJson)).toEqual(sent.msg)
      })

      it('moves read marks forward only', async () => {
        const c = await direct()
        expect(await e.convs.markRead(c, 'ann', 3)).toBe(3)
        expect(await e.convs.markRead(c, 'ann', 1)).toBe(3)
        expect((await e.convs.states([c], 'ann'))[0]!.readSeq).toBe(3)
        await expect(e.convs.markRead('d:x:y', 'x', 1)).rejects.toBeInstanceOf(AppError)
      })
    })

    describe('users', () => {
      it('upserts, gets in order, searches id and name prefixes case-insensitively', async () => {
        await e.users.upsert({ id: 'zhang3', name: 'Zhang San' })
        await e.users.upsert({ id: 'li4', name: '李四', avatar: '/a/li4.png' })
        await e.users.upsert({ id: 'zed', name: 'Zoe' })
        expect(await e.users.get(['li4', 'nobody', 'zhang3'])).toEqual([
          { id: 'li4', name: '李四', avatar: '/a/li4.png' },
          { id: 'zhang3', name: 'Zhang San' },
        ])
        expect((await e.users.search('z', 10)).map((u) => u.id)).toEqual(['zed', 'zhang3'])
        expect((await e.users.search('ZHANG S', 10)).map((u) => u.id)).toEqual(['zhang3'])
        expect((await e.users.search('李', 10)).map((u) => u.id)).toEqual(['li4'])
        expect(await e.users.search('q', 10)).toEqual([])
        await e.users.upsert({ id: 'zed', name: 'Alice' })
        expect((await e.users.search('zo', 10)).map((u) => u.id)).toEqual([])
        expect((await e.users.search('ali', 10)).map((u) => u.id)).toEqual(['zed'])
      })

      it('finds Chinese names by their first characters, whole pinyin and pinyin initials', async () => {
        await e.users.upsert({ id: 'u1', name: '张伟' })
        await e.users.upsert({ id: 'u2', name: '张小明' })
        await e.users.upsert({ id: 'u3', name: '单田芳' })
        await e.users.upsert({ id: 'u4', name: 'Zack' })
        expect((await e.users.search('张', 10)).map((u) => u.id)).toEqual(['u1', 'u2'])
        expect((await e.users.search('张小', 10)).map((u) => u.id)).toEqual(['u2'])
        expect((await e.users.search('zw', 10)).map((u) => u.id)).toEqual(['u1'])
        expect((await e.users.search('ZXM', 10)).map((u) => u.id)).toEqual(['u2'])
        expect((await e.users.search('zhangw', 10)).map((u) => u.id)).toEqual(['u1'])
        expect((await e.users.search('z', 10)).map((u) => u.id)).toEqual(['u1', 'u2', 'u4'])
        // A surname read as a surname: 单 is "shan" in a name.
        expect((await e.users.search('stf', 10)).map((u) => u.id)).toEqual(['u3'])
        expect((await e.users.search('shantianfang', 10)).map((u) => u.id)).toEqual(['u3'])
        expect(await e.users.search('dtf', 10)).toEqual([])
        // A new name drops the old name's terms, pinyin included.
        await e.users.upsert({ id: 'u1', name: '王芳' })
        expect((await e.users.search('zw', 10)).map((u) => u.id)).toEqual([])
        expect((await e.users.search('张', 10)).map((u) => u.id)).toEqual(['u2'])
        expect((await e.users.search('wf', 10)).map((u) => u.id)).toEqual(['u1'])
      })
    })

    describe('offline queue', () => {
      it('keeps entries in order until acknowledged, with increasing ids', async () => {
        for (let i = 1; i <= 3; i++) expect(await e.queue.push('ann', ref(i))).toBe(i)
        const entries = await e.queue.read('ann', 10)
        expect(entries.map(place)).toEqual([ref(1), ref(2), ref(3)])
        expect(entries[0]!.id < entries[1]!.id || entries[0]!.id.length < entries[1]!.id.length).toBe(true)
        await e.queue.ack('ann', entries[1]!.id)
        expect((await e.queue.read('ann', 10)).map(place)).toEqual([ref(3)])
        expect(await e.queue.length('ann')).toBe(1)
        expect(await e.queue.length('bob')).toBe(0)
      })

      it('drops the oldest entries past its maximum length', async () => {
        for (let i = 1; i <= 8; i++) await e.queue.push('ann', ref(i))
        expect(await e.queue.length('ann')).toBe(OPTIONS.queueMaxLength)
        expect((await e.queue.read('ann', 10)).map(place)).toEqual([4, 5, 6, 7, 8].map(ref))
      })

      it('drops entries older than the retention', async () => {
        await fx.cleanup()
        fx = await make({ queueMaxLength: 100, queueRetentionMs: 40 })
        e = fx.engine
        await e.queue.push('ann', ref(1))
        await sleep(80) // retention is time itself
        await e.queue.push('ann', ref(2))
        expect((await e.queue.read('ann', 10)).map(place)).toEqual([ref(2)])
      })
    })

    describe('presence', () => {
      it('counts devices over nodes and remembers when the user was last seen', async () => {
        expect(await e.presence.connected('ann', 'n1')).toBe(1)
        expect(await e.presence.connected('ann', 'n2')).toBe(2)
        expect((await e.presence.get(['ann']))[0]).toEqual({ user: 'ann', online: true })
        expect(await e.presence.disconnected('ann', 'n1', 1234)).toBe(1)
        expect(await e.presence.disconnected('ann', 'n2', 5678)).toBe(0)
        expect(await e.presence.get(['ann', 'bob'])).toEqual([
          { user: 'ann', online: false, lastSeen: 5678 },
          { user: 'bob', online: false },
        ])
      })
    })

    describe('refresh tokens', () => {
      it('gives a token once, and never after it expired', async () => {
        await e.tokens.put('f1', 'h1', 'ann', 60_000)
        expect(await e.tokens.take('f1', 'h1')).toEqual({ outcome: 'ok', user: 'ann' })
        // Under another family it is not the same token.
        expect(await e.tokens.take('f0', 'h1')).toBeUndefined()
        await e.tokens.put('f2', 'h2', 'ann', 20)
        await sleep(60)
        expect(await e.tokens.take('f2', 'h2')).toBeUndefined()
        expect(await e.tokens.take('f9', 'unknown')).toBeUndefined()
      })

      it('revokes the whole family when a spent token comes back', async () => {
        await e.tokens.put('fa', 'a1', 'ann', 60_000)
        await e.tokens.put('fb', 'b1', 'bob', 60_000)
        expect(await e.tokens.take('fa', 'a1')).toEqual({ outcome: 'ok', user: 'ann' })
        await e.tokens.put('fa', 'a2', 'ann', 60_000)
        // a1 again: a copy of it is in someone else's hands.
        expect(await e.tokens.take('fa', 'a1')).toEqual({ outcome: 'reused', user: 'ann' })
        // The live successor of the family no longer works; another family is untouched.
        expect(await e.tokens.take('fa', 'a2')).toEqual({ outcome: 'revoked', user: 'ann' })
        expect(await e.tokens.take('fb', 'b1')).toEqual({ outcome: 'ok', user: 'bob' })
      })

      it('spends a token once when two takes race', async () => {
        await e.tokens.put('fr', 'r1', 'ann', 60_000)
        const outcomes = (await Promise.all([e.tokens.take('fr', 'r1'), e.tokens.take('fr', 'r1')])).map((r) => r?.outcome)
        expect(outcomes.sort()).toEqual(['ok', 'reused'])
      })
    })

    describe('upload slots', () => {
      it('admits at most max at once, even when every take races, and frees what ends or idles', async () => {
        const taken = await Promise.all(Array.from({ length: 10 }, (_, i) => e.uploadSlots.acquire('ann', `u${i}`, 4, 60_000)))
        expect(taken.filter(Boolean)).toHaveLength(4)
        expect(await e.uploadSlots.count('ann')).toBe(4)
        // Taking a slot one already holds is not a second one; another user has their own.
        const holder = `u${taken.indexOf(true)}`
        expect(await e.uploadSlots.acquire('ann', holder, 4, 60_000)).toBe(true)
        expect(await e.uploadSlots.count('ann')).toBe(4)
        expect(await e.uploadSlots.acquire('bob', 'b1', 4, 60_000)).toBe(true)
        await e.uploadSlots.release('ann', holder)
        expect(await e.uploadSlots.acquire('ann', 'later', 4, 60_000)).toBe(true)
        expect(await e.uploadSlots.acquire('ann', 'one-more', 4, 60_000)).toBe(false)
        // Idle slots free themselves; a touched one stays.
        expect(await e.uploadSlots.acquire('cat', 'c1', 2, 30)).toBe(true)
        expect(await e.uploadSlots.acquire('cat', 'c2', 2, 30)).toBe(true)
        await e.uploadSlots.touch('cat', 'c2', 60_000)
        await sleep(60)
        expect(await e.uploadSlots.count('cat')).toBe(1)
        expect(await e.uploadSlots.acquire('cat', 'c3', 2, 60_000)).toBe(true)
        expect(await e.uploadSlots.acquire('cat', 'c4', 2, 60_000)).toBe(false)
      })
    })

    describe('wechat', () => {
      it('keeps one access_token for every process and a lock one owner holds at a time', async () => {
        const other = fx.peer ?? e
        expect(await e.wechat.token()).toBeUndefined()
        await e.wechat.setToken({ token: 'T1', expiresAt: Date.now() + 60_000 })
        expect(await other.wechat.token()).toMatchObject({ token: 'T1' })
        expect(await e.wechat.lock('refresh', 'a', 60_000)).toBe(true)
        expect(await other.wechat.lock('refresh', 'b', 60_000)).toBe(false)
        await other.wechat.unlock('refresh', 'b') // not the owner: no effect
        expect(await other.wechat.lock('refresh', 'b', 60_000)).toBe(false)
        await e.wechat.unlock('refresh', 'a')
        expect(await other.wechat.lock('refresh', 'b', 30)).toBe(true)
        await sleep(60) // a lease is time itself
        expect(await e.wechat.lock('refresh', 'a', 60_000)).toBe(true)
      })

      it('counts hits per fixed window across processes', async () => {
        const other = fx.peer ?? e
        const hits = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? e : other).wechat.hit('k', 60_000)))
        expect(hits.sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        expect(await e.wechat.hit('other', 60_000)).toBe(1)
        expect(await other.wechat.hit('other', 60_000, 50)).toBe(51)
      })

      it('grants, bounds, spends and zeroes subscription allowances per user and template', async () => {
        expect(await e.wechat.grant('ann', 'tA', 2, 3)).toBe(2)
        expect(await e.wechat.grant('ann', 'tA', 5, 3)).toBe(3)
        expect(await e.wechat.grant('ann', 'tB', 1, 3)).toBe(1)
        const spent = await Promise.all(Array.from({ length: 5 }, () => e.wechat.spend('ann', 'tA')))
        expect(spent.filter(Boolean).length).toBe(3)
        expect(await e.wechat.allowances('ann', 'tA')).toBe(0)
        expect(await e.wechat.allowances('ann', 'tB')).toBe(1)
        expect(await e.wechat.allowances('bob', 'tB')).toBe(0)
        await e.wechat.zero('ann', 'tB')
        expect(await e.wechat.spend('ann', 'tB')).toBe(false)
      })

      it('claims a conversation once per absence', async () => {
        const claims = await Promise.all([e.wechat.claimNotice('ann', 'c1'), e.wechat.claimNotice('ann', 'c1'), e.wechat.claimNotice('ann', 'c2')])
        expect(claims).toEqual([true, false, true])
        expect(await e.wechat.claimNotice('bob', 'c1')).toBe(true)
        await e.wechat.clearNotices('ann')
        expect(await e.wechat.claimNotice('ann', 'c1')).toBe(true)
        expect(await e.wechat.claimNotice('bob', 'c1')).toBe(false)
      })

      it('keeps the newest records of a list up to its bound', async () => {
        for (let i = 1; i <= 5; i++) await e.wechat.record('reports', `{"n":${i}}`, 3)
        await e.wechat.record('flags', '{"f":1}', 3)
        expect(await e.wechat.records('reports', 10)).toEqual(['{"n":5}', '{"n":4}', '{"n":3}'])
        expect(await e.wechat.records('reports', 2)).toEqual(['{"n":5}', '{"n":4}'])
        expect(await e.wechat.records('flags', 10)).toEqual(['{"f":1}'])
      })

      it('removes one record of a list by its exact JSON, and reads a window count without counting', async () => {
        const other = fx.peer ?? e
        for (const f of ['{"f":1}', '{"f":2}', '{"f":1}']) await e.wechat.record('flags', f, 10)
        expect(await other.wechat.unrecord('flags', '{"f":1}')).toBe(true)
        expect(await e.wechat.records('flags', 10)).toEqual(['{"f":2}', '{"f":1}'])
        expect(await e.wechat.unrecord('flags', '{"f":3}')).toBe(false)
        expect(await e.wechat.hits('h', 60_000)).toBe(0)
        await e.wechat.hit('h', 60_000, 7)
        expect(await other.wechat.hits('h', 60_000)).toBe(7)
        expect(await other.wechat.hits('h', 60_000)).toBe(7)
      })

      it('queues re-checks oldest first for every process, each taken off once', async () => {
        const other = fx.peer ?? e
        expect(await e.wechat.pendingRechecks()).toBe(0)
        await e.wechat.queueRecheck('{"r":"new"}', 300)
        await other.wechat.queueRecheck('{"r":"old"}', 100)
        await e.wechat.queueRecheck('{"r":"mid"}', 200)
        await e.wechat.queueRecheck('{"r":"mid"}', 200)
        expect(await other.wechat.dueRechecks(2)).toEqual(['{"r":"old"}', '{"r":"mid"}'])
        expect(await e.wechat.pendingRechecks()).toBe(3)
        const taken = await Promise.all([e.wechat.unqueueRecheck('{"r":"old"}'), other.wechat.unqueueRecheck('{"r":"old"}')])
        expect(taken.filter(Boolean)).toHaveLength(1)
        expect(await e.wechat.dueRechecks(10)).toEqual(['{"r":"mid"}', '{"r":"new"}'])
      })

      it('suspends a user for every process until lifted', async () => {
        const other = fx.peer ?? e
        expect(await e.wechat.isSuspended('ann')).toBe(false)
        await e.wechat.setSuspended('ann', true)
        expect(await other.wechat.isSuspended('ann')).toBe(true)
        expect(await other.wechat.isSuspended('bob')).toBe(false)
        await other.wechat.setSuspended('ann', false)
        expect(await e.wechat.isSuspended('ann')).toBe(false)
      })

      it('hands a media check trace to one taker, until it expires', async () => {
        const other = fx.peer ?? e
        await e.wechat.putTrace('tr1', '{"file":"f1"}', 60_000)
        await e.wechat.putTrace('tr2', '{"file":"f2"}', 30)
        const taken = await Promise.all([e.wechat.takeTrace('tr1'), other.wechat.takeTrace('tr1')])
        expect(taken.filter(Boolean)).toEqual(['{"file":"f1"}'])
        await sleep(60) // the lifetime is time itself
        expect(await other.wechat.takeTrace('tr2')).toBeUndefined()
        expect(await e.wechat.takeTrace('nope')).toBeUndefined()
      })
    })

    describe('bus', () => {
      it('counts the nodes holding a user and carries payloads to them', async () => {
        const received: [string, string][] = []
        const other = fx.peer ?? e
        other.bus.onMessage((user, payload) => received.push([user, payload]))
        expect(await e.bus.publish('ann', 'p0')).toBe(0)
        await other.bus.subscribe('ann')
        expect(await e.bus.publish('ann', 'p1')).toBe(1)
        expect(await e.bus.publish('bob', 'p2')).toBe(0)
        if (fx.peer) {
          const end = Date.now() + 2000
          while (received.length < 1 && Date.now() < end) await sleep(5)
          expect(received).toEqual([['ann', 'p1']])
        }
        await other.bus.unsubscribe('ann')
        expect(await e.bus.publish('ann', 'p3')).toBe(0)
      })

      it('broadcasts one payload to every node', async () => {
        const received: string[] = []
        e.bus.onBroadcast((payload) => received.push(`self ${payload}`))
        fx.peer?.bus.onBroadcast((payload) => received.push(`peer ${payload}`))
        // Every node subscribes at start: this one and the peer (a single process: itself only).
        expect(await e.bus.broadcast('b1')).toBe(fx.peer ? 2 : 1)
        if (fx.peer) {
          const end = Date.now() + 2000
          while (received.length < 2 && Date.now() < end) await sleep(5)
          expect(received.sort()).toEqual(['peer b1', 'self b1'])
        } else {
          expect(received).toEqual([])
        }
      })
    })
  })
}
