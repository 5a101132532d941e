/**
 * Group membership across three real BFF processes sharing one Redis (issue 13): users' devices
 * spread over the nodes. A member added reads from the seq at which they joined and gets every
 * later message live on every device; a member removed stops receiving at once on every device
 * and node (a message sent right after the removal's ack reaches none of them) and reads nothing
 * after the removal. No sleeps: every absence is proven by a later message on the same path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ServerFrameOf } from '@chat/shared'
import { TestClient, connectUser, devLogin, newCid } from './support/client'
import { dropPrefix, randomPrefix } from './support/server'
import { dropBundle, spawnBff } from './support/spawn'
import type { BffProcess } from './support/spawn'

const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }

afterAll(async () => {
  await dropBundle()
})

let rids = 0
async function request<K extends 'group' | 'messages' | 'conv'>(c: TestClient, frame: Record<string, unknown>, type: K): Promise<ServerFrameOf<K>> {
  const rid = `r${++rids}`
  c.send({ ...frame, rid } as never)
  const f = await c.next((x) => (x.type === type || x.type === 'error') && (x as { rid?: string }).rid === rid)
  if (f.type === 'error') throw new Error(`${String(frame.type)} refused: ${f.code}`)
  return f as ServerFrameOf<K>
}
async function refusal(c: TestClient, frame: Record<string, unknown>): Promise<string> {
  const rid = `r${++rids}`
  c.send({ ...frame, rid } as never)
  const f = await c.next((x) => (x as { rid?: string }).rid === rid)
  return f.type === 'error' ? f.code : `answered ${f.type}`
}
/** Send a text and wait for its ack. */
async function say(c: TestClient, conv: string, text: string): Promise<ServerFrameOf<'ack'>> {
  const cid = newCid()
  c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
  return c.nextOf('ack', (f) => f.cid === cid)
}
const seqsOf = (c: TestClient, conv: string) => c.all('msg').filter((f) => f.m.conv === conv).map((f) => f.m.seq)

