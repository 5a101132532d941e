import { describe, expect, it } from 'vitest'
import { AppError, decodeClientFrame, decodeServerFrame, encodeFrame, schemas, utf8Length } from '../src'

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof AppError) return err.code
    throw err
  }
  return undefined
}

describe('decodeClientFrame', () => {
  it('accepts a text send and drops unknown keys', () => {
    const f = decodeClientFrame(
      JSON.stringify({ type: 'send', cid: 'c1234567', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' }, extra: 1 }),
    )
    expect(f).toEqual({ type: 'send', cid: 'c1234567', conv: 'd:alice:bob', kind: 'text', body: { text: 'hi' } })
  })

  it('accepts an image send that names only a file id', () => {
    const f = decodeClientFrame(
      JSON.stringify({ type: 'send', cid: 'c1234567', conv: 'g:team', kind: 'image', body: { fileId: 'up_1' } }),
    )
    expect(f.type === 'send' && f.kind === 'image' && f.body.fileId).toBe('up_1')
  })

  it.each([
    ['not json', '{"type":', 'BAD_JSON'],
    ['an array', '[1,2]', 'INVALID_FRAME'],
    ['null', 'null', 'INVALID_FRAME'],
    ['no type', '{"cid":"x"}', 'INVALID_FRAME'],
    ['numeric type', '{"type":3}', 'INVALID_FRAME'],
    ['unknown type', '{"type":"explode"}', 'UNKNOWN_TYPE'],
    ['a server-only type', '{"type":"welcome"}', 'UNKNOWN_TYPE'],
    ['text of wrong type', '{"type":"send","cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":5}}', 'INVALID_FRAME'],
    ['empty text', '{"type":"send","cid":"c1234567","conv":"d:a:b","kind":"text","body":{"text":""}}', 'INVALID_FRAME'],
    ['unknown kind', '{"type":"send","cid":"c1234567","conv":"d:a:b","kind":"video","body":{}}', 'INVALID_FRAME'],
    ['short cid', '{"type":"send","cid":"c1","conv":"d:a:b","kind":"text","body":{"text":"x"}}', 'INVALID_FRAME'],
    ['bad conv id', '{"type":"read","conv":"../etc","seq":1}', 'INVALID_FRAME'],
    ['negative seq', '{"type":"read","conv":"d:a:b","seq":-1}', 'INVALID_FRAME'],
    ['fractional seq', '{"type":"read","conv":"d:a:b","seq":1.5}', 'INVALID_FRAME'],
    ['absurd seq', '{"type":"read","conv":"d:a:b","seq":1e300}', 'INVALID_FRAME'],
    ['huge history page', '{"type":"history","rid":"r1","conv":"d:a:b","limit":100000}', 'INVALID_FRAME'],
    ['history before 0', '{"type":"history","rid":"r1","conv":"d:a:b","before":0}', 'INVALID_FRAME'],
  ])('rejects %s with %s', (_name, text, code) => {
    expect(codeOf(() => decodeClientFrame(text))).toBe(code)
  })

  it('rejects a text longer than the limit', () => {
    const text = 'x'.repeat(5001)
    expect(
      codeOf(() => decodeClientFrame(JSON.stringify({ type: 'send', cid: 'c1234567', conv: 'd:a:b', kind: 'text', body: { text } }))),
    ).toBe('INVALID_FRAME')
  })

  it('names the request a bad frame belonged to', () => {
    try {
      decodeClientFrame('{"type":"history","rid":"r42","conv":"d:a:b","limit":0}')
      expect.fail('should throw')
    } catch (err) {
      expect((err as AppError).details).toMatchObject({ type: 'history', ref: { rid: 'r42' } })
      expect((err as AppError).message).toContain('limit')
    }
  })
})

describe('decodeServerFrame', () => {
  const msg = { mid: 'm1', cid: 'c1234567', conv: 'd:alice:bob', seq: 1, from: 'alice', ts: 1, kind: 'text' as const, body: { text: 'hi' } }

  it('round-trips a push', () => {
    const frame = { type: 'msg', m: msg } as const
    expect(decodeServerFrame(encodeFrame(frame))).toEqual(frame)
  })

  it('rejects a push whose body does not fit its kind', () => {
    expect(codeOf(() => decodeServerFrame(JSON.stringify({ type: 'msg', m: { ...msg, kind: 'image' } })))).toBe('INVALID_FRAME')
  })

  it('rejects a client-only type and an error frame with an unknown code', () => {
    expect(codeOf(() => decodeServerFrame('{"type":"send"}'))).toBe('UNKNOWN_TYPE')
    expect(
      codeOf(() => decodeServerFrame('{"type":"error","code":"NOPE","message":"x","temporary":false}')),
    ).toBe('INVALID_FRAME')
  })
})

describe('utf8Length', () => {
  it.each(['', 'abc', 'héllo', '你好', '😀 ok', '\ud800 lone'])('matches Buffer for %j', (s) => {
    expect(utf8Length(s)).toBe(Buffer.byteLength(s, 'utf8'))
  })
})

describe('frame type lists', () => {
  it('hold every type of the frame unions once, in declaration order', () => {
    expect(schemas.CLIENT_FRAME_TYPES).toEqual(['ping', 'send', 'recv', 'read', 'sync', 'history', 'convs', 'conv.create', 'users', 'typing', 'contacts', 'relation', 'contacts.policy', 'group', 'members', 'recall', 'conv.settings', 'hide'])
    expect(schemas.SERVER_FRAME_TYPES).toEqual([
      'welcome', 'pong', 'ack', 'msg', 'messages', 'sync.done', 'convs', 'conv', 'users', 'receipt', 'typing', 'presence', 'presences', 'error', 'notice', 'contacts', 'relation', 'group', 'members', 'recall', 'conv.settings', 'hide',
    ])
  })

  it('match what the unions accept: each listed type decodes past UNKNOWN_TYPE', () => {
    for (const type of schemas.CLIENT_FRAME_TYPES) {
      expect(codeOf(() => decodeClientFrame(JSON.stringify({ type })))).not.toBe('UNKNOWN_TYPE')
    }
    for (const type of schemas.SERVER_FRAME_TYPES) {
      expect(codeOf(() => decodeServerFrame(JSON.stringify({ type })))).not.toBe('UNKNOWN_TYPE')
    }
  })
})
