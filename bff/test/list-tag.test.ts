/**
 * A conversation list's tag (chat/list-tag.ts; PROTOCOL.md, Conversation list). What is asserted:
 * - `listTag` itself: the same inputs give the same tag; a change to any one thing a list shows
 *   (each field of a summary entry, of a record, of a member's profile, the file URLs' signing when a
 *   last message has a file) gives another; a summary without the user's settings gets no tag;
 * - on both engines (Redis: settings folded into the summary; memory: read beside it, once), the
 *   class: after each kind of change a user's list can see (a message, a read mark either side, a
 *   setting, a hidden or recalled message, a group's members, title and admins, a new
 *   conversation), the tag the client holds is answered with the whole list, equal to the list
 *   asked without a tag; with nothing changed, it is answered `same` and no list; another user's
 *   tag is never `same`.
 */
import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { Message, User } from '@chat/shared'
import type { TestClient } from './support/client'
import { devLogin, newCid } from './support/client'
import { REDIS_URL, useTestServer } from './support/server'
import { listTag, type TagInputs } from '../src/chat/list-tag'
import { FOLDED } from '../src/chat/settings'
import type { ConvRecord, ConvSummary } from '../src/store/types'

describe('listTag', () => {
  const ann: User = { id: 'ann', name: 'Ann' }
  const bob: User = { id: 'bob', name: 'Bob', avatar: 'https://x.test/b.png' }
  const cy: User = { id: 'cy', name: 'Cy' }
  const text = '{"mid":"m1","cid":"c1","conv":"d:ann:bob","seq":3,"from":"bob","ts":1800000000000,"kind":"text","body":{"text":"hi"}}'
  const image = '{"mid":"m2","cid":"c2","conv":"g:1","seq":7,"from":"cy","ts":1800000000001,"kind":"image","body":{"url":"/files/ab?e=1&k=j&s=x"}}'
  const base = (): { summary: ConvSummary[]; records: ConvRecord[]; profiles: Map<string, User> } => ({
    summary: [
      { conv: 'd:ann:bob', lastSeq: 3, readSeq: 2, peerRead: 3, lastJson: text, marks: '|', setting: '', hiddenSeq: 0 },
      { conv: 'g:1', lastSeq: 7, readSeq: 7, lastJson: image, setting: '1 0', hiddenSeq: 0 },
    ],
    records: [
      { id: 'd:ann:bob', kind: 'direct', members: ['ann', 'bob'], createdAt: 1 },
      { id: 'g:1', kind: 'group', title: 'team', members: ['ann', 'bob', 'cy'], createdAt: 2, owner: 'bob', admins: ['cy'], joined: { ann: 4 }, rev: 2 },
    ],
    profiles: new Map([ann, bob, cy].map((u) => [u.id, u])),
  })
  let version = 'j:100'
  const files = { urlsVersion: () => version }
  const tagOf = (i: Omit<TagInputs, 'user' | 'files' | 'settingOf'>, user = 'ann') => listTag({ user, files, settingOf: FOLDED.settingOf, ...i })

  it('is the same for the same inputs, and a short lowercase text', () => {
    const a = tagOf(base())
    expect(a).toMatch(/^[0-9a-z]{15}$/)
    expect(tagOf(base())).toBe(a)
    // A last message an engine gives parsed lists as the same JSON: the same tag.
    const parsed = base()
    parsed.summary[0] = { ...parsed.summary[0]!, lastJson: undefined, lastMsg: JSON.parse(text) as Message }
    expect(tagOf(parsed)).toBe(a)
  })

  it('changes with any one thing the list shows', () => {
    const tags = new Set<string>([tagOf(base())!])
    const s = (i: number, patch: Partial<ConvSummary>) => (b: ReturnType<typeof base>) => void (b.summary[i] = { ...b.summary[i]!, ...patch })
    const r = (i: number, patch: Partial<ConvRecord>) => (b: ReturnType<typeof base>) => void (b.records[i] = { ...b.records[i]!, ...patch })
    const changes: Array<[string, (b: ReturnType<typeof base>) => void]> = [
      ['lastSeq', s(0, { lastSeq: 4 })],
      ['readSeq', s(0, { readSeq: 3 })],
      ['peerRead', s(0, { peerRead: 2 })],
      ['marks', s(0, { marks: '3|' })],
      ['last message', s(0, { lastJson: text.replace('hi', 'ho') })],
      ['last message as an object', s(0, { lastJson: undefined, lastMsg: JSON.parse(text.replace('hi', 'hey')) as Message })],
      ['setting', s(0, { setting: '1 0' })],
      ['hidden seq', s(0, { hiddenSeq: 3 })],
      ['conversation id', s(1, { conv: 'g:2' })],
      ['title', r(1, { title: 'team!' })],
      ['members', r(1, { members: ['ann', 'bob'] })],
      ['member order', r(1, { members: ['bob', 'ann', 'cy'] })],
      ['owner', r(1, { owner: 'cy' })],
      ['admins', r(1, { admins: [] })],
      ['joined seq', r(1, { joined: { ann: 5 } })],
      ['rev', r(1, { rev: 3 })],
      ['createdAt', r(0, { createdAt: 5 })],
      ['kind', r(0, { kind: 'group' })],
      ['record gone', (b) => void (b.records[0] = undefined as unknown as ConvRecord)],
      ['profile name', (b) => void b.profiles.set('bob', { ...bob, name: 'Robert' })],
      ['profile avatar', (b) => void b.profiles.set('bob', { id: 'bob', name: 'Bob' })],
      ['profile not found', (b) => void b.profiles.delete('cy')],
      ['a conversation more', (b) => void (b.summary.push({ conv: 'd:ann:cy', lastSeq: 0, readSeq: 0, setting: '' }), b.records.push({ id: 'd:ann:cy', kind: 'direct', members: ['ann', 'cy'], createdAt: 3 }))],
      ['order of the summary', (b) => void (b.summary.reverse(), b.records.reverse())],
    ]
    for (const [what, change] of changes) {
      const b = base()
      change(b)
      const tag = tagOf(b)
      expect(tag, what).toBeDefined()
      expect(tags.has(tag!), what).toBe(false)
      tags.add(tag!)
    }
    expect(tagOf(base(), 'bob')).not.toBe(tagOf(base()))
  })

  it('follows the file URLs\' signing only while a last message has a file', () => {
    const before = tagOf(base())
    version = 'j:200'
    expect(tagOf(base())).not.toBe(before)
    const textOnly = base()
    textOnly.summary[1] = { ...textOnly.summary[1]!, lastJson: text }
    const t1 = tagOf(textOnly)
    version = 'k:200'
    expect(tagOf(textOnly)).toBe(t1)
  })

  it('with a group\'s first members listed (protocol 3): follows them and the count, not the members beyond', () => {
    const five = (): ReturnType<typeof base> => {
      const b = base()
      b.records[1] = { ...b.records[1]!, members: ['ann', 'bob', 'cy', 'dee', 'eli'] }
      b.profiles.set('dee', { id: 'dee', name: 'Dee' })
      b.profiles.set('eli', { id: 'eli', name: 'Eli' })
      return b
    }
    const first3 = (b: ReturnType<typeof base>) => tagOf({ ...b, membersMax: 3 })
    const tag = first3(five())
    expect(tag).toBeDefined()
    // Another list than the one naming every member, or more of them.
    expect(tag).not.toBe(tagOf(five()))
    expect(tag).not.toBe(tagOf({ ...five(), membersMax: 4 }))
    // A member beyond the first three: their profile is not in the list.
    const beyond = five()
    beyond.profiles.set('eli', { id: 'eli', name: 'Elias' })
    expect(first3(beyond)).toBe(tag)
    // One of the first three, a member more or less beyond them, the order among the listed: another list.
    const listed = five()
    listed.profiles.set('cy', { id: 'cy', name: 'Cyrus' })
    const more = five()
    more.records[1] = { ...more.records[1]!, members: [...more.records[1]!.members, 'fay'] }
    const fewer = five()
    fewer.records[1] = { ...fewer.records[1]!, members: ['ann', 'bob', 'cy', 'dee'] }
    const order = five()
    order.records[1] = { ...order.records[1]!, members: ['bob', 'ann', 'cy', 'dee', 'eli'] }
    const tags = [tag, first3(listed), first3(more), first3(fewer), first3(order)]
    expect(new Set(tags).size).toBe(tags.length)
    // A 1:1 lists both whatever the bound.
    const b = five()
    b.profiles.set('bob', { ...bob, name: 'Robert' })
    expect(tagOf({ ...b, membersMax: 1 })).not.toBe(tagOf({ ...five(), membersMax: 1 }))
  })

  it('gives no tag to a summary without the user\'s settings', () => {
    const b = base()
    b.summary[1] = { ...b.summary[1]!, setting: undefined }
    expect(tagOf(b)).toBeUndefined()
  })
})


