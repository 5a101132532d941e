/**
 * The chat engines the domain tests run on, each real: memory, memory over SQLite (window 3),
 * Redis (own prefix), Redis over MariaDB (own prefix, own database, window 3). What a fixture opens
 * is closed by `runCleanups` (each test file calls it after each test).
 */
import { openArchive } from '../../src/archive/archive'
import type { Archive } from '../../src/archive/archive'
import { createMemoryEngine, openMemoryEngine } from '../../src/store/memory'
import { createRedisEngine } from '../../src/store/redis'
import type { Engine } from '../../src/store/types'
import { createTestDatabase } from './mysql'
import { REDIS_URL, dropPrefix, randomPrefix } from './server'
import { waitFor } from './wait'

export interface Fixture {
  readonly engine: Engine
  /** The archive under the engine, read directly (none: the engine keeps everything). */
  readonly archive?: Archive
  /** Resolves once the archive holds every message up to `seq` of `conv` and the window was trimmed. */
  readonly settled?: (conv: string, seq: number) => Promise<void>
}

export const OPTIONS = { queueMaxLength: 100, queueRetentionMs: 60_000 }
export const cleanups: (() => Promise<unknown>)[] = []
/** Close what the fixtures of the last test opened, last first. */
export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c()
}

export const ENGINES: Record<string, () => Promise<Fixture>> = {
  memory: async () => {
    const engine = createMemoryEngine(OPTIONS)
    cleanups.push(() => engine.close())
    return { engine }
  },
  'memory + sqlite archive (window 3)': async () => {
    const archive = await openArchive({ url: 'sqlite::memory:' })
    const engine = await openMemoryEngine(OPTIONS, { archive, windowMessages: 3 })
    cleanups.push(() => engine.close())
    return { engine, archive }
  },
  redis: async () => {
    const prefix = randomPrefix()
    cleanups.push(() => dropPrefix(prefix))
    const engine = await createRedisEngine({ ...OPTIONS, url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, node: 'n1' })
    cleanups.push(() => engine.close())
    return { engine }
  },
  'redis + mariadb archive (window 3)': async () => {
    const prefix = randomPrefix()
    cleanups.push(() => dropPrefix(prefix))
    const db = await createTestDatabase()
    cleanups.push(() => db.drop())
    const archive = await openArchive({ url: db.url, poolSize: 1 })
    cleanups.push(() => archive.close())
    const engine = await createRedisEngine({
      ...OPTIONS,
      url: REDIS_URL,
      clusterNodes: [],
      prefix,
      commandTimeoutMs: 2000,
      connectTimeoutMs: 5000,
      node: 'n1',
      archive: { archive: await openArchive({ url: db.url, poolSize: 2 }), windowMessages: 3, backlogMax: 1000, batchMax: 100, claimIdleMs: 30_000 },
    })
    cleanups.push(() => engine.close())
    const { Redis } = await import('ioredis')
    const r = new Redis(REDIS_URL)
    cleanups.push(async () => r.disconnect())
    return {
      engine,
      archive,
      settled: (conv, seq) =>
        waitFor(async () => (await archive.after(conv, seq - 1, 1)).length === 1 && (await r.zcard(`${prefix}{c:${conv}}:m`)) <= 3, 10_000),
    }
  },
}
