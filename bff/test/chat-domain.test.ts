/**
 * The chat domain without sockets: ChatService and Delivery over the in-memory engine, writing to
 * outlets that record what they were given (the gateway's Connection is the real one over ws).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import type { ServerFrameType } from '@chat/shared'
import { Delivery } from '../src/chat/delivery'
import { noFiles } from '../src/chat/files'
import type { Outlet } from '../src/chat/outlet'
import type { SentSeqs } from '../src/chat/sent-seqs'
import { ChatService } from '../src/chat/service'
import { Metrics } from '../src/ops/metrics'
import { createMemoryEngine } from '../src/store/memory'
import type { ConvSummary, Engine, QueueEntry } from '../src/store/types'
import { HeldOutlets } from './support/outlets'

/** An outlet that keeps every frame, with a backlog the test sets. */
class RecordingOutlet implements Outlet {
  readonly frames: Array<{ type?: string; frame: Record<string, unknown>; drained: boolean }> = []
  open = true
  backlog = 0
  sent: SentSeqs | undefined
  delivered: Map<string, number> | undefined
  readMarks: Map<string, number> | undefined
  listing: Promise<readonly ConvSummary[]> | undefined
  queued: Promise<readonly QueueEntry[]> | undefined
  constructor(readonly user: string) {}
  write(data: Buffer | string): boolean {
    if (!this.open) return false
    this.frames.push({ frame: JSON.parse(String(data)) as Record<string, unknown>, drained: false })
    return true
  }
  reply(data: Buffer | string, type: ServerFrameType): boolean {
    if (!this.open) return false
    this.frames.push({ type, frame: JSON.parse(String(data)) as Record<string, unknown>, drained: false })
    return true
  }
  backlogged(bytes: number): boolean {
    return this.backlog > bytes
  }
  async replyAndDrain(data: Buffer | string, type: ServerFrameType): Promise<boolean> {
    if (!this.open) return false
    this.frames.push({ type, frame: JSON.parse(String(data)) as Record<string, unknown>, drained: true })
    this.backlog = 0
    return true
  }
  heavy(work: () => Promise<void>): Promise<void> {
    return work()
  }
  types(): unknown[] {
    return this.frames.map((f) => f.frame.type)
  }
}

class Held extends HeldOutlets<RecordingOutlet> {}

let engine: Engine
let delivery: Delivery
let chat: ChatService
let held: Held

beforeEach(async () => {
  engine = createMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 })
  held = new Held()
  delivery = new Delivery('n1', held, engine.bus, engine.queue, new Metrics(), pino({ level: 'silent' }))
  chat = new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1000 })
  for (const id of ['alice', 'bob']) await engine.users.upsert({ id, name: id })
})

afterEach(async () => {
  await delivery.settle()
  await engine.close()
})

describe('chat domain over outlets', () => {
  it("a first message creates the 1:1 (conv and the other's presence to both), is pushed to the recipient and not echoed to the sending outlet", async () => {
    const a = held.add(new RecordingOutlet('alice'))
    const b = held.add(new RecordingOutlet('bob'))
    const ack = await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } }, a)
    expect(ack).toMatchObject({ dup: false, msg: { seq: 1, conv: 'd:alice:bob', from: 'alice' } })
    expect(b.types()).toEqual(['conv', 'presence', 'msg'])
    expect(b.frames[1]!.frame).toMatchObject({ type: 'presence', user: 'alice' })
    expect(b.frames[2]!.frame).toMatchObject({ m: { seq: 1, body: { text: 'hi' } } })
    expect(b.sent?.has('d:alice:bob', 1)).toBe(true)
    // The implicit creation has no asking outlet: the sender's outlet gets the conv frame, not the msg.
    expect(a.types()).toEqual(['conv', 'presence'])
    expect(a.frames[1]!.frame).toMatchObject({ type: 'presence', user: 'bob' })
    const again = await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } }, a)
    expect(again.dup).toBe(true)
    expect(b.types()).toEqual(['conv', 'presence', 'msg'])
  })

  it('sync pauses for a backlogged outlet (replyAndDrain) and skips seqs already pushed', async () => {
    for (let i = 1; i <= 3; i++) await chat.send('alice', { cid: `c-000000${i}`, conv: 'd:alice:bob', kind: 'text', body: { text: `m${i}` } })
    const b = new RecordingOutlet('bob')
    b.backlog = 5000
    await chat.sync('bob', 'r1', [{ conv: 'd:alice:bob', seq: 1 }], b)
    expect(b.types()).toEqual(['messages', 'sync.done'])
    expect(b.frames[0]).toMatchObject({ type: 'messages', drained: true, frame: { rid: 'r1', more: false } })
    expect((b.frames[0]!.frame.msgs as Array<{ seq: number }>).map((m) => m.seq)).toEqual([2, 3])
    expect(b.frames[1]).toMatchObject({ drained: false, frame: { type: 'sync.done', rid: 'r1' } })
    expect(b.sent?.has('d:alice:bob', 3)).toBe(true)
  })

  it('a read moves the mark once and tells every member by a typed receipt', async () => {
    await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } })
    const a = held.add(new RecordingOutlet('alice'))
    const b = held.add(new RecordingOutlet('bob'))
    await chat.read('bob', { conv: 'd:alice:bob', seq: 1 }, b)
    await chat.read('bob', { conv: 'd:alice:bob', seq: 1 }, b)
    const receipt = { type: 'receipt', kind: 'read', conv: 'd:alice:bob', user: 'bob', seq: 1 }
    expect(a.frames.map((f) => f.frame)).toEqual([receipt])
    expect(b.frames.map((f) => f.frame)).toEqual([receipt])
  })
})


