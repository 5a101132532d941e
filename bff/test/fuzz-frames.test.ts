/**
 * Bad input as a class (issue: "Bad input gets a clear error code, never a crash"): every client
 * frame type, valid, then with each of its fields (and the fields of its nested objects) replaced by
 * values of the wrong type, out of range, too long, malformed Unicode or prototype keys, or left out,
 * plus whole-frame mutations (extra keys, `__proto__`, deep nesting). Against the Redis engine and
 * the embedded (memory) one. For
 * every frame: the socket stays open, every frame the server sends validates against the shared
 * schemas, no INTERNAL error, and a request whose rid (or send whose cid) survived the mutation gets an
 * answer carrying it. Afterwards Object.prototype is untouched and two bystanders still chat.
 * A new frame type without a sample here fails the first test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId, schemas } from '@chat/shared'
import type { ServerFrame } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { TestClient, connectUser, newCid } from './support/client'
import { type Json, BAD_VALUES } from './support/bad-values'
import { dropPrefix, randomPrefix, startTestServer } from './support/server'

let server: RunningServer
let fuzzer: TestClient
let peer: TestClient
let group = ''
const direct = directConvId('fzann', 'fzben')

type Sample = { [k: string]: Json }

/** One valid frame per client frame type; `rid` / `cid` are replaced per sent frame. */
function samples(): Record<string, Sample> {
  return {
    ping: { type: 'ping', ts: Date.now() },
    send: { type: 'send', cid: 'x', conv: direct, kind: 'text', body: { text: 'hello', mentions: ['fzben'] } },
    recv: { type: 'recv', acks: [{ conv: direct, seq: 1 }], q: '0-0' },
    read: { type: 'read', conv: direct, seq: 1 },
    sync: { type: 'sync', rid: 'x', cursors: [{ conv: direct, seq: 0 }] },
    history: { type: 'history', rid: 'x', conv: group, before: 5, limit: 10 },
    convs: { type: 'convs', rid: 'x' },
    'conv.create': { type: 'conv.create', rid: 'x', kind: 'group', members: ['fzben'], title: 'Fuzz' },
    users: { type: 'users', rid: 'x', q: 'fz' },
    typing: { type: 'typing', conv: direct },
    contacts: { type: 'contacts', rid: 'x' },
    relation: { type: 'relation', rid: 'x', op: 'request', user: 'fzben', note: 'hi' },
    'contacts.policy': { type: 'contacts.policy', rid: 'x', policy: 'anyone' },
    group: { type: 'group', rid: 'x', conv: group, op: 'rename', title: 'Renamed' },
    members: { type: 'members', rid: 'x', conv: group, after: 0, limit: 10 },
    recall: { type: 'recall', rid: 'x', conv: direct, seq: 1 },
    'conv.settings': { type: 'conv.settings', rid: 'x', conv: direct, muted: true, pinned: false },
    hide: { type: 'hide', rid: 'x', conv: direct, seq: 1 },
  }
}


interface Case {
  readonly text: string
  /** The rid or cid the answer must carry; undefined when no answer is owed (or the mutation broke the id). */
  readonly answer?: string
  readonly label: string
}

let serial = 0
function ids(frame: Sample): { frame: Sample; id?: string } {
  const out = structuredClone(frame)
  if ('rid' in out) out.rid = `fz${++serial}`
  if ('cid' in out) out.cid = newCid()
  return { frame: out, id: (out.rid ?? out.cid) }
}

/** Every mutation of one sample: each field (and nested field) replaced by each bad value, or removed. */
function mutations(type: string, sample: Sample): Case[] {
  const cases: Case[] = []
  const push = (label: string, frame: Sample, touched: string) => {
    const idKey = 'rid' in frame ? 'rid' : 'cid' in frame ? 'cid' : undefined
    const kept = idKey !== undefined && touched !== idKey && typeof frame[idKey] === 'string'
    cases.push({ text: JSON.stringify(frame), answer: kept ? (frame[idKey] as string) : undefined, label: `${type} ${label}` })
  }
  const { frame: valid, id } = ids(sample)
  cases.push({ text: JSON.stringify(valid), answer: id, label: `${type} valid` })
  for (const key of Object.keys(sample)) {
    if (key === 'type') continue
    for (const bad of BAD_VALUES) {
      const { frame } = ids(sample)
      frame[key] = bad
      push(`${key}=${JSON.stringify(bad).slice(0, 20)}`, frame, key)
    }
    const { frame: without } = ids(sample)
    delete without[key]
    push(`without ${key}`, without, key)
    const nested = sample[key]
    const inner = Array.isArray(nested) ? nested[0] : nested
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      for (const sub of Object.keys(inner)) {
        for (const bad of BAD_VALUES) {
          const { frame } = ids(sample)
          const target = (Array.isArray(frame[key]) ? (frame[key])[0] : frame[key]) as { [k: string]: Json }
          target[sub] = bad
          push(`${key}.${sub}=${JSON.stringify(bad).slice(0, 20)}`, frame, key)
        }
      }
    }
  }
  // Whole-frame mutations, written as text so that `__proto__` is a real own key of the parsed object.
  const { frame: extra, id: extraId } = ids(sample)
  const body = JSON.stringify(extra).slice(1)
  cases.push({ text: `{"__proto__":{"polluted":1},${body}`, answer: extraId, label: `${type} __proto__ key` })
  const { frame: ctor, id: ctorId } = ids(sample)
  cases.push({ text: `{"constructor":{"prototype":{"polluted":1}},${JSON.stringify(ctor).slice(1)}`, answer: ctorId, label: `${type} constructor key` })
  const { frame: deep, id: deepId } = ids(sample)
  cases.push({ text: `{"pad":${'['.repeat(5000)}${']'.repeat(5000)},${JSON.stringify(deep).slice(1)}`, answer: deepId, label: `${type} deeply nested extra key` })
  return cases
}

