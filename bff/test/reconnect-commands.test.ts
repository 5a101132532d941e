/**
 * Redis commands per reconnect (issue 15) do not grow with the user's conversations. A user in 4
 * and one in 40 conversations, each with unread messages, a recall event and (groups) a mention,
 * disconnect and reconnect within the offline grace as the app does it (`sync` with cursors,
 * `convs`); INFO commandstats of a Redis this file starts counts what the BFF sent, scripts'
 * inner commands included. `convs` still leaves the recall events out of `unread` and finds the
 * mention (from the per-user summary's marks, not from reading each conversation). Member
 * profiles come from the process's cache (PROFILE_CACHE_TTL_MS): warm, as after a first connect.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type OwnRedis, startOwnRedis } from './support/redis-server'
import { Redis } from 'ioredis'
import { directConvId } from '@chat/shared'
import type { Conversation } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { TestClient, connectUser, devLogin, newCid } from './support/client'
import { randomPrefix, startTestServer } from './support/server'
import { waitFor } from './support/wait'

let redis: OwnRedis | undefined
let admin: Redis
let server: RunningServer

beforeAll(async () => {
  redis = await startOwnRedis()
  const url = redis.url
  admin = new Redis(url)
  server = await startTestServer({
    STORE: 'redis',
    REDIS_URL: url,
    REDIS_PREFIX: randomPrefix(),
    PRESENCE_OFFLINE_GRACE_MS: '60000',
    RATE_LIMIT_PER_SEC: '100000',
    RATE_LIMIT_BURST: '100000',
  })
})

afterAll(async () => {
  await server?.close()
  admin?.disconnect()
  redis?.stop()
})

/** Calls per command since the server started (INFO commandstats), without INFO itself. */
async function commandStats(): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const m of (await admin.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) if (m[1] !== 'info') out.set(m[1]!, Number(m[2]))
  return out
}

function diff(a: Map<string, number>, b: Map<string, number>): { total: number; calls: Record<string, number> } {
  const calls: Record<string, number> = {}
  let total = 0
  for (const [cmd, n] of b) {
    const d = n - (a.get(cmd) ?? 0)
    if (d > 0) {
      calls[cmd] = d
      total += d
    }
  }
  return { total, calls }
}

async function sendText(c: TestClient, conv: string, text: string, extra: Record<string, unknown> = {}): Promise<number> {
  const cid = newCid()
  c.send({ type: 'send', cid, conv, kind: 'text', body: { text, ...extra } } as never)
  return (await c.nextOf('ack', (f) => f.cid === cid)).seq
}

/**
 * `me` in `n` conversations: half 1:1s, half groups with `peer`. In each the other side sends
 * three messages (in groups the second mentions `me`) and recalls the first: four unread seqs,
 * one of them a recall event.
 */
async function setUp(me: string, n: number): Promise<{ cursors: { conv: string; seq: number }[]; mentionSeqs: Map<string, number> }> {
  const mine = (await connectUser(server.url, me)).client
  const peer = (await connectUser(server.url, `${me}-p`)).client
  const cursors: { conv: string; seq: number }[] = []
  const mentionSeqs = new Map<string, number>()
  try {
    for (let i = 0; i < n / 2; i++) {
      const other = (await connectUser(server.url, `${me}-d${i}`)).client
      const conv = directConvId(me, `${me}-d${i}`)
      const first = await sendText(other, conv, 'one')
      await sendText(other, conv, 'two')
      await sendText(other, conv, 'three')
      other.send({ type: 'recall', rid: 'r', conv, seq: first })
      const recalled = await other.nextOf('recall', (f) => f.rid === 'r')
      await other.close()
      // The device holds everything (it was online): nothing to read in the conversation.
      cursors.push({ conv, seq: recalled.event! })
    }
    for (let i = 0; i < n / 2; i++) {
      mine.send({ type: 'conv.create', rid: `g${i}`, kind: 'group', title: `g${i}`, members: [`${me}-p`] })
      const conv = (await mine.nextOf('conv', (f) => f.rid === `g${i}`)).conv.id
      const first = await sendText(peer, conv, 'one')
      mentionSeqs.set(conv, await sendText(peer, conv, `@${me}`, { mentions: [me] }))
      await sendText(peer, conv, 'three')
      peer.send({ type: 'recall', rid: 'r', conv, seq: first })
      const recalled = await peer.nextOf('recall', (f) => f.rid === 'r')
      cursors.push({ conv, seq: recalled.event! })
    }
  } finally {
    await peer.close()
    await mine.close()
  }
  return { cursors, mentionSeqs }
}

/** Close `me`'s socket and reconnect within the grace, as the app does: sync with its cursors, then convs. */
async function reconnect(me: string, cursors: { conv: string; seq: number }[]): Promise<{ commands: { total: number; calls: Record<string, number> }; convs: Conversation[] }> {
  const first = (await connectUser(server.url, me)).client
  // A first connection as the app makes it: the process's caches (records, member profiles) are warm after it.
  first.send({ type: 'sync', rid: 's0', cursors })
  first.send({ type: 'convs', rid: 'c0' })
  await first.nextOf('sync.done', (f) => f.rid === 's0')
  await first.nextOf('convs', (f) => f.rid === 'c0')
  await first.close()
  // The close is handled before the count starts (it costs no command: within the grace the
  // presence field and the routing stay as they are).
  await waitFor(() => server.connections() === 0)
  const auth = await devLogin(server.url, me)
  const before = await commandStats()
  const client = await TestClient.connect(server.url, auth.token)
  try {
    await client.nextOf('welcome')
    client.send({ type: 'sync', rid: 's1', cursors })
    client.send({ type: 'convs', rid: 'c1' })
    await client.nextOf('sync.done', (f) => f.rid === 's1')
    const convs = (await client.nextOf('convs', (f) => f.rid === 'c1')).items
    await client.nextOf('presences')
    return { commands: diff(before, await commandStats()), convs }
  } finally {
    await client.close()
  }
}

describe('Redis commands per reconnect', () => {
  it('are the same for a user in 4 and in 40 conversations, and convs still counts recall events out and finds mentions', async () => {
    const small = await setUp('rc4', 4)
    const large = await setUp('rc40', 40)
    const a = await reconnect('rc4', small.cursors)
    const b = await reconnect('rc40', large.cursors)
    expect(b.commands.total, `4: ${JSON.stringify(a.commands.calls)} 40: ${JSON.stringify(b.commands.calls)}`).toBe(a.commands.total)
    // A handful: the summary read at welcome (presence, sync, and the list: nothing changed since;
    // settings, hidden messages and relations folded into it), queue, peers' presence, suspension.
    expect(a.commands.calls, JSON.stringify(a.commands.calls)).toEqual({ zrange: 1, hgetall: 1, xrange: 1, hmget: 1, exists: 1 })
    // Back within the grace: the routing was kept, nothing subscribed, joined, left nor unsubscribed.
    for (const cmd of ['ssubscribe', 'sunsubscribe', 'spublish']) expect(a.commands.calls[cmd], cmd).toBeUndefined()
    for (const { convs, mentionSeqs } of [
      { convs: a.convs, mentionSeqs: small.mentionSeqs },
      { convs: b.convs, mentionSeqs: large.mentionSeqs },
    ]) {
      for (const c of convs) {
        // Four seqs after the read mark (three messages, the first now a tombstone, and the recall event): three to read.
        expect(c.lastSeq - c.readSeq).toBe(4)
        expect(c.unread).toBe(3)
        if (c.kind === 'group') expect(c.mentionSeq).toBe(mentionSeqs.get(c.id))
      }
    }
  })
})
