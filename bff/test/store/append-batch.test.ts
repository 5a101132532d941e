import { describe, expect, it } from 'vitest'
import { AppendBatcher } from '../../src/store/append-batch'
import type { AppendParts } from '../../src/store/append-batch'
import { arrayHeader, encodeText } from '../../src/store/resp'

/** The RESP encoding of a command, written the plain way (the protocol's own description). */
const plain = (parts: string[]) => Buffer.from(`*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join(''))

/** A sender's parts as the engine builds them: keys (the dedup key comes per message), then 2 arguments after head and tail. */
function partsOf(keys: string[], post: string[]): AppendParts {
  const numKeys = keys.length + 1
  const start = encodeText(arrayHeader(3 + numKeys + 2 + post.length), ['EVALSHA', 'single-sha', String(numKeys)])
  return { start, keys: encodeText('', keys), numKeys, count: encodeText('', [String(numKeys)]), post: encodeText('', post), postArgs: post.length }
}

/** A fake Redis side answering command by command, as the test tells it to. */
function fake() {
  const sent: { kind: 'single' | 'batch'; wire: Buffer; answer: (reply: unknown) => void; fail: (err: Error) => void }[] = []
  const call = (kind: 'single' | 'batch') => (wire: Buffer) =>
    new Promise<never>((resolve, reject) => sent.push({ kind, wire, answer: resolve as (r: unknown) => void, fail: reject }))
  return { sent, single: call('single'), batch: call('batch') }
}

const turn = () => new Promise((r) => setImmediate(r))

describe('append batches', () => {
  const ann = partsOf(['h1', 'm1', 'h1', 's:ann', 's:bob'], ['60000', 'ann'])
  const cat = partsOf(['h2', 'm2', 'h2', 's:cat', 's:dan'], ['60000', 'cat'])

  it('sends a turn with one append as the single command', async () => {
    const f = fake()
    const b = new AppendBatcher({ single: f.single, batch: f.batch, batchSha: 'batch-sha' })
    const reply = b.add(ann, 'd:ann:1', 'HEAD', 'TAIL')
    expect(f.sent).toHaveLength(0)
    await turn()
    expect(f.sent.map((s) => s.kind)).toEqual(['single'])
    expect(f.sent[0]!.wire).toEqual(plain(['EVALSHA', 'single-sha', '6', 'h1', 'm1', 'h1', 's:ann', 's:bob', 'd:ann:1', 'HEAD', 'TAIL', '60000', 'ann']))
    f.sent[0]!.answer([0, 7])
    expect(await reply).toEqual([0, 7])
    expect(b.batches).toBe(0)
  })

  it('sends the appends of one turn, of several senders and several of one, as one batch in arrival order, each answered with its own reply', async () => {
    const f = fake()
    const b = new AppendBatcher({ single: f.single, batch: f.batch, batchSha: 'batch-sha' })
    const replies = [b.add(ann, 'd:ann:1', 'H1', 'T1'), b.add(cat, 'd:cat:1', 'H2 "é"', 'T2 🎉'), b.add(ann, 'd:ann:2', 'H3', 'T3')]
    await turn()
    expect(f.sent.map((s) => s.kind)).toEqual(['batch'])
    const keys = (p: string[], dedup: string) => [...p, dedup]
    expect(f.sent[0]!.wire).toEqual(
      plain([
        'EVALSHA', 'batch-sha', '18',
        ...keys(['h1', 'm1', 'h1', 's:ann', 's:bob'], 'd:ann:1'),
        ...keys(['h2', 'm2', 'h2', 's:cat', 's:dan'], 'd:cat:1'),
        ...keys(['h1', 'm1', 'h1', 's:ann', 's:bob'], 'd:ann:2'),
        '6', 'H1', 'T1', '60000', 'ann',
        '6', 'H2 "é"', 'T2 🎉', '60000', 'cat',
        '6', 'H3', 'T3', '60000', 'ann',
      ]),
    )
    f.sent[0]!.answer([[0, 4], [1, '{"dup"}'], [0, 5]])
    expect(await Promise.all(replies)).toEqual([[0, 4], [1, '{"dup"}'], [0, 5]])
    expect({ batches: b.batches, batched: b.batched }).toEqual({ batches: 1, batched: 3 })
  })

  it('sends a full batch at once and the rest at the end of the turn', async () => {
    const f = fake()
    const b = new AppendBatcher({ single: f.single, batch: f.batch, batchSha: 'batch-sha', maxCount: 2 })
    const replies = [1, 2, 3, 4, 5].map((i) => b.add(ann, `d:${i}`, 'H', 'T'))
    expect(f.sent.map((s) => s.kind)).toEqual(['batch', 'batch'])
    await turn()
    expect(f.sent.map((s) => s.kind)).toEqual(['batch', 'batch', 'single'])
    f.sent[0]!.answer([[0, 1], [0, 2]])
    f.sent[1]!.answer([[0, 3], [0, 4]])
    f.sent[2]!.answer([0, 5])
    expect(await Promise.all(replies)).toEqual([[0, 1], [0, 2], [0, 3], [0, 4], [0, 5]])
  })

  it('fails every append of a batch that failed, and of one answered with the wrong number of replies', async () => {
    const f = fake()
    const b = new AppendBatcher({ single: f.single, batch: f.batch, batchSha: 'batch-sha' })
    const failed = [b.add(ann, 'd:1', 'H', 'T'), b.add(cat, 'd:2', 'H', 'T')]
    await turn()
    f.sent[0]!.fail(new Error('Command timed out'))
    for (const p of failed) await expect(p).rejects.toThrow('Command timed out')
    const short = [b.add(ann, 'd:3', 'H', 'T'), b.add(cat, 'd:4', 'H', 'T')]
    await turn()
    f.sent[1]!.answer([[0, 1]])
    for (const p of short) await expect(p).rejects.toThrow('append batch answered 1 replies for 2')
    // Nothing is left pending: the next turn starts afresh.
    const next = b.add(ann, 'd:5', 'H', 'T')
    await turn()
    expect(f.sent.map((s) => s.kind)).toEqual(['batch', 'batch', 'single'])
    f.sent[2]!.answer([0, 9])
    expect(await next).toEqual([0, 9])
  })
})
