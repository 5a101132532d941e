/**
 * Bad input, one test each (issue: "Bad input"): every case gets an error frame or a close with a
 * stable code, the server stays up, another connected pair of users keeps chatting, and nothing
 * stored is lost.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { LIMITS, directConvId } from '@chat/shared'
import type { ClientFrame, Message } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { TestClient, connectUser, newCid } from './support/client'
import { dropPrefix, randomPrefix, startTestServer } from './support/server'
import { waitFor } from './support/wait'

const prefix = randomPrefix()
let server: RunningServer
let carol: TestClient
let dave: TestClient
const bystanderConv = directConvId('carol', 'dave')
let stored = 0
let n = 0

beforeAll(async () => {
  server = await startTestServer({
    STORE: 'redis',
    REDIS_PREFIX: prefix,
    RATE_LIMIT_PER_SEC: '5',
    RATE_LIMIT_BURST: '200',
    FLOOD_MAX_REJECTS: '20',
  })
  carol = (await connectUser(server.url, 'carol')).client
  dave = (await connectUser(server.url, 'dave')).client
})
afterAll(async () => {
  await Promise.all([carol.close(), dave.close()])
  await server.close()
  await dropPrefix(prefix)
})

/** The bystanders still chat, and every message stored so far is still there, in order. */
async function othersUnaffected(): Promise<void> {
  const cid = newCid()
  carol.send({ type: 'send', cid, conv: bystanderConv, kind: 'text', body: { text: `still here ${stored + 1}` } })
  const ack = await carol.nextOf('ack', (f) => f.cid === cid)
  stored++
  expect(ack.seq).toBe(stored)
  await dave.nextOf('msg', (f) => f.m.cid === cid)
  const history = await server.engine.messages.before(bystanderConv, undefined, LIMITS.maxPageSize)
  expect(history.map((m) => (JSON.parse(m) as Message).seq)).toEqual(Array.from({ length: stored }, (_, i) => i + 1))
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
}

async function attacker(): Promise<TestClient> {
  return (await connectUser(server.url, `mallory${++n}`)).client
}

