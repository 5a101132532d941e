/**
 * Privacy defaults (bff/README.md, "Privacy"), on both engines: an empty search lists nobody, and
 * presence goes only to people who share a conversation.
 */
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import { devLogin, newCid } from './support/client'
import { useTestServer } from './support/server'

describe.each(['memory', 'redis'] as const)('privacy over the %s engine', (store) => {
  const t = useTestServer(store, {})
  const user = async (name: string) => (await t.connect(name)).client


  it('an empty or blank search lists nobody; a prefix finds', async () => {
    await Promise.all(['pv-ann', 'pv-ben', 'pv-cat'].map((u) => devLogin(t.server.url, u)))
    const c = await user('pv-dan')
    for (const [rid, q] of [['e', ''], ['b', '   ']] as const) {
      c.send({ type: 'users', rid, q })
      expect((await c.nextOf('users', (f) => f.rid === rid)).items).toEqual([])
    }
    c.send({ type: 'users', rid: 'p', q: ' pv-' })
    const found = await c.nextOf('users', (f) => f.rid === 'p')
    expect(found.items.map((u) => u.id).sort()).toEqual(['pv-ann', 'pv-ben', 'pv-cat', 'pv-dan'])
  })

  it('presence only to people who share a conversation', async () => {
    const friend = await user('pr-friend')
    const stranger = await user('pr-stranger')
    // pr-me and pr-friend share a 1:1; the stranger shares nothing with pr-me.
    const me = await user('pr-me')
    const cid = newCid()
    me.send({ type: 'send', cid, conv: directConvId('pr-me', 'pr-friend'), kind: 'text', body: { text: 'hi' } })
    await me.nextOf('ack')
    await friend.nextOf('presence', (p) => p.user === 'pr-me' && p.online)
    await me.close()
    await friend.nextOf('presence', (p) => p.user === 'pr-me' && !p.online)
    const again = await user('pr-me')
    await friend.nextOf('presence', (p) => p.user === 'pr-me' && p.online)
    // The stranger was connected throughout: a presence frame for it would have been written in
    // the same fan-out, before the answer to this ping.
    stranger.send({ type: 'ping', ts: 7 })
    await stranger.nextOf('pong', (f) => f.ts === 7)
    expect(stranger.all('presence')).toEqual([])
    // Nor does the new device learn the stranger's presence; it learns its peer's.
    const peers = await again.nextOf('presences')
    expect(peers.items).toEqual([{ user: 'pr-friend', online: true }])
    again.send({ type: 'ping', ts: 8 })
    await again.nextOf('pong', (f) => f.ts === 8)
    expect(again.all('presences')).toEqual([peers])
    expect(again.all('presence')).toEqual([])
  })
})