describe('member profiles of lists asked at once', () => {
  /** Every id `users.get` was asked for, in order, over the real engine's answer. */
  function countReads(failFirst = false): string[] {
    const asked: string[] = []
    const get = engine.users.get.bind(engine.users)
    let fail = failFirst
    engine.users.get = async (ids) => {
      asked.push(...ids)
      if (fail) {
        fail = false
        await Promise.resolve()
        throw new Error('store down')
      }
      return get(ids)
    }
    return asked
  }

  async function ring(n: number): Promise<string[]> {
    const users = Array.from({ length: n }, (_, i) => `r${i}`)
    for (const id of [...users, 'hub']) await engine.users.upsert({ id, name: `Name ${id}` })
    for (let i = 0; i < n; i++) {
      await chat.send(users[i]!, { cid: `c-h${String(i).padStart(6, '0')}`, conv: i === 0 ? 'd:hub:r0' : `d:hub:${users[i]}`, kind: 'text', body: { text: 'hi' } })
      const [a, b] = [users[i]!, users[(i + 1) % n]!].sort()
      await chat.send(users[i]!, { cid: `c-r${String(i).padStart(6, '0')}`, conv: `d:${a}:${b}`, kind: 'text', body: { text: 'hi' } })
    }
    return users
  }

  it('read each missing profile once, shared by every list that needs it; every list shows every name', async () => {
    const users = await ring(12)
    // A process with a cold profile cache, as after a start or once the profiles' TTL ran out.
    const cold = new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1000 })
    const asked = countReads()
    const lists = await Promise.all(users.map((u) => cold.list(u)))
    const times = new Map<string, number>()
    for (const id of asked) times.set(id, (times.get(id) ?? 0) + 1)
    expect([...times.values()].every((n) => n === 1), JSON.stringify([...times])).toBe(true)
    expect(new Set(asked)).toEqual(new Set([...users, 'hub']))
    for (const [i, list] of lists.entries()) {
      expect(list, users[i]).toHaveLength(3)
      for (const c of list) for (const m of c.members) expect(m.name, `${users[i]} ${c.id}`).toBe(`Name ${m.id}`)
    }
  })

  it('a failed read fails the lists that waited for it too, and the next list reads again', async () => {
    const users = await ring(6)
    const cold = new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1000 })
    const asked = countReads(true)
    const settled = await Promise.allSettled(users.map((u) => cold.list(u)))
    expect(settled.filter((r) => r.status === 'rejected').length).toBeGreaterThanOrEqual(2)
    const before = asked.length
    const again = await cold.list(users[0]!)
    expect(again.flatMap((c) => c.members.map((m) => m.name)).sort()).toEqual(['Name hub', 'Name r0', 'Name r0', 'Name r0', 'Name r1', 'Name r5'])
    expect(asked.length).toBeGreaterThan(before)
  })
})