function lists(c: TestClient) {
  let n = 0
  return async (tag?: string) => {
    const rid = `l${++n}`
    c.send(tag === undefined ? { type: 'convs', rid } : { type: 'convs', rid, tag })
    return c.nextOf('convs', (f) => f.rid === rid)
  }
}

async function ask(c: TestClient, frame: Record<string, unknown> & { rid: string }): Promise<Record<string, unknown>> {
  c.send(frame as never)
  const reply = (await c.next((f) => 'rid' in f && f.rid === frame.rid)) as Record<string, unknown>
  expect(reply.type, JSON.stringify(reply)).not.toBe('error')
  return reply
}

async function send(c: TestClient, conv: string, text: string): Promise<number> {
  const cid = newCid()
  c.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
  return (await c.nextOf('ack', (f) => f.cid === cid)).seq
}

describe.each(['redis', 'memory'] as const)('conversation list tags, %s engine', (engine) => {
  // Redis: the settings folded into the summary; memory: read beside it, once, for the tag and the list.
  const t = useTestServer(engine, { RATE_LIMIT_PER_SEC: '10000', RATE_LIMIT_BURST: '10000' })

  it('answers `same` while nothing changed, and the whole list after each kind of change', async () => {
    const [ann, bob, cy, dee, eve] = [t.uid('ta'), t.uid('tb'), t.uid('tc'), t.uid('td'), t.uid('te')]
    const a = (await t.connect(ann)).client
    const b = (await t.connect(bob)).client
    const c = (await t.connect(cy)).client
    await devLogin(t.server.url, dee)
    const ab = directConvId(ann, bob)
    const ac = directConvId(ann, cy)
    await send(b, ab, 'one')
    await send(c, ac, 'two')
    const g = ((await ask(b, { type: 'conv.create', rid: 'g', kind: 'group', title: 'team', members: [ann, cy] })) as { conv: { id: string } }).conv.id
    await send(c, g, 'hello team')
    const list = lists(a)

    // The first list, asked without a tag, is listed in full with one (Redis: the settings folded
    // into the summary by it); asked with that tag, `same`: the fold changes nothing a list shows.
    let held = await list()
    expect(held.items).toHaveLength(3)
    expect(held.tag).toMatch(/^[0-9a-z]{1,32}$/)
    expect(await list(held.tag)).toMatchObject({ same: true, items: [], tag: held.tag })

    let seq = 0
    const changes: Array<[string, () => Promise<unknown>]> = [
      ['a message', async () => (seq = await send(b, ab, 'three'))],
      ['the user read it', async () => {
        a.send({ type: 'read', conv: ab, seq })
        await b.nextOf('receipt', (f) => f.kind === 'read' && f.user === ann && f.seq === seq)
      }],
      ['the peer read', async () => {
        const mine = await send(a, ab, 'four')
        b.send({ type: 'read', conv: ab, seq: mine })
        await a.nextOf('receipt', (f) => f.kind === 'read' && f.user === bob && f.seq === mine)
      }],
      ['muted', () => ask(a, { type: 'conv.settings', rid: 's1', conv: ac, muted: true })],
      ['pinned', () => ask(a, { type: 'conv.settings', rid: 's2', conv: ab, pinned: true })],
      ['the last message hidden', () => ask(a, { type: 'hide', rid: 'h1', conv: ac, seq: 1 })],
      ['a recall', async () => ask(b, { type: 'recall', rid: 'r1', conv: ab, seq: await send(b, ab, 'oops') })],
      ['a member added', () => ask(b, { type: 'group', rid: 'g1', conv: g, op: 'add', users: [dee] })],
      ['renamed', () => ask(b, { type: 'group', rid: 'g2', conv: g, op: 'rename', title: 'team 2' })],
      ['an admin', () => ask(b, { type: 'group', rid: 'g3', conv: g, op: 'admin', users: [cy] })],
      ['a member removed', () => ask(b, { type: 'group', rid: 'g4', conv: g, op: 'remove', users: [dee] })],
      ['a new conversation', async () => send((await t.connect(eve)).client, directConvId(ann, eve), 'hi ann')],
    ]
    for (const [what, change] of changes) {
      await change()
      const tagged = await list(held.tag)
      const fresh = await list()
      expect(tagged.same, what).toBeUndefined()
      expect(tagged.items, what).toEqual(fresh.items)
      expect(tagged.tag, what).toBe(fresh.tag)
      expect(tagged.tag, what).not.toBe(held.tag)
      // Nothing changed since: `same`, and no list.
      const again = await list(fresh.tag)
      expect([again.same, again.items, again.tag], what).toEqual([true, [], fresh.tag])
      held = fresh
    }
  })

  it('keeps a list\'s tag across the settings\' fold into the summary, whatever the settings', async () => {
    // Each user has one conversation per setting state; the list is built once before the settings
    // are folded (read beside the summary) and once after (read from it): the same tag, `same`.
    const states: Array<[string, (c: TestClient, conv: string, seq: number) => Promise<unknown>]> = [
      ['default', async () => undefined],
      ['muted', (c, conv) => ask(c, { type: 'conv.settings', rid: 'm', conv, muted: true })],
      ['pinned', (c, conv) => ask(c, { type: 'conv.settings', rid: 'p', conv, pinned: true })],
      ['muted and pinned', async (c, conv) => {
        await ask(c, { type: 'conv.settings', rid: 'm2', conv, muted: true })
        return ask(c, { type: 'conv.settings', rid: 'p2', conv, pinned: true })
      }],
      ['the last message hidden', (c, conv, seq) => ask(c, { type: 'hide', rid: 'h', conv, seq })],
      ['an older message hidden', (c, conv, seq) => ask(c, { type: 'hide', rid: 'h2', conv, seq: seq - 1 })],
    ]
    for (const [what, apply] of states) {
      const [ann, bob] = [t.uid('fa'), t.uid('fb')]
      const a = (await t.connect(ann)).client
      const b = (await t.connect(bob)).client
      const conv = directConvId(ann, bob)
      await send(b, conv, 'one')
      const seq = await send(b, conv, 'two')
      await apply(a, conv, seq)
      if (engine === 'redis') {
        // As a summary written before the settings were ever folded into it (or whose mark was lost).
        const r = new Redis(REDIS_URL)
        try {
          const key = `${t.prefix}{u:${ann}}:s`
          const fields = (await r.hkeys(key)).filter((f) => f === 'c~' || f.startsWith('c:') || f.startsWith('h:'))
          if (fields.length > 0) await r.hdel(key, ...fields)
          expect(await r.hexists(key, 'c~'), what).toBe(0)
        } finally {
          r.disconnect()
        }
      }
      const list = lists(a)
      const first = await list()
      expect(first.tag, what).toMatch(/^[0-9a-z]{1,32}$/)
      const again = await list(first.tag)
      expect([again.same, again.items, again.tag], what).toEqual([true, [], first.tag])
      // And the list itself is the one built before the fold.
      expect((await list()).items, what).toEqual(first.items)
    }
  })

  it('never answers `same` to another user\'s tag', async () => {
    const [ann, bob] = [t.uid('ua'), t.uid('ub')]
    const a = (await t.connect(ann)).client
    const b = (await t.connect(bob)).client
    await send(a, directConvId(ann, bob), 'hi')
    const la = lists(a)
    const lb = lists(b)
    await la()
    await lb()
    const tagA = (await la()).tag!
    const tagB = (await lb()).tag!
    expect((await lb(tagA)).same).toBeUndefined()
    expect((await lb(tagB)).same).toBe(true)
  })
})
