/**
 * The relations domain over real stores (the memory engine's users and presence, the memory
 * relation store): the bound on relations, what a block does to the other's side, races settled
 * by compare-and-set, and what is pushed to whom.
 */
import { describe, expect, it } from 'vitest'
import { AppError } from '@chat/shared'
import { createMemoryEngine } from '../../src/store/memory'
import { MemoryRelations } from '../../src/store/relations'
import type { Pair, RelationStore } from '../../src/store/relations'
import { Relations } from '../../src/social/service'

async function setup(maxRelations = 1000) {
  const engine = createMemoryEngine({ queueMaxLength: 10, queueRetentionMs: 60_000 })
  for (const id of ['ann', 'bob', 'cat', 'dan']) await engine.users.upsert({ id, name: id.toUpperCase() })
  const store = new MemoryRelations()
  const pushed: Array<{ to: readonly string[]; json: string }> = []
  const relations = new Relations({ store, users: engine.users, presence: engine.presence, push: (to, _type, json) => void pushed.push({ to, json }), maxRelations })
  return { engine, store, relations, pushed }
}

const code = async (p: Promise<unknown> | undefined) => Promise.resolve(p).then(() => 'ok', (e: unknown) => (e instanceof AppError ? e.code : String(e)))

describe('relations service', () => {
  it('bounds the relations of both users of a request (RELATIONS_FULL), and a removal frees a place', async () => {
    const { relations } = await setup(2)
    await relations.act('ann', 'request', 'bob')
    await relations.act('ann', 'block', 'cat')
    // ann holds two: a third is refused, whoever starts it.
    expect(await code(relations.act('ann', 'request', 'dan'))).toBe('RELATIONS_FULL')
    expect(await code(relations.act('dan', 'request', 'ann'))).toBe('RELATIONS_FULL')
    // Changing a relation ann holds already is not a new one.
    expect(await code(relations.act('bob', 'accept', 'ann'))).toBe('ok')
    await relations.act('ann', 'unblock', 'cat')
    expect(await code(relations.act('dan', 'request', 'ann'))).toBe('ok')
    expect((await relations.list('ann')).items.map((e) => [e.user.id, e.state])).toEqual([
      ['bob', 'contact'],
      ['dan', 'incoming'],
    ])
  })

  it('a block ends the other’s request, keeps the other’s own block, and is never pushed to the blocked user', async () => {
    const { relations, store, pushed } = await setup()
    await relations.act('bob', 'request', 'ann', 'hello')
    await relations.act('bob', 'block', 'cat')
    await relations.act('cat', 'block', 'bob')
    pushed.length = 0
    await relations.act('ann', 'block', 'bob')
    expect(await store.pair('ann', 'bob')).toMatchObject({ ab: { state: 'blocked' }, ba: undefined })
    expect(pushed.map((p) => p.to)).toEqual([['ann']])
    expect((await relations.list('bob')).items.map((e) => [e.user.id, e.state])).toEqual([['cat', 'blocked']])
    expect((await relations.list('cat')).items.map((e) => [e.user.id, e.state])).toEqual([['bob', 'blocked']])
    // Blocking twice changes nothing (the version stays).
    const before = await store.pair('ann', 'bob')
    await relations.act('ann', 'block', 'bob')
    expect((await store.pair('ann', 'bob')).version).toBe(before.version)
  })

  it('settles racing operations on one pair by compare-and-set: each applied to what the other left', async () => {
    const { relations, store } = await setup()
    await relations.act('ann', 'request', 'bob')
    // bob accepts while ann blocks: whichever lands second sees the first.
    const results = await Promise.all([code(relations.act('bob', 'accept', 'ann')), code(relations.act('ann', 'block', 'bob'))])
    expect(results).toEqual(['ok', 'ok'])
    const pair = await store.pair('ann', 'bob')
    // Blocked in the end either way, and bob is no contact of ann's.
    expect(pair.ab?.state).toBe('blocked')
    expect(pair.ba).toBeUndefined()
    expect(pair.version).toBe(3)
  })

  it('gives up with STORE_UNAVAILABLE (temporary) when the pair keeps changing under it', async () => {
    const { relations, store } = await setup()
    const put = store.put.bind(store)
    // Every write finds the record changed by someone else first (another writer touches it).
    let lost = 0
    store.put = async (next: Pair) => {
      await put(await store.pair(next.a, next.b))
      lost++
      return false
    }
    const err = await relations.act('ann', 'request', 'bob').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('STORE_UNAVAILABLE')
    expect((err as AppError).temporary).toBe(true)
    expect(lost).toBe(8)
  })

  it('checks for the chat service: sends, opening a 1:1, search', async () => {
    const { relations } = await setup()
    const checks = relations.checks({ text: async () => {} })
    await relations.act('bob', 'block', 'ann')
    expect(await code(checks.direct!('ann', 'd:ann:bob'))).toBe('BLOCKED')
    expect(await code(checks.direct!('bob', 'd:ann:bob'))).toBe('ok')
    expect(await code(checks.direct!('ann', 'g:whatever'))).toBe('ok')
    expect(await code(checks.open!('ann', 'bob'))).toBe('BLOCKED')
    expect(await code(checks.open!('ann', 'cat'))).toBe('ok')
    await relations.setPolicy('cat', 'contacts')
    expect(await code(checks.open!('ann', 'cat'))).toBe('NOT_CONTACT')
    const all = [
      { id: 'ann', name: 'ANN' },
      { id: 'bob', name: 'BOB' },
      { id: 'cat', name: 'CAT' },
    ]
    expect((await checks.visible!('ann', all)).map((u) => u.id)).toEqual(['ann', 'cat'])
    expect((await checks.visible!('bob', all)).map((u) => u.id)).toEqual(['ann', 'bob', 'cat'])
  })

  it('a kept send verdict tells the two members apart by their places in the id, ids sharing a prefix too', async () => {
    const { engine, store } = await setup()
    await engine.users.upsert({ id: 'anna', name: 'ANNA' })
    let reads = 0
    const counting: RelationStore = Object.assign(Object.create(store) as RelationStore, {
      pair: (x: string, y: string) => {
        reads++
        return store.pair(x, y)
      },
    })
    const relations = new Relations({ store: counting, users: engine.users, presence: engine.presence, push: () => {}, maxRelations: 1000 })
    const checks = relations.checks({ text: async () => {} })
    const direct = (user: string, conv: string) => checks.direct!(user, conv)
    // `ann` is the first member of d:ann:anna, `anna` (who starts with `ann`) the second.
    await relations.act('ann', 'block', 'anna')
    expect(await code(direct('anna', 'd:ann:anna'))).toBe('BLOCKED')
    reads = 0
    for (let i = 0; i < 2; i++) {
      expect(await code(direct('anna', 'd:ann:anna'))).toBe('BLOCKED')
      expect(await code(direct('ann', 'd:ann:anna'))).toBe('ok')
    }
    expect(reads).toBe(0)
    await relations.act('ann', 'unblock', 'anna')
    await relations.act('anna', 'block', 'ann')
    expect(await code(direct('ann', 'd:ann:anna'))).toBe('BLOCKED')
    reads = 0
    expect(await code(direct('ann', 'd:ann:anna'))).toBe('BLOCKED')
    expect(await code(direct('anna', 'd:ann:anna'))).toBe('ok')
    expect(reads).toBe(0)
  })

  it('the send check reads a pair once, and a change on any node (told through `changed`) is seen at the next send', async () => {
    const { engine, store } = await setup()
    let reads = 0
    let hold: Promise<void> | undefined
    const counting: RelationStore = Object.assign(Object.create(store) as RelationStore, {
      pair: async (x: string, y: string) => {
        reads++
        const pair = await store.pair(x, y)
        // Only the read under way when `hold` was set waits.
        const wait = hold
        hold = undefined
        await wait
        return pair
      },
    })
    // Two nodes over one store: each tells the other what it changed, as the bus does.
    const nodes: Relations[] = []
    const told: string[] = []
    for (let i = 0; i < 2; i++) {
      nodes.push(
        new Relations({
          store: counting,
          users: engine.users,
          presence: engine.presence,
          push: () => {},
          changed: (conv) => {
            told.push(conv)
            nodes[1 - i]!.forget(conv)
          },
        }),
      )
    }
    const [a, b] = nodes as [Relations, Relations]
    const send = (n: Relations, from: string) => code(n.checks({ text: async () => {} }).direct!(from, 'd:ann:bob'))
    expect(await send(a, 'ann')).toBe('ok')
    reads = 0
    for (let i = 0; i < 5; i++) expect(await send(a, 'ann')).toBe('ok')
    expect(reads).toBe(0)
    // Bob blocks ann on the other node: refused at once here, and the blocked pair is kept too.
    await b.act('bob', 'block', 'ann')
    expect(told).toEqual(['d:ann:bob'])
    expect(await send(a, 'ann')).toBe('BLOCKED')
    reads = 0
    expect(await send(a, 'ann')).toBe('BLOCKED')
    // One kept verdict answers for both members: bob, who blocked, still sends.
    expect(await send(a, 'bob')).toBe('ok')
    expect(reads).toBe(0)
    // A read under way when a change lands is not kept: it may predate the change.
    a.forgetAll()
    let release!: () => void
    hold = new Promise((r) => (release = r))
    const racing = send(a, 'ann')
    await b.act('bob', 'unblock', 'ann')
    release()
    expect(await racing).toBe('BLOCKED')
    expect(await send(a, 'ann')).toBe('ok')
  })
})