describe('a conversation record read at once by many', () => {
  /** `convs.get` of the real engine, counted per conversation, each read held until `release`. */
  function holdReads() {
    const reads = new Map<string, number>()
    const held: Array<() => void> = []
    const get = engine.convs.get.bind(engine.convs)
    engine.convs.get = async (conv) => {
      reads.set(conv, (reads.get(conv) ?? 0) + 1)
      await new Promise<void>((r) => held.push(r))
      return get(conv)
    }
    return { reads, release: () => held.splice(0).forEach((r) => r()) }
  }

  it('is read once for every list and floor asking while it is read; a record forgotten meanwhile is read afresh', async () => {
    const members = Array.from({ length: 8 }, (_, i) => `gm${i}`)
    for (const id of members) await engine.users.upsert({ id, name: id })
    const g = await chat.create({ id: 'alice', name: 'alice' }, { kind: 'group', title: 'team', members: [...members, 'bob'] })
    const cold = new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1000 })
    const { reads, release } = holdReads()
    const lists = Promise.all(members.map((u) => cold.list(u)))
    const floors = Promise.all(members.map((u) => cold.floor(g.id, u)))
    await waitUntil(() => reads.get(g.id) === 1)
    release()
    for (const list of await lists) expect(list.map((c) => [c.id, c.members.length])).toEqual([[g.id, 10]])
    expect(await floors).toEqual(members.map(() => 0))
    expect(reads.get(g.id)).toBe(1)
    // Kept: asked again, not read.
    await cold.floor(g.id, 'bob')
    expect(reads.get(g.id)).toBe(1)

    // Forgotten (the group changed) while a read is under way: the next asks read afresh.
    cold.forget(g.id)
    const first = cold.floor(g.id, 'bob')
    await waitUntil(() => reads.get(g.id) === 2)
    cold.forget(g.id)
    const second = cold.floor(g.id, 'bob')
    await waitUntil(() => reads.get(g.id) === 3)
    release()
    expect(await Promise.all([first, second])).toEqual([0, 0])
    await cold.floor(g.id, 'bob')
    expect(reads.get(g.id)).toBe(3)
  })
})

/** Polls `ok` through the event loop (a held read is reached after some awaits), at most 2 s. */
async function waitUntil(ok: () => boolean): Promise<void> {
  const until = Date.now() + 2000
  while (!ok()) {
    if (Date.now() > until) throw new Error('condition not reached')
    await new Promise((r) => setImmediate(r))
  }
}

describe('the summary kept for a first convs (Outlet.listing)', () => {
  it('is dropped by a message, a conv or a receipt frame reaching the outlet, not by typing or presence', async () => {
    const a = held.add(new RecordingOutlet('alice'))
    const b = held.add(new RecordingOutlet('bob'))
    await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } }, a)
    const kept = chat.summary('bob')
    b.listing = kept
    await chat.typing('alice', 'd:alice:bob')
    await chat.announcePresence({ user: 'alice', online: true })
    expect(b.types().slice(-2)).toEqual(['typing', 'presence'])
    expect(b.listing).toBe(kept)
    await chat.send('alice', { cid: 'c-0000002', conv: 'd:alice:bob', kind: 'text', body: { text: 'again' } }, a)
    expect(b.listing).toBeUndefined()
    b.listing = kept
    // Read on bob's other device: this outlet gets the receipt.
    await chat.read('bob', { conv: 'd:alice:bob', seq: 2 }, held.add(new RecordingOutlet('bob')))
    expect(b.types().at(-1)).toBe('receipt')
    expect(b.listing).toBeUndefined()
  })

  it('serves the list when nothing came, and is read afresh when dropped while the list waited for it', async () => {
    const a = held.add(new RecordingOutlet('alice'))
    const b = held.add(new RecordingOutlet('bob'))
    await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } }, a)
    const old = await chat.summary('bob')
    // Served: a summary the store no longer matches (seq 1 only) shows, so it was the one used.
    await chat.send('alice', { cid: 'c-0000002', conv: 'd:alice:bob', kind: 'text', body: { text: 'two' } }, a)
    b.listing = Promise.resolve(old)
    expect((await chat.list('bob', { raw: true, out: b })).map((c) => c.lastSeq)).toEqual([1])
    expect(b.listing).toBeUndefined()
    // Dropped while awaited: a message arrives after the list took the kept read, before it resolved.
    let resolve!: (s: typeof old) => void
    b.listing = new Promise((r) => (resolve = r))
    const listed = chat.list('bob', { raw: true, out: b })
    await chat.send('alice', { cid: 'c-0000003', conv: 'd:alice:bob', kind: 'text', body: { text: 'three' } }, a)
    resolve(old)
    expect((await listed).map((c) => c.lastSeq)).toEqual([3])
  })
})

