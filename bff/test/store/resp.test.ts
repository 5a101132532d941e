import { describe, expect, it } from 'vitest'
import { CommandWriter, arrayHeader, bulkLength, encodeParts, encodeText } from '../../src/store/resp'

/** The RESP encoding of a command, written the plain way (the protocol's own description). */
const plain = (parts: string[]) => Buffer.from(`*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join(''))

describe('RESP encoding', () => {
  it('encodes bulk strings by their bytes, multi-byte text and empty strings included', () => {
    const parts = ['EVALSHA', 'a'.repeat(40), '2', 'k{c:d:a:b}:h', '', '{"text":"你好 🎉"}', '1234567890']
    expect(encodeParts(arrayHeader(parts.length), parts)).toEqual(plain(parts))
    for (const p of parts) expect(bulkLength(p)).toBe(Buffer.byteLength(`$${Buffer.byteLength(p)}\r\n${p}\r\n`))
  })

  it('keeps encoded parts as text of one character per byte, the same bytes as the Buffer', () => {
    const parts = ['k{c:d:a:b}:h', '', '名字 é 🎉', '60000']
    const text = encodeText(arrayHeader(parts.length), parts)
    expect(text.length).toBe(plain(parts).length)
    expect(Buffer.from(text, 'latin1')).toEqual(plain(parts))
  })

  it('writes a command from encoded text and bulk strings in order, sized first', () => {
    const all = ['EVALSHA', 'sha', '3', 'k1', 'k2', 'dedup', 'head "é"', 'tail 🎉', '60000', 'ann', '']
    const pre = encodeText(arrayHeader(all.length), all.slice(0, 5))
    const post = encodeText('', all.slice(8))
    const w = new CommandWriter('').sizeEncoded(pre).sizeBulk(all[5]!).sizeBulk(all[6]!).sizeBulk(all[7]!).sizeEncoded(post)
    expect(w.start().encoded(pre).bulk(all[5]!).bulk(all[6]!).bulk(all[7]!).encoded(post).done()).toEqual(plain(all))
  })

  it('refuses a command written otherwise than it was sized', () => {
    const w = new CommandWriter(arrayHeader(2)).sizeBulk('GET').sizeBulk('k')
    expect(() => w.start().bulk('GET').done()).toThrow(/written 13 of 20 bytes/)
  })
})
