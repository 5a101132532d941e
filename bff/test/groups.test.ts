/**
 * Groups (issue 13): roles, membership changes as `system` messages with their own seq, join and
 * removal seqs bounding what a member reads, with stable error codes for every refusal. The chat
 * domain over recording outlets, on every engine: memory, memory over the SQLite archive (and a
 * restart reading the change back), Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { AppError, LIMITS } from '@chat/shared'
import type { ServerFrameType } from '@chat/shared'
import { openArchive } from '../src/archive/archive'
import type { Archive } from '../src/archive/archive'
import { Delivery } from '../src/chat/delivery'
import { noFiles } from '../src/chat/files'
import type { Outlet } from '../src/chat/outlet'
import type { SentSeqs } from '../src/chat/sent-seqs'
import { ChatService } from '../src/chat/service'
import { Metrics } from '../src/ops/metrics'
import { createMemoryEngine, openMemoryEngine } from '../src/store/memory'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'
import { REDIS_URL, dropPrefix, randomPrefix } from './support/server'
import { createTestDatabase } from './support/mysql'
import { HeldOutlets } from './support/outlets'

class RecordingOutlet implements Outlet {
  readonly frames: Array<Record<string, unknown>> = []
  open = true
  sent: SentSeqs | undefined
  delivered: Map<string, number> | undefined
  readMarks: Map<string, number> | undefined
  constructor(readonly user: string) {}
  write(data: Buffer | string): boolean {
    this.frames.push(JSON.parse(String(data)) as Record<string, unknown>)
    return true
  }
  reply(data: Buffer | string, type: ServerFrameType): boolean {
    const frame = JSON.parse(String(data)) as Record<string, unknown>
    expect(frame.type).toBe(type)
    this.frames.push(frame)
    return true
  }
  backlogged(): boolean {
    return false
  }
  async replyAndDrain(data: Buffer | string): Promise<boolean> {
    return this.write(data)
  }
  heavy(work: () => Promise<void>): Promise<void> {
    return work()
  }
  msgs(): Array<{ seq: number; kind: string; body: Record<string, unknown> }> {
    return this.frames.filter((f) => f.type === 'msg' || f.type === 'messages').flatMap((f) => (f.type === 'msg' ? [f.m] : (f.msgs as unknown[]))) as never
  }
}

class Held extends HeldOutlets<RecordingOutlet> {}

interface Setup {
  engine: Engine
  reopen?: () => Promise<Engine>
  cleanup: () => Promise<void>
}

const OPTIONS = { queueMaxLength: 100, queueRetentionMs: 60_000 }

const engines: Record<string, () => Promise<Setup>> = {
  memory: async () => {
    const engine = createMemoryEngine(OPTIONS)
    return { engine, cleanup: () => engine.close() }
  },
  'memory over sqlite': async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'chat-groups-'))
    const url = `sqlite:${path.join(dir, 'chat.sqlite')}`
    const archives: Archive[] = []
    const open = async () => {
      const archive = await openArchive({ url })
      archives.push(archive)
      return openMemoryEngine(OPTIONS, { archive, windowMessages: 100 })
    }
    const engines: Engine[] = [await open()]
    return {
      engine: engines[0]!,
      reopen: async () => {
        const e = await open()
        engines.push(e)
        return e
      },
      cleanup: async () => {
        for (const e of engines) await e.close()
        for (const a of archives) await a.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
  redis: () => redisSetup(false),
  'redis over mysql': () => redisSetup(true),
}

/** Redis (own prefix), with a MySQL archive of its own when `archived`; `reopen` starts a fresh Redis prefix over the same archive then (Redis lost everything). */
async function redisSetup(archived: boolean): Promise<Setup> {
  let prefix = randomPrefix()
  const prefixes = [prefix]
  const db = archived ? await createTestDatabase() : undefined
  const open = async () => {
    // The engine closes its archive itself.
    const archive = db ? { archive: await openArchive({ url: db.url, poolSize: 2 }), windowMessages: 5, backlogMax: 1000, batchMax: 100, claimIdleMs: 30_000 } : undefined
    // A command timeout well above the production default: the 500-member group's writes must not
    // time out on a machine loaded by the rest of the suite (what is tested here is the groups' logic).
    return createRedisEngine({ ...OPTIONS, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 15_000, connectTimeoutMs: 5000, node: 'n1', ...(archive ? { archive } : {}) })
  }
  const engines: Engine[] = [await open()]
  return {
    engine: engines[0]!,
    reopen: async () => {
      if (archived) prefixes.push((prefix = randomPrefix()))
      const e = await open()
      engines.push(e)
      return e
    },
    cleanup: async () => {
      for (const e of engines) await e.close()
      for (const p of prefixes) await dropPrefix(p)
      await db?.drop()
    },
  }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function start(name: string, engine?: Engine, node = 'n1') {
  const setup = engine ? undefined : await engines[name]!()
  const e = engine ?? setup!.engine
  const held = new Held()
  const delivery = new Delivery(node, held, e.bus, e.queue, new Metrics(), pino({ level: 'silent' }))
  const chat = new ChatService(e, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1 << 20 })
  if (setup) cleanups.push(setup.cleanup)
  cleanups.push(() => delivery.settle())
  for (const id of ['owner', 'adm', 'ann', 'bob', 'cat', 'dan']) await e.users.upsert({ id, name: id })
  return { engine: e, setup, held, chat, delivery }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof AppError) return err.code
    throw err
  }
  return 'no error'
}

