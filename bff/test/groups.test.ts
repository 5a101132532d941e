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
import type { Outlet, Outlets } from '../src/chat/outlet'
import type { SentSeqs } from '../src/chat/sent-seqs'
import { ChatService } from '../src/chat/service'
import { Metrics } from '../src/ops/metrics'
import { createMemoryEngine, openMemoryEngine } from '../src/store/memory'
import { createRedisEngine } from '../src/store/redis'
import type { Engine } from '../src/store/types'
import { REDIS_URL, dropPrefix, randomPrefix } from './support/server'

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
  reply(data: Buffer | string, _type: ServerFrameType): boolean {
    return this.write(data)
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

class Held implements Outlets {
  readonly byUser = new Map<string, RecordingOutlet[]>()
  add(o: RecordingOutlet): RecordingOutlet {
    this.byUser.set(o.user, [...(this.byUser.get(o.user) ?? []), o])
    return o
  }
  of(user: string) {
    return this.byUser.get(user)
  }
  has(user: string) {
    return this.byUser.has(user)
  }
  users() {
    return this.byUser.keys()
  }
}

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
  redis: async () => {
    const prefix = randomPrefix()
    const open = () => createRedisEngine({ ...OPTIONS, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
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
        await dropPrefix(prefix)
      },
    }
  },
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function start(name: string, engine?: Engine) {
  const setup = engine ? undefined : await engines[name]!()
  const e = engine ?? setup!.engine
  const held = new Held()
  const delivery = new Delivery('n1', held, e.bus, e.queue, new Metrics(), pino({ level: 'silent' }))
  const chat = new ChatService(e, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1 << 20 })
  if (setup) cleanups.push(setup.cleanup)
  cleanups.push(() => delivery.settle())
  for (const id of ['owner', 'adm', 'ann', 'bob', 'cat', 'dan']) await e.users.upsert({ id, name: id })
  return { engine: e, setup, held, chat }
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
      for (const id of many) await engine.users.upsert({ id, name: id })
      const g = await chat.create(await chat.profile('owner'), { kind: 'group', members: many })
      expect(await code(chat.group('owner', { conv: g.id, op: 'add', users: ['bob'] }))).toBe('GROUP_FULL')
      await chat.send('ann', text('d:ann:bob', 'ann-00001', 'hi'))
      expect(await code(chat.group('ann', { conv: 'd:ann:bob', op: 'rename', title: 'x' }))).toBe('NOT_GROUP')
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
      expect(page.msgs.map((m) => JSON.parse(m).seq)).toEqual([2, 3])
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
      expect(await code(chat.sync('bob', 'r2', [{ conv: g.id, seq: 3 }], new RecordingOutlet('bob')))).toBe('NOT_MEMBER')
      const bobSync = new RecordingOutlet('bob')
      await chat.sync('bob', 'r3', [], bobSync)
      expect(bobSync.msgs()).toEqual([])
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