describe('the offline queue read kept for a first sync (Outlet.queued)', () => {
  it('gives the first sync its sync.done cursor; a later sync, or one whose kept read failed, reads afresh', async () => {
    const a = held.add(new RecordingOutlet('alice'))
    // Bob has no device: both messages are queued for him, the kept read made between them.
    await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'one' } }, a)
    const kept = chat.queued('bob')
    await chat.send('alice', { cid: 'c-0000002', conv: 'd:alice:bob', kind: 'text', body: { text: 'two' } }, a)
    const [first, second] = await engine.queue.read('bob', 100)
    expect([first, second].map((e) => e?.seq)).toEqual([1, 2])
    const b = held.add(new RecordingOutlet('bob'))
    const done = async (rid: string) => {
      await chat.sync('bob', rid, [{ conv: 'd:alice:bob', seq: 2 }], b)
      return b.frames.at(-1)!.frame
    }
    // Served: the kept read's last entry, not the store's.
    b.queued = kept
    expect(await done('r1')).toEqual({ type: 'sync.done', rid: 'r1', q: first!.id })
    expect(b.queued).toBeUndefined()
    expect(await done('r2')).toEqual({ type: 'sync.done', rid: 'r2', q: second!.id })
    b.queued = Promise.reject(new Error('store away'))
    expect(await done('r3')).toEqual({ type: 'sync.done', rid: 'r3', q: second!.id })
    expect(b.types()).toEqual(['sync.done', 'sync.done', 'sync.done'])
  })
})

describe('the peers\' presence read early at a connect (EarlyPresence)', () => {
  /** Counts the presence reads the service makes itself, with the users each read named. */
  function countReads(): string[][] {
    const reads: string[][] = []
    const get = engine.presence.get.bind(engine.presence)
    engine.presence.get = (users) => {
      reads.push([...users])
      return get(users)
    }
    return reads
  }

  it('is taken when the peers are the ones it was read for, read again for the peers as they are otherwise', async () => {
    await engine.users.upsert({ id: 'carol', name: 'carol' })
    await chat.send('alice', { cid: 'c-0000001', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } })
    await engine.presence.connected('bob', 'n1/s1')
    const first = await chat.connected('alice', false, chat.summary('alice'))
    expect(first).toEqual({ items: [{ user: 'bob', online: true }], peers: 'bob' })

    const reads = countReads()
    const early = { peers: first.peers, read: Promise.resolve([{ user: 'bob', online: true }]) }
    expect(await chat.connected('alice', false, chat.summary('alice'), early)).toEqual(first)
    expect(reads).toEqual([])

    // A peer met since: the early read names the old peers only and is not taken.
    await chat.send('carol', { cid: 'c-0000002', conv: 'd:alice:carol', kind: 'text', body: { text: 'hi' } })
    reads.length = 0 // the new 1:1's introduction of the two
    const later = await chat.connected('alice', false, chat.summary('alice'), early)
    expect(later.peers.split(' ').sort()).toEqual(['bob', 'carol'])
    expect(later.items).toHaveLength(2)
    expect(reads.map((r) => [...r].sort())).toEqual([['bob', 'carol']])
    // A failed early read is made again.
    const failed = { peers: later.peers, read: Promise.reject(new Error('store away')) }
    expect((await chat.connected('alice', false, chat.summary('alice'), failed)).items).toEqual(later.items)
    expect(reads).toHaveLength(2)
  })

  it('tells a new device the presence of at most presenceFanoutMax peers, its groups and its note to self naming none', async () => {
    const capped = new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 3, syncPauseBytes: 1000 })
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5']
    for (const id of peers) await engine.users.upsert({ id, name: id })
    await capped.send('alice', { cid: 'c-self-01', conv: 'd:alice:alice', kind: 'text', body: { text: 'note' } })
    await capped.create({ id: 'alice', name: 'alice' }, { kind: 'group', title: 'G', members: ['p1', 'p2'] })
    for (const [i, p] of peers.entries()) await capped.send(p, { cid: `c-peer-0${i}`, conv: `d:alice:${p}`, kind: 'text', body: { text: 'hi' } })
    const { items, peers: joined } = await capped.connected('alice', false, capped.summary('alice'))
    const named = joined.split(' ')
    expect(named).toHaveLength(3)
    for (const p of named) expect(peers).toContain(p)
    expect(items.map((i) => i.user).sort()).toEqual([...named].sort())
  })
})
