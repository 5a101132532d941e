/**
 * The persister's own mechanics against a real Redis, with an archive fake that commits each write
 * only when the test says so (the other side played step by step): batches written in parallel are
 * finished in the order they were read, and consumers of dead persisters are forgotten only when
 * they hold nothing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import type { Archive, ArchivedMessage } from '../../src/archive/archive'
import { Persister } from '../../src/store/redis-persister'
import type { BatchStats } from '../../src/store/redis-persister'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { waitFor } from '../support/wait'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** An archive whose writes stay open until `commit(i)`: the i-th write asked, 0-based. */
function heldArchive() {
  const writes: { rows: readonly ArchivedMessage[]; commit: () => void }[] = []
  const archive = {
    write: (rows: readonly ArchivedMessage[]) => new Promise<void>((resolve) => writes.push({ rows, commit: resolve })),
  } as unknown as Archive
  return { archive, writes }
}

const json = (conv: string, seq: number) => JSON.stringify({ mid: `m${seq}`, cid: `c${seq}`, conv, seq, from: 'ann', ts: seq, kind: 'text', body: { text: `t${seq}` } })

async function setup(archive: Archive, over: { batchMax?: number; claimIdleMs?: number; trimEvery?: number } = {}) {
  const prefix = randomPrefix()
  cleanups.push(() => dropPrefix(prefix))
  const r = new Redis(REDIS_URL)
  const blocking = new Redis(REDIS_URL)
  cleanups.push(async () => r.disconnect())
  const stream = `${prefix}archive`
  const batches: BatchStats[] = []
  const trims: [string, number][] = []
  const persister = new Persister(blocking, r, archive, {
    stream,
    group: 'archivers',
    consumer: 'live',
    batchMax: over.batchMax ?? 3,
    claimIdleMs: over.claimIdleMs ?? 30_000,
    windowMessages: 1,
    trimEvery: over.trimEvery ?? 1,
    writesInFlight: 2,
    // The trim as a plain command in the same MULTI: what matters here is when it runs.
    trim: (tx, conv, seq) => {
      trims.push([conv, seq])
      tx.set(`${prefix}trimmed:${conv}`, seq)
    },
    onBatch: (b) => batches.push(b),
  })
  cleanups.push(() => persister.stop())
  return { r, stream, prefix, persister, batches, trims }
}

