/**
 * bench:relations. What relations cost a 1:1 send: the send check (`Relations.checkSend`, one pair
 * read) per message, on each store, beside the baseline measured in the same run on the same
 * store's engine, the send itself (`engine.messages.append` of a 1:1 text). Sequential, one at a
 * time (the latency a sender sees), BENCH_SENDS of each after a warm-up; every pair has a record
 * (contacts), as in a chat between contacts. Own redis-server on a free port and own MySQL
 * database on 127.0.0.1:3306, dropped after. Prints µs per operation and the ratio.
 */
import { performance } from 'node:perf_hooks'
import { openArchive } from '../src/archive/archive'
import type { Archive } from '../src/archive/archive'
import { ArchiveRelations } from '../src/archive/relations'
import { Relations } from '../src/social/service'
import { createMemoryEngine, openMemoryEngine } from '../src/store/memory'
import { createRedisEngine } from '../src/store/redis'
import { MemoryRelations, ProcessCachedRelations, RedisCachedRelations, RedisRelations } from '../src/store/relations'
import type { RelationStore } from '../src/store/relations'
import type { Engine } from '../src/store/types'
import { startRedis } from '../../tests/ops/support/redis'
import { createTestDatabase } from '../test/support/mysql'

const SENDS = Number(process.env.BENCH_SENDS ?? 5000)
const WARMUP = 500
const USERS = 200
let runs = 0

async function measure(label: string, engine: Engine, store: RelationStore): Promise<void> {
  const relations = new Relations({ store, users: engine.users, presence: engine.presence, push: () => {} })
  const tag = `r${++runs}`
  const ids = Array.from({ length: USERS }, (_, i) => `${tag}u${String(i).padStart(4, '0')}`)
  for (const id of ids) await engine.users.upsert({ id, name: id })
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < USERS; i += 2) pairs.push([ids[i]!, ids[i + 1]!])
  for (const [a, b] of pairs) {
    await engine.convs.create({ id: `d:${a}:${b}`, kind: 'direct', members: [a, b], createdAt: 1 })
    await relations.act(a, 'request', b)
    await relations.act(b, 'accept', a)
  }
  let n = 0
  const send = async () => {
    const [a, b] = pairs[n % pairs.length]!
    n++
    await engine.messages.append({ conv: `d:${a}:${b}`, from: a, cid: `cid-${tag}-${n}-xxxx`, mid: `m${n}`, ts: Date.now(), kind: 'text', body: { text: 'hello there, how are you today?' }, dedupWindowMs: 60_000 })
  }
  const check = async () => {
    const [a, b] = pairs[n % pairs.length]!
    n++
    await relations.checkSend(a, `d:${a}:${b}`)
  }
  const time = async (op: () => Promise<void>) => {
    for (let i = 0; i < WARMUP; i++) await op()
    const t0 = performance.now()
    for (let i = 0; i < SENDS; i++) await op()
    return ((performance.now() - t0) * 1000) / SENDS
  }
  const base = await time(send)
  const gate = await time(check)
  console.log(`${label.padEnd(34)} send (baseline) ${base.toFixed(1).padStart(7)} µs   check ${gate.toFixed(1).padStart(7)} µs   check/send ${(gate / base).toFixed(2)}`)
}

async function main(): Promise<void> {
  console.log(`bench:relations: ${SENDS} sequential operations each, node ${process.version}`)
  {
    const engine = createMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 })
    await measure('memory', engine, new MemoryRelations())
    await engine.close()
  }
  {
    const archive = await openArchive({ url: 'sqlite::memory:' })
    const engine = await openMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 }, { archive, windowMessages: 50 })
    await measure('embedded, archive uncached', engine, new ArchiveRelations(archive))
    await measure('embedded, cached in process', engine, new ProcessCachedRelations(new ArchiveRelations(archive)))
    await engine.close()
  }
  const redis = await startRedis()
  try {
    const options = { queueMaxLength: 100, queueRetentionMs: 60_000, url: redis.url, clusterNodes: [], prefix: 'bench:', commandTimeoutMs: 5000, connectTimeoutMs: 5000, node: 'n1' }
    {
      const engine = await createRedisEngine(options)
      const store = await RedisRelations.open(options)
      await measure('redis', engine, store)
      await store.close()
      await engine.close()
    }
    const db = await createTestDatabase()
    let archive: Archive | undefined
    try {
      archive = await openArchive({ url: db.url, poolSize: 4 })
      const engine = await createRedisEngine({ ...options, prefix: 'bench2:', archive: { archive, windowMessages: 50, backlogMax: 100_000, batchMax: 500, claimIdleMs: 30_000 } })
      await measure('redis + mysql, archive uncached', engine, new ArchiveRelations(archive))
      const cached = await RedisCachedRelations.open(new ArchiveRelations(archive), { ...options, prefix: 'bench3:' })
      await measure('redis + mysql, cached in redis', engine, cached)
      await cached.close()
      await engine.close()
    } finally {
      await db.drop()
    }
  } finally {
    await redis.dispose()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