const text = (conv: string, cid: string, t: string) => ({ cid, conv, kind: 'text' as const, body: { text: t } })

for (const name of Object.keys(engines)) {
  describe(`groups on ${name}`, () => {
    it('roles: owner and admins add and remove (an admin never removes the owner or another admin), members may not, each change a system message', async () => {
      const { chat } = await start(name)
      const owner = await chat.profile('owner')
      const g = await chat.create(owner, { kind: 'group', members: ['adm', 'ann'], title: 'team' })
      expect(g).toMatchObject({ owner: 'owner', admins: [], joinedSeq: 0 })
      const made = await chat.group('owner', { conv: g.id, op: 'admin', users: ['adm'] })
      expect(made).toMatchObject({ seq: 1, kind: 'system', from: 'owner', body: { op: 'admin', users: ['adm'] } })
      expect(await code(chat.group('ann', { conv: g.id, op: 'add', users: ['bob'] }))).toBe('NOT_ADMIN')
      expect(await code(chat.group('cat', { conv: g.id, op: 'add', users: ['bob'] }))).toBe('NOT_MEMBER')
      expect(await code(chat.group('adm', { conv: g.id, op: 'remove', users: ['owner'] }))).toBe('NOT_ADMIN')
      expect(await code(chat.group('adm', { conv: g.id, op: 'admin', users: ['ann'] }))).toBe('NOT_OWNER')
      expect(await code(chat.group('owner', { conv: g.id, op: 'leave' }))).toBe('OWNER_CANNOT_LEAVE')
      expect(await code(chat.group('adm', { conv: g.id, op: 'add', users: ['nobody'] }))).toBe('USER_NOT_FOUND')
      const added = await chat.group('adm', { conv: g.id, op: 'add', users: ['bob', 'cat'] })
      expect(added).toMatchObject({ seq: 2, body: { op: 'add', users: ['bob', 'cat'] } })
      await chat.group('owner', { conv: g.id, op: 'admin', users: ['bob'] })
      expect(await code(chat.group('adm', { conv: g.id, op: 'remove', users: ['bob'] }))).toBe('NOT_ADMIN')
      expect(await chat.group('adm', { conv: g.id, op: 'remove', users: ['cat'] })).toMatchObject({ seq: 4, body: { op: 'remove', users: ['cat'] } })
      expect(await chat.group('ann', { conv: g.id, op: 'leave' })).toMatchObject({ seq: 5, body: { op: 'leave' } })
      expect(await chat.group('owner', { conv: g.id, op: 'rename', title: 'crew' })).toMatchObject({ seq: 6, body: { op: 'rename', title: 'crew' } })
      expect(await chat.group('owner', { conv: g.id, op: 'transfer', users: ['adm'] })).toMatchObject({ seq: 7 })
      const page1 = await chat.members('owner', g.id, 0, 2)
      expect(page1).toEqual({ items: [{ user: { id: 'adm', name: 'adm' }, role: 'owner' }, { user: { id: 'bob', name: 'bob' }, role: 'admin' }], next: 2 })
      expect(await chat.members('owner', g.id, 2, 2)).toEqual({ items: [{ user: { id: 'owner', name: 'owner' }, role: 'member' }] })
      const [listed] = await chat.list('bob')
      expect(listed).toMatchObject({ title: 'crew', owner: 'adm', admins: ['bob'], joinedSeq: 1 })
      expect(await chat.list('ann')).toEqual([])
      expect(await code(chat.send('cat', text(g.id, 'cat-00001', 'still here?')))).toBe('NOT_MEMBER')
      expect(await code(chat.group('adm', { conv: 'd:ann:bob', op: 'rename', title: 'x' }))).toBe('NOT_MEMBER')
      expect(await chat.group('adm', { conv: g.id, op: 'dissolve' })).toMatchObject({ seq: 8, body: { op: 'dissolve' } })
      expect(await code(chat.send('bob', text(g.id, 'bob-00001', 'hello?')))).toBe('NOT_MEMBER')
    })

    it('over maxGroupMembers is GROUP_FULL; a 1:1 is NOT_GROUP', async () => {
      const { chat, engine } = await start(name)
      const many = Array.from({ length: LIMITS.maxGroupMembers - 1 }, (_, i) => `u${i}`)
      for (let i = 0; i < many.length; i += 100) await Promise.all(many.slice(i, i + 100).map((id) => engine.users.upsert({ id, name: id })))
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: many })
      expect(await code(chat.group('owner', { conv: g.id, op: 'add', users: ['bob'] }))).toBe('GROUP_FULL')
      await chat.send('ann', text('d:ann:bob', 'ann-00001', 'hi'))
      expect(await code(chat.group('ann', { conv: 'd:ann:bob', op: 'rename', title: 'x' }))).toBe('NOT_GROUP')
    }, 120_000)

    it('a large group\'s fan-out, kept from one message to the next, follows devices added and removed, a device closed, a new member', async () => {
      const { chat, held, engine, delivery } = await start(name)
      // More than FANOUT_KEPT_MIN (32) members: the fan-out is worked out once and kept.
      const many = Array.from({ length: 40 }, (_, i) => `l${i}`)
      await Promise.all(many.map((id) => engine.users.upsert({ id, name: id })))
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: many })
      const first = held.add(new RecordingOutlet('l1'))
      await chat.send('owner', text(g.id, 'own-00001', 'one'))
      const second = held.add(new RecordingOutlet('l2'))
      const another = held.add(new RecordingOutlet('l1'))
      await chat.send('owner', text(g.id, 'own-00002', 'two'))
      held.remove(first)
      // Closed but not counted out yet: it misses the message, which is queued for its user.
      second.open = false
      await chat.send('owner', text(g.id, 'own-00003', 'three'))
      const bobOut = held.add(new RecordingOutlet('bob'))
      await chat.group('owner', { conv: g.id, op: 'add', users: ['bob'] })
      await chat.send('owner', text(g.id, 'own-00005', 'five'))
      await delivery.settle()
      expect(first.msgs().map((m) => m.seq)).toEqual([1, 2])
      expect(another.msgs().map((m) => m.seq)).toEqual([2, 3, 4, 5])
      expect(second.msgs().map((m) => m.seq)).toEqual([2])
      expect(bobOut.msgs().map((m) => m.seq)).toEqual([4, 5])
      expect((await engine.queue.read('l2', 10)).map((e) => e.seq)).toEqual([1, 3, 4, 5])
      // l1 had a device at every message: nothing queued.
      expect(await engine.queue.read('l1', 10)).toEqual([])
    })

    it('moderation takes a title back while the group still shows it: untitled, a rename by moderation to every member; renamed meanwhile, nothing', async () => {
      const { chat, engine, held } = await start(name)
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: ['ann', 'bob'], title: 'shady' })
      const bobOut = held.add(new RecordingOutlet('bob'))
      expect(await chat.withdrawTitle(g.id, 'something else', 'owner')).toBe(false)
      expect(await chat.withdrawTitle(g.id, 'shady', 'owner')).toBe(true)
      expect(bobOut.msgs()).toEqual([expect.objectContaining({ seq: 1, kind: 'system', from: 'owner', body: { op: 'rename', by: 'moderation' } })])
      expect((await engine.convs.get(g.id))?.title).toBeUndefined()
      const [listed] = await chat.list('ann')
      expect(listed).not.toHaveProperty('title')
      // Taken back once: the group no longer shows it.
      expect(await chat.withdrawTitle(g.id, 'shady', 'owner')).toBe(false)
      await chat.group('owner', { conv: g.id, op: 'rename', title: 'fine' })
      expect(await chat.withdrawTitle(g.id, 'shady', 'owner')).toBe(false)
      expect((await engine.convs.get(g.id))?.title).toBe('fine')
      expect(bobOut.msgs().map((m) => m.body)).toEqual([{ op: 'rename', by: 'moderation' }, { op: 'rename', title: 'fine' }])
    })

    it('a new member reads from the seq at which they joined; a removed member gets the removal and nothing after', async () => {
      const { chat, held } = await start(name)
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: ['ann', 'bob'] })
      await chat.send('ann', text(g.id, 'ann-00001', 'before dan'))
      const bobOut = held.add(new RecordingOutlet('bob'))
      const danOut = held.add(new RecordingOutlet('dan'))
      await chat.group('owner', { conv: g.id, op: 'add', users: ['dan'] })
      expect(danOut.frames.map((f) => f.type)).toEqual(['conv', 'msg'])
      // Unread: only the message that added them.
      expect(danOut.frames[0]).toMatchObject({ conv: { id: g.id, joinedSeq: 1, lastSeq: 2, readSeq: 1, unread: 1 } })
      await chat.send('ann', text(g.id, 'ann-00002', 'welcome dan'))
      expect(danOut.msgs().map((m) => m.seq)).toEqual([2, 3])
      const page = await chat.history('dan', { conv: g.id })
      expect(page.msgs.map((m) => (JSON.parse(m) as { seq: number }).seq)).toEqual([2, 3])
      expect(page.more).toBe(false)
      expect(await code(chat.history('dan', { conv: g.id, before: 2 }))).toBe('SEQ_RANGE_INVALID')
      const syncOut = new RecordingOutlet('dan')
      await chat.sync('dan', 'r1', [{ conv: g.id, seq: 0 }], syncOut)
      expect(syncOut.msgs().map((m) => m.seq)).toEqual([2, 3])

      const removal = await chat.group('owner', { conv: g.id, op: 'remove', users: ['bob'] })
      expect(removal.seq).toBe(4)
      await chat.send('ann', text(g.id, 'ann-00003', 'bob is gone'))
      expect(bobOut.msgs().map((m) => [m.seq, m.kind])).toEqual([
        [2, 'system'],
        [3, 'text'],
        [4, 'system'],
      ])
      expect(await code(chat.history('bob', { conv: g.id }))).toBe('NOT_MEMBER')
      // His devices still hold the group's cursor: the sync gives it the change that ended his
      // membership (a device away at the time learns why), nothing else of it, and goes on with the rest.
      await chat.send('bob', text('d:ann:bob', 'bob-00001', 'direct'))
      const bobSync = new RecordingOutlet('bob')
      await chat.sync('bob', 'r2', [{ conv: g.id, seq: 1 }, { conv: 'd:ann:bob', seq: 0 }], bobSync)
      expect(bobSync.frames.filter((f) => f.type === 'messages').map((f) => [f.conv, (f.msgs as Array<{ seq: number }>).map((m) => m.seq)])).toEqual([
        ['d:ann:bob', [1]],
        [g.id, [4]],
      ])
      expect(bobSync.msgs().find((m) => m.seq === 4)).toMatchObject({ kind: 'system', body: { op: 'remove', users: ['bob'] } })
      expect(JSON.stringify(bobSync.frames)).not.toContain('bob is gone')
      // A device that got the removal already gets nothing of the group.
      const bobHeld = new RecordingOutlet('bob')
      await chat.sync('bob', 'r2b', [{ conv: g.id, seq: 4 }], bobHeld)
      expect(bobHeld.frames.filter((f) => f.type === 'messages' && f.conv === g.id)).toEqual([])
      // Others' removals are not his: ann's cursor names no change of hers.
      await chat.group('owner', { conv: g.id, op: 'remove', users: ['dan'] })
      const danSync = new RecordingOutlet('dan')
      await chat.sync('dan', 'r2c', [{ conv: g.id, seq: 3 }], danSync)
      expect(danSync.msgs().map((m) => [m.seq, m.body.op, m.body.users])).toEqual([[6, 'remove', ['dan']]])
      // A later dissolve is not told to those removed before it, only to members at the time.
      await chat.group('owner', { conv: g.id, op: 'dissolve' })
      const bobLater = new RecordingOutlet('bob')
      await chat.sync('bob', 'r2d', [{ conv: g.id, seq: 4 }], bobLater)
      expect(bobLater.frames.filter((f) => f.type === 'messages' && f.conv === g.id)).toEqual([])
      const annSync = new RecordingOutlet('ann')
      await chat.sync('ann', 'r2e', [{ conv: g.id, seq: 5 }], annSync)
      expect(annSync.msgs().filter((m) => m.seq === 7 || m.kind === 'system')).toMatchObject([{ seq: 7, body: { op: 'dissolve' } }])
      expect(annSync.frames.filter((f) => f.type === 'messages' && f.conv === g.id)).toHaveLength(1)
      expect(bobSync.frames.at(-1)).toMatchObject({ type: 'sync.done', rid: 'r2' })
      expect(await code(chat.sync('bob', 'r3', [{ conv: 'g:neverexisted', seq: 0 }], new RecordingOutlet('bob')))).toBe('NOT_MEMBER')
    })

    it('the per-user summary follows membership: an added member gets the group, a removed or leaving one loses it, one added again sees it anew', async () => {
      const { chat, engine } = await start(name)
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: ['ann', 'bob'] })
      await chat.send('ann', text(g.id, 'ann-00001', 'hi'))
      const summaryOf = async (u: string) => (await engine.convs.overview(u)).map((s) => [s.conv, s.lastSeq])
      await chat.group('owner', { conv: g.id, op: 'add', users: ['dan'] })
      expect(await summaryOf('dan')).toEqual([[g.id, 2]])
      await chat.group('owner', { conv: g.id, op: 'remove', users: ['dan'] })
      await chat.group('bob', { conv: g.id, op: 'leave' })
      expect(await summaryOf('dan')).toEqual([])
      expect(await summaryOf('bob')).toEqual([])
      expect(await summaryOf('ann')).toEqual([[g.id, 4]])
      await chat.group('owner', { conv: g.id, op: 'add', users: ['dan'] })
      expect(await summaryOf('dan')).toEqual([[g.id, 5]])
      const [back] = await chat.list('dan')
      expect(back).toMatchObject({ id: g.id, lastSeq: 5, joinedSeq: 4, readSeq: 4, unread: 1 })
      expect(await chat.list('bob')).toEqual([])
    })

    it('a change survives a restart of the engine', async () => {
      const { chat, setup } = await start(name)
      if (!setup?.reopen) return
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: ['ann', 'bob'] })
      await chat.group('owner', { conv: g.id, op: 'admin', users: ['ann'] })
      await chat.group('ann', { conv: g.id, op: 'remove', users: ['bob'] })
      await chat.group('owner', { conv: g.id, op: 'add', users: ['dan'] })
      const again = await start(name, await setup.reopen())
      const [seen] = await again.chat.list('dan')
      expect(seen).toMatchObject({ id: g.id, owner: 'owner', admins: ['ann'], joinedSeq: 2 })
      expect(seen!.members.map((m) => m.id)).toEqual(['owner', 'ann', 'dan'])
      expect(await again.chat.list('bob')).toEqual([])
    })
  })
}