describe('persister', () => {
  it('writes the next batch while one is being written, and finishes them in the order read', async () => {
    const { archive, writes } = heldArchive()
    const { r, stream, prefix, persister, batches, trims } = await setup(archive)
    await r.xgroup('CREATE', stream, 'archivers', '0', 'MKSTREAM')
    for (let seq = 1; seq <= 4; seq++) await r.xadd(stream, '*', 'j', json('d:ann:bob', seq))
    persister.start()

    // Two transactions at once: seqs 1-3 (batchMax), then 4.
    await waitFor(() => writes.length === 2)
    expect(writes.map((w) => w.rows.map((m) => m.seq))).toEqual([[1, 2, 3], [4]])
    // The later batch commits first: it is not acked, nor its window trimmed, before the earlier one.
    writes[1]!.commit()
    // The persister's commands share this connection: by the second PING's reply, whatever the
    // commit set off (its callbacks ran before the second PING was sent) has been answered.
    await r.ping()
    await r.ping()
    expect(await r.xlen(stream)).toBe(4)
    expect(batches).toEqual([])
    expect(await r.get(`${prefix}trimmed:d:ann:bob`)).toBeNull()
    writes[0]!.commit()
    await waitFor(async () => (await r.xlen(stream)) === 0)
    expect(batches.map((b) => b.count)).toEqual([3, 1])
    expect(trims).toEqual([
      ['d:ann:bob', 3],
      ['d:ann:bob', 4],
    ])
    expect(await r.get(`${prefix}trimmed:d:ann:bob`)).toBe('4')
    expect(((await r.xpending(stream, 'archivers')) as [number])[0]).toBe(0)
  })

  it('trims a conversation only in the batch holding one of its seqs divisible by trimEvery, up to the batch\'s top seq', async () => {
    const { archive, writes } = heldArchive()
    const { r, stream, persister, trims } = await setup(archive, { trimEvery: 4 })
    await r.xgroup('CREATE', stream, 'archivers', '0', 'MKSTREAM')
    // Batches of 3 (batchMax): [a1 a2 b1] [a3 a4 b2] [a5 b3 b4] [a6 a7 a8] [b5].
    const order: [string, number][] = [['a', 1], ['a', 2], ['b', 1], ['a', 3], ['a', 4], ['b', 2], ['a', 5], ['b', 3], ['b', 4], ['a', 6], ['a', 7], ['a', 8], ['b', 5]]
    for (const [c, seq] of order) await r.xadd(stream, '*', 'j', json(`g:${c}`, seq))
    persister.start()
    for (let i = 0; i < 5; i++) {
      await waitFor(() => writes.length > i)
      writes[i]!.commit()
    }
    await waitFor(async () => (await r.xlen(stream)) === 0)
    // a4 in the second batch, b4 in the third, a8 in the fourth; the first and the last batch trim nothing.
    expect(trims).toEqual([
      ['g:a', 4],
      ['g:b', 4],
      ['g:a', 8],
    ])
  })

  it('never trims a window past a message another persister is still writing', async () => {
    const { archive, writes } = heldArchive()
    const { r, stream, persister, trims } = await setup(archive, { batchMax: 10 })
    await r.xgroup('CREATE', stream, 'archivers', '0', 'MKSTREAM')
    // Another persister read g:a's seq 1 and is still writing it.
    const held = await r.xadd(stream, '*', 'j', json('g:a', 1))
    await r.xreadgroup('GROUP', 'archivers', 'other', 'COUNT', 1, 'STREAMS', stream, '>')
    for (const [c, seq] of [['g:a', 2], ['g:a', 3], ['g:b', 1], ['g:b', 2]] as const) await r.xadd(stream, '*', 'j', json(c, seq))
    persister.start()
    await waitFor(() => writes.length === 1)
    writes[0]!.commit()
    await waitFor(async () => (await r.xlen(stream)) === 1)
    // g:b up to its top; g:a not at all (below seq 1 there is nothing).
    expect(trims).toEqual([['g:b', 2]])
    // The other persister finishes; the next batch of g:a trims up to its top.
    await r.xack(stream, 'archivers', held!)
    await r.xdel(stream, held!)
    await r.xadd(stream, '*', 'j', json('g:a', 4))
    await waitFor(() => writes.length === 2)
    writes[1]!.commit()
    await waitFor(async () => (await r.xlen(stream)) === 0)
    expect(trims).toEqual([
      ['g:b', 2],
      ['g:a', 4],
    ])
  })

  it('makes its group again when Redis lost the stream, and persists what is added after', async () => {
    const { archive, writes } = heldArchive()
    const { r, stream, persister } = await setup(archive)
    persister.start()
    await r.xadd(stream, '*', 'j', json('d:ann:bob', 1))
    await waitFor(() => writes.length === 1)
    writes[0]!.commit()
    await waitFor(async () => (await r.xlen(stream)) === 0)
    // Redis loses everything (the stream and its consumer group with it).
    await r.del(stream)
    await r.xadd(stream, '*', 'j', json('d:ann:bob', 2))
    await waitFor(() => writes.length === 2, 10_000)
    expect(writes[1]!.rows.map((m) => m.seq)).toEqual([2])
    writes[1]!.commit()
    await waitFor(async () => (await r.xlen(stream)) === 0)
  })

  it('forgets consumers of dead persisters that hold nothing, and keeps one holding a batch', async () => {
    const { archive } = heldArchive()
    const { r, stream, persister } = await setup(archive, { claimIdleMs: 20 })
    await r.xgroup('CREATE', stream, 'archivers', '0', 'MKSTREAM')
    await r.xadd(stream, '*', 'j', json('d:ann:bob', 1))
    await r.xadd(stream, '*', 'j', json('d:ann:bob', 2))
    // One dead persister acked everything it read; the other died holding a batch.
    const read = (await r.xreadgroup('GROUP', 'archivers', 'done', 'COUNT', 1, 'STREAMS', stream, '>')) as [string, [string, string[]][]][]
    await r.xack(stream, 'archivers', read[0]![1][0]![0])
    await r.xreadgroup('GROUP', 'archivers', 'holding', 'COUNT', 1, 'STREAMS', stream, '>')
    const consumers = async () => ((await r.xinfo('CONSUMERS', stream, 'archivers')) as string[][]).map((c) => [c[1], Number(c[3])])
    expect(await consumers()).toEqual([
      ['done', 0],
      ['holding', 1],
    ])
    // Idle past 10 x claimIdleMs (200 ms) both.
    await waitFor(async () => ((await r.xinfo('CONSUMERS', stream, 'archivers')) as (string | number)[][]).every((c) => Number(c[5]) > 200))
    expect(await persister.forgetDead()).toBe(1)
    expect(await consumers()).toEqual([['holding', 1]])
  })
})
