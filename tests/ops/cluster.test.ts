/**
 * The Redis engine, unchanged, on Redis Cluster: 3 masters on loopback ports (redis-server
 * --cluster-enabled yes, joined with redis-cli --cluster create), 3 BFF processes on them, users
 * spread over the processes, 1:1 and group messages counted exactly once, and the keys spread over
 * every master. Also measures the Redis commands one message costs on the cluster.
 */
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId, type ConvId } from '@chat/shared'
import { dropBundle, type BffProcess } from '../../bff/test/support/spawn'
import { startBffs } from './support/bff'
import { ChatUser } from './support/chat-user'
import { commandCalls, diffCalls, startCluster, total, type RedisCluster } from './support/redis'
import { until } from './support/proc'

const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }

describe('three BFF processes on a 3-master Redis Cluster', () => {
  let cluster: RedisCluster
  let nodes: BffProcess[] = []
  const users: ChatUser[] = []

  beforeAll(async () => {
    cluster = await startCluster(3)
    nodes = await startBffs(3, { STORE: 'redis', REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PREFIX: 'ops:', ...LIMITS })
  })
  afterAll(async () => {
    await Promise.all(users.map((u) => u.stop()))
    for (const n of nodes) n.kill('SIGKILL')
    await Promise.all(nodes.map((n) => n.exited))
    await cluster?.dispose()
    await dropBundle()
  })

  async function user(id: string, node: number): Promise<ChatUser> {
    const u = new ChatUser(id, { urls: () => [nodes[node]!.url] })
    users.push(u)
    await u.start()
    return u
  }

  async function createGroup(owner: ChatUser, members: string[]): Promise<ConvId> {
    owner.client!.send({ type: 'conv.create', rid: 'g1', kind: 'group', members, title: 'cluster group' })
    const conv = (await owner.client!.nextOf('conv', (f) => f.rid === 'g1')).conv.id
    owner.convs.add(conv)
    return conv
  }

  it('routes 1:1 and group messages across the processes exactly once; an offline member syncs them once', async () => {
    const [ann, ben, cat] = await Promise.all([user('cl-ann', 0), user('cl-ben', 1), user('cl-cat', 2)])
    // Dan exists (logged in once) but is offline during the exchange.
    const dan = new ChatUser('cl-dan', { urls: () => [nodes[2]!.url] })
    users.push(dan)

    const annBen = directConvId('cl-ann', 'cl-ben')
    const catAnn = directConvId('cl-cat', 'cl-ann')
    const sent = new Map<string, ConvId>()
    for (let i = 0; i < 25; i++) {
      sent.set(ann.send(annBen, `a${i}`), annBen)
      sent.set(ben.send(annBen, `b${i}`), annBen)
      sent.set(cat.send(catAnn, `c${i}`), catAnn)
    }
    await until('all 1:1 sends acked', () => ann.outbox.size + ben.outbox.size + cat.outbox.size === 0, 20_000, 20)

    await dan.start()
    await dan.stop()
    const group = await createGroup(ann, ['cl-ben', 'cl-cat', 'cl-dan'])
    ben.convs.add(group)
    cat.convs.add(group)
    for (let i = 0; i < 10; i++) for (const u of [ann, ben, cat]) sent.set(u.send(group, `${u.id}-${i}`), group)
    await until('all group sends acked', () => ann.outbox.size + ben.outbox.size + cat.outbox.size === 0, 20_000, 20)

    // Every member holds every message of its conversations exactly once, in a gap-free seq range.
    const expectHolds = async (u: ChatUser, conv: ConvId, count: number) => {
      await until(`${u.id} holds ${count} messages of ${conv}`, () => u.contiguous(conv) === count, 10_000, 20)
      expect(u.held.get(conv)!.size).toBe(count)
      const cids = [...u.held.get(conv)!.values()].map((h) => h.cid)
      expect(new Set(cids).size).toBe(count)
      expect(cids.every((c) => sent.get(c) === conv)).toBe(true)
    }
    await expectHolds(ann, annBen, 50)
    await expectHolds(ben, annBen, 50)
    await expectHolds(ann, catAnn, 25)
    await expectHolds(cat, catAnn, 25)
    for (const u of [ann, ben, cat]) await expectHolds(u, group, 30)
    // Every ack names the seq under which every member holds that message.
    const members = new Map<ConvId, ChatUser[]>([[annBen, [ann, ben]], [catAnn, [cat, ann]], [group, [ann, ben, cat]]])
    for (const u of [ann, ben, cat]) {
      for (const [cid, a] of u.acks) for (const m of members.get(a.conv)!) expect(m.held.get(a.conv)!.get(a.seq)!.cid).toBe(cid)
    }

    // Dan comes back on another process: the whole group from his queue or history, once.
    const dan2 = new ChatUser('cl-dan', { urls: () => [nodes[1]!.url] })
    users.push(dan2)
    dan2.convs.add(group)
    await dan2.start()
    await expectHolds(dan2, group, 30)
    for (const u of [ann, ben, cat, dan2]) expect(u.violations).toEqual([])

    // The data is really spread over the cluster: every master holds keys of this run.
    const masters = cluster.masters()
    try {
      const sizes = await Promise.all(masters.map((m) => m.dbsize()))
      console.log(`[cluster] keys per master: ${sizes.join(', ')}`)
      for (const s of sizes) expect(s).toBeGreaterThan(0)
    } finally {
      for (const m of masters) m.disconnect()
    }
  })

  it('measures Redis commands per 1:1 message between processes', async () => {
    const [eve, fay] = await Promise.all([user('cl-eve', 0), user('cl-fay', 2)])
    const conv = directConvId('cl-eve', 'cl-fay')
    eve.send(conv, 'warm-up')
    await until('warm-up delivered', () => fay.contiguous(conv) === 1, 10_000, 10)
    const masters = cluster.masters()
    try {
      const before = await Promise.all(masters.map(commandCalls))
      const n = 200
      for (let i = 0; i < n; i++) eve.send(conv, `m${i}`)
      await until('all delivered', () => fay.contiguous(conv) === n + 1 && eve.outbox.size === 0, 20_000, 10)
      const after = await Promise.all(masters.map(commandCalls))
      const merged = new Map<string, number>()
      masters.forEach((_, i) => {
        for (const [k, v] of diffCalls(before[i]!, after[i]!)) merged.set(k, (merged.get(k) ?? 0) + v)
      })
      // commandstats counts the commands a script runs as well as the EVALSHA that ran it.
      const breakdown = [...merged].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')
      console.log(`[cluster] Redis commands per 1:1 message (sender and recipient on different processes): ${(total(merged) / n).toFixed(2)} (${breakdown})`)
      // At least the append script and the routing publish for every message.
      expect(merged.get('evalsha') ?? 0).toBeGreaterThanOrEqual(n)
      expect(merged.get('spublish') ?? 0).toBeGreaterThanOrEqual(n)
    } finally {
      for (const m of masters) m.disconnect()
    }
  })

  /** Commands executed on all masters while `work` runs, per unit. */
  async function commandsPer(units: number, work: () => Promise<void>): Promise<{ perUnit: number; breakdown: string }> {
    const masters = cluster.masters()
    try {
      const before = await Promise.all(masters.map(commandCalls))
      await work()
      const after = await Promise.all(masters.map(commandCalls))
      const merged = new Map<string, number>()
      masters.forEach((_, i) => {
        for (const [k, v] of diffCalls(before[i]!, after[i]!)) merged.set(k, (merged.get(k) ?? 0) + v)
      })
      const breakdown = [...merged].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / units).toFixed(1)}`).join(', ')
      return { perUnit: total(merged) / units, breakdown }
    } finally {
      for (const m of masters) m.disconnect()
    }
  }

  it('measures Redis memory per stored message: history entry, dedup key, offline queue entry', async () => {
    // MEMORY USAGE of the engine's keys (layout in bff/src/store/redis.ts), through a cluster client.
    const r = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })))
    try {
      const [ivy, jon] = await Promise.all([user('cl-ivy', 0), user('cl-jon', 1)])
      ivy.client!.send({ type: 'conv.create', rid: 'ij', kind: 'direct', members: ['cl-jon'] })
      const conv = (await ivy.client!.nextOf('conv', (f) => f.rid === 'ij')).conv.id
      expect(conv).toBe(directConvId('cl-ivy', 'cl-jon'))
      // Jon goes offline (Ivy, a contact now, is told): what Ivy sends now is queued for him as well.
      await jon.stop()
      await ivy.client!.nextOf('presence', (f) => f.user === 'cl-jon' && !f.online, 10_000)
      const n = 1000
      const text = 'x'.repeat(40) // a short chat line
      const cids: string[] = []
      for (let i = 0; i < n; i++) cids.push(ivy.send(conv, `${text}${i}`))
      await until('acked', () => ivy.outbox.size === 0, 30_000, 20)
      const usage = async (key: string) => Number(await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'))
      const history = (await usage(`ops:{c:${conv}}:m`)) / (await r.zcard(`ops:{c:${conv}}:m`))
      const queue = (await usage(`ops:{u:cl-jon}:q`)) / (await r.xlen(`ops:{u:cl-jon}:q`))
      const dedup = await usage(`ops:{c:${conv}}:d:cl-ivy:${cids[0]}`)
      console.log(
        `[cluster] Redis memory per 1:1 message with a ${text.length + 3}-char text: history entry ${history.toFixed(0)} B, dedup key ${dedup} B (for DEDUP_WINDOW_MS), ` +
          `offline queue entry ${queue.toFixed(0)} B (a reference, until acknowledged, at most 7 days)`,
      )
      expect(history).toBeGreaterThan(text.length)
      expect(dedup).toBeGreaterThan(0)
      // The queue holds a reference (conv + seq), never a copy of the body. (Its size per entry
      // varies with how many milliseconds the sends spread over - stream ids are delta-encoded -
      // so the check is on what an entry holds, and the size is compared with the history entry.)
      const [first] = await r.xrange(`ops:{u:cl-jon}:q`, '-', '+', 'COUNT', 1)
      expect(first![1].join(' ')).not.toContain(text)
      expect(queue).toBeGreaterThan(0)
      expect(queue).toBeLessThan(history)
    } finally {
      r.disconnect()
    }
  })

  it('measures Redis commands per group message (10 members online on 3 processes, one sender)', async () => {
    const members = await Promise.all(Array.from({ length: 10 }, (_, i) => user(`cl-g${i}`, i % 3)))
    const group = await createGroup(members[0]!, members.slice(1).map((m) => m.id))
    for (const m of members) m.convs.add(group)
    members[0]!.send(group, 'warm-up')
    await until('warm-up everywhere', () => members.every((m) => m.contiguous(group) === 1), 10_000, 10)
    const n = 50
    const { perUnit, breakdown } = await commandsPer(n, async () => {
      // One sender: its pushes leave in seq order, so no member fills holes with history here.
      for (let i = 0; i < n; i++) members[0]!.send(group, `g${i}`)
      await until('all delivered to all', () => members.every((m) => m.contiguous(group) === n + 1), 20_000, 10)
    })
    console.log(`[cluster] Redis commands per message to a 10-member group: ${perUnit.toFixed(1)} (${breakdown})`)
    expect(perUnit).toBeGreaterThan(0)
  })

  it('measures Redis commands per reconnect of a user with 20 contacts', async () => {
    const peers = await Promise.all(Array.from({ length: 20 }, (_, i) => user(`cl-p${i}`, i % 3)))
    const hub = await user('cl-hub', 0)
    for (const p of peers) {
      hub.client!.send({ type: 'conv.create', rid: `d${p.id}`, kind: 'direct', members: [p.id] })
      hub.convs.add((await hub.client!.nextOf('conv', (f) => f.rid === `d${p.id}`)).conv.id)
    }
    const rounds = 20
    const { perUnit, breakdown } = await commandsPer(rounds, async () => {
      for (let i = 0; i < rounds; i++) {
        const before = hub.stats.connects
        hub.drop()
        await until('hub back', () => hub.stats.connects > before && hub.online, 10_000, 5)
        await hub.ready()
      }
    })
    console.log(`[cluster] Redis commands per disconnect + reconnect (welcome, presence to 20 contacts, sync of 20 conversations): ${perUnit.toFixed(1)} (${breakdown})`)
    expect(perUnit).toBeGreaterThan(0)
  })
})
