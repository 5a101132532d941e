import { describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { SUMMARIES_IN_SCRIPT_MAX, createRedisEngine } from '../../src/store/redis'
import type { EngineOptions } from '../../src/store/types'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { engineContract } from './contract'
import { openArchive } from '../../src/archive/archive'
import { createTestDatabase } from '../support/mysql'
import { startOwnCluster, startOwnRedis } from '../support/redis-server'

function open(options: EngineOptions, prefix: string, node: string) {
  return createRedisEngine({ ...options, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node })
}

engineContract('redis', async (options) => {
  const prefix = randomPrefix()
  const engine = await open(options, prefix, 'n1')
  const peer = await open(options, prefix, 'n2')
  return {
    engine,
    peer,
    async cleanup() {
      await Promise.all([engine.close(), peer.close()])
      await dropPrefix(prefix)
    },
  }
})

describe('redis engine keys', () => {
  it('keeps a conversation’s keys under one hash tag and a user’s under another (one Cluster slot each)', async () => {
    const prefix = randomPrefix()
    const engine = await open({ queueMaxLength: 10, queueRetentionMs: 60_000 }, prefix, 'n1')
    const r = new Redis(REDIS_URL)
    try {
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
      await engine.messages.append({ conv: 'd:ann:bob', from: 'ann', cid: 'cid-keys-1', mid: 'm1', ts: 1, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000 })
      await engine.convs.markRead('d:ann:bob', 'bob', 1)
      await engine.queue.push('bob', { conv: 'd:ann:bob', seq: 1 })
      const keys = (await r.keys(`${prefix}*`)).sort()
      expect(keys).toEqual(
        [
          `${prefix}{c:d:ann:bob}:d:ann:cid-keys-1`,
          `${prefix}{c:d:ann:bob}:h`,
          `${prefix}{c:d:ann:bob}:m`,
          `${prefix}{u:ann}:c`,
          `${prefix}{u:ann}:s`,
          `${prefix}{u:bob}:c`,
          `${prefix}{u:bob}:q`,
          `${prefix}{u:bob}:s`,
        ].sort(),
      )
      // The dedup entry lives as long as the window and no longer.
      const ttl = await r.pttl(`${prefix}{c:d:ann:bob}:d:ann:cid-keys-1`)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
      // Redis Cluster hashes only what is between the first { and the next }.
      const tag = (k: string) => k.slice(k.indexOf('{') + 1, k.indexOf('}', k.indexOf('{')))
      expect(new Set(keys.filter((k) => k.includes('{c:')).map(tag))).toEqual(new Set(['c:d:ann:bob']))
    } finally {
      r.disconnect()
      await engine.close()
      await dropPrefix(prefix)
    }
  })
})

describe('redis engine append command', () => {
  it('stores text of any script through the encoded command, and loads the script again when Redis lost it', async () => {
    const own = await startOwnRedis()
    const prefix = randomPrefix()
    const engine = await createRedisEngine({ queueMaxLength: 10, queueRetentionMs: 60_000, url: own.url, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
    const r = new Redis(own.url)
    try {
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
      const text = '你好 🎉 "quoted" \\ back'
      const first = await engine.messages.append({ conv: 'd:ann:bob', from: 'ann', cid: 'cid-wire-1', mid: 'm1', ts: 1, kind: 'text', body: { text }, dedupWindowMs: 60_000, members: ['ann', 'bob'] })
      expect(first.msg).toMatchObject({ seq: 1, body: { text } })
      expect(await engine.messages.after('d:ann:bob', 0, 10)).toEqual([first.json])
      // A restarted or flushed Redis has no scripts: NOSCRIPT, then the script is loaded and the message stored once.
      await r.script('FLUSH')
      const second = await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-wire-2', mid: 'm2', ts: 2, kind: 'text', body: { text: 'y' }, dedupWindowMs: 60_000, members: ['ann', 'bob'] })
      expect(second).toMatchObject({ dup: false, msg: { seq: 2, from: 'bob' } })
      const again = await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-wire-2', mid: 'm3', ts: 3, kind: 'text', body: { text: 'y' }, dedupWindowMs: 60_000, members: ['ann', 'bob'] })
      expect(again).toMatchObject({ dup: true, json: second.json })
      expect(await engine.messages.after('d:ann:bob', 0, 10)).toEqual([first.json, second.json])
      expect(await r.hgetall(`${prefix}{u:ann}:s`)).toEqual({ 'l:d:ann:bob': `2 ${second.json}`, 'r:d:ann:bob': '1', 'p:d:ann:bob': '2', 'k:d:ann:bob': '|' })
      expect(await r.hgetall(`${prefix}{u:bob}:s`)).toEqual({ 'l:d:ann:bob': `2 ${second.json}`, 'r:d:ann:bob': '2', 'p:d:ann:bob': '1', 'k:d:ann:bob': '|' })
    } finally {
      r.disconnect()
      await engine.close()
      own.stop()
    }
  })
})

describe('redis engine large group append', () => {
  it('names a large group in its members\' summaries by reference, written before anything the fan-out (`onStored`) asks of Redis, and writes no summary per message', async () => {
    const own = await startOwnRedis()
    const prefix = randomPrefix()
    const engine = await createRedisEngine({ queueMaxLength: 10, queueRetentionMs: 60_000, url: own.url, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
    const r = new Redis(own.url)
    try {
      const members = Array.from({ length: SUMMARIES_IN_SCRIPT_MAX + 1 }, (_, i) => `u${i}`)
      await engine.convs.create({ id: 'g:order', kind: 'group', members, createdAt: 1 })
      const send = async (n: number, from = 'u0') => {
        // What a device routed in the fan-out's turn reads at its welcome: issued after the store's reply.
        let seen: Promise<unknown> | undefined
        const stored = await engine.messages.append(
          { conv: 'g:order', from, cid: `cid-order-${n}`, mid: `m${n}`, ts: n, kind: 'text', body: { text: `t${n}` }, dedupWindowMs: 60_000, members },
          () => void (seen = engine.convs.overview(members.at(-1)!)),
        )
        expect(await seen).toEqual([expect.objectContaining({ conv: 'g:order', lastSeq: n, lastMsg: stored.msg, readSeq: 0 })])
        return stored
      }
      await send(1)
      for (const m of members) expect(await r.hget(`${prefix}{u:${m}}:s`, 'l:g:order')).toBe('*')
      // Later messages write no summary: the append script's one HSET (the conversation's last message and the sender's mark), no more.
      await r.config('RESETSTAT')
      const second = await send(2, 'u1')
      const stats = await r.info('commandstats')
      expect(/cmdstat_hset:calls=(\d+)/.exec(stats)?.[1]).toBe('1')
      expect(stats).not.toMatch(/cmdstat_eval:/)
      expect(await engine.convs.overview('u1')).toEqual([{ conv: 'g:order', lastSeq: 2, lastMsg: second.msg, readSeq: 2, marks: '|', createdAt: 1 }])
      // A summary lost (a Redis that lost it): filled with the reference again, never a seq left behind.
      await r.del(`${prefix}{u:u5}:s`)
      expect(await engine.convs.overview('u5')).toEqual([{ conv: 'g:order', lastSeq: 2, lastMsg: second.msg, readSeq: 0, createdAt: 1 }])
      expect(await r.hget(`${prefix}{u:u5}:s`, 'l:g:order')).toBe('*')
      // One member left and the group is small again: the leaver's message (the remaining members'
      // summaries written after the script, each moved only up) leaves the references as they are.
      const left = members.slice(1)
      await engine.messages.append({ conv: 'g:order', from: 'u0', cid: 'cid-order-left', mid: 'ml', ts: 9, kind: 'system', body: { text: 'left' }, dedupWindowMs: 60_000, members: left })
      expect(await r.hget(`${prefix}{u:u1}:s`, 'l:g:order')).toBe('*')
      expect(await engine.convs.overview('u1')).toEqual([expect.objectContaining({ lastSeq: 3, readSeq: 2 })])
      // The next message's script writes every summary again, over the references and a stale one.
      await r.hset(`${prefix}{u:u7}:s`, 'l:g:order', '1 stale')
      let seen: unknown
      const fourth = await engine.messages.append({ conv: 'g:order', from: 'u1', cid: 'cid-order-4', mid: 'm4', ts: 10, kind: 'text', body: { text: 't4' }, dedupWindowMs: 60_000, members: left }, () => void (seen = engine.convs.overview('u7')))
      expect(await seen).toEqual([expect.objectContaining({ lastSeq: 4, lastMsg: fourth.msg })])
      expect(await r.hget(`${prefix}{u:u7}:s`, 'l:g:order')).toBe(`4 ${fourth.json}`)
    } finally {
      r.disconnect()
      await engine.close()
      own.stop()
    }
  })
})

describe('redis engine kept command parts', () => {
  it('keeps one encoded command per 1:1 sender, as text, and writes its keys byte for byte, multi-byte names included', async () => {
    // A prefix of multi-byte characters: the kept text holds the keys' UTF-8 bytes one per character.
    const prefix = `${randomPrefix()}名é:`
    const engine = await open({ queueMaxLength: 10, queueRetentionMs: 60_000 }, prefix, 'n1')
    const r = new Redis(REDIS_URL)
    try {
      const members = ['ann', 'bob']
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members, createdAt: 1 })
      type Kept = { from: string; keys: unknown; post: unknown }
      const kept = () => (engine.messages as unknown as { convKeys: Map<string, { wire1?: Kept; wire2?: Kept }> }).convKeys.get('d:ann:bob')
      const seen: Kept[] = []
      // Alone in its turn (the single command) and three in one turn (the batch script).
      const send = (from: string, cid: string) => engine.messages.append({ conv: 'd:ann:bob', from, cid, mid: `m-${cid}`, ts: 1, kind: 'text', body: { text: `你好 ${cid}` }, dedupWindowMs: 60_000, members })
      await send('ann', 'own-1')
      seen.push(kept()!.wire1!)
      await Promise.all([send('bob', 'own-2'), send('ann', 'own-3'), send('bob', 'own-4')])
      const k = kept()!
      expect([k.wire1!.from, k.wire2!.from]).toEqual(['ann', 'bob'])
      // Built once per sender, reused by every later message of that sender.
      expect(k.wire1).toBe(seen[0])
      expect([typeof k.wire1!.keys, typeof k.wire1!.post]).toEqual(['string', 'string'])
      const stored = (await engine.messages.after('d:ann:bob', 0, 10)).map((j) => JSON.parse(j) as { seq: number; from: string; body: { text: string } })
      expect(stored.map((m) => [m.seq, m.from, m.body.text])).toEqual([[1, 'ann', '你好 own-1'], [2, 'bob', '你好 own-2'], [3, 'ann', '你好 own-3'], [4, 'bob', '你好 own-4']])
      // The keys the script wrote carry the prefix's bytes exactly: the summaries and dedup keys.
      expect(await r.exists(`${prefix}{u:ann}:s`, `${prefix}{u:bob}:s`, `${prefix}{c:d:ann:bob}:d:bob:own-4`)).toBe(3)
      expect(await r.hget(`${prefix}{u:bob}:s`, 'r:d:ann:bob')).toBe('4')
    } finally {
      r.disconnect()
      await engine.close()
      await dropPrefix(prefix)
    }
  })
})

describe('redis engine append batches', () => {
  const text = (conv: string, from: string, cid: string, members: string[]) => ({ conv, from, cid, mid: `m-${cid}`, ts: 1, kind: 'text' as const, body: { text: cid }, dedupWindowMs: 60_000, members })
  const AB = ['ann', 'bob']
  const CD = ['cat', 'dan']
  const TEAM = ['ann', 'cat', 'eve']

  /** An engine on a Redis of the test's own, whose commands are counted from a reset. */
  async function counted() {
    const own = await startOwnRedis()
    const prefix = randomPrefix()
    const engine = await createRedisEngine({ queueMaxLength: 10, queueRetentionMs: 60_000, url: own.url, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
    const r = new Redis(own.url)
    await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: AB, createdAt: 1 })
    await engine.convs.create({ id: 'd:cat:dan', kind: 'direct', members: CD, createdAt: 1 })
    await engine.convs.create({ id: 'g:team', kind: 'group', title: 'T', members: TEAM, createdAt: 1 })
    // Redis loads the scripts at their first use (NOSCRIPT, then again): a single append and a batch before counting.
    await engine.convs.create({ id: 'd:gil:hal', kind: 'direct', members: ['gil', 'hal'], createdAt: 1 })
    await engine.messages.append(text('d:gil:hal', 'gil', 'warm-1', ['gil', 'hal']))
    await Promise.all([engine.messages.append(text('d:gil:hal', 'gil', 'warm-2', ['gil', 'hal'])), engine.messages.append(text('d:gil:hal', 'hal', 'warm-3', ['gil', 'hal']))])
    const evalshas = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0)
    return {
      engine,
      r,
      prefix,
      evalshas,
      async close() {
        r.disconnect()
        await engine.close()
        own.stop()
      },
    }
  }

  it('stores the sends of one turn, from several users and several from one, with one script call, in arrival order', async () => {
    const t = await counted()
    try {
      await t.r.config('RESETSTAT')
      // Issued in one turn (nothing awaited between them), as frames read from many sockets at once.
      const sends = [
        t.engine.messages.append(text('d:ann:bob', 'ann', 'a1', AB)),
        t.engine.messages.append(text('d:cat:dan', 'cat', 'c1', CD)),
        t.engine.messages.append(text('d:ann:bob', 'bob', 'b1', AB)),
        t.engine.messages.append(text('d:ann:bob', 'ann', 'a2', AB)),
        t.engine.messages.append(text('d:cat:dan', 'dan', 'd1', CD)),
        // A group's append names one summary per member: keys of another count in the same batch.
        t.engine.messages.append(text('g:team', 'eve', 'e1', TEAM)),
      ]
      const results = await Promise.all(sends)
      expect(results.map((r) => [r.msg.conv, r.msg.seq, r.msg.cid, r.dup])).toEqual([
        ['d:ann:bob', 1, 'a1', false],
        ['d:cat:dan', 1, 'c1', false],
        ['d:ann:bob', 2, 'b1', false],
        ['d:ann:bob', 3, 'a2', false],
        ['d:cat:dan', 2, 'd1', false],
        ['g:team', 1, 'e1', false],
      ])
      expect(await t.evalshas()).toBe(1)
      expect(await t.engine.messages.after('d:ann:bob', 0, 10)).toEqual([results[0]!.json, results[2]!.json, results[3]!.json])
      expect(await t.engine.messages.after('d:cat:dan', 0, 10)).toEqual([results[1]!.json, results[4]!.json])
      // Each member's summary and marks, as a single append writes them.
      expect(await t.r.hgetall(`${t.prefix}{u:bob}:s`)).toEqual({ 'l:d:ann:bob': `3 ${results[3]!.json}`, 'r:d:ann:bob': '2', 'p:d:ann:bob': '3', 'k:d:ann:bob': '|' })
      expect(await t.r.hgetall(`${t.prefix}{u:dan}:s`)).toEqual({ 'l:d:cat:dan': `2 ${results[4]!.json}`, 'r:d:cat:dan': '2', 'p:d:cat:dan': '1', 'k:d:cat:dan': '|' })
      expect((await t.engine.convs.states(['d:ann:bob'], 'bob'))[0]).toMatchObject({ lastSeq: 3, readSeq: 2 })
      expect(await t.engine.messages.after('g:team', 0, 10)).toEqual([results[5]!.json])
      for (const m of TEAM) expect(await t.r.hmget(`${t.prefix}{u:${m}}:s`, 'l:g:team', 'p:g:team')).toEqual([`1 ${results[5]!.json}`, null])
      // The next turn's single send: the single command again.
      await t.engine.messages.append(text('d:ann:bob', 'bob', 'b2', AB))
      expect(await t.evalshas()).toBe(2)
    } finally {
      await t.close()
    }
  })

  it('answers a send repeated in the same batch as a duplicate of the first, stored once', async () => {
    const t = await counted()
    try {
      const [first, again, other] = await Promise.all([
        t.engine.messages.append(text('d:ann:bob', 'ann', 'same', AB)),
        t.engine.messages.append({ ...text('d:ann:bob', 'ann', 'same', AB), mid: 'm-other' }),
        t.engine.messages.append(text('d:ann:bob', 'bob', 'same', AB)),
      ])
      expect(first).toMatchObject({ dup: false, msg: { seq: 1, from: 'ann' } })
      expect(again).toEqual({ dup: true, json: first.json, msg: first.msg })
      // The dedup key is the sender's: the same cid from the other member is another message.
      expect(other).toMatchObject({ dup: false, msg: { seq: 2, from: 'bob' } })
      expect(await t.engine.messages.after('d:ann:bob', 0, 10)).toEqual([first.json, other.json])
      expect((await t.engine.convs.states(['d:ann:bob'], 'ann'))[0]).toMatchObject({ lastSeq: 2 })
    } finally {
      await t.close()
    }
  })

  it('fails every send of a failed batch with STORE_UNAVAILABLE; their retries store each once', async () => {
    const t = await counted()
    try {
      // A conversation whose hash is not a hash: the script raises an error at its append.
      await t.r.set(`${t.prefix}{c:d:eve:fay}:h`, 'not a hash')
      const outcomes = await Promise.allSettled([
        t.engine.messages.append(text('d:ann:bob', 'ann', 'x1', AB)),
        t.engine.messages.append(text('d:eve:fay', 'eve', 'x2', ['eve', 'fay'])),
        t.engine.messages.append(text('d:cat:dan', 'cat', 'x3', CD)),
      ])
      for (const o of outcomes) {
        expect(o.status).toBe('rejected')
        expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_UNAVAILABLE' })
      }
      // The clients retry with the same cids: what the batch stored before the error is a
      // duplicate (acked now, delivered once), what it never reached is stored now.
      const [a, c] = await Promise.all([t.engine.messages.append(text('d:ann:bob', 'ann', 'x1', AB)), t.engine.messages.append(text('d:cat:dan', 'cat', 'x3', CD))])
      expect(a).toMatchObject({ dup: true, msg: { seq: 1, cid: 'x1' } })
      expect(c).toMatchObject({ dup: false, msg: { seq: 1, cid: 'x3' } })
      expect(await t.engine.messages.after('d:ann:bob', 0, 10)).toEqual([a.json])
      expect(await t.engine.messages.after('d:cat:dan', 0, 10)).toEqual([c.json])
    } finally {
      await t.close()
    }
  })

  it('on Redis Cluster keeps one script call per send (each in its conversation\'s slot, the summaries after it): the sends of one turn all stored', async () => {
    // One node holding every slot: Redis still refuses a script whose keys span slots (CROSSSLOT),
    // which a batch of several conversations, or the summaries of the members, would.
    const cluster = await startOwnCluster()
    const prefix = randomPrefix()
    const engine = await createRedisEngine({ queueMaxLength: 10, queueRetentionMs: 60_000, url: cluster.url, clusterNodes: [cluster.node], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
    const r = new Redis(cluster.url)
    try {
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: AB, createdAt: 1 })
      await engine.convs.create({ id: 'd:cat:dan', kind: 'direct', members: CD, createdAt: 1 })
      const results = await Promise.all([
        engine.messages.append(text('d:ann:bob', 'ann', 'k1', AB)),
        engine.messages.append(text('d:cat:dan', 'cat', 'k2', CD)),
        engine.messages.append(text('d:ann:bob', 'bob', 'k3', AB)),
        engine.messages.append(text('d:ann:bob', 'bob', 'k3', AB)),
      ])
      expect(results.map((x) => [x.msg.conv, x.msg.seq, x.dup])).toEqual([
        ['d:ann:bob', 1, false],
        ['d:cat:dan', 1, false],
        ['d:ann:bob', 2, false],
        ['d:ann:bob', 2, true],
      ])
      expect(await engine.messages.after('d:ann:bob', 0, 10)).toEqual([results[0].json, results[2].json])
      expect(await r.hgetall(`${prefix}{u:ann}:s`)).toMatchObject({ 'l:d:ann:bob': `2 ${results[2].json}`, 'r:d:ann:bob': '1', 'p:d:ann:bob': '2' })
      expect(await r.hgetall(`${prefix}{u:dan}:s`)).toMatchObject({ 'l:d:cat:dan': `1 ${results[1].json}`, 'p:d:cat:dan': '1' })
    } finally {
      r.disconnect()
      await engine.close()
      cluster.stop()
    }
  })

  it('loads the batch script again when Redis lost it', async () => {
    const t = await counted()
    try {
      await Promise.all([t.engine.messages.append(text('d:ann:bob', 'ann', 'y1', AB)), t.engine.messages.append(text('d:cat:dan', 'cat', 'y2', CD))])
      await t.r.script('FLUSH')
      const [a, c] = await Promise.all([t.engine.messages.append(text('d:ann:bob', 'bob', 'y3', AB)), t.engine.messages.append(text('d:cat:dan', 'dan', 'y4', CD))])
      expect([a.msg.seq, a.dup, c.msg.seq, c.dup]).toEqual([2, false, 2, false])
      expect(await t.engine.messages.after('d:ann:bob', 0, 10)).toHaveLength(2)
    } finally {
      await t.close()
    }
  })
})

describe('redis engine read marks', () => {
  it('keeps a mark in the conversation hash, written by the send itself, and still counts one written in the former read marks hash', async () => {
    const prefix = randomPrefix()
    const engine = await open({ queueMaxLength: 10, queueRetentionMs: 60_000 }, prefix, 'n1')
    const r = new Redis(REDIS_URL)
    try {
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
      for (let i = 1; i <= 8; i++) {
        await engine.messages.append({ conv: 'd:ann:bob', from: 'ann', cid: `cid-marks-${i}`, mid: `m${i}`, ts: i, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000 })
      }
      // Sending reads: the sender's mark is the last seq, in the conversation's hash.
      expect(await r.hget(`${prefix}{c:d:ann:bob}:h`, 'r:ann')).toBe('8')
      expect((await engine.convs.states(['d:ann:bob'], 'ann'))[0]).toMatchObject({ lastSeq: 8, readSeq: 8 })
      // bob's mark from before the move: counted, and never moved back by a lower one.
      await r.hset(`${prefix}{c:d:ann:bob}:r`, 'bob', 5)
      expect((await engine.convs.states(['d:ann:bob'], 'bob'))[0]).toMatchObject({ readSeq: 5 })
      expect(await engine.convs.markRead('d:ann:bob', 'bob', 3)).toBe(5)
      expect(await engine.convs.markRead('d:ann:bob', 'bob', 7)).toBe(7)
      expect((await engine.convs.states(['d:ann:bob'], 'bob'))[0]).toMatchObject({ readSeq: 7 })
      expect(await r.hget(`${prefix}{c:d:ann:bob}:h`, 'r:bob')).toBe('7')
    } finally {
      r.disconnect()
      await engine.close()
      await dropPrefix(prefix)
    }
  })
})

describe('redis engine summaries', () => {
  it('fills a summary that lacks a conversation from the conversation itself, once', async () => {
    const prefix = randomPrefix()
    const engine = await open({ queueMaxLength: 10, queueRetentionMs: 60_000 }, prefix, 'n1')
    const r = new Redis(REDIS_URL)
    try {
      await engine.convs.create({ id: 'd:ann:bob', kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
      const sent = await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-sum-1', mid: 'm1', ts: 1, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000 })
      await engine.convs.markRead('d:ann:bob', 'ann', 1)
      // As before summaries existed (or after a loss of them).
      await r.del(`${prefix}{u:ann}:s`)
      const want = [{ conv: 'd:ann:bob', lastSeq: 1, lastMsg: sent.msg, readSeq: 1, peerRead: 1, createdAt: 1 }]
      expect(await engine.convs.overview('ann')).toEqual(want)
      expect(await r.hgetall(`${prefix}{u:ann}:s`)).toEqual({ 'l:d:ann:bob': `1 ${sent.json}`, 'r:d:ann:bob': '1', 'p:d:ann:bob': '1' })
      expect(await engine.convs.overview('ann')).toEqual(want)
      // A summary write landing late (an older seq) never moves it back.
      await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-sum-1', mid: 'm9', ts: 2, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000, members: ['ann', 'bob'] })
      const second = await engine.messages.append({ conv: 'd:ann:bob', from: 'ann', cid: 'cid-sum-2', mid: 'm2', ts: 3, kind: 'text', body: { text: 'y' }, dedupWindowMs: 60_000 })
      await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-sum-1', mid: 'm9', ts: 4, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000 })
      // Bob's summary kept its marks from the creation on (nothing recalled or mentioned); ann's,
      // filled from the conversation, has none: her `convs` reads the unread messages instead.
      expect(await engine.convs.overview('bob')).toEqual([{ conv: 'd:ann:bob', lastSeq: 2, lastMsg: second.msg, readSeq: 1, peerRead: 2, marks: '|', createdAt: 1 }])
    } finally {
      r.disconnect()
      await engine.close()
      await dropPrefix(prefix)
    }
  })
})

// Redis over the MySQL archive with a window of 3: the persister trims windows as batches land,
// so every paging test reads across the window's edge into MariaDB.
engineContract('redis + mysql archive (window 3)', async (options) => {
  const prefix = randomPrefix()
  const db = await createTestDatabase()
  const withArchive = async (node: string) =>
    createRedisEngine({
      ...options,
      url: REDIS_URL,
      clusterNodes: [],
      prefix,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 5000,
      node,
      archive: { archive: await openArchive({ url: db.url, poolSize: 2 }), windowMessages: 3, backlogMax: 1000, batchMax: 100, claimIdleMs: 1000 },
    })
  const engine = await withArchive('n1')
  const peer = await withArchive('n2')
  return {
    engine,
    peer,
    async cleanup() {
      await Promise.all([engine.close(), peer.close()])
      await dropPrefix(prefix)
      await db.drop()
    },
  }
})
