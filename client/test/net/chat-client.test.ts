// Over 400 lines on purpose: the chat client's behaviour end to end over one fake platform and server script.
import { describe, expect, it } from 'vitest'
import type { ServerFrameOf } from '@chat/shared'
import { createFakePlatform, type FakePlatform, type FakeSocket } from '../../platform/fake'
import { createChatStore, type ChatStore } from '../../store/store'
import { cursorOf, displayStatus } from '../../store/selectors'
import { AB, ALICE, authResponse, BOB, conv, msg, welcome } from '../fixtures'
import { Auth, AUTH_STORAGE_KEY } from '../../net/auth'
import { ChatClient } from '../../net/chat-client'

const settle = () => new Promise<void>((r) => setTimeout(r, 0))

interface H {
  p: FakePlatform
  store: ChatStore
  client: ChatClient
  auth: Auth
}

function setup(p: FakePlatform = createFakePlatform()): H {
  if (p.storage.get(AUTH_STORAGE_KEY) === undefined) {
    p.storage.set(AUTH_STORAGE_KEY, { session: authResponse(ALICE, p.timers.now()), issuedAt: p.timers.now() })
  }
  const store = createChatStore()
  const auth = new Auth({ baseUrl: 'http://bff.test', http: p.http, storage: p.storage, timers: p.timers, renewMarginMs: 60_000 })
  const client = new ChatClient({ platform: p, store, auth, baseUrl: 'http://bff.test', random: () => 0.5 })
  return { p, store, client, auth }
}

/** Connect and answer welcome; returns the socket and the sync request it sent. */
async function online(h: H): Promise<{ s: FakeSocket; syncRid: string }> {
  h.client.start()
  await settle()
  const s = h.p.transport.last
  s.open()
  s.push(welcome())
  const sync = s.framesOf('sync').at(-1)
  return { s, syncRid: String(sync?.rid) }
}

function texts(h: H, c = AB): string[] {
  return (h.store.getState().messages[c] ?? []).map((m) => ('text' in m.body ? m.body.text : '?'))
}

function ack(cid: string, seq: number, dup = false): ServerFrameOf<'ack'> {
  return { type: 'ack', cid, mid: `mid-${seq}`, conv: AB, seq, ts: 1_800_000_000_000 + seq, ...(dup ? { dup } : {}) }
}

function answerSync(s: FakeSocket, rid: string, batches: Array<ServerFrameOf<'messages'>['msgs']>, q = 'q-1') {
  for (const msgs of batches) s.push({ type: 'messages', rid, conv: AB, msgs, more: false })
  s.push({ type: 'sync.done', rid, q })
}

