/**
 * The server frame encoders (bff/src/chat/frames.ts): every one yields a frame the shared codec
 * accepts, and each template fast path is byte for byte the generic encoding of the same frame.
 */
import { describe, expect, it } from 'vitest'
import { decodeServerFrame } from '@chat/shared'
import { encode, encodeGeneric } from '../src/chat/frames'

const stored = '{"mid":"m1","cid":"c-000001","conv":"d:alice:bob","seq":7,"from":"alice","ts":1700000000000,"kind":"text","body":{"text":"hi \\"there\\" 你好"}}'
const message = JSON.parse(stored) as unknown

describe('server frame encoders', () => {
  it('ack: the fast path equals the generic encoding, with and without dup', () => {
    const base = { cid: 'c-000001', mid: 'm1', conv: 'd:alice:bob', seq: 7, ts: 1_700_000_000_000 }
    expect(encode.ack(base, false)).toBe(encodeGeneric('ack', base))
    expect(encode.ack(base, true)).toBe(encodeGeneric('ack', { ...base, dup: true }))
    expect(decodeServerFrame(encode.ack(base, true))).toEqual({ type: 'ack', ...base, dup: true })
    // From a whole stored message: only the ack's fields go out.
    expect(encode.ack(message as typeof base, false)).toBe(encodeGeneric('ack', { cid: 'c-000001', mid: 'm1', conv: 'd:alice:bob', seq: 7, ts: 1_700_000_000_000 }))
  })

  it('msg: the stored JSON passed through equals the generic encoding of the parsed message', () => {
    expect(encode.msg(stored)).toBe(encodeGeneric('msg', { m: message as never }))
    expect(decodeServerFrame(encode.msg(stored))).toEqual({ type: 'msg', m: message })
  })

  it('messages: the stored JSON passed through equals the generic encoding, empty or not', () => {
    const rid = 'r"1'
    expect(encode.messages(rid, 'd:alice:bob', [stored, stored], true)).toBe(
      encodeGeneric('messages', { rid, conv: 'd:alice:bob', msgs: [message, message] as never, more: true }),
    )
    expect(encode.messages('r1', 'g:abc', [], false)).toBe(encodeGeneric('messages', { rid: 'r1', conv: 'g:abc', msgs: [], more: false }))
    expect(decodeServerFrame(encode.messages('r1', 'd:alice:bob', [stored], false))).toEqual({
      type: 'messages',
      rid: 'r1',
      conv: 'd:alice:bob',
      msgs: [message],
      more: false,
    })
  })

  it('every other encoder yields a frame the shared codec accepts, fields unchanged', () => {
    const frames = [
      encode.pong({ serverTime: 5, ts: 4 }),
      encode.syncDone({ rid: 'r1', q: '1-0' }),
      encode.convs({ rid: 'r1', items: [] }),
      encode.users({ rid: 'r1', items: [{ id: 'bob', name: 'Bob' }] }),
      encode.receipt({ kind: 'read', conv: 'd:alice:bob', user: 'bob', seq: 3 }),
      encode.typing({ conv: 'd:alice:bob', user: 'bob' }),
      encode.presence({ user: 'bob', online: false, lastSeen: 9 }),
      encode.error({ code: 'NOT_MEMBER', message: 'no', temporary: false, rid: 'r1' }),
      encode.notice({ code: 'SHUTTING_DOWN', message: 'bye', retryAfterMs: 100 }),
    ]
    for (const text of frames) expect(JSON.parse(text)).toEqual(decodeServerFrame(text))
    expect(JSON.parse(frames[4]!)).toEqual({ type: 'receipt', kind: 'read', conv: 'd:alice:bob', user: 'bob', seq: 3 })
  })
})
