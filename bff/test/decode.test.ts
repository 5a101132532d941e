/**
 * The gateway's fast path for text `send` frames decodes exactly as the shared codec does: the same
 * frame for every valid input, the same error (code and message) for every invalid one.
 */
import { describe, expect, it } from 'vitest'
import { AppError, LIMITS, decodeClientFrame } from '@chat/shared'
import { decodeFrame } from '../src/gateway/decode'

function outcome(decode: (text: string) => unknown, text: string): unknown {
  try {
    return { ok: decode(text) }
  } catch (err) {
    expect(err).toBeInstanceOf(AppError)
    const e = err as AppError
    return { code: e.code, message: e.message, details: e.details }
  }
}

const good = { type: 'send', cid: 'c1234567', conv: 'd:alice:bob', kind: 'text', body: { text: 'hello' } }
const variants: Record<string, unknown>[] = [
  good,
  { ...good, conv: 'g:room_1-x' },
  { ...good, extra: 1, body: { text: 'hi', more: true } },
  { ...good, cid: 'c'.repeat(LIMITS.maxIdChars) },
  { ...good, cid: 'c'.repeat(LIMITS.maxIdChars + 1) },
  { ...good, cid: 'short' },
  { ...good, cid: 'has space' },
  { ...good, cid: 12345678 },
  { ...good, cid: undefined },
  { ...good, conv: 'x:alice:bob' },
  { ...good, conv: 'd:alice' },
  { ...good, conv: `d:${'a'.repeat(LIMITS.maxIdChars)}:${'b'.repeat(LIMITS.maxIdChars)}` },
  { ...good, conv: `d:${'a'.repeat(LIMITS.maxIdChars + 1)}:${'b'.repeat(LIMITS.maxIdChars)}` },
  { ...good, conv: 'g:' },
  { ...good, conv: null },
  { ...good, kind: 'image', body: { fileId: 'f1' } },
  { ...good, kind: 'file', body: { fileId: 'f1' } },
  { ...good, kind: 'video' },
  { ...good, body: { text: '' } },
  { ...good, body: { text: 'x'.repeat(LIMITS.maxTextChars) } },
  { ...good, body: { text: 'x'.repeat(LIMITS.maxTextChars + 1) } },
  { ...good, body: { text: '😀'.repeat(LIMITS.maxTextChars / 2) } },
  { ...good, body: { text: 5 } },
  { ...good, body: {} },
  { ...good, body: null },
  { ...good, body: 'hello' },
  { ...good, body: [] },
  { ...good, body: undefined },
]

