/**
 * The Redis engine over the MySQL archive: the persister, the bounded window, a dead persister's
 * batch taken over, MySQL lost under load. Real Redis (own key prefix) and real MariaDB (own
 * database) per test.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { openArchive } from '../../src/archive/archive'
import type { Archive } from '../../src/archive/archive'
import { createRedisEngine } from '../../src/store/redis'
import type { AppendInput, Engine } from '../../src/store/types'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { createTestDatabase } from '../support/mysql'
import type { TestDatabase } from '../support/mysql'
import { TcpProxy } from '../support/tcp-proxy'
import { waitFor } from '../support/wait'
import type { Message } from '@chat/shared'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Setup {
  engine: Engine
  archive: Archive
  db: TestDatabase
  prefix: string
  r: Redis
}

async function setup(over: { window?: number; trimEvery?: number; backlogMax?: number; backlogCheckMs?: number; claimIdleMs?: number; url?: string; db?: TestDatabase; prefix?: string } = {}): Promise<Setup> {
  const prefix = over.prefix ?? randomPrefix()
  const db = over.db ?? (await createTestDatabase())
  if (!over.db) cleanups.push(() => db.drop())
  if (!over.prefix) cleanups.push(() => dropPrefix(prefix))
  const r = new Redis(REDIS_URL)
  cleanups.push(async () => r.disconnect())
  // A second archive handle for the test's own reads (the engine closes its own).
  const archive = await openArchive({ url: db.url, poolSize: 1 })
  cleanups.push(() => archive.close())
  const engine = await createRedisEngine({
    queueMaxLength: 100,
    queueRetentionMs: 60_000,
    url: REDIS_URL,
    clusterNodes: [],
    prefix,
    commandTimeoutMs: 2000,
    connectTimeoutMs: 5000,
    node: `n${Math.random().toString(36).slice(2)}`,
    archive: {
      archive: await openArchive({ url: over.url ?? db.url, poolSize: 2 }),
      windowMessages: over.window ?? 5,
      backlogMax: over.backlogMax ?? 1000,
      ...(over.trimEvery ? { trimEvery: over.trimEvery } : {}),
      ...(over.backlogCheckMs !== undefined ? { backlogCheckMs: over.backlogCheckMs } : {}),
      batchMax: 100,
      claimIdleMs: over.claimIdleMs ?? 30_000,
    },
  })
  cleanups.push(() => engine.close())
  return { engine, archive, db, prefix, r }
}

let n = 0
const input = (conv: string, from: string, text: string): AppendInput => ({
  conv,
  from,
  cid: `cid-ra-${++n}-xx`,
  mid: `m${n}`,
  ts: 1_700_000_000_000 + n,
  kind: 'text',
  body: { text },
  dedupWindowMs: 60_000,
})

async function archivedCount(archive: Archive, conv: string): Promise<number> {
  const row = await archive.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('conv', '=', conv).executeTakeFirstOrThrow()
  return Number(row.n)
}

describe('redis engine over the archive', () => {
  it('moves every message to the archive, trims the window to its bound, and reads across it in order', async () => {
    const { engine, archive, prefix, r } = await setup({ window: 5 })
    const conv = 'd:ann:bob'
    await engine.convs.create({ id: conv, kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
    const all: string[] = []
    for (let i = 1; i <= 40; i++) all.push((await engine.messages.append(input(conv, i % 4 === 0 ? 'bob' : 'ann', `m${i}`))).json)
    await waitFor(async () => (await archivedCount(archive, conv)) === 40 && (await r.zcard(`${prefix}{c:${conv}}:m`)) === 5, 10_000)
    // Redis holds the newest 5 and an empty stream with nothing pending; the archive holds all 40.
    expect(await r.zrange(`${prefix}{c:${conv}}:m`, 0, -1)).toEqual(all.slice(35))
    await waitFor(async () => (await r.xlen(`${prefix}archive`)) === 0)
    expect(((await r.xpending(`${prefix}archive`, 'archivers')) as [number])[0]).toBe(0)
    expect(await archive.after(conv, 0, 100)).toEqual(all)
    // Reads cross the window's edge: same answers as if everything were in Redis.
    expect(await engine.messages.after(conv, 0, 100)).toEqual(all)
    expect(await engine.messages.after(conv, 30, 8)).toEqual(all.slice(30, 38))
    expect(await engine.messages.before(conv, undefined, 10)).toEqual(all.slice(30))
    expect(await engine.messages.before(conv, 20, 7)).toEqual(all.slice(12, 19))
    const pages: string[] = []
    for (let before: number | undefined; ; ) {
      const page = await engine.messages.before(conv, before, 7)
      if (page.length === 0) break
      pages.unshift(...page)
      before = (JSON.parse(page[0]!) as Message).seq
    }
    expect(pages).toEqual(all)
    // The senders' read marks went with their messages.
    expect((await archive.convState(conv)).reads).toEqual(new Map([['ann', 39], ['bob', 40]]))
    // A retry of a message that left the window is still recognised, from the archive.
    const first = input(conv, 'ann', 'again')
    const stored = await engine.messages.append(first)
    await waitFor(async () => (await r.zcard(`${prefix}{c:${conv}}:m`)) === 5 && (await archivedCount(archive, conv)) === 41)
    for (let i = 0; i < 6; i++) await engine.messages.append(input(conv, 'bob', `push ${i}`))
    await waitFor(async () => (await archivedCount(archive, conv)) === 47 && (await r.zscore(`${prefix}{c:${conv}}:m`, stored.json)) === null)
    expect(await engine.messages.append({ ...first, mid: 'other' })).toEqual({ ...stored, dup: true })
  })

  it('trims a window once per trimEvery of its messages: never above the window plus trimEvery - 1', async () => {
    const { engine, archive, prefix, r } = await setup({ window: 5, trimEvery: 4 })
    const conv = 'd:ann:bob'
    const key = `${prefix}{c:${conv}}:m`
    await engine.convs.create({ id: conv, kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
    const all: string[] = []
    const send = async (upTo: number) => {
      while (all.length < upTo) all.push((await engine.messages.append(input(conv, 'ann', `m${all.length + 1}`))).json)
      await waitFor(async () => (await archivedCount(archive, conv)) === upTo && (await r.xlen(`${prefix}archive`)) === 0, 10_000)
    }
    // Seq 40 is a multiple of 4: its batch (the last) trims to the newest 5.
    await send(40)
    expect(await r.zrange(key, 0, -1)).toEqual(all.slice(35))
    // 41-43: no multiple of 4, no trim; the window grows to 5 + 3.
    await send(43)
    expect(await r.zcard(key)).toBe(8)
    // 44 trims again, to the newest 5.
    await send(44)
    expect(await r.zrange(key, 0, -1)).toEqual(all.slice(39))
    expect(await engine.messages.after(conv, 0, 100)).toEqual(all)
  })

  it('takes over a batch a dead persister left pending, and stores each message once', async () => {
    const prefix = randomPrefix()
    cleanups.push(() => dropPrefix(prefix))
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const stream = `${prefix}archive`
    const r = new Redis(REDIS_URL)
    cleanups.push(async () => r.disconnect())
    const conv = 'g:crash'
    const json = (seq: number) => `{"mid":"k${seq}","cid":"cid-crash-${seq}","conv":"${conv}","seq":${seq},"from":"ann","ts":${seq},"kind":"text","body":{"text":"t${seq}"}}`
    await r.xgroup('CREATE', stream, 'archivers', '0', 'MKSTREAM')
    for (let s = 1; s <= 6; s++) await r.xadd(stream, '*', 'j', json(s))
    // A persister read the batch, wrote half of it and died before XACK.
    await r.xreadgroup('GROUP', 'archivers', 'dead', 'COUNT', 6, 'STREAMS', stream, '>')
    const early = await openArchive({ url: db.url })
    await early.insertMessages([1, 2, 3].map((seq) => ({ conv, seq, sender: 'ann', cid: `cid-crash-${seq}`, ts: seq, json: json(seq) })))
    await early.close()

    const { archive } = await setup({ db, prefix, claimIdleMs: 200 })
    await waitFor(async () => (await r.xlen(stream)) === 0, 10_000)
    expect(await archive.after(conv, 0, 100)).toEqual([1, 2, 3, 4, 5, 6].map(json))
    expect(await archivedCount(archive, conv)).toBe(6)
    expect(((await r.xpending(stream, 'archivers')) as [number])[0]).toBe(0)
  })

  it('keeps acking while MySQL is away (durably buffered, bounded), says so, and catches up when it returns', async () => {
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const proxy = new TcpProxy('127.0.0.1', 3306)
    await proxy.start()
    cleanups.push(() => proxy.cut())
    const viaProxy = db.url.replace('127.0.0.1:3306', `127.0.0.1:${proxy.port}`)
    const { engine, archive, prefix, r } = await setup({ db, url: viaProxy, backlogMax: 25, backlogCheckMs: 0 })
    const conv = 'd:ann:bob'
    await engine.convs.create({ id: conv, kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
    await engine.messages.append(input(conv, 'ann', 'before'))
    // Persisted means written and then taken out of the stream: the backlog below counts from zero.
    await waitFor(async () => (await archivedCount(archive, conv)) === 1 && (await r.xlen(`${prefix}archive`)) === 0)

    await proxy.cut()
    for (let i = 2; i <= 26; i++) expect((await engine.messages.append(input(conv, 'ann', `m${i}`))).msg.seq).toBe(i)
    await waitFor(async () => ((await engine.status!()) as { archive: { ok: boolean } }).archive.ok === false, 10_000)
    expect(await engine.status!()).toMatchObject({ archive: { ok: false, backlog: 25 } })
    // At the bound: sends are refused as temporary, and the instance is not ready.
    await expect(engine.messages.append(input(conv, 'ann', 'one too many'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    await expect(engine.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    // Reads inside the window still work.
    expect((await engine.messages.before(conv, undefined, 5)).map((j) => (JSON.parse(j) as Message).seq)).toEqual([22, 23, 24, 25, 26])

    await proxy.restore()
    await waitFor(async () => (await archivedCount(archive, conv)) === 26 && (await r.xlen(`${prefix}archive`)) === 0, 15_000)
    expect((await archive.after(conv, 0, 100)).map((j) => (JSON.parse(j) as Message).seq)).toEqual(Array.from({ length: 26 }, (_, i) => i + 1))
    await waitFor(async () => ((await engine.status!()) as { archive: { ok: boolean } }).archive.ok)
    await engine.ping()
    expect((await engine.messages.append(input(conv, 'ann', 'after'))).msg.seq).toBe(27)
  })
})
