/**
 * The 1:1 send check across two real BFF processes sharing one Redis (issue 15): each process keeps
 * the pair it read for its sends, so a block made on the other process must reach it before the
 * blocker is answered. No sleeps: each refusal or acceptance is the answer to the send itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import { TestClient, connectUser, devLogin, newCid } from './support/client'
import { dropPrefix, randomPrefix } from './support/server'
import { dropBundle, spawnBff } from './support/spawn'
import type { BffProcess } from './support/spawn'

const LIMITS = { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' }

afterAll(async () => {
  await dropBundle()
})

let rids = 0
async function relation(c: TestClient, op: string, user: string): Promise<string> {
  const rid = `r${++rids}`
  c.send({ type: 'relation', op, user, rid } as never)
  const f = await c.next((x) => (x.type === 'relation' || x.type === 'error') && (x as { rid?: string }).rid === rid)
  return f.type === 'error' ? f.code : 'ok'
}
/** Send a text: 'ok' on its ack, else the error's code. */
async function send(c: TestClient, conv: string): Promise<string> {
  const cid = newCid()
  c.send({ type: 'send', cid, conv, kind: 'text', body: { text: cid } })
  const f = await c.next((x) => (x.type === 'ack' || x.type === 'error') && (x as { cid?: string }).cid === cid)
  return f.type === 'error' ? f.code : 'ok'
}

describe('the 1:1 send check over two BFF processes on one Redis', () => {
  const prefix = randomPrefix()
  let nodes: BffProcess[] = []
  const clients: TestClient[] = []

  beforeAll(async () => {
    nodes = await Promise.all([1, 2].map(() => spawnBff({ STORE: 'redis', REDIS_PREFIX: prefix, ...LIMITS })))
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    for (const n of nodes) n.kill()
    await Promise.all(nodes.map((n) => n.exited))
    await dropPrefix(prefix)
  })

  it('a block made on one process refuses the next send on the other, whose kept pair allowed it; an unblock there lets it through again', async () => {
    await Promise.all(['rp-ann', 'rp-bob'].map((u) => devLogin(nodes[0]!.url, u)))
    const ann = (await connectUser(nodes[0]!.url, 'rp-ann')).client
    const bob = (await connectUser(nodes[1]!.url, 'rp-bob')).client
    clients.push(ann, bob)
    const conv = directConvId('rp-ann', 'rp-bob')
    // ann's process reads the pair and keeps it (several sends, one read).
    for (let i = 0; i < 3; i++) expect(await send(ann, conv)).toBe('ok')
    expect(await relation(bob, 'block', 'rp-ann')).toBe('ok')
    expect(await send(ann, conv)).toBe('BLOCKED')
    expect(await send(ann, conv)).toBe('BLOCKED')
    // bob's own sends are bob's to make.
    expect(await send(bob, conv)).toBe('ok')
    expect(await relation(bob, 'unblock', 'rp-ann')).toBe('ok')
    expect(await send(ann, conv)).toBe('ok')
  })
})
