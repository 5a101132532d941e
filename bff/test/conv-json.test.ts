/**
 * `convs` frames with last messages spliced in as stored JSON (chat/conv-json.ts): the same frame,
 * once parsed, as the generic encoding of the parsed messages, valid for the shared decoder, and
 * the helpers read seq, ts and kind of stored JSON without parsing it.
 */
import { describe, expect, it } from 'vitest'
import { decodeServerFrame } from '@chat/shared'
import type { Conversation, Message } from '@chat/shared'
import { encodeConvs, isTextJson, lastMessage, lastPlace, peekPlace, rawLast, replaceLast, setRawLast } from '../src/chat/conv-json'
import { encode } from '../src/chat/frames'
import { messageJson, messageJsonParts } from '../src/store/message-json'

const stored = (seq: number, kind: 'text' | 'image', body: object, ts = 1_700_000_000_000 + seq) =>
  messageJson(messageJsonParts({ conv: 'd:a:b', from: 'a', cid: `cid${String(seq).padStart(8, "0")}`, mid: `mid${String(seq).padStart(8, "0")}`, ts, kind, body, dedupWindowMs: 1 } as never), seq)

const conv = (id: string, lastSeq: number): Conversation => ({
  id,
  kind: 'direct',
  members: [{ id: 'a', name: 'A' }, { id: 'b', name: 'B' }],
  createdAt: 1,
  lastSeq,
  readSeq: 0,
  unread: lastSeq,
  peerRead: 0,
})