describe('group membership over three BFF processes on one Redis', () => {
  const prefix = randomPrefix()
  let nodes: BffProcess[] = []
  const clients: TestClient[] = []

  beforeAll(async () => {
    nodes = await Promise.all([1, 2, 3].map(() => spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, ...LIMITS })))
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    for (const n of nodes) n.kill()
    await Promise.all(nodes.map((n) => n.exited))
    await dropPrefix(prefix)
  })

  async function on(node: number, user: string): Promise<TestClient> {
    const r = await connectUser(nodes[node]!.url, user)
    clients.push(r.client)
    return r.client
  }

  it('a member added reads from the seq at which they joined and gets every later message live on every device and node', async () => {
    await Promise.all(['ja-own', 'ja-ann', 'ja-dan'].map((u) => devLogin(nodes[0]!.url, u)))
    const own = await on(0, 'ja-own')
    const ann = await on(1, 'ja-ann')
    const conv = (await request(own, { type: 'conv.create', kind: 'group', title: 'spread', members: ['ja-ann'] }, 'conv')).conv.id
    for (let i = 1; i <= 3; i++) await say(ann, conv, `before dan ${i}`)
    // Dan is on two nodes, neither the owner's.
    const dan1 = await on(1, 'ja-dan')
    const dan2 = await on(2, 'ja-dan')
    const added = await request(own, { type: 'group', conv, op: 'add', users: ['ja-dan'] }, 'group')
    expect(added.m).toMatchObject({ seq: 4, kind: 'system', body: { op: 'add', users: ['ja-dan'] } })
    // Each device learns the group (joined at 3), then its change.
    for (const d of [dan1, dan2]) {
      const c = await d.nextOf('conv', (f) => f.conv.id === conv)
      expect(c.conv).toMatchObject({ joinedSeq: 3, lastSeq: 4, readSeq: 3, unread: 1 })
      await d.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 4)
    }
    // Later messages from every node reach both devices, live, each once.
    const later = [await say(ann, conv, 'welcome'), await say(own, conv, 'hello dan'), await say(dan1, conv, 'hi all')]
    // dan1 sent 7 (its ack); dan2 gets it pushed.
    await dan2.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 7)
    expect(later.map((a) => a.seq)).toEqual([5, 6, 7])
    expect(seqsOf(dan1, conv)).toEqual([4, 5, 6])
    expect(seqsOf(dan2, conv)).toEqual([4, 5, 6, 7])
    // History and sync, asked on a third node, return nothing before the join.
    const dan3 = await on(0, 'ja-dan')
    const page = await request(dan3, { type: 'history', conv }, 'messages')
    expect(page.msgs.map((m) => m.seq)).toEqual([4, 5, 6, 7])
    expect(page.more).toBe(false)
    expect(await refusal(dan3, { type: 'history', conv, before: 4 })).toBe('SEQ_RANGE_INVALID')
    const { batches } = await dan3.sync('s-dan', [{ conv, seq: 0 }])
    const synced = batches.filter((b) => b.conv === conv).flatMap((b) => b.msgs)
    expect(synced.map((m) => m.seq)).toEqual([4, 5, 6, 7])
    expect(JSON.stringify([page.msgs, synced])).not.toContain('before dan')
  })

  it('a member removed stops receiving at once on every device and node, and reads nothing after the removal', async () => {
    await Promise.all(['rm-own', 'rm-ann', 'rm-bob'].map((u) => devLogin(nodes[0]!.url, u)))
    const own = await on(0, 'rm-own')
    const ann = await on(1, 'rm-ann')
    const ann2 = await on(2, 'rm-ann')
    // Bob has a device on every node.
    const bobs = [await on(0, 'rm-bob'), await on(1, 'rm-bob'), await on(2, 'rm-bob')]
    const conv = (await request(own, { type: 'conv.create', kind: 'group', title: 'leaky?', members: ['rm-ann', 'rm-bob'] }, 'conv')).conv.id
    await say(ann, conv, 'one')
    await say(own, conv, 'two')
    for (const b of bobs) await b.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 2)
    // Every node has the group cached now (each routed or checked a send of it).
    await say(bobs[2]!, conv, 'three, from bob on node 2')
    for (const b of bobs.slice(0, 2)) await b.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 3)

    const removal = await request(own, { type: 'group', conv, op: 'remove', users: ['rm-bob'] }, 'group')
    expect(removal.m).toMatchObject({ seq: 4, kind: 'system', body: { op: 'remove', users: ['rm-bob'] } })
    // Right after the ack, from two other nodes: neither may reach bob.
    const after1 = await say(ann, conv, 'secret after removal (node 1)')
    const after2 = await say(ann2, conv, 'secret after removal (node 2)')
    expect([after1.seq, after2.seq]).toEqual([5, 6])
    // A removed member's own sends are refused on every node.
    for (const b of bobs) {
      const cid = newCid()
      b.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'still in?' } })
      expect(await b.nextOf('error', (f) => f.cid === cid)).toMatchObject({ code: 'NOT_MEMBER' })
    }
    // Markers on the same paths the group messages took (ann's two nodes to bob's channel, in order):
    // once a device has both, whatever of the group it was going to get came before them.
    const m1 = await say(ann, directConvId('rm-ann', 'rm-bob'), 'marker 1')
    const m2 = await say(ann2, directConvId('rm-ann', 'rm-bob'), 'marker 2')
    for (const b of bobs) {
      await b.nextOf('msg', (f) => f.m.cid === m1.cid)
      await b.nextOf('msg', (f) => f.m.cid === m2.cid)
      // Every device got the removal itself, and nothing of the group after it.
      expect(seqsOf(b, conv).filter((s) => s >= 4)).toEqual([4])
      expect(JSON.stringify(b.all('msg'))).not.toContain('secret after removal')
    }
    // Reading is over too, asked on each node: history refused, sync skips the group.
    for (const b of bobs) {
      expect(await refusal(b, { type: 'history', conv })).toBe('NOT_MEMBER')
      // (A connection is not sent again what it got: the markers are left out, 5 and 6 would not be.)
      const { batches, done } = await b.sync(`s-${rids++}`, [{ conv, seq: 3 }, { conv: directConvId('rm-ann', 'rm-bob'), seq: 0 }])
      expect(batches.filter((x) => x.conv === conv)).toEqual([])
      expect(done).toBeDefined()
    }
    // A device of bob that connects afterwards, on any node, gets of the group only the removal
    // (it learns why it is out), nothing after it.
    const late = await on(1, 'rm-bob')
    const { batches } = await late.sync('s-late', [{ conv, seq: 0 }, { conv: directConvId('rm-ann', 'rm-bob'), seq: 0 }])
    const got = batches.flatMap((x: ServerFrameOf<'messages'>) => x.msgs)
    expect(got.map((m) => [m.conv, m.seq])).toEqual([
      [directConvId('rm-ann', 'rm-bob'), 1],
      [directConvId('rm-ann', 'rm-bob'), 2],
      [conv, 4],
    ])
    expect(got.at(-1)).toMatchObject({ kind: 'system', body: { op: 'remove', users: ['rm-bob'] } })
    // The members who stayed got everything.
    await own.nextOf('msg', (f) => f.m.conv === conv && f.m.seq === 6)
    expect(seqsOf(own, conv)).toEqual([1, 3, 5, 6])
  })
})
