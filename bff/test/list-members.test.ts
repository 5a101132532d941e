/**
 * A group in a `convs` list of protocol 3 names its first LIMITS.listMembersMax members and its
 * `memberCount` (PROTOCOL.md, Conversation list): what a reconnect's list reads, hashes and sends
 * does not grow with its groups' sizes (up to 2,000 members each; every member of every group
 * before). Versions 1 and 2 get every member, as before. `members` with `users` names the ids a
 * client needs (a sender, a mention) that its list does not. On both engines, over sockets.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, directConvId } from '@chat/shared'
import type { Conversation } from '@chat/shared'
import { type TestClient, connectUser, devLogin, newCid } from './support/client'
import { useTestServer } from './support/server'

async function ask(c: TestClient, frame: Record<string, unknown> & { rid: string }): Promise<Record<string, unknown>> {
  c.send(frame as never)
  return (await c.next((f) => 'rid' in f && f.rid === frame.rid))
}

let rids = 0
async function list(c: TestClient, tag?: string): Promise<{ items: Conversation[]; tag?: string; same?: boolean; bytes: number }> {
  const rid = `l${++rids}`
  let bytes = 0
  const count = (data: Buffer) => {
    if (data.toString('latin1', 0, 40).includes(`"rid":"${rid}"`)) bytes = data.length
  }
  c.ws.on('message', count)
  c.send(tag === undefined ? { type: 'convs', rid } : { type: 'convs', rid, tag })
  const f = await c.nextOf('convs', (x) => x.rid === rid)
  c.ws.off('message', count)
  return { ...f, bytes }
}

describe.each(['redis', 'memory'] as const)('a group in a list, protocol 3, %s engine', (engine) => {
  const t = useTestServer(engine, { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' })

  /** `owner` and `size - 1` others (logged in, so known), in a group the owner creates; its id and members in joining order. */
  async function group(owner: TestClient, size: number, tag: string): Promise<{ id: string; members: string[] }> {
    const others = Array.from({ length: size - 1 }, () => t.uid(`${tag}m`))
    for (let i = 0; i < others.length; i += 25) await Promise.all(others.slice(i, i + 25).map((u) => devLogin(t.server.url, u, `成员 ${u}`)))
    const reply = (await ask(owner, { type: 'conv.create', rid: `c${tag}`, kind: 'group', title: `group ${tag}`, members: others })) as { conv: Conversation }
    // The answer to its creator names every member: a `conv` frame is not a list.
    expect(reply.conv.members).toHaveLength(size)
    expect(reply.conv.memberCount).toBeUndefined()
    return { id: reply.conv.id, members: reply.conv.members.map((u) => u.id) }
  }

  it('names a group\'s first members and its count to a version-3 client, every member to a version-2 one', async () => {
    const ann = t.uid('ann')
    const bob = t.uid('bob')
    const a3 = (await t.connect(ann)).client
    const a2 = (await connectUser(t.server.url, ann, { version: 2 })).client
    const b = (await t.connect(bob)).client
    const cid = newCid()
    b.send({ type: 'send', cid, conv: directConvId(ann, bob), kind: 'text', body: { text: '你好' } })
    await b.nextOf('ack', (f) => f.cid === cid)
    const big = await group(a3, 15, 'b')
    const small = await group(a3, LIMITS.listMembersMax, 's')

    const v3 = await list(a3)
    const v2 = await list(a2)
    const byId = (l: { items: Conversation[] }) => new Map(l.items.map((c) => [c.id, c]))
    const [three, two] = [byId(v3), byId(v2)]
    expect(three.get(big.id)!.members.map((u) => u.id)).toEqual(big.members.slice(0, LIMITS.listMembersMax))
    expect(three.get(big.id)!.memberCount).toBe(15)
    expect(two.get(big.id)!.members.map((u) => u.id)).toEqual(big.members)
    expect(two.get(big.id)!.memberCount).toBeUndefined()
    // Everything else the same: a group no larger than the bound, a 1:1, the rest of the big group's entry.
    const { members: _m3, memberCount: _c3, ...rest3 } = three.get(big.id)!
    const { members: _m2, ...rest2 } = two.get(big.id)!
    expect(rest3).toEqual(rest2)
    expect(three.get(small.id)).toEqual(two.get(small.id))
    expect(three.get(small.id)!.memberCount).toBeUndefined()
    expect(three.get(directConvId(ann, bob))).toEqual(two.get(directConvId(ann, bob)))
    // One list's tag is not the other's.
    expect(v3.tag).toBeDefined()
    expect(v3.tag).not.toBe(v2.tag)
    expect((await list(a3, v2.tag)).same).toBeUndefined()
    expect((await list(a2, v3.tag)).same).toBeUndefined()
    expect((await list(a3, v3.tag)).same).toBe(true)

    // A member added beyond the first nine: the count moves, and so does the tag.
    const dee = t.uid('dee')
    await devLogin(t.server.url, dee)
    expect((await ask(a3, { type: 'group', rid: 'add', conv: big.id, op: 'add', users: [dee] })).type).toBe('group')
    const after = await list(a3, v3.tag)
    expect(after.same).toBeUndefined()
    const entry = byId(after).get(big.id)!
    expect(entry.memberCount).toBe(16)
    expect(entry.members.map((u) => u.id)).toEqual(big.members.slice(0, LIMITS.listMembersMax))
    // A member removed from among the first nine: the next in line is named.
    expect((await ask(a3, { type: 'group', rid: 'rm', conv: big.id, op: 'remove', users: [big.members[3]!] })).type).toBe('group')
    const removed = byId(await list(a3)).get(big.id)!
    expect(removed.memberCount).toBe(15)
    expect(removed.members.map((u) => u.id)).toEqual([...big.members.slice(0, 3), ...big.members.slice(4, LIMITS.listMembersMax + 1)])
  })

  it('sends the same list for groups of 12 and of 120: what a list reads and sends does not grow with them', async () => {
    const sizes: number[] = []
    for (const size of [12, 120]) {
      const owner = (await t.connect(t.uid('own'))).client
      const g = await group(owner, size, `z${size}`)
      const l = await list(owner)
      expect(l.items).toHaveLength(1)
      expect(l.items[0]!.members).toHaveLength(LIMITS.listMembersMax)
      expect(l.items[0]!.memberCount).toBe(size)
      expect(l.items[0]!.id).toBe(g.id)
      sizes.push(l.bytes)
    }
    // The same bytes but for the digits of the count and the ids' and titles' lengths.
    expect(Math.abs(sizes[1]! - sizes[0]!)).toBeLessThan(64)
    expect(sizes[0]).toBeGreaterThan(0)
  })

  it('names the members asked by id, in the order asked, and only members', async () => {
    const owner = (await t.connect(t.uid('nown'))).client
    const g = await group(owner, 20, 'n')
    const stranger = t.uid('str')
    const s = (await t.connect(stranger)).client
    const asked = [g.members[12]!, stranger, g.members[3]!, g.members[12]!, g.members[0]!]
    const reply = (await ask(owner, { type: 'members', rid: 'm1', conv: g.id, users: asked })) as { type: string; items: Array<{ user: { id: string; name: string }; role: string }>; next?: number }
    expect(reply.type).toBe('members')
    expect(reply.items.map((i) => [i.user.id, i.role])).toEqual([[g.members[12], 'member'], [g.members[3], 'member'], [g.members[0], 'owner']])
    expect(reply.items[0]!.user.name).toBe(`成员 ${g.members[12]}`)
    expect(reply.next).toBeUndefined()
    // Someone outside the group learns nothing of it.
    expect(await ask(s, { type: 'members', rid: 'm2', conv: g.id, users: [g.members[1]!] })).toMatchObject({ type: 'error', code: 'NOT_MEMBER' })
    // Bounds: at least one id, at most a page's worth.
    const tooMany = Array.from({ length: LIMITS.maxPageSize + 1 }, (_, i) => `x${i}`)
    expect(await ask(owner, { type: 'members', rid: 'm3', conv: g.id, users: tooMany })).toMatchObject({ type: 'error', code: 'INVALID_FRAME' })
    expect(await ask(owner, { type: 'members', rid: 'm4', conv: g.id, users: [] })).toMatchObject({ type: 'error', code: 'INVALID_FRAME' })
    // Paging is unchanged beside it.
    const page = (await ask(owner, { type: 'members', rid: 'm5', conv: g.id, limit: 5 })) as { items: unknown[]; next?: number }
    expect(page.items).toHaveLength(5)
    expect(page.next).toBe(5)
  })
})
