/**
 * Catch-up and gap filling when the server refuses them for a while (STORE_UNAVAILABLE while a
 * server restarts, SERVER_BUSY under a storm): asked again on the same connection after a
 * full-jitter backoff with the reconnect bounds, never given up on while the socket lives.
 */
import { describe, expect, it } from 'vitest'
import { backoffDelay, RECONNECT, type ErrorCode } from '@chat/shared'
import { createFakePlatform, type FakePlatform, type FakeSocket } from '../../platform/fake'
import { createChatStore, type ChatStore } from '../../store/store'
import { AB, ALICE, authResponse, msg, welcome } from '../fixtures'
import { Auth, AUTH_STORAGE_KEY } from '../../net/auth'
import { ChatClient } from '../../net/chat-client'

const settle = () => new Promise<void>((r) => setTimeout(r, 0))
/** The jitter the client is given: every backoff is half its window. */
const RANDOM = 0.5
const delay = (attempt: number) => backoffDelay(attempt, RECONNECT, () => RANDOM)

interface H {
  p: FakePlatform
  store: ChatStore
  client: ChatClient
}

function setup(): H {
  const p = createFakePlatform()
  p.storage.set(AUTH_STORAGE_KEY, { session: authResponse(ALICE, p.timers.now()), issuedAt: p.timers.now() })
  const store = createChatStore()
  const auth = new Auth({ baseUrl: 'http://bff.test', http: p.http, storage: p.storage, timers: p.timers, renewMarginMs: 60_000 })
  const client = new ChatClient({ platform: p, store, auth, baseUrl: 'http://bff.test', random: () => RANDOM })
  return { p, store, client }
}

async function online(h: H): Promise<FakeSocket> {
  h.client.start()
  await settle()
  const s = h.p.transport.last
  s.open()
  s.push(welcome())
  return s
}

function refuse(s: FakeSocket, rid: unknown, code: ErrorCode, temporary: boolean): void {
  s.push({ type: 'error', code, message: code, temporary, rid: String(rid) })
}

const seqs = (h: H) => (h.store.getState().messages[AB] ?? []).map((m) => m.seq)

