/**
 * What one frame may cause is bounded by what it legitimately means (issue 12, defects 2 and 3):
 * repeated entries are one, receipts only for seqs that exist and only when a mark moves. On both
 * engines. Each test ends with a legitimate frame whose effect is awaited, so "nothing more came"
 * is checked after the server handled everything before it.
 */
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import { newCid } from './support/client'
import { useTestServer } from './support/server'

describe.each(['memory', 'redis'] as const)('amplification over the %s engine', (store) => {
  const t = useTestServer(store, { RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
  const uid = t.uid
  const user = async (name: string) => (await t.connect(name)).client


  /** A 1:1 with `count` messages from the first user, received by the second. */
  async function pair(count: number) {
    const a = uid('snd')
    const b = uid('rcv')
    const sender = await user(a)
    const receiver = await user(b)
    const conv = directConvId(a, b)
    const cids = Array.from({ length: count }, () => newCid())
    for (const cid of cids) sender.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'x' } })
    await sender.nextOf('ack', (f) => f.cid === cids.at(-1))
    for (const cid of cids) await receiver.nextOf('msg', (f) => f.m.cid === cid)
    return { a, b, sender, receiver, conv }
  }

  const receiptsSent = async () => (await t.server.metrics.framesOut.get()).values.find((v) => v.labels.type === 'receipt')?.value ?? 0

  it('one recv naming a conversation 500 times: one delivered receipt, of its highest seq', async () => {
    const { b, sender, receiver, conv } = await pair(3)
    const before = await receiptsSent()
    receiver.send({ type: 'recv', acks: Array.from({ length: 500 }, (_, i) => ({ conv, seq: 1 + (i % 2) })) })
    // The same marks again, lower ones, and a frame repeated: nothing moves, nothing is sent.
    receiver.send({ type: 'recv', acks: Array.from({ length: 500 }, () => ({ conv, seq: 2 })) })
    receiver.send({ type: 'recv', acks: [{ conv, seq: 1 }] })
    receiver.send({ type: 'recv', acks: [{ conv, seq: 3 }] })
    await sender.nextOf('receipt', (f) => f.kind === 'delivered' && f.seq === 3)
    expect(sender.all('receipt')).toEqual([
      { type: 'receipt', kind: 'delivered', conv, user: b, seq: 2 },
      { type: 'receipt', kind: 'delivered', conv, user: b, seq: 3 },
    ])
    expect((await receiptsSent()) - before).toBe(2)
    expect(receiver.all('error')).toEqual([])
  })

  it('a recv or read naming a seq that does not exist: SEQ_RANGE_INVALID, nothing relayed, queue untouched', async () => {
    const { b, sender, receiver, conv } = await pair(2)
    const before = await receiptsSent()
    for (const seq of [Number.MAX_SAFE_INTEGER, 3]) {
      receiver.send({ type: 'recv', acks: [{ conv, seq: 1 }, { conv, seq }] })
      const err = await receiver.nextOf('error', (f) => f.code === 'SEQ_RANGE_INVALID')
      expect(err.temporary).toBe(false)
      receiver.send({ type: 'read', conv, seq })
      await receiver.nextOf('error', (f) => f.code === 'SEQ_RANGE_INVALID')
    }
    // Stored state: the read mark did not move.
    const [state] = await t.server.engine.convs.states([conv], b)
    expect(state!.readSeq).toBe(0)
    receiver.send({ type: 'recv', acks: [{ conv, seq: 2 }] })
    await sender.nextOf('receipt', (f) => f.kind === 'delivered')
    // Only the legitimate receipt came: the refused frames relayed nothing (not even their valid entry).
    expect(sender.all('receipt')).toEqual([{ type: 'receipt', kind: 'delivered', conv, user: b, seq: 2 }])
    expect((await receiptsSent()) - before).toBe(1)
  })

  it('read repeated: one read receipt per move of the mark, none for a mark already reached', async () => {
    const { b, sender, receiver, conv } = await pair(3)
    for (let i = 0; i < 50; i++) receiver.send({ type: 'read', conv, seq: 2 })
    receiver.send({ type: 'read', conv, seq: 1 })
    receiver.send({ type: 'read', conv, seq: 3 })
    await sender.nextOf('receipt', (f) => f.kind === 'read' && f.seq === 3)
    const reads = sender.all('receipt').filter((f) => f.kind === 'read')
    expect(reads.map((r) => r.seq)).toEqual([2, 3])
    expect(reads.every((r) => r.user === b && r.conv === conv)).toBe(true)
    const [state] = await t.server.engine.convs.states([conv], b)
    expect(state!.readSeq).toBe(3)
  })
})