describe('bad input', () => {
  beforeEach(async () => {
    await othersUnaffected()
  })

  it('malformed JSON: BAD_JSON, the socket stays open', async () => {
    const m = await attacker()
    m.sendRaw('{"type":"send",')
    expect((await m.nextOf('error')).code).toBe('BAD_JSON')
    m.send({ type: 'ping' })
    await m.nextOf('pong')
    await othersUnaffected()
    await m.close()
  })

  it('wrong field types: INVALID_FRAME answering the cid', async () => {
    const m = await attacker()
    m.sendRaw(JSON.stringify({ type: 'send', cid: 'abcdefgh12', conv: bystanderConv, kind: 'text', body: { text: 5 } }))
    const err = await m.nextOf('error')
    expect(err).toMatchObject({ code: 'INVALID_FRAME', cid: 'abcdefgh12', temporary: false })
    m.sendRaw(JSON.stringify({ type: 'history', rid: 'r1', conv: 'not a conv' }))
    expect(await m.nextOf('error', (e) => e.rid === 'r1')).toMatchObject({ code: 'INVALID_FRAME' })
    m.sendRaw('[1,2,3]')
    expect((await m.nextOf('error', (e) => e.rid === undefined && e.cid === undefined)).code).toBe('INVALID_FRAME')
    await othersUnaffected()
    await m.close()
  })

  it('unknown frame types: UNKNOWN_TYPE', async () => {
    const m = await attacker()
    m.sendRaw(JSON.stringify({ type: 'delete-everything', rid: 'x' }))
    expect((await m.nextOf('error')).code).toBe('UNKNOWN_TYPE')
    await othersUnaffected()
    await m.close()
  })

  it('oversized frames: close 1009', async () => {
    const m = await attacker()
    m.sendRaw(JSON.stringify({ type: 'ping', pad: 'x'.repeat(LIMITS.maxFrameBytes) }))
    expect((await m.closed).code).toBe(1009)
    await othersUnaffected()
  })

  it('floods: RATE_LIMITED errors, then close 4008', async () => {
    const m = await attacker()
    for (let i = 0; i < 300; i++) m.send({ type: 'ping', ts: i })
    const closed = await m.closed
    expect(closed.code).toBe(4008)
    const errors = m.all('error').map((e) => e.code)
    expect(errors).toContain('RATE_LIMITED')
    expect(errors.at(-1)).toBe('FLOODING')
    expect(m.all('error').find((e) => e.code === 'RATE_LIMITED')!.temporary).toBe(true)
    // The burst allowance was served before the limit applied.
    expect(m.all('pong').length).toBeGreaterThanOrEqual(200)
    await othersUnaffected()
  })

  it('binary frames: BINARY_UNSUPPORTED, close 1003', async () => {
    const m = await attacker()
    m.sendRaw(Buffer.from([1, 2, 3]), true)
    expect((await m.nextOf('error')).code).toBe('BINARY_UNSUPPORTED')
    expect((await m.closed).code).toBe(1003)
    await othersUnaffected()
  })

  it('sending as someone else: the claimed sender is ignored, the token decides', async () => {
    const m = await attacker()
    const victimConv = directConvId('carol', `mallory${n}`)
    const cid = newCid()
    m.sendRaw(JSON.stringify({ type: 'send', cid, conv: victimConv, kind: 'text', body: { text: 'I am carol' }, from: 'carol' }))
    const ack = await m.nextOf('ack', (f) => f.cid === cid)
    const atCarol = await carol.nextOf('msg', (f) => f.m.cid === cid)
    expect(atCarol.m.from).toBe(`mallory${n}`)
    expect((JSON.parse((await server.engine.messages.after(victimConv, ack.seq - 1, 1))[0]!) as Message).from).toBe(`mallory${n}`)
    await othersUnaffected()
    await m.close()
  })

  it('a conversation one is not in: NOT_MEMBER for send, history, sync, read and typing', async () => {
    const m = await attacker()
    const frames: ClientFrame[] = [
      { type: 'send', cid: 'intruder01', conv: bystanderConv, kind: 'text', body: { text: 'let me in' } },
      { type: 'history', rid: 'h', conv: bystanderConv },
      { type: 'sync', rid: 's', cursors: [{ conv: bystanderConv, seq: 0 }] },
      { type: 'read', conv: bystanderConv, seq: 1 },
      { type: 'typing', conv: bystanderConv },
    ]
    for (const f of frames) m.send(f)
    await m.nextOf('error', (e) => e.cid === 'intruder01' && e.code === 'NOT_MEMBER')
    await m.nextOf('error', (e) => e.rid === 'h' && e.code === 'NOT_MEMBER')
    await m.nextOf('error', (e) => e.rid === 's' && e.code === 'NOT_MEMBER')
    await m.nextOf('error', (e) => e.rid === undefined && e.code === 'NOT_MEMBER')
    await m.nextOf('error', (e) => e.rid === undefined && e.code === 'NOT_MEMBER')
    expect(m.all('messages')).toHaveLength(0)
    expect(carol.all('typing')).toHaveLength(0)
    expect(carol.all('receipt').filter((r) => r.user.startsWith('mallory'))).toHaveLength(0)
    // A group id that exists for others is indistinguishable from one that does not.
    m.send({ type: 'history', rid: 'g', conv: 'g:doesnotexist' })
    expect((await m.nextOf('error', (e) => e.rid === 'g')).code).toBe('NOT_MEMBER')
    await othersUnaffected()
    await m.close()
  })

  it('absurd seq ranges: SEQ_RANGE_INVALID or INVALID_FRAME', async () => {
    // Carol herself, on a second device, asking for nonsense in a conversation she is in.
    const c2 = (await connectUser(server.url, 'carol')).client
    c2.send({ type: 'history', rid: 'far', conv: bystanderConv, before: LIMITS.maxSeq })
    expect((await c2.nextOf('error', (e) => e.rid === 'far')).code).toBe('SEQ_RANGE_INVALID')
    c2.send({ type: 'sync', rid: 'future', cursors: [{ conv: bystanderConv, seq: 1_000_000 }] })
    expect((await c2.nextOf('error', (e) => e.rid === 'future')).code).toBe('SEQ_RANGE_INVALID')
    c2.send({ type: 'read', conv: bystanderConv, seq: 1_000_000 })
    expect((await c2.nextOf('error')).code).toBe('SEQ_RANGE_INVALID')
    c2.sendRaw(JSON.stringify({ type: 'history', rid: 'neg', conv: bystanderConv, before: -5 }))
    expect((await c2.nextOf('error', (e) => e.rid === 'neg')).code).toBe('INVALID_FRAME')
    c2.sendRaw(JSON.stringify({ type: 'sync', rid: 'frac', cursors: [{ conv: bystanderConv, seq: 1.5 }] }))
    expect((await c2.nextOf('error', (e) => e.rid === 'frac')).code).toBe('INVALID_FRAME')
    c2.sendRaw(JSON.stringify({ type: 'sync', rid: 'huge', cursors: [{ conv: bystanderConv, seq: 2 ** 60 }] }))
    expect((await c2.nextOf('error', (e) => e.rid === 'huge')).code).toBe('INVALID_FRAME')
    // The read mark did not move.
    const [state] = await server.engine.convs.states([bystanderConv], 'carol')
    expect(state!.readSeq).toBeLessThanOrEqual(stored)
    await othersUnaffected()
    await c2.close()
  })

  it('a huge history page, too many sync cursors, an over-long text: INVALID_FRAME', async () => {
    const c2 = (await connectUser(server.url, 'carol')).client
    c2.sendRaw(JSON.stringify({ type: 'history', rid: 'big', conv: bystanderConv, limit: 100_000 }))
    expect((await c2.nextOf('error', (e) => e.rid === 'big')).code).toBe('INVALID_FRAME')
    const cursors = Array.from({ length: LIMITS.maxSyncConversations + 1 }, (_, i) => ({ conv: `g:c${i}`, seq: 0 }))
    c2.sendRaw(JSON.stringify({ type: 'sync', rid: 'many', cursors }))
    expect((await c2.nextOf('error', (e) => e.rid === 'many')).code).toBe('INVALID_FRAME')
    const cid = newCid()
    c2.sendRaw(JSON.stringify({ type: 'send', cid, conv: bystanderConv, kind: 'text', body: { text: 'y'.repeat(LIMITS.maxTextChars + 1) } }))
    expect((await c2.nextOf('error', (e) => e.cid === cid)).code).toBe('INVALID_FRAME')
    await othersUnaffected()
    await c2.close()
  })

  it('recall: NOT_MEMBER, RECALL_NOT_ALLOWED, SEQ_RANGE_INVALID, INVALID_FRAME; a forged event kind is refused', async () => {
    const m = await attacker()
    m.send({ type: 'recall', rid: 'in', conv: bystanderConv, seq: 1 })
    expect((await m.nextOf('error', (e) => e.rid === 'in')).code).toBe('NOT_MEMBER')
    // Dave is a member, but the message is Carol's.
    dave.send({ type: 'recall', rid: 'notmine', conv: bystanderConv, seq: 1 })
    expect((await dave.nextOf('error', (e) => e.rid === 'notmine')).code).toBe('RECALL_NOT_ALLOWED')
    dave.send({ type: 'recall', rid: 'far', conv: bystanderConv, seq: 1_000_000 })
    expect((await dave.nextOf('error', (e) => e.rid === 'far')).code).toBe('SEQ_RANGE_INVALID')
    for (const seq of [0, -1, 1.5, 2 ** 60, '1']) {
      m.sendRaw(JSON.stringify({ type: 'recall', rid: `bad${String(seq)}`, conv: bystanderConv, seq }))
      expect((await m.nextOf('error', (e) => e.rid === `bad${String(seq)}`)).code).toBe('INVALID_FRAME')
    }
    // Nobody sends a recall event or a tombstone as a message of their own.
    for (const [kind, body] of [
      ['recall', { seq: 1, by: 'sender', at: 1 }],
      ['recalled', { by: 'moderation', at: 1 }],
    ] as const) {
      const cid = newCid()
      dave.sendRaw(JSON.stringify({ type: 'send', cid, conv: bystanderConv, kind, body }))
      expect((await dave.nextOf('error', (e) => e.cid === cid)).code).toBe('INVALID_FRAME')
    }
    const history = (await server.engine.messages.after(bystanderConv, 0, LIMITS.maxPageSize)).map((j) => JSON.parse(j) as { kind: string })
    expect(history.every((h) => h.kind === 'text')).toBe(true)
    await othersUnaffected()
    await m.close()
  })

  it('an image or file nobody uploaded: FILE_NOT_FOUND', async () => {
    const c2 = (await connectUser(server.url, 'carol')).client
    const cid = newCid()
    c2.send({ type: 'send', cid, conv: bystanderConv, kind: 'image', body: { fileId: 'nosuchfile' } })
    expect(await c2.nextOf('error', (e) => e.cid === cid)).toMatchObject({ code: 'FILE_NOT_FOUND', temporary: false })
    await othersUnaffected()
    await c2.close()
  })

  it('a client too slow to read: cut (4009) and its messages kept in its offline queue', async () => {
    // Its own server: the sender must outrun the rate limit of the shared one.
    const own = randomPrefix()
    const srv = await startTestServer({ STORE: 'redis', REDIS_PREFIX: own, SLOW_CONSUMER_BYTES: '65536', RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
    try {
      const slow = (await connectUser(srv.url, 'sloth')).client
      const sender = (await connectUser(srv.url, 'fast')).client
      const bystander = (await connectUser(srv.url, 'other')).client
      const conv = directConvId('fast', 'sloth')
      // The slow device stops reading; the sender keeps writing big messages to it.
      const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket
      socket.pause()
      const cut = () => srv.metrics.slowConsumers.get().then((m) => m.values[0]?.value ?? 0)
      const text = 'z'.repeat(LIMITS.maxTextChars)
      let sent = 0
      while ((await cut()) === 0 && sent < 5000) {
        const batch = Array.from({ length: 20 }, () => newCid())
        for (const cid of batch) sender.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
        await sender.nextOf('ack', (f) => f.cid === batch.at(-1))
        sent += batch.length
      }
      expect(await cut()).toBe(1)
      await waitFor(async () => (await srv.engine.queue.length('sloth')) > 0)
      socket.resume()
      const closed = await slow.closed
      // The close frame waits behind everything unread; a client that never takes it is destroyed (1006).
      expect([4009, 1006]).toContain(closed.code)
      // Someone else on the same server is not affected.
      const cid = newCid()
      sender.send({ type: 'send', cid, conv: directConvId('fast', 'other'), kind: 'text', body: { text: 'hi' } })
      await bystander.nextOf('msg', (f) => f.m.cid === cid)
      await Promise.all([sender.close(), bystander.close()])
    } finally {
      await srv.close()
      await dropPrefix(own)
    }
    await othersUnaffected()
  })

  it('a client that stops answering pings: close 4010', async () => {
    const quick = await startTestServer({ HEARTBEAT_INTERVAL_MS: '100' })
    try {
      const alive = (await connectUser(quick.url, 'alive')).client
      const auth = await (await import('./support/client')).devLogin(quick.url, 'dead')
      const dead = await TestClient.connect(quick.url, auth.token, { autoPong: false })
      await dead.nextOf('welcome')
      expect((await dead.closed).code).toBe(4010)
      // The responsive one stays through the same rounds.
      alive.send({ type: 'ping' })
      await alive.nextOf('pong')
      expect(alive.ws.readyState).toBe(alive.ws.OPEN)
      await alive.close()
    } finally {
      await quick.close()
    }
  })
})