describe('sync and gap filling refused for a while', () => {
  it('asks a sync refused as temporary again on the same connection, after a backoff that grows; gaps wait for it', async () => {
    const h = setup()
    const s = await online(h)
    const sync1 = s.framesOf('sync').at(-1)!
    refuse(s, sync1.rid, 'STORE_UNAVAILABLE', true)
    // Live pushes with a hole meanwhile: not filled while the sync is still to come.
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(4) })
    expect(s.framesOf('history')).toHaveLength(0)

    h.p.timers.advance(delay(0) - 1)
    expect(s.framesOf('sync')).toHaveLength(1)
    h.p.timers.advance(1)
    const sync2 = s.framesOf('sync').at(-1)!
    expect(s.framesOf('sync')).toHaveLength(2)
    expect(sync2.rid).not.toBe(sync1.rid)
    expect(sync2.cursors).toEqual([{ conv: AB, seq: 1 }])
    expect(h.p.transport.sockets).toHaveLength(1) // the same connection

    // Refused again (a second kind of temporary refusal): the next window is twice as long.
    refuse(s, sync2.rid, 'SERVER_BUSY', true)
    h.p.timers.advance(delay(1) - 1)
    expect(s.framesOf('sync')).toHaveLength(2)
    h.p.timers.advance(1)
    const sync3 = s.framesOf('sync').at(-1)!
    expect(s.framesOf('sync')).toHaveLength(3)
    expect(s.framesOf('history')).toHaveLength(0)

    // Answered: done, and the hole between the pushes is asked for at once.
    s.push({ type: 'sync.done', rid: String(sync3.rid), q: 'q1' })
    expect(s.framesOf('recv').at(-1)).toMatchObject({ q: 'q1' })
    expect(s.framesOf('history')).toEqual([expect.objectContaining({ conv: AB, before: 4, limit: 2 })])

    // The attempts start over after a sync done: a later refusal waits the first window again.
    h.p.lifecycle.goBackground()
    h.p.lifecycle.goForeground()
    const sync4 = s.framesOf('sync').at(-1)!
    expect(sync4.rid).not.toBe(sync3.rid)
    refuse(s, sync4.rid, 'STORE_UNAVAILABLE', true)
    h.p.timers.advance(delay(0))
    expect(s.framesOf('sync')).toHaveLength(5)
  })

  it('stops retrying with the connection, and the next connection syncs at once', async () => {
    const h = setup()
    const s = await online(h)
    refuse(s, s.framesOf('sync').at(-1)!.rid, 'STORE_UNAVAILABLE', true)
    s.drop(1006)
    h.p.timers.advance(RECONNECT.maxDelayMs)
    await settle()
    expect(s.framesOf('sync')).toHaveLength(1)
    const s2 = h.p.transport.last
    expect(s2).not.toBe(s)
    s2.open()
    s2.push(welcome())
    expect(s2.framesOf('sync')).toHaveLength(1)
    s2.push({ type: 'sync.done', rid: String(s2.framesOf('sync').at(-1)!.rid) })
    // The retry of the old connection never fires on the new one.
    h.p.timers.advance(RECONNECT.maxDelayMs)
    expect(s2.framesOf('sync')).toHaveLength(1)
  })

  it('asks a sync the server never answers again after requestTimeoutMs of silence; its batches keep it alive', async () => {
    const h = setup()
    const s = await online(h)
    const timeout = 15_000
    const sync1 = s.framesOf('sync').at(-1)!
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(4) })
    // A long catch-up: a batch every 10 s is progress, not silence.
    for (let i = 0; i < 3; i++) {
      h.p.timers.advance(10_000)
      s.push({ type: 'messages', rid: String(sync1.rid), conv: AB, msgs: [], more: true })
    }
    expect(s.framesOf('sync')).toHaveLength(1)
    expect(s.framesOf('history')).toHaveLength(0)
    // Then nothing: after the timeout and a first backoff, the sync is asked again on this connection.
    h.p.timers.advance(timeout - 1)
    expect(s.framesOf('sync')).toHaveLength(1)
    h.p.timers.advance(1 + delay(0))
    expect(s.framesOf('sync')).toHaveLength(2)
    expect(h.p.transport.sockets).toHaveLength(1)
    const sync2 = s.framesOf('sync').at(-1)!
    s.push({ type: 'sync.done', rid: String(sync2.rid) })
    // Done: the hole between the pushes is filled at once, and no further sync follows.
    expect(s.framesOf('history')).toEqual([expect.objectContaining({ conv: AB, before: 4, limit: 2 })])
    h.p.timers.advance(timeout * 2)
    expect(s.framesOf('sync')).toHaveLength(2)
    // The late answer to the abandoned sync changes nothing.
    s.push({ type: 'sync.done', rid: String(sync1.rid) })
    expect(s.framesOf('sync')).toHaveLength(2)
    expect(seqs(h)).toEqual([1, 4])
  })

  it('does not ask again a sync refused for good, and lets gap filling run', async () => {
    const h = setup()
    const s = await online(h)
    refuse(s, s.framesOf('sync').at(-1)!.rid, 'INVALID_FRAME', false)
    h.p.timers.advance(RECONNECT.maxDelayMs)
    expect(s.framesOf('sync')).toHaveLength(1)
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(4) })
    expect(s.framesOf('history')).toEqual([expect.objectContaining({ conv: AB, before: 4, limit: 2 })])
  })

  it('asks a gap refused as temporary again after a backoff; one refused for good waits for the next sync', async () => {
    const h = setup()
    const s = await online(h)
    s.push({ type: 'sync.done', rid: String(s.framesOf('sync').at(-1)!.rid), q: 'q1' })
    s.push({ type: 'msg', m: msg(1) })
    s.push({ type: 'msg', m: msg(5) })
    const hist1 = s.framesOf('history')
    expect(hist1).toEqual([expect.objectContaining({ conv: AB, before: 5, limit: 3 })])
    refuse(s, hist1[0]!.rid, 'STORE_UNAVAILABLE', true)
    // Another push meanwhile does not jump the backoff.
    s.push({ type: 'msg', m: msg(6) })
    expect(s.framesOf('history')).toHaveLength(1)
    h.p.timers.advance(delay(0))
    const hist2 = s.framesOf('history')
    expect(hist2).toHaveLength(2)
    expect(hist2[1]).toMatchObject({ conv: AB, before: 5, limit: 3 })
    expect(hist2[1]!.rid).not.toBe(hist1[0]!.rid)

    refuse(s, hist2[1]!.rid, 'RATE_LIMITED', true)
    h.p.timers.advance(delay(1) - 1)
    expect(s.framesOf('history')).toHaveLength(2)
    h.p.timers.advance(1)
    const hist3 = s.framesOf('history')
    expect(hist3).toHaveLength(3)
    s.push({ type: 'messages', rid: String(hist3[2]!.rid), conv: AB, msgs: [msg(2), msg(3), msg(4)], more: true })
    expect(seqs(h)).toEqual([1, 2, 3, 4, 5, 6])

    // A final refusal: that hole is not asked again until the next sync.
    s.push({ type: 'msg', m: msg(9) })
    const hist4 = s.framesOf('history')
    expect(hist4).toHaveLength(4)
    refuse(s, hist4[3]!.rid, 'SEQ_RANGE_INVALID', false)
    h.p.timers.advance(RECONNECT.maxDelayMs)
    s.push({ type: 'msg', m: msg(10) })
    expect(s.framesOf('history')).toHaveLength(4)
  })
})