function answered(f: ServerFrame, id: string): boolean {
  return ('rid' in f && f.rid === id) || ('cid' in f && f.cid === id) || (f.type === 'ack' && f.cid === id)
}

describe.each(['redis', 'memory'] as const)('every client frame, mutated (%s engine)', (store) => {
  const prefix = randomPrefix()
  beforeAll(async () => {
    server = await startTestServer({
      STORE: store,
      REDIS_PREFIX: prefix,
      RATE_LIMIT_PER_SEC: '100000',
      RATE_LIMIT_BURST: '100000',
      FLOOD_MAX_REJECTS: '100000',
    })
    fuzzer = (await connectUser(server.url, 'fzann', { name: 'Ann' })).client
    peer = (await connectUser(server.url, 'fzben', { name: 'Ben' })).client
    fuzzer.send({ type: 'conv.create', rid: 'mk', kind: 'group', members: ['fzben'], title: 'Fuzz group' })
    group = (await fuzzer.nextOf('conv', (f) => f.rid === 'mk')).conv.id
    for (let i = 0; i < 3; i++) {
      const cid = newCid()
      fuzzer.send({ type: 'send', cid, conv: direct, kind: 'text', body: { text: `seed ${i}` } })
      await fuzzer.nextOf('ack', (f) => f.cid === cid)
    }
  })

  afterAll(async () => {
    await Promise.all([fuzzer?.close(), peer?.close()])
    await server?.close()
    if (store === 'redis') await dropPrefix(prefix)
  })

  it('has a valid sample for every frame type, and each sample is answered as valid', async () => {
    const all = samples()
    expect(Object.keys(all).sort()).toEqual([...schemas.CLIENT_FRAME_TYPES].sort())
    for (const [type, sample] of Object.entries(all)) {
      const { frame, id } = ids(sample)
      fuzzer.sendRaw(JSON.stringify(frame))
      if (id === undefined) continue
      const reply = await fuzzer.next((f) => answered(f, id), 10_000)
      expect([type, reply.type === 'error' ? reply.code : 'ok']).not.toEqual([type, 'INVALID_FRAME'])
    }
  })

  it('answers every mutation with a valid frame or nothing owed, never a crash, a close or INTERNAL', async () => {
    const cases = Object.entries(samples()).flatMap(([type, sample]) => mutations(type, sample))
    expect(cases.length).toBeGreaterThan(1000)
    const from = fuzzer.frames.length
    for (let i = 0; i < cases.length; i += 100) {
      const batch = cases.slice(i, i + 100)
      for (const c of batch) fuzzer.sendRaw(c.text)
      const marker = Date.now() + i
      fuzzer.send({ type: 'ping', ts: marker })
      await fuzzer.next((f) => f.type === 'pong' && f.ts === marker, 10_000)
      for (const c of batch) {
        if (c.answer === undefined) continue
        const id = c.answer
        await fuzzer.next((f) => answered(f, id), 10_000).catch((err: Error) => {
          throw new Error(`${c.label}: no answer carrying ${id} (${err.message})`)
        })
      }
    }
    expect(fuzzer.invalid).toEqual([])
    const codes = new Map<string, number>()
    for (const f of fuzzer.frames.slice(from)) if (f.type === 'error') codes.set(f.code, (codes.get(f.code) ?? 0) + 1)
    // Most mutations break the schema: the decoder, not a handler, refused them.
    expect(codes.get('INVALID_FRAME') ?? 0).toBeGreaterThan(cases.length / 2)
    const internal = fuzzer.frames.slice(from).filter((f) => f.type === 'error' && f.code === 'INTERNAL')
    expect(internal).toEqual([])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.prototype).not.toHaveProperty('polluted')

    // The socket is still open and the server still serves: a message reaches the peer.
    const cid = newCid()
    fuzzer.send({ type: 'send', cid, conv: direct, kind: 'text', body: { text: 'after the fuzz' } })
    await fuzzer.nextOf('ack', (f) => f.cid === cid)
    await peer.nextOf('msg', (f) => f.m.cid === cid)
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
  }, 120_000)
})
