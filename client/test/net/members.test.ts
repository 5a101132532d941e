/**
 * The mention picker's members of a large group (net/members.ts, store/selectors.ts `mentionable`):
 * a version-3 list names a group's first nine, so the picker pages in the rest with `members
 * {conv, after, limit}` and offers every other member once; a group held whole asks nothing.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, type Conversation, type User } from '@chat/shared'
import { membersPartial, mentionable } from '../../store/selectors'
import { ALICE, BOB, CAROL, conv } from '../fixtures'
import { loadAllMembers } from '../../net/members'
import { settle, signedIn, welcomed } from './harness'

const G = 'g:bigbigbigbigbig1'
const everyone: User[] = [BOB, ALICE, ...Array.from({ length: LIMITS.maxGroupMembers - 2 }, (_, i) => ({ id: `u${i}`, name: `User ${i}` }))]
const big: Conversation = conv({ id: G, kind: 'group', title: 'Town', members: everyone.slice(0, LIMITS.listMembersMax), memberCount: everyone.length, owner: BOB.id, admins: [] })

async function online() {
  const h = signedIn()
  return { s: await welcomed(h), client: h.client }
}

describe('the mention picker of a large group', () => {
  it('pages in every member, 200 at a time, and offers every one but me, each once', async () => {
    const { s, client } = await online()
    expect(membersPartial(big)).toBe(true)
    const pages: number[] = []
    let loaded: readonly User[] = []
    const done = loadAllMembers((f) => client.sendRequest(f), G, (members) => {
      loaded = members
      pages.push(members.length)
    })
    // The server's side: a page per request, in order, until the last (no `next`).
    for (let answered = 0; answered < everyone.length; answered += LIMITS.maxPageSize) {
      await settle()
      const f = s.framesOf('members').at(-1)!
      expect(f).toEqual({ type: 'members', rid: f.rid, conv: G, after: answered, limit: LIMITS.maxPageSize })
      const end = answered + LIMITS.maxPageSize
      const items = everyone.slice(answered, end).map((user) => ({ user, role: user.id === BOB.id ? 'owner' : 'member' }))
      s.push({ type: 'members', rid: String(f.rid), conv: G, items, ...(end < everyone.length ? { next: end } : {}) })
    }
    await done
    expect(s.framesOf('members')).toHaveLength(10)
    expect(pages).toEqual([200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800, 2000])
    const offered = mentionable(big, ALICE.id, loaded)
    expect(offered).toHaveLength(LIMITS.maxGroupMembers - 1)
    expect(new Set(offered.map((u) => u.id))).toEqual(new Set(everyone.filter((u) => u.id !== ALICE.id).map((u) => u.id)))
    // Those held first, where they were before the pages came.
    expect(offered.slice(0, LIMITS.listMembersMax - 1)).toEqual(big.members.filter((u) => u.id !== ALICE.id))
  })

  it('stops asking once the picker closes', async () => {
    const { s, client } = await online()
    let open = true
    const done = loadAllMembers((f) => client.sendRequest(f), G, () => undefined, () => !open)
    await settle()
    const f = s.framesOf('members')[0]!
    open = false
    s.push({ type: 'members', rid: String(f.rid), conv: G, items: [], next: 200 })
    await done
    expect(s.framesOf('members')).toHaveLength(1)
  })

  it('a group held whole is offered as it is held, with nothing to load', () => {
    const small = conv({ id: G, kind: 'group', members: [ALICE, BOB, CAROL], owner: BOB.id, admins: [] })
    expect(membersPartial(small)).toBe(false)
    expect(membersPartial({ ...small, memberCount: 3 })).toBe(false)
    expect(mentionable(small, ALICE.id)).toEqual([BOB, CAROL])
  })
})
