import { openArchive } from '../../src/archive/archive'
import { ArchiveRelations } from '../../src/archive/relations'
import { MemoryRelations, RedisRelations } from '../../src/store/relations'
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
