/**
 * The cache read at start (store/persist.ts): confirmed messages are validated as the wire's, and
 * an unsent message is restored only with a body it could have been sent with (a text, or a file
 * being uploaded); anything else in storage (an older version's, a corrupted write) is skipped,
 * never shown as a broken bubble.
 */
import { describe, expect, it } from 'vitest'
import { AB, ALICE, conv, msg } from '../fixtures'
import { loadCache } from '../../store/persist'
import { MemoryStorage } from '../../platform/fake'

describe('loading the cache', () => {
  it('restores unsent texts and files, and skips unsent messages whose body is not one', () => {
    const storage = new MemoryStorage()
    storage.set('chat.cache.alice.convs', { v: 2, convs: [conv({ lastSeq: 1, lastMsg: msg(1) })], parts: {}, peers: {} })
    const pending = (cid: string, kind: string, body: unknown) => ({ cid, from: ALICE.id, conv: AB, kind, body, ts: 5, status: 'sending' })
    storage.set(`chat.cache.alice.m.${AB}`, [
      msg(1),
      pending('pending-text-1', 'text', { text: 'on its way', mentions: ['bob'] }),
      pending('pending-file-1', 'file', { name: 'plan.pdf', size: 1234, mime: 'application/pdf' }),
      pending('pending-bad-01', 'text', { text: 5 }),
      pending('pending-bad-02', 'text', 'just a string'),
      pending('pending-bad-03', 'image', { size: 'big' }),
    ])
    const state = loadCache(storage, 'alice')
    expect(state.messages![AB]!.map((m) => m.cid)).toEqual([msg(1).cid, 'pending-text-1', 'pending-file-1'])
    expect(state.messages![AB]![2]!.body).toEqual({ name: 'plan.pdf', size: 1234, mime: 'application/pdf' })
  })
})
