/**
 * The one contract every relation store passes (memory, Redis, the archive on SQLite and MySQL):
 * a pair record read in either order, compare-and-set by version, the peers index, the setting.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { RelationStore } from '../../src/store/relations'

export interface RelationFixture {
  readonly store: RelationStore
  cleanup(): Promise<void>
}

export function relationContract(name: string, make: () => Promise<RelationFixture>): void {
  describe(`${name} relation store contract`, () => {
    let fx: RelationFixture
    let s: RelationStore
    beforeEach(async () => {
      fx = await make()
      s = fx.store
    })
    afterEach(async () => {
      await fx.cleanup()
    })

    it('reads an absent pair as version 0 in record order, whichever order it is asked in', async () => {
      expect(await s.pair('zoe', 'amy')).toEqual({ a: 'amy', b: 'zoe', version: 0 })
      expect(await s.pair('amy', 'zoe')).toEqual({ a: 'amy', b: 'zoe', version: 0 })
      expect(await s.peers('amy')).toEqual([])
    })

    it('stores both directions with notes, and counts versions', async () => {
      const first = await s.pair('amy', 'zoe')
      expect(await s.put({ ...first, ab: { state: 'requested', note: '我是设计部的小李 ✓', at: 1000 } })).toBe(true)
      const read = await s.pair('zoe', 'amy')
      expect(read).toEqual({ a: 'amy', b: 'zoe', ab: { state: 'requested', note: '我是设计部的小李 ✓', at: 1000 }, version: 1 })
      expect(await s.put({ ...read, ab: { state: 'contact', at: 2000 }, ba: { state: 'contact', at: 2000 } })).toBe(true)
      expect(await s.pair('amy', 'zoe')).toEqual({ a: 'amy', b: 'zoe', ab: { state: 'contact', at: 2000 }, ba: { state: 'contact', at: 2000 }, version: 2 })
      expect(await s.peers('amy')).toEqual(['zoe'])
      expect(await s.peers('zoe')).toEqual(['amy'])
    })

    it('refuses a write that read an older version, a second creation included', async () => {
      const absent = await s.pair('amy', 'bob')
      expect(await s.put({ ...absent, ab: { state: 'requested', at: 1 } })).toBe(true)
      // Another writer read the same absent record: it loses, and nothing of it is stored.
      expect(await s.put({ ...absent, ba: { state: 'blocked', at: 2 } })).toBe(false)
      const v1 = await s.pair('amy', 'bob')
      expect(v1.ba).toBeUndefined()
      expect(await s.put({ ...v1, ab: undefined })).toBe(true)
      expect(await s.put({ ...v1, ab: { state: 'blocked', at: 3 } })).toBe(false)
      expect(await s.pair('amy', 'bob')).toEqual({ a: 'amy', b: 'bob', version: 2 })
    })

    it('an emptied pair leaves the peers of both, and its version keeps counting', async () => {
      await s.put({ ...(await s.pair('amy', 'bob')), ab: { state: 'blocked', at: 1 } })
      await s.put({ ...(await s.pair('amy', 'cat')), ba: { state: 'requested', at: 1 } })
      expect((await s.peers('amy')).sort()).toEqual(['bob', 'cat'])
      const v1 = await s.pair('amy', 'bob')
      expect(await s.put({ a: v1.a, b: v1.b, version: v1.version })).toBe(true)
      expect(await s.peers('amy')).toEqual(['cat'])
      expect(await s.peers('bob')).toEqual([])
      expect((await s.pair('bob', 'amy')).version).toBe(2)
      expect(await s.put({ a: 'amy', b: 'bob', ab: { state: 'requested', at: 5 }, version: 0 })).toBe(false)
    })

    it('keeps who may open a 1:1, `anyone` by default', async () => {
      expect(await s.policy('amy')).toBe('anyone')
      await s.setPolicy('amy', 'contacts')
      expect(await s.policy('amy')).toBe('contacts')
      expect(await s.policy('bob')).toBe('anyone')
      await s.setPolicy('amy', 'contacts')
      await s.setPolicy('amy', 'anyone')
      expect(await s.policy('amy')).toBe('anyone')
    })
  })
}
