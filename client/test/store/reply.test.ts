/**
 * Replies and mentions on the client (PROTOCOL.md, Reply and mentions): the quote a reply shows
 * (never a recalled original's content), what a reply is sent with (the quote by seq) and kept as
 * across a restart, and the "[@you]" mark from pushes and from the server's `mentionSeq`.
 */
import { describe, expect, it } from 'vitest'
import type { Conversation, Message, ReplyQuote } from '@chat/shared'
import { ALICE, authResponse, BOB, CAROL, conv, msg, welcome } from '../fixtures'
import { initialState, markReadLocal, mergeServerMessages, setConvs, createChatStore } from '../../store/store'
import { localQuote, mentionedUnread, quoteLine, recalledSeqs, wireText } from '../../store/reply'
import type { ChatState } from '../../store/types'
import { translate } from '../../i18n/i18n'
import { createFakePlatform } from '../../platform/fake'
import { Auth, AUTH_STORAGE_KEY } from '../../net/auth'
import { ChatClient } from '../../net/chat-client'

const G = 'g:room'
const group = (o: Partial<Conversation> = {}): Conversation => conv({ id: G, kind: 'group', members: [ALICE, BOB, CAROL], owner: BOB.id, admins: [], joinedSeq: 0, ...o })
const base: ChatState = { ...initialState, me: ALICE, convs: { [G]: group() } }
const zh = (key: string, params?: Record<string, string | number>) => translate('zh-CN', key as never, params)
const en = (key: string, params?: Record<string, string | number>) => translate('en', key as never, params)
const names = (id: string) => ({ alice: 'Alice', bob: 'Bob', carol: 'Carol' })[id] ?? id

function text(seq: number, from: string, body: Extract<Message, { kind: 'text' }>['body']): Message {
  return { ...msg(seq, from, G), kind: 'text', body }
}

describe('quotes', () => {
  it('quotes text by a snippet cut as the server cuts it, images, files and voices by kind; not what is not stored or an event', () => {
    const long = '这是一条很长的消息'.repeat(6)
    expect(localQuote({ ...msg(3, BOB.id, G, long) })).toEqual({ seq: 3, from: 'bob', kind: 'text', snippet: `${long.slice(0, 40)}…` })
    const image = { ...msg(4, BOB.id, G), kind: 'image' as const, body: { fileId: 'f1', name: 'a.png', size: 1, mime: 'image/png', width: 1, height: 1, url: '/f', thumbUrl: '/t' } }
    expect(localQuote(image)).toEqual({ seq: 4, from: 'bob', kind: 'image' })
    const voice = { ...msg(8, BOB.id, G), kind: 'voice' as const, body: { fileId: 'f2', name: 'v.m4a', size: 1, mime: 'audio/mp4', url: '/v', duration: 3000 } }
    expect(localQuote(voice)).toEqual({ seq: 8, from: 'bob', kind: 'voice' })
    expect(quoteLine({ seq: 8, from: 'bob', kind: 'voice' }, false, zh, names)).toBe('Bob：[语音]')
    expect(localQuote({ cid: 'c', from: 'alice', conv: G, kind: 'text', body: { text: 'pending' }, ts: 1 })).toBeUndefined()
    expect(localQuote({ ...msg(5, BOB.id, G), kind: 'recalled', body: { by: 'sender', at: 1 } })).toBeUndefined()
  })

  it('shows "Name: snippet" ("名字：摘要" in Chinese), and the recalled notice once the original is known recalled, whatever the quote still holds', () => {
    const q: ReplyQuote = { seq: 1, from: 'bob', kind: 'text', snippet: 'the secret' }
    expect(quoteLine(q, false, en, names)).toBe('Bob: the secret')
    expect(quoteLine({ seq: 2, from: 'bob', kind: 'image' }, false, zh, names)).toBe('Bob：[图片]')
    expect(quoteLine(q, true, zh, names)).toBe('引用的消息已撤回')
    expect(quoteLine({ seq: 1, from: 'bob', kind: 'retracted' }, false, en, names)).toBe('Quoted message was recalled')
    // Recalled: a tombstone held, or a `recall` event naming a message not held.
    const s = mergeServerMessages(base, G, [msg(5, BOB.id, G), { ...msg(6, BOB.id, G), kind: 'recalled', body: { by: 'sender', at: 1 } }, { ...msg(7, BOB.id, G), kind: 'recall', body: { seq: 2, by: 'sender', at: 1 } }], 500)
    expect([...recalledSeqs(s.messages[G]!)].sort()).toEqual([2, 6])
  })

  it('sends the quote by seq only, mentions as picked; a plain text stays {text}', () => {
    expect(wireText({ text: 'hi' })).toEqual({ text: 'hi' })
    expect(wireText({ text: 'hi', reply: { seq: 3, from: 'bob', kind: 'text', snippet: 's' }, mentions: ['bob'], mentionAll: true })).toEqual({ text: 'hi', reply: { seq: 3 }, mentions: ['bob'], mentionAll: true })
  })
})

