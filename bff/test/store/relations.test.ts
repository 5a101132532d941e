import { openArchive } from '../../src/archive/archive'
import { ArchiveRelations } from '../../src/archive/relations'
import { MemoryRelations, ProcessCachedRelations, RedisCachedRelations, RedisRelations } from '../../src/store/relations'
import { describe, expect, it } from 'vitest'
import { createTestDatabase } from '../support/mysql'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'
import { relationContract } from './relations-contract'

relationContract('memory', async () => ({ store: new MemoryRelations(), cleanup: async () => {} }))

relationContract('redis', async () => {
  const prefix = randomPrefix()
  const store = await RedisRelations.open({ url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 })
  return {
    store,
    async cleanup() {
      await store.close()
      await dropPrefix(prefix)
    },
  }
})

relationContract('archive (sqlite)', async () => {
  const archive = await openArchive({ url: 'sqlite::memory:' })
  return { store: new ArchiveRelations(archive), cleanup: () => archive.close() }
})

relationContract('archive (mysql)', async () => {
  const db = await createTestDatabase()
  const archive = await openArchive({ url: db.url, poolSize: 2 })
  return {
    store: new ArchiveRelations(archive),
    async cleanup() {
      await archive.close()
      await db.drop()
    },
  }
})

relationContract('archive (sqlite) cached in process', async () => {
  const archive = await openArchive({ url: 'sqlite::memory:' })
  return { store: new ProcessCachedRelations(new ArchiveRelations(archive)), cleanup: () => archive.close() }
})

relationContract('archive (mysql) cached in redis', async () => {
  const db = await createTestDatabase()
  const archive = await openArchive({ url: db.url, poolSize: 2 })
  const prefix = randomPrefix()
  const store = await RedisCachedRelations.open(new ArchiveRelations(archive), { url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 })
  return {
    store,
    async cleanup() {
      await store.close()
      await archive.close()
      await db.drop()
      await dropPrefix(prefix)
    },
  }
})

describe('relations cached in redis over the archive', () => {
  it('two nodes see each other’s writes at once, and a reader that read before a write cannot put the older record back', async () => {
    const archive = await openArchive({ url: 'sqlite::memory:' })
    const prefix = randomPrefix()
    const options = { url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 }
    const inner = new ArchiveRelations(archive)
    const n1 = await RedisCachedRelations.open(inner, options)
    const n2 = await RedisCachedRelations.open(inner, options)
    try {
      const before = await n2.pair('amy', 'bob')
      expect(await n1.put({ ...(await n1.pair('amy', 'bob')), ba: { state: 'blocked', at: 1 } })).toBe(true)
      expect((await n2.pair('amy', 'bob')).ba?.state).toBe('blocked')
      // A slow reader of node 2 read version 0 before the block and caches it late: refused.
      await (n2 as unknown as { keep(p: unknown): Promise<void> }).keep(before)
      expect((await n2.pair('bob', 'amy')).ba?.state).toBe('blocked')
      // A writer that lost on a stale cache leaves the cache with what the archive holds.
      expect(await n2.put({ ...before, ab: { state: 'requested', at: 2 } })).toBe(false)
      expect(await n1.pair('amy', 'bob')).toMatchObject({ ba: { state: 'blocked' }, version: 1 })
    } finally {
      await n1.close()
      await n2.close()
      await archive.close()
      await dropPrefix(prefix)
    }
  })
})