describe('decodeFrame', () => {
  it('agrees with the shared codec on valid and invalid text sends', () => {
    for (const v of variants) {
      const text = JSON.stringify(v)
      expect(outcome(decodeFrame, text), text.slice(0, 120)).toEqual(outcome(decodeClientFrame, text))
    }
  })

  it('agrees on the fast path in key order the client does not use, broken JSON and other frames', () => {
    const texts = [
      '{"type":"send","cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":"x"}',
      '{"type":"send"}',
      '{"type":"send","type":"ping","cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":"x"}}',
      '{"cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":"x"},"type":"send"}',
      '{"type":"send","__proto__":{"text":"x"},"cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":"x"}}',
      '{"type":"ping","ts":1}',
      '{"type":"nope"}',
      '[]',
      'null',
    ]
    for (const text of texts) expect(outcome(decodeFrame, text), text).toEqual(outcome(decodeClientFrame, text))
  })

  it('agrees with the shared codec on valid and invalid recv frames', () => {
    const ack = { conv: 'd:alice:bob', seq: 7 }
    const recvs: unknown[] = [
      { type: 'recv', acks: [ack] },
      { type: 'recv', acks: [ack], q: '1700000000000-0' },
      { type: 'recv', acks: [] },
      { type: 'recv', acks: [{ ...ack, extra: 1 }], extra: true },
      { type: 'recv', acks: Array.from({ length: LIMITS.maxSyncConversations }, () => ack) },
      { type: 'recv', acks: Array.from({ length: LIMITS.maxSyncConversations + 1 }, () => ack) },
      { type: 'recv', acks: [{ ...ack, seq: -1 }] },
      { type: 'recv', acks: [{ ...ack, seq: 1.5 }] },
      { type: 'recv', acks: [{ ...ack, seq: '7' }] },
      { type: 'recv', acks: [{ ...ack, seq: LIMITS.maxSeq }] },
      { type: 'recv', acks: [{ ...ack, seq: 1e300 }] },
      { type: 'recv', acks: [{ ...ack, conv: 'x:a:b' }] },
      { type: 'recv', acks: [{ seq: 1 }] },
      { type: 'recv', acks: [null] },
      { type: 'recv', acks: [[]] },
      { type: 'recv', acks: {} },
      { type: 'recv' },
      { type: 'recv', acks: [ack], q: 5 },
      { type: 'recv', acks: [ack], q: 'x'.repeat(64) },
      { type: 'recv', acks: [ack], q: 'x'.repeat(65) },
      { type: 'recv', acks: [ack], q: null },
    ]
    for (const v of recvs) {
      const text = JSON.stringify(v)
      expect(outcome(decodeFrame, text), text.slice(0, 120)).toEqual(outcome(decodeClientFrame, text))
    }
    const broken = ['{"type":"recv","acks":[', '{"type":"recv","acks":[{"conv":"d:a:b","seq":1}],"type":"ping"}', '{"type":"recv","__proto__":{"acks":[]},"acks":[]}']
    for (const text of broken) expect(outcome(decodeFrame, text), text).toEqual(outcome(decodeClientFrame, text))
    const frame = decodeFrame(JSON.stringify({ type: 'recv', acks: [{ ...ack, extra: 1 }], extra: true }))
    expect(frame).toEqual({ type: 'recv', acks: [ack] })
  })

  it('agrees with the shared codec on valid and invalid sync and convs frames', () => {
    const cursor = { conv: 'd:alice:bob', seq: 3 }
    const frames: unknown[] = [
      { type: 'sync', rid: 's1', cursors: [cursor, { conv: 'g:team', seq: 0 }] },
      { type: 'sync', rid: 's1', cursors: [] },
      { type: 'sync', rid: 's1', cursors: [{ ...cursor, extra: 1 }], extra: true },
      { type: 'sync', rid: 's1', cursors: Array.from({ length: LIMITS.maxSyncConversations }, () => cursor) },
      { type: 'sync', rid: 's1', cursors: Array.from({ length: LIMITS.maxSyncConversations + 1 }, () => cursor) },
      { type: 'sync', rid: 's1', cursors: [{ ...cursor, seq: -1 }] },
      { type: 'sync', rid: 's1', cursors: [{ ...cursor, seq: 2.5 }] },
      { type: 'sync', rid: 's1', cursors: [{ ...cursor, conv: 'x:a:b' }] },
      { type: 'sync', rid: 's1', cursors: [null] },
      { type: 'sync', rid: 's1', cursors: {} },
      { type: 'sync', rid: 's1' },
      { type: 'sync', rid: '', cursors: [] },
      { type: 'sync', rid: 'r'.repeat(LIMITS.maxIdChars), cursors: [] },
      { type: 'sync', rid: 'r'.repeat(LIMITS.maxIdChars + 1), cursors: [] },
      { type: 'sync', rid: 7, cursors: [] },
      { type: 'sync', cursors: [] },
      { type: 'convs', rid: 'c1' },
      { type: 'convs', rid: 'c1', extra: true },
      { type: 'convs', rid: '' },
      { type: 'convs', rid: null },
      { type: 'convs' },
      { type: 'convs', rid: 'c1', tag: '1abc0z9' },
      { type: 'convs', rid: 'c1', tag: 'x'.repeat(32) },
      { type: 'convs', rid: 'c1', tag: 'x'.repeat(33) },
      { type: 'convs', rid: 'c1', tag: '' },
      { type: 'convs', rid: 'c1', tag: 'ABC' },
      { type: 'convs', rid: 'c1', tag: 7 },
      { type: 'convs', rid: 'c1', tag: null },
    ]
    for (const v of frames) {
      const text = JSON.stringify(v)
      expect(outcome(decodeFrame, text), text.slice(0, 120)).toEqual(outcome(decodeClientFrame, text))
    }
    const broken = ['{"type":"sync","rid":"s","cursors":[', '{"type":"sync","rid":"s","cursors":[],"type":"ping"}', '{"type":"convs","rid":"c","type":"ping"}', '{"type":"convs"']
    for (const text of broken) expect(outcome(decodeFrame, text), text).toEqual(outcome(decodeClientFrame, text))
    expect(Object.keys(decodeFrame(JSON.stringify({ type: 'sync', extra: 1, cursors: [], rid: 's' })))).toEqual(['type', 'rid', 'cursors'])
  })

  it('returns a frame with only the schema keys', () => {
    const frame = decodeFrame(JSON.stringify({ ...good, extra: 1, body: { text: 'hi', more: true } }))
    expect(frame).toEqual({ type: 'send', cid: 'c1234567', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } })
    expect(Object.keys(frame)).toEqual(['type', 'cid', 'conv', 'kind', 'body'])
  })
})
