/**
 * The contacts store over the real ChatClient and the fake platform: the test plays the server
 * frame by frame (answers by rid, pushes without one).
 */
import { describe, expect, it } from 'vitest'
import type { RelationEntry } from '@chat/shared'
import { createFakePlatform, type FakeSocket } from '../../platform/fake'
import { Auth, AUTH_STORAGE_KEY } from '../../net/auth'
import { ChatClient } from '../../net/chat-client'
import { ALICE, BOB, CAROL, authResponse, welcome } from '../fixtures'
import { createChatStore } from '../../store/store'
import { createContactsStore, withEntry } from '../../store/contacts'

const settle = () => new Promise<void>((r) => setTimeout(r, 0))

async function setup() {
  const p = createFakePlatform()
  p.storage.set(AUTH_STORAGE_KEY, { session: authResponse(ALICE, p.timers.now()), issuedAt: p.timers.now() })
  const auth = new Auth({ baseUrl: 'http://bff.test', http: p.http, storage: p.storage, timers: p.timers, renewMarginMs: 60_000 })
  const client = new ChatClient({ platform: p, store: createChatStore(), auth, baseUrl: 'http://bff.test', random: () => 0.5 })
  const contacts = createContactsStore(client)
  return { p, client, contacts }
}

async function online(h: Awaited<ReturnType<typeof setup>>): Promise<FakeSocket> {
  h.client.start()
  await settle()
  const s = h.p.transport.last
  s.open()
  s.push(welcome())
  return s
}

const entry = (user = BOB, state: RelationEntry['state'] = 'contact', extra: Partial<RelationEntry> = {}): RelationEntry => ({ user, state, at: 1_800_000_000_000, ...extra })

describe('contacts store', () => {
  it('loads the list and the setting from a contacts answer', async () => {
    const h = await setup()
    const s = await online(h)
    const loading = h.contacts.getState().load()
    const asked = s.framesOf('contacts').at(-1)!
    s.push({ type: 'contacts', rid: String(asked.rid), policy: 'contacts', items: [entry(BOB, 'contact', { online: true }), entry(CAROL, 'incoming', { note: '你好' })] })
    await loading
    const st = h.contacts.getState()
    expect(st.loaded).toBe(true)
    expect(st.policy).toBe('contacts')
    expect(st.items.map((e) => [e.user.id, e.state, e.online ?? null, e.note ?? null])).toEqual([
      ['bob', 'contact', true, null],
      ['carol', 'incoming', null, '你好'],
    ])
  })

  it('sends a request with its note trimmed and bounded, takes the answer, and takes later pushes without rid', async () => {
    const h = await setup()
    const s = await online(h)
    const done = h.contacts.getState().act('request', 'bob', `  ${'很'.repeat(80)}  `)
    expect(h.contacts.getState().busy).toEqual({ bob: true })
    const sent = s.framesOf('relation').at(-1)!
    expect(sent).toMatchObject({ type: 'relation', op: 'request', user: 'bob', note: '很'.repeat(64) })
    s.push({ type: 'relation', rid: String(sent.rid), entry: entry(BOB, 'outgoing', { note: '很'.repeat(64) }) })
    expect(await done).toBe(true)
    expect(h.contacts.getState().busy).toEqual({})
    expect(h.contacts.getState().items.map((e) => e.state)).toEqual(['outgoing'])
    // Bob accepts on his phone: the server pushes the new state.
    s.push({ type: 'relation', entry: entry(BOB, 'contact', { online: true }) })
    expect(h.contacts.getState().items.map((e) => [e.user.id, e.state])).toEqual([['bob', 'contact']])
    // Bob removes alice: gone.
    s.push({ type: 'relation', entry: entry(BOB, 'none') })
    expect(h.contacts.getState().items).toEqual([])
    // No note on other operations, even when one is given.
    void h.contacts.getState().act('block', 'carol', 'ignored')
    expect(s.framesOf('relation').at(-1)).toEqual({ type: 'relation', rid: expect.any(String) as unknown, op: 'block', user: 'carol' })
  })

  it('keeps the refusal code for the page to show, and NETWORK when not connected', async () => {
    const h = await setup()
    const s = await online(h)
    const done = h.contacts.getState().act('request', 'bob')
    const sent = s.framesOf('relation').at(-1)!
    s.push({ type: 'error', code: 'BLOCKED', message: 'x', temporary: false, rid: String(sent.rid) })
    expect(await done).toBe(false)
    expect(h.contacts.getState().error).toBe('BLOCKED')
    expect(h.contacts.getState().items).toEqual([])
    h.contacts.getState().clearError()
    s.drop(1006)
    expect(await h.contacts.getState().setPolicy('contacts')).toBe(false)
    expect(h.contacts.getState().error).toBe('NETWORK')
    expect(h.contacts.getState().policy).toBe('anyone')
  })

  it('orders contacts, requests received, sent, blocked; by name within each', () => {
    let items: RelationEntry[] = []
    items = withEntry(items, entry({ id: 'z', name: 'Zed' }, 'blocked'))
    items = withEntry(items, entry({ id: 'y', name: 'Yan' }, 'outgoing'))
    items = withEntry(items, entry({ id: 'x', name: 'Xu' }, 'incoming'))
    items = withEntry(items, entry({ id: 'w', name: 'Wu' }, 'contact'))
    items = withEntry(items, entry({ id: 'a', name: 'Ann' }, 'contact'))
    expect(items.map((e) => e.user.id)).toEqual(['a', 'w', 'x', 'y', 'z'])
    items = withEntry(items, entry({ id: 'x', name: 'Xu' }, 'contact'))
    expect(items.map((e) => e.user.id)).toEqual(['a', 'w', 'x', 'y', 'z'])
    expect(withEntry(items, entry({ id: 'w', name: 'Wu' }, 'none')).map((e) => e.user.id)).toEqual(['a', 'x', 'y', 'z'])
  })
})