describe('groups across nodes', () => {
  it('a removal on one node is seen at once by another that cached the group: the removed member is refused there and gets nothing after the removal', async () => {
    const prefix = randomPrefix()
    const open = (node: string) => createRedisEngine({ ...OPTIONS, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node })
    const e1 = await open('n1')
    const e2 = await open('n2')
    cleanups.push(async () => {
      await Promise.all([e1.close(), e2.close()])
      await dropPrefix(prefix)
    })
    const one = await start('', e1)
    const two = await start('', e2, 'n2')
    // Node 2 holds bob's device (subscribed to his channel, as the gateway does at connect).
    const bobOut = two.held.add(new RecordingOutlet('bob'))
    await e2.bus.subscribe('bob')
    const g = await one.chat.create(await one.chat.profile('owner'), { kind: 'group', members: ['ann', 'bob'] })
    // Node 2 caches the group: bob sends through it.
    await two.chat.send('bob', text(g.id, 'bob-00001', 'hi from node 2'))
    let dropped!: () => void
    const seen = new Promise<void>((resolve) => (dropped = resolve))
    const delivery2 = (two.chat as unknown as { delivery: Delivery }).delivery
    delivery2.onConvChanged = (conv) => {
      two.chat.forget(conv)
      if (conv === g.id) dropped()
    }
    const removal = await one.chat.group('owner', { conv: g.id, op: 'remove', users: ['bob'] })
    await seen
    expect(await code(two.chat.send('bob', text(g.id, 'bob-00002', 'still here?')))).toBe('NOT_MEMBER')
    await one.chat.send('ann', text(g.id, 'ann-00001', 'after bob'))
    // Node 1 holds no device of bob: every publish for him went over the bus. One Redis delivers
    // one publisher's messages to one subscriber in order, so a marker published after them all
    // arrives after whatever of them node 2 was going to get.
    await (one.chat as unknown as { delivery: Delivery }).delivery.settle()
    let marked!: () => void
    const marker = new Promise<void>((resolve) => (marked = resolve))
    const frame = delivery2.onConvChanged
    delivery2.onConvChanged = (conv) => (conv === 'marker' ? marked() : frame?.(conv))
    await e1.bus.publish('*groups', 'n1|c|marker')
    await marker
    // The removal crossed the bus to bob's device on node 2; what came after did not.
    expect(bobOut.msgs().map((m) => [m.seq, m.kind])).toEqual([
      [1, 'text'],
      [removal.seq, 'system'],
    ])
  })
})
