import { describe, expect, it } from 'vitest'
import { Redis } from 'ioredis'
import { SUMMARIES_IN_SCRIPT_MAX, createRedisEngine } from '../../src/store/redis'
import type { EngineOptions } from '../../src/store/types'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { engineContract } from './contract'
import { openArchive } from '../../src/archive/archive'
import { createTestDatabase } from '../support/mysql'
import { startOwnRedis } from '../support/redis-server'

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
      expect(await engine.convs.overview('u1')).toEqual([{ conv: 'g:order', lastSeq: 2, lastMsg: second.msg, readSeq: 2, marks: '|' }])
      // A summary lost (a Redis that lost it): filled with the reference again, never a seq left behind.
      await r.del(`${prefix}{u:u5}:s`)
      expect(await engine.convs.overview('u5')).toEqual([{ conv: 'g:order', lastSeq: 2, lastMsg: second.msg, readSeq: 0 }])
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
      const want = [{ conv: 'd:ann:bob', lastSeq: 1, lastMsg: sent.msg, readSeq: 1, peerRead: 1 }]
      expect(await engine.convs.overview('ann')).toEqual(want)
      expect(await r.hgetall(`${prefix}{u:ann}:s`)).toEqual({ 'l:d:ann:bob': `1 ${sent.json}`, 'r:d:ann:bob': '1', 'p:d:ann:bob': '1' })
      expect(await engine.convs.overview('ann')).toEqual(want)
      // A summary write landing late (an older seq) never moves it back.
      await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-sum-1', mid: 'm9', ts: 2, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000, members: ['ann', 'bob'] })
      const second = await engine.messages.append({ conv: 'd:ann:bob', from: 'ann', cid: 'cid-sum-2', mid: 'm2', ts: 3, kind: 'text', body: { text: 'y' }, dedupWindowMs: 60_000 })
      await engine.messages.append({ conv: 'd:ann:bob', from: 'bob', cid: 'cid-sum-1', mid: 'm9', ts: 4, kind: 'text', body: { text: 'x' }, dedupWindowMs: 60_000 })
      // Bob's summary kept its marks from the creation on (nothing recalled or mentioned); ann's,
      // filled from the conversation, has none: her `convs` reads the unread messages instead.
      expect(await engine.convs.overview('bob')).toEqual([{ conv: 'd:ann:bob', lastSeq: 2, lastMsg: second.msg, readSeq: 1, peerRead: 2, marks: '|' }])
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