describe('mentions', () => {
  it('marks a group "[@you]" for an unread push mentioning me or everyone, not for my own or others; reading clears it', () => {
    let s = mergeServerMessages(base, G, [text(1, BOB.id, { text: '@Carol', mentions: ['carol'] })], 500)
    expect(mentionedUnread(s.convs[G])).toBe(false)
    s = mergeServerMessages(s, G, [text(2, BOB.id, { text: '@Alice', mentions: ['alice'] }), msg(3, CAROL.id, G)], 500)
    expect(s.convs[G]!.mentionSeq).toBe(2)
    expect(mentionedUnread(s.convs[G])).toBe(true)
    s = markReadLocal(s, G, 3)
    expect(mentionedUnread(s.convs[G])).toBe(false)
    s = mergeServerMessages(s, G, [text(4, ALICE.id, { text: '@all', mentionAll: true })], 500)
    expect(mentionedUnread(s.convs[G])).toBe(false)
    s = mergeServerMessages(s, G, [text(5, BOB.id, { text: '@all', mentionAll: true })], 500)
    expect(mentionedUnread(s.convs[G])).toBe(true)
    // The same push again changes nothing.
    expect(mergeServerMessages(s, G, [text(5, BOB.id, { text: '@all', mentionAll: true })], 500)).toBe(s)
  })

  it("takes the server's mentionSeq (offline mentions) and keeps a newer one seen here", () => {
    let s = setConvs(base, [group({ lastSeq: 9, readSeq: 2, unread: 7, mentionSeq: 6 })])
    expect(mentionedUnread(s.convs[G])).toBe(true)
    s = mergeServerMessages(s, G, [text(10, BOB.id, { text: '@Alice', mentions: ['alice'] })], 500)
    // A summary computed before the push does not take the newer mark away.
    s = setConvs(s, [group({ lastSeq: 9, readSeq: 2, unread: 7, mentionSeq: 6 })])
    expect(s.convs[G]!.mentionSeq).toBe(10)
    s = setConvs(s, [group({ lastSeq: 10, readSeq: 10, unread: 0 })])
    expect(mentionedUnread(s.convs[G])).toBe(false)
  })
})

describe('sending a reply', () => {
  it('shows the quote at once, sends {seq}, keeps it across a restart (outbox) and confirms it with the quote', async () => {
    const settle = () => new Promise<void>((r) => setTimeout(r, 0))
    const p = createFakePlatform()
    p.storage.set(AUTH_STORAGE_KEY, { session: authResponse(ALICE, p.timers.now()), issuedAt: p.timers.now() })
    const make = () => {
      const store = createChatStore()
      const auth = new Auth({ baseUrl: 'http://bff.test', http: p.http, storage: p.storage, timers: p.timers, renewMarginMs: 60_000 })
      return { store, client: new ChatClient({ platform: p, store, auth, baseUrl: 'http://bff.test', random: () => 0.5 }) }
    }
    const a = make()
    a.client.start()
    await settle()
    const quote: ReplyQuote = { seq: 1, from: 'bob', kind: 'text', snippet: 'question?' }
    const cid = a.client.sendText(G, 'answer', { quote, mentions: ['bob'] })
    expect(a.store.getState().messages[G]).toMatchObject([{ cid, status: 'sending', body: { text: 'answer', reply: quote, mentions: ['bob'] } }])
    a.client.dispose()

    const b = make()
    b.client.start()
    await settle()
    const s = p.transport.last
    s.open()
    s.push(welcome())
    const sent = s.framesOf('send')
    expect(sent.map((f) => f.body)).toEqual([{ text: 'answer', reply: { seq: 1 }, mentions: ['bob'] }])
    s.push({ type: 'ack', cid, mid: 'mid-2', conv: G, seq: 2, ts: 1_800_000_000_002 })
    expect(b.store.getState().messages[G]!.find((m) => m.cid === cid)).toMatchObject({ seq: 2, body: { text: 'answer', reply: quote, mentions: ['bob'] } })
  })
})