describe('convs with stored last messages', () => {
  it('encodes the same frame as the parsed messages would, and the shared decoder accepts it', () => {
    const text = stored(3, 'text', { text: 'say "kind":"image" and ,"ts":1' })
    const image = stored(7, 'image', { fileId: 'f1abcdefgh', name: 'a.png', size: 2, mime: 'image/png', width: 1, height: 1, url: '/files/f1abcdefgh', thumbUrl: '/files/f1abcdefgh/thumb' })
    const a = conv('d:a:b', 3)
    const b = conv('d:a:c', 7)
    const c = conv('d:a:d', 0)
    setRawLast(a, text)
    setRawLast(b, image)
    const frame = encodeConvs('r1', [a, b, c]).toString()
    const generic = encode.convs({ rid: 'r1', items: [{ ...a, lastMsg: JSON.parse(text) as Message }, { ...b, lastMsg: JSON.parse(image) as Message }, c] })
    expect(JSON.parse(frame)).toEqual(JSON.parse(generic))
    expect(decodeServerFrame(frame)).toEqual(decodeServerFrame(generic))
  })

  it('reads seq, ts and kind without parsing, parses once when asked, and a replaced last message is encoded as an object', () => {
    const json = stored(12, 'text', { text: ',"seq":99,"ts":5' }, 1234)
    expect(peekPlace(json)).toEqual({ seq: 12, ts: 1234 })
    expect(isTextJson(json)).toBe(true)
    expect(isTextJson(stored(1, 'image', { fileId: 'f', text: '"kind":"text"' }))).toBe(false)
    const c = conv('d:a:b', 12)
    setRawLast(c, json)
    expect(c.lastMsg).toBeUndefined()
    expect(lastPlace(c)).toMatchObject({ seq: 12, ts: 1234 })
    const m = lastMessage(c)!
    expect(m.seq).toBe(12)
    expect(rawLast(c)).toBeUndefined()
    replaceLast(c, { ...m, kind: 'hidden', body: {} })
    expect((JSON.parse(encodeConvs('r', [c]).toString()) as { items: Conversation[] }).items[0]!.lastMsg!.kind).toBe('hidden')
  })

  it('encodes every field of a conversation as JSON.stringify does, member profiles kept encoded on the profile', () => {
    const ann = { id: 'a', name: 'Ann "A" \\ 安', avatar: 'https://x/a.png' }
    const group: Conversation = {
      id: 'g:abcdefgh',
      kind: 'group',
      title: 'title "quoted"\n 群',
      members: [ann, { id: 'b', name: 'B' }],
      memberCount: 1999,
      createdAt: 5,
      lastSeq: 9,
      lastMsg: JSON.parse(stored(9, 'text', { text: 'hi' })) as Message,
      readSeq: 2,
      unread: 6,
      owner: 'a',
      admins: ['a', 'b'],
      joinedSeq: 1,
      muted: true,
      pinned: 1_700_000_000_000,
      mentionSeq: 8,
    }
    const direct = conv('d:a:b', 4)
    direct.members = [ann, direct.members[1]!]
    direct.muted = false
    const frame = encodeConvs('r"2', [group, direct]).toString()
    expect(JSON.parse(frame)).toEqual(JSON.parse(JSON.stringify({ type: 'convs', rid: 'r"2', items: [group, direct] })))
    expect(decodeServerFrame(frame)).toEqual(decodeServerFrame(encode.convs({ rid: 'r"2', items: [group, direct] })))
    // The profile's JSON is kept (not listed by JSON.stringify) and used for the next list.
    expect(Object.keys(ann)).toEqual(['id', 'name', 'avatar'])
    expect(JSON.stringify(ann)).toBe('{"id":"a","name":"Ann \\"A\\" \\\\ 安","avatar":"https://x/a.png"}')
    expect(encodeConvs('r', []).toString()).toBe('{"type":"convs","rid":"r","items":[]}')
    const frozen = Object.freeze({ id: 'c', name: 'C' })
    expect(JSON.parse(encodeConvs('r', [{ ...direct, members: [frozen] }]).toString())).toMatchObject({ items: [{ members: [{ id: 'c', name: 'C' }] }] })
  })

  it('writes long, non-ASCII and escaped strings and any number as JSON.stringify does, a list past the kept buffer too, each frame its own bytes', () => {
    const long = '长'.repeat(40) + 'x'.repeat(70) + '\u2028 "q" \\ \n' + '\ud83d\ude00'
    const many = Array.from({ length: 300 }, (_, i) => {
      const c = conv(`d:a:${String(i).padStart(4, '0')}`, i)
      c.members = [{ id: 'a', name: i % 2 ? long : `A${i}` }, { id: 'b', name: 'B' }]
      c.createdAt = i % 3 === 0 ? -i : i + 0.5
      c.unread = Number.MAX_SAFE_INTEGER
      setRawLast(c, stored(i + 1, 'text', { text: i % 2 ? long : 'plain' }))
      return c
    })
    const titled: Conversation = { ...conv('g:bbbbbbbb', 1), kind: 'group', title: long, owner: 'a"b', admins: ['a', '安'], joinedSeq: 0, pinned: Number.NaN }
    const first = encodeConvs('r1', [titled])
    const before = Buffer.from(first)
    const big = encodeConvs('r\u0001', many)
    expect(big.length).toBeGreaterThan(64 * 1024)
    const parsedLast = many.map((c) => ({ ...c, lastMsg: JSON.parse(rawLast(c)!) as Message }))
    // The same values as JSON.stringify writes (the fields in the schema's order, not the objects').
    const same = (frame: Buffer, rid: string, items: readonly Conversation[]) => expect(JSON.parse(frame.toString())).toEqual(JSON.parse(JSON.stringify({ type: 'convs', rid, items })))
    same(big, 'r\u0001', parsedLast)
    same(first, 'r1', [titled])
    // Written into the buffer the process keeps: each frame is a copy, untouched by the next.
    expect(first.equals(before)).toBe(true)
    same(encodeConvs('r2', [titled]), 'r2', [titled])
    expect(encodeConvs('r2', [titled]).length).toBe(Buffer.byteLength(JSON.stringify({ type: 'convs', rid: 'r2', items: [titled] })))
  })
})
