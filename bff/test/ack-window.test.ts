/**
 * The ack window over real sockets (gateway/connection.ts `ack`; PROTOCOL.md, Sending 2): a send
 * on its own is acked at once, the acks of a burst within ACK_WINDOW_MS of the last one written
 * wait for the window's end, and any other frame to the connection takes the held acks ahead of it.
 */
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { ServerFrame } from '@chat/shared'
import { newCid } from './support/client'
import { useTestServer } from './support/server'

const WINDOW_MS = 1000

describe.each(['memory', 'redis'] as const)('the ack window over the %s engine', (store) => {
  const t = useTestServer(store, { ACK_WINDOW_MS: String(WINDOW_MS), RATE_LIMIT_PER_SEC: '1000', RATE_LIMIT_BURST: '1000' })

  /** Alice and Bob with their 1:1 made (its first message sent, acked and delivered): nothing else is on its way to Alice. */
  async function pair() {
    const [a, b] = [t.uid('ackw-a'), t.uid('ackw-b')]
    const alice = await t.connect(a)
    const bob = await t.connect(b)
    const conv = directConvId(a, b)
    const cid = newCid()
    // Before the first ack is written (the server runs in this process: the same clock).
    const sentAt = performance.now()
    alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'first' } })
    await alice.client.nextOf('ack', (f) => f.cid === cid)
    await bob.client.nextOf('msg', (f) => f.m.cid === cid)
    return { alice, bob, conv, sentAt }
  }

  const kinds = (frames: ServerFrame[]) => frames.map((f) => (f.type === 'ack' ? `ack ${f.seq}` : f.type === 'msg' ? `msg ${f.m.seq}` : f.type))

  it('holds the acks of a burst until the window ends, then writes them all, in order', async () => {
    const { alice, bob, conv, sentAt } = await pair()
    // An ack was written just now (the first message's): the window it opened is still open.
    const cids = Array.from({ length: 4 }, () => newCid())
    cids.forEach((cid, i) => alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: `burst ${i}` } }))
    const from = alice.client.frames.length
    const acks = await Promise.all(cids.map((cid) => alice.client.nextOf('ack', (f) => f.cid === cid, 5000 + WINDOW_MS)))
    // Not before the window's end: it opened when the first ack was written, after `sentAt`
    // (the server's window start is in whole ms, hence the 1 ms).
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(WINDOW_MS - 1)
    expect(acks.map((x) => x.seq)).toEqual([2, 3, 4, 5])
    expect(kinds(alice.client.frames.slice(from))).toEqual(['ack 2', 'ack 3', 'ack 4', 'ack 5'])
    // Stored and delivered meanwhile: the window holds the ack, not the message.
    expect(bob.client.all('msg').map((f) => f.m.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('writes held acks ahead of a frame made after them (a message from the peer)', async () => {
    const { alice, bob, conv } = await pair()
    const cid = newCid()
    alice.client.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'held' } })
    // Stored (Bob has it), so its ack is made: held, the window being open.
    await bob.client.nextOf('msg', (f) => f.m.cid === cid)
    const from = alice.client.frames.length
    const reply = newCid()
    bob.client.send({ type: 'send', cid: reply, conv, kind: 'text', body: { text: 'reply' } })
    await alice.client.nextOf('msg', (f) => f.m.cid === reply)
    const seen = kinds(alice.client.frames.slice(from))
    expect(seen.indexOf('ack 2')).toBeGreaterThanOrEqual(0)
    expect(seen.indexOf('ack 2')).toBeLessThan(seen.indexOf('msg 3'))
  })
})
