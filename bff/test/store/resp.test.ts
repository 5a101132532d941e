import { describe, expect, it } from 'vitest'
import { arrayHeader, bulkLength, encodeCommand, encodeParts } from '../../src/store/resp'

/** The RESP encoding of a command, written the plain way (the protocol's own description). */
const plain = (parts: string[]) => Buffer.from(`*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join(''))

describe('RESP encoding', () => {
  it('encodes bulk strings by their bytes, multi-byte text and empty strings included', () => {
    const parts = ['EVALSHA', 'a'.repeat(40), '2', 'k{c:d:a:b}:h', '', '{"text":"你好 🎉"}', '1234567890']
    expect(encodeParts(arrayHeader(parts.length), parts)).toEqual(plain(parts))
    for (const p of parts) expect(bulkLength(p)).toBe(Buffer.byteLength(`$${Buffer.byteLength(p)}\r\n${p}\r\n`))
  })

  it('joins the encoded parts before and after with the ones written per command', () => {
    const all = ['EVALSHA', 'sha', '3', 'k1', 'k2', 'dedup', 'head "é"', 'tail 🎉', '60000', 'ann', '']
    const pre = encodeParts(arrayHeader(all.length), all.slice(0, 5))
    const post = encodeParts('', all.slice(8))
    expect(encodeCommand(pre, all.slice(5, 8), post)).toEqual(plain(all))
  })
})