describe('ChatClient', () => {
  it('recovers a sync refused for a conversation the server no longer has: drops the stale copy, keeps pending, syncs again', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv({ lastSeq: 2 })] })
    answerSync(s, syncRid, [[msg(1), msg(2)]])
    // Offline: one message written. The server restarts without its data.
    s.drop(1006)
    const cid = h.client.sendText(AB, 'written while away')
    h.p.timers.advance(10_000)
    await settle()
    const s2 = h.p.transport.last
    s2.open()
    s2.push(welcome())
    const sync2 = s2.framesOf('sync').at(-1)!
    expect(sync2.cursors).toEqual([{ conv: AB, seq: 2 }])
    s2.push({ type: 'error', code: 'NOT_MEMBER', message: `not a member of ${AB}`, temporary: false, rid: String(sync2.rid) })
    // The client asks for the list, which no longer has the conversation...
    const ask = s2.framesOf('convs').at(-1)!
    s2.push({ type: 'convs', rid: String(ask.rid), items: [] })
    await settle()
    // ...keeps only its pending message there, and syncs again without the stale cursor.
    expect(texts(h)).toEqual(['written while away'])
    const sync3 = s2.framesOf('sync').at(-1)!
    expect(sync3.rid).not.toBe(sync2.rid)
    expect(sync3.cursors).toEqual([])
    // The pending message went out again with its cid and lands at the new seq 1.
    expect(s2.framesOf('send').map((f) => f.cid)).toContain(cid)
    s2.push(ack(cid, 1))
    expect(h.store.getState().messages[AB]!.map((m) => [m.seq, m.cid])).toEqual([[1, cid]])
  })

  it('sends a text at once as pending, then sent on ack, delivered and read on receipts', async () => {
    const h = setup()
    const { s } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv()] })
    const cid = h.client.sendText(AB, 'hello')
    const pending = h.store.getState().messages[AB]![0]!
    expect(pending).toMatchObject({ cid, status: 'sending', from: 'alice' })
    expect(displayStatus(pending, undefined)).toBe('sending')
    expect(s.framesOf('send')).toEqual([{ type: 'send', cid, conv: AB, kind: 'text', body: { text: 'hello' } }])

    s.push(ack(cid, 1))
    const sent = h.store.getState().messages[AB]![0]!
    expect(sent).toMatchObject({ cid, seq: 1, mid: 'mid-1' })
    expect(sent.status).toBeUndefined()
    expect(displayStatus(sent, h.store.getState().peers[AB])).toBe('sent')

    s.push({ type: 'receipt', kind: 'delivered', conv: AB, user: 'bob', seq: 1 })
    expect(displayStatus(sent, h.store.getState().peers[AB])).toBe('delivered')
    s.push({ type: 'receipt', kind: 'read', conv: AB, user: 'bob', seq: 1 })
    expect(displayStatus(sent, h.store.getState().peers[AB])).toBe('read')
    // The outbox is empty once acked.
    expect(h.p.storage.get('chat.outbox.alice')).toBeUndefined()
  })

  it('keeps a message written offline in the persisted outbox and sends it with the same cid on connect', async () => {
    const h = setup()
    h.client.start() // connecting: not open yet
    const cid = h.client.sendText(AB, 'written offline')
    expect(h.p.storage.get('chat.outbox.alice')).toMatchObject([{ cid, conv: AB, body: { text: 'written offline' } }])
    await settle()
    const s = h.p.transport.last
    expect(s.sent).toHaveLength(0)
    s.open()
    s.push(welcome())
    expect(s.framesOf('send').map((f) => f.cid)).toEqual([cid])
  })

  it('resends after a reconnect mid-send (lost ack) with the same cid, and shows the message once', async () => {
    const h = setup()
    const { s } = await online(h)
    const cid = h.client.sendText(AB, 'once')
    expect(s.framesOf('send')).toHaveLength(1)
    s.drop(1006) // the ack is lost with the socket
    h.p.timers.advance(1_000)
    await settle()
    const s2 = h.p.transport.last
    s2.open()
    s2.push(welcome())
    expect(s2.framesOf('send').map((f) => f.cid)).toEqual([cid])
    // The server had stored it: the sync returns it, then the dup ack arrives.
    const rid = String(s2.framesOf('sync')[0]!.rid)
    answerSync(s2, rid, [[{ ...msg(1, 'alice', AB, 'once'), cid }]])
    s2.push(ack(cid, 1, true))
    expect(texts(h)).toEqual(['once'])
    expect(h.store.getState().messages[AB]![0]!.seq).toBe(1)
  })

  it('survives an app restart with an unacked message: restored as sending and sent again', async () => {
    const p = createFakePlatform()
    const h1 = setup(p)
    await online(h1)
    h1.p.transport.last.drop(1006)
    const cid = h1.client.sendText(AB, 'before restart')
    // The app dies before its cache is written: only the outbox (written at once) survives.
    h1.client.dispose()

    const h2 = setup(p)
    h2.client.start()
    expect(h2.store.getState().messages[AB]).toMatchObject([{ cid, status: 'sending', body: { text: 'before restart' } }])
    const { s } = await online(h2)
    expect(s.framesOf('send').map((f) => f.cid)).toEqual([cid])
  })

  it('shows duplicate pushes once and orders out-of-order seqs', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [])
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(3) })
    s.push({ type: 'msg', m: msg(2) })
    s.push({ type: 'msg', m: msg(3) })
    s.push({ type: 'msg', m: msg(1) })
    expect(h.store.getState().messages[AB]!.map((m) => m.seq)).toEqual([1, 2, 3])
  })

  it('fills a hole with history (before = the seq after the hole)', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [[msg(1), msg(2)]])
    s.push({ type: 'msg', m: msg(6) })
    const hist = s.framesOf('history')
    expect(hist).toHaveLength(1)
    expect(hist[0]).toMatchObject({ conv: AB, before: 6, limit: 3 })
    s.push({ type: 'messages', rid: String(hist[0]!.rid), conv: AB, msgs: [msg(3), msg(4), msg(5)], more: true })
    expect(h.store.getState().messages[AB]!.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6])
    expect(s.framesOf('history')).toHaveLength(1)
  })

  it('does not fill holes while a sync is running (its later batches fill them)', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'messages', rid: syncRid, conv: AB, msgs: [msg(1), msg(2)], more: true })
    s.push({ type: 'msg', m: msg(5) }) // live push racing the sync
    expect(s.framesOf('history')).toHaveLength(0)
    s.push({ type: 'messages', rid: syncRid, conv: AB, msgs: [msg(3), msg(4), msg(5)], more: false })
    s.push({ type: 'sync.done', rid: syncRid, q: 'q7' })
    expect(s.framesOf('history')).toHaveLength(0)
    expect(h.store.getState().messages[AB]!.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('acknowledges the offline queue and delivery cumulatively, batched', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [[msg(1), msg(2)]], 'q-42')
    expect(s.framesOf('recv')).toEqual([{ type: 'recv', acks: [{ conv: AB, seq: 2 }], q: 'q-42' }])
    for (let i = 3; i <= 20; i++) s.push({ type: 'msg', m: msg(i) })
    expect(s.framesOf('recv')).toHaveLength(1)
    h.p.timers.advance(300)
    expect(s.framesOf('recv')).toHaveLength(2)
    expect(s.framesOf('recv')[1]).toEqual({ type: 'recv', acks: [{ conv: AB, seq: 20 }] })
  })

  it('syncs from the cursor it holds after reconnecting, and after returning from the background', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    expect(s.framesOf('sync')[0]!.cursors).toEqual([])
    answerSync(s, syncRid, [[msg(1), msg(2), msg(3)]])
    h.p.lifecycle.goBackground()
    s.drop(1000, 'interrupted')
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1)
    h.p.lifecycle.goForeground()
    await settle()
    const s2 = h.p.transport.last
    s2.open()
    s2.push(welcome())
    expect(s2.framesOf('sync')[0]!.cursors).toEqual([{ conv: AB, seq: 3 }])
    const rid = String(s2.framesOf('sync')[0]!.rid)
    answerSync(s2, rid, [[msg(4), msg(5)]])
    expect(h.store.getState().messages[AB]!.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5])
  })

  it('catches up by seq when the socket survived the background', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [[msg(1)]])
    h.p.lifecycle.goBackground()
    h.p.lifecycle.goForeground()
    expect(s.framesOf('sync').at(-1)!.cursors).toEqual([{ conv: AB, seq: 1 }])
  })

  it('retries a temporary send error with the same cid and marks a permanent one failed; retry resends', async () => {
    const h = setup()
    const { s } = await online(h)
    const a = h.client.sendText(AB, 'a')
    s.push({ type: 'error', code: 'RATE_LIMITED', message: 'slow down', temporary: true, cid: a })
    expect(s.framesOf('send')).toHaveLength(1)
    h.p.timers.advance(250)
    expect(s.framesOf('send').map((f) => f.cid)).toEqual([a, a])

    const b = h.client.sendText(AB, 'b')
    s.push({ type: 'error', code: 'NOT_MEMBER', message: 'no', temporary: false, cid: b })
    const failed = h.store.getState().messages[AB]!.find((m) => m.cid === b)!
    expect(failed).toMatchObject({ status: 'failed', error: 'NOT_MEMBER' })
    expect(displayStatus(failed, undefined)).toBe('failed')
    h.client.retry(AB, b)
    expect(s.framesOf('send').at(-1)).toMatchObject({ cid: b })
    expect(h.store.getState().messages[AB]!.find((m) => m.cid === b)!.status).toBe('sending')
  })

  it('forwards a stored message: its copy shown at once in the target, sent as kind forward, stored on ack; a refusal rejects with its code and the copy goes', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [[msg(1), { ...msg(2), kind: 'text', body: { text: 'see you at 3', reply: { seq: 1, from: BOB.id, kind: 'text', snippet: 'm1' } } }]])
    const AC = 'd:alice:carol'
    const source = h.store.getState().messages[AB]!.find((m) => m.seq === 2)!
    const forwarded = h.client.forward(source, AC)
    // Shown at once as the server will store it: the text, without the quote.
    expect(h.store.getState().messages[AC]).toMatchObject([{ from: ALICE.id, kind: 'text', body: { text: 'see you at 3' }, status: 'sending' }])
    expect(h.store.getState().messages[AC]![0]!.body).toEqual({ text: 'see you at 3' })
    const frame = s.framesOf('send').at(-1)!
    expect(frame).toEqual({ type: 'send', cid: frame.cid, conv: AC, kind: 'forward', body: { from: { conv: AB, seq: 2 } } })
    s.push({ type: 'ack', cid: String(frame.cid), mid: 'mid-ac-1', conv: AC, seq: 1, ts: 1_800_000_009_000 })
    await forwarded
    expect(h.store.getState().messages[AC]).toMatchObject([{ seq: 1, mid: 'mid-ac-1', kind: 'text', body: { text: 'see you at 3' } }])
    expect(h.store.getState().messages[AC]![0]!.status).toBeUndefined()

    // A temporary refusal is retried with the same cid; a final one rejects and leaves nothing behind.
    const refused = h.client.forward(source, AC)
    const again = s.framesOf('send').at(-1)!
    s.push({ type: 'error', code: 'STORE_UNAVAILABLE', message: 'later', temporary: true, cid: String(again.cid) })
    h.p.timers.advance(20_000)
    expect(s.framesOf('send').at(-1)).toEqual(again)
    s.push({ type: 'error', code: 'FORWARD_NOT_ALLOWED', message: 'recalled', temporary: false, cid: String(again.cid) })
    await expect(refused).rejects.toMatchObject({ code: 'FORWARD_NOT_ALLOWED' })
    expect(h.store.getState().messages[AC]!.map((m) => m.seq)).toEqual([1])
    // Nothing that cannot be forwarded goes out: an unsent message.
    const cid = h.client.sendText(AB, 'not yet')
    const pending = h.store.getState().messages[AB]!.find((m) => m.cid === cid)!
    const sends = s.framesOf('send').length
    await expect(h.client.forward(pending, AC)).rejects.toMatchObject({ code: 'FORWARD_NOT_ALLOWED' })
    expect(s.framesOf('send')).toHaveLength(sends)
  })

  it('keeps a text refused by content security as failed, never resent, and removable (a pending message that is not refused is not)', async () => {
    const h = setup()
    const { s } = await online(h)
    const a = h.client.sendText(AB, 'bad words')
    const b = h.client.sendText(AB, 'fine')
    s.push({ type: 'error', code: 'CONTENT_RISKY', message: 'message refused by content security', temporary: false, cid: a })
    h.p.timers.advance(60_000)
    expect(s.framesOf('send').map((f) => f.cid)).toEqual([a, b])
    expect(h.store.getState().messages[AB]!.find((m) => m.cid === a)).toMatchObject({ status: 'failed', error: 'CONTENT_RISKY' })
    h.client.dismiss(AB, b)
    h.client.dismiss(AB, a)
    expect(h.store.getState().messages[AB]!.map((m) => m.cid)).toEqual([b])
  })

  it('counts unread for messages from others and clears them when the chat is read at the bottom', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv()] })
    answerSync(s, syncRid, [])
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(2) })
    s.push({ type: 'msg', m: msg(2) })
    expect(h.store.getState().convs[AB]!.unread).toBe(2)
    h.client.setViewing({ conv: AB, seenSeq: 2 })
    h.p.timers.advance(400)
    expect(s.framesOf('read')).toEqual([{ type: 'read', conv: AB, seq: 2 }])
    expect(h.store.getState().convs[AB]).toMatchObject({ unread: 0, readSeq: 2 })
  })

  it('shows our messages read when the other member replies (sending moves the sender\'s read mark)', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv()] })
    answerSync(s, syncRid, [[msg(1, ALICE.id), msg(2, ALICE.id)]])
    expect(h.store.getState().peers[AB]?.read ?? 0).toBe(0)
    s.push({ type: 'msg', m: msg(3) })
    expect(h.store.getState().peers[AB]).toMatchObject({ read: 3 })
    const mine = h.store.getState().messages[AB]!.find((m) => m.seq === 2)!
    expect(displayStatus(mine, h.store.getState().peers[AB])).toBe('read')
  })

  it('marks read only up to the last message that was on screen', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv()] })
    answerSync(s, syncRid, [])
    for (let i = 1; i <= 5; i++) s.push({ type: 'msg', m: msg(i) })
    // Rows 1-3 were on screen; 4 and 5 arrived below the viewport.
    h.client.setViewing({ conv: AB, seenSeq: 3 })
    h.p.timers.advance(400)
    expect(s.framesOf('read')).toEqual([{ type: 'read', conv: AB, seq: 3 }])
    expect(h.store.getState().convs[AB]).toMatchObject({ unread: 2, readSeq: 3 })
    // The page goes away: nothing more is read, whatever arrives.
    h.client.setViewing(undefined)
    s.push({ type: 'msg', m: msg(6) })
    h.p.timers.advance(400)
    expect(s.framesOf('read')).toHaveLength(1)
  })

  it('reads at once what was on screen when the chat is left within the debounce; not when the app went to the background', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv()] })
    answerSync(s, syncRid, [])
    for (let i = 1; i <= 3; i++) s.push({ type: 'msg', m: msg(i) })
    h.client.setViewing({ conv: AB, seenSeq: 2 })
    h.p.timers.advance(100)
    expect(s.framesOf('read')).toHaveLength(0)
    // Back to the list 100 ms after the rows were seen: read now, up to what was seen.
    h.client.setViewing(undefined)
    h.p.timers.advance(0)
    expect(s.framesOf('read')).toEqual([{ type: 'read', conv: AB, seq: 2 }])
    expect(h.store.getState().convs[AB]).toMatchObject({ unread: 1, readSeq: 2 })
    h.p.timers.advance(400)
    expect(s.framesOf('read')).toHaveLength(1)
    // Seen again, then the app goes to the background before the debounce: nothing is read.
    h.client.setViewing({ conv: AB, seenSeq: 3 })
    h.p.lifecycle.goBackground()
    h.client.setViewing(undefined)
    h.p.timers.advance(400)
    expect(s.framesOf('read')).toHaveLength(1)
  })

  it('pages back through history and knows when it reached the first message', async () => {
    const h = setup()
    const { s, syncRid } = await online(h)
    answerSync(s, syncRid, [[msg(51), msg(52)]])
    const p = h.client.loadOlder(AB)
    expect(h.store.getState().older[AB]).toBe('loading')
    const f = s.framesOf('history').at(-1)!
    expect(f).toMatchObject({ before: 51, limit: 50 })
    s.push({ type: 'messages', rid: String(f.rid), conv: AB, msgs: Array.from({ length: 50 }, (_, i) => msg(i + 1)), more: false })
    await p
    expect(h.store.getState().older[AB]).toBe('idle')
    expect(h.store.getState().messages[AB]).toHaveLength(52)
    await h.client.loadOlder(AB)
    expect(s.framesOf('history')).toHaveLength(1)
  })

  it('takes every peer\'s presence from one presences frame after welcome, and later changes from presence frames', async () => {
    const h = setup()
    const { s } = await online(h)
    s.push({ type: 'presences', items: [{ user: 'bob', online: true }, { user: 'carol', online: false, lastSeen: 1000 }] })
    expect(h.store.getState().presence).toEqual({ bob: { user: 'bob', online: true, lastSeen: undefined }, carol: { user: 'carol', online: false, lastSeen: 1000 } })
    const before = h.store.getState().presence
    s.push({ type: 'presences', items: [{ user: 'bob', online: true }] })
    expect(h.store.getState().presence).toBe(before)
    s.push({ type: 'presence', user: 'bob', online: false, lastSeen: 2000 })
    expect(h.store.getState().presence.bob).toEqual({ user: 'bob', online: false, lastSeen: 2000 })
    expect(h.store.getState().presence.carol).toEqual({ user: 'carol', online: false, lastSeen: 1000 })
  })

  it('shows typing for typingShowMs and drops it when that user\'s message arrives', async () => {
    const h = setup()
    const { s } = await online(h)
    s.push({ type: 'typing', conv: AB, user: 'bob' })
    expect(Object.keys(h.store.getState().typing[AB] ?? {})).toEqual(['bob'])
    h.p.timers.advance(5_000)
    expect(h.store.getState().typing[AB]).toBeUndefined()
    s.push({ type: 'typing', conv: AB, user: 'bob' })
    s.push({ type: 'msg', m: msg(1) })
    expect(h.store.getState().typing[AB]).toBeUndefined()
  })

  it('rejects requests in flight when the connection drops', async () => {
    const h = setup()
    const { s } = await online(h)
    const p = h.client.searchUsers('bo')
    s.drop(1006)
    await expect(p).rejects.toThrow(/disconnected/)
  })

  it('answers an error frame of a request with its stable code', async () => {
    const h = setup()
    const { s } = await online(h)
    const p = h.client.createConv('direct', ['nobody'])
    const rid = String(s.framesOf('conv.create')[0]!.rid)
    s.push({ type: 'error', code: 'USER_NOT_FOUND', message: 'who?', temporary: false, rid })
    await expect(p).rejects.toMatchObject({ code: 'USER_NOT_FOUND' })
  })

  it('opens on the cached state before the socket connects', async () => {
    const p = createFakePlatform()
    const h1 = setup(p)
    const { s, syncRid } = await online(h1)
    s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv({ lastSeq: 2, lastMsg: msg(2) })] })
    answerSync(s, syncRid, [[msg(1), msg(2)]])
    p.timers.advance(1_000) // cache write
    h1.client.dispose()

    const h2 = setup(p)
    h2.client.start()
    const st = h2.store.getState()
    expect(st.conn.state).toBe('connecting')
    expect(Object.keys(st.convs)).toEqual([AB])
    expect(cursorOf(st.messages[AB])).toBe(2)
    expect(texts(h2)).toEqual(['m1', 'm2'])
  })

  it('turns an upload into a message: pending with preview, progress, then sent through the outbox', async () => {
    const h = setup()
    const { s } = await online(h)
    const sink = h.client.fileSink()
    const cid = sink.addPendingFile(AB, 'image', { path: 'wxfile://tmp/a.jpg', name: 'a.jpg', size: 1000, width: 640, height: 480 })
    let m = h.store.getState().messages[AB]![0]!
    expect(m).toMatchObject({ kind: 'image', status: 'sending', body: { width: 640, height: 480 }, upload: { sentBytes: 0, done: false } })
    sink.setProgress(cid, 500)
    expect(h.store.getState().messages[AB]![0]!.upload!.sentBytes).toBe(500)
    expect(s.framesOf('send')).toHaveLength(0)
    const body = { fileId: 'f1', name: 'a.jpg', size: 1000, mime: 'image/jpeg', width: 640, height: 480, url: '/files/f1', thumbUrl: '/files/f1/thumb' }
    sink.completeUpload(cid, body)
    expect(s.framesOf('send')).toEqual([{ type: 'send', cid, conv: AB, kind: 'image', body: { fileId: 'f1' } }])
    s.push(ack(cid, 1))
    m = h.store.getState().messages[AB]![0]!
    expect(m).toMatchObject({ seq: 1, body, upload: { localPath: 'wxfile://tmp/a.jpg', done: true } })

    const failed = sink.addPendingFile(AB, 'file', { path: 'p', name: 'x.pdf', size: 10 })
    sink.failUpload(failed, { code: 'UPLOAD_TOO_LARGE', message: 'big' })
    expect(displayStatus(h.store.getState().messages[AB]!.at(-1)!, undefined)).toBe('failed')
  })

  it('sends a recorded voice as {fileId, duration}, and a resend after a refusal carries the duration again', async () => {
    const h = setup()
    const { s } = await online(h)
    const sink = h.client.fileSink()
    const cid = sink.addPendingFile(AB, 'voice', { path: 'wxfile://tmp/v.aac', name: 'v.aac', size: 3000, duration: 5_250 })
    expect(h.store.getState().messages[AB]![0]!).toMatchObject({ kind: 'voice', status: 'sending', body: { duration: 5_250 } })
    const body = { fileId: 'f9', name: 'v.aac', size: 3000, mime: 'audio/aac', url: '/files/f9', duration: 5_250 }
    sink.completeUpload(cid, body)
    expect(s.framesOf('send')).toEqual([{ type: 'send', cid, conv: AB, kind: 'voice', body: { fileId: 'f9', duration: 5_250 } }])
    s.push({ type: 'error', code: 'FILE_NOT_READY', message: 'x', temporary: false, cid })
    expect(h.store.getState().messages[AB]![0]!).toMatchObject({ status: 'failed', error: 'FILE_NOT_READY' })
    h.client.retry(AB, cid)
    expect(s.framesOf('send')).toHaveLength(2)
    expect(s.framesOf('send').at(-1)).toEqual({ type: 'send', cid, conv: AB, kind: 'voice', body: { fileId: 'f9', duration: 5_250 } })
    s.push(ack(cid, 1))
    expect(h.store.getState().messages[AB]![0]!).toMatchObject({ seq: 1, kind: 'voice', body })
  })

  it('asks for the conversation list when a message arrives for an unknown conversation', async () => {
    const h = setup()
    const { s } = await online(h)
    const before = s.framesOf('convs').length
    s.push({ type: 'msg', m: msg(1, BOB.id, 'g:team') })
    h.p.timers.advance(200)
    expect(s.framesOf('convs').length).toBe(before + 1)
  })

  it('offers Recall for as long as the server says in welcome (limits.recallWindowMs), the default when it does not say', async () => {
    const h = setup()
    const { s } = await online(h)
    const mine = { ...msg(1, ALICE.id), ts: 1_000_000 }
    expect(h.client.recallWindowMs).toBe(120_000)
    expect(h.client.canRecall(mine, 1_000_000 + 119_000)).toBe(true)
    // A server configured with RECALL_WINDOW_MS=5000: the next welcome says so.
    s.drop(1006)
    h.p.timers.advance(60_000)
    await settle()
    const s2 = h.p.transport.last
    s2.open()
    s2.push({ ...welcome(), limits: { ...welcome().limits, recallWindowMs: 5000 } })
    expect(h.client.recallWindowMs).toBe(5000)
    expect(h.client.canRecall(mine, 1_000_000 + 5000)).toBe(true)
    expect(h.client.canRecall(mine, 1_000_000 + 5001)).toBe(false)
    // Never someone else's, a pending one or a notice.
    expect(h.client.canRecall({ ...msg(2), ts: 1_000_000 }, 1_000_001)).toBe(false)
    expect(h.client.canRecall({ cid: 'cid-pending-1', from: ALICE.id, conv: AB, kind: 'text', body: { text: 'x' }, ts: 1_000_000, status: 'sending' }, 1_000_001)).toBe(false)
    expect(h.client.canRecall({ ...mine, kind: 'recalled', body: { by: 'sender', at: 1 } }, 1_000_001)).toBe(false)
  })
})
