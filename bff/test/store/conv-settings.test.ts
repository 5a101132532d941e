/**
 * The one contract every conversation-settings store passes (memory, Redis, the archive on SQLite
 * and MariaDB): defaults, a setting back at its default deleted, the pinned bound checked with the
 * write (also under concurrent pins), hidden seqs bounded per conversation and per user.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openArchive } from '../../src/archive/archive'
import { ArchiveConvSettings } from '../../src/archive/conv-settings'
import { Redis } from 'ioredis'
import { MemoryConvSettings, RedisConvSettings } from '../../src/store/conv-settings'
import { RedisMirroredConvSettings } from '../../src/store/conv-settings-mirror'
import type { ConvSettingsStore } from '../../src/store/conv-settings'
import { createTestDatabase } from '../support/mysql'
import { REDIS_URL, dropPrefix, randomPrefix } from '../support/server'

interface Fixture {
  readonly store: ConvSettingsStore
  cleanup(): Promise<void>
}

function contract(name: string, make: () => Promise<Fixture>): void {
  describe(`${name} conversation settings contract`, () => {
    let fx: Fixture
    let s: ConvSettingsStore
    beforeEach(async () => {
      fx = await make()
      s = fx.store
    })
    afterEach(async () => {
      await fx.cleanup()
    })

    it('reads the default for what was never set, stores per user, deletes a setting back at its default', async () => {
      expect(await s.get('amy', 'd:amy:bob')).toEqual({ muted: false, pinned: 0 })
      expect(await s.all('amy')).toEqual(new Map())
      expect(await s.put('amy', 'd:amy:bob', { muted: true, pinned: 0 }, 20)).toBe(true)
      expect(await s.put('amy', 'g:team', { muted: false, pinned: 1_700_000_000_123 }, 20)).toBe(true)
      expect(await s.get('amy', 'd:amy:bob')).toEqual({ muted: true, pinned: 0 })
      expect(await s.get('bob', 'd:amy:bob')).toEqual({ muted: false, pinned: 0 })
      expect(await s.all('amy')).toEqual(
        new Map([
          ['d:amy:bob', { muted: true, pinned: 0 }],
          ['g:team', { muted: false, pinned: 1_700_000_000_123 }],
        ]),
      )
      // Changed, then back to the default: gone from the user's settings.
      expect(await s.put('amy', 'd:amy:bob', { muted: true, pinned: 5 }, 20)).toBe(true)
      expect(await s.get('amy', 'd:amy:bob')).toEqual({ muted: true, pinned: 5 })
      expect(await s.put('amy', 'd:amy:bob', { muted: false, pinned: 0 }, 20)).toBe(true)
      expect([...(await s.all('amy')).keys()]).toEqual(['g:team'])
    })

    it('refuses a new pin past the bound, never a pinned one pinned again nor a mute', async () => {
      for (let i = 0; i < 3; i++) expect(await s.put('amy', `g:p${i}`, { muted: false, pinned: 100 + i }, 3)).toBe(true)
      expect(await s.put('amy', 'g:p3', { muted: false, pinned: 200 }, 3)).toBe(false)
      expect(await s.get('amy', 'g:p3')).toEqual({ muted: false, pinned: 0 })
      expect(await s.put('amy', 'g:p3', { muted: true, pinned: 0 }, 3)).toBe(true)
      expect(await s.put('amy', 'g:p0', { muted: true, pinned: 100 }, 3)).toBe(true)
      // Another user's pins do not count.
      expect(await s.put('bob', 'g:p3', { muted: false, pinned: 300 }, 3)).toBe(true)
      // Unpinning one frees a place.
      expect(await s.put('amy', 'g:p1', { muted: false, pinned: 0 }, 3)).toBe(true)
      expect(await s.put('amy', 'g:p3', { muted: true, pinned: 400 }, 3)).toBe(true)
      expect([...(await s.all('amy')).values()].filter((x) => x.pinned > 0)).toHaveLength(3)
    })

    it('never holds more pins than the bound when pins race', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.put('amy', `g:r${i}`, { muted: false, pinned: 10 + i }, 5)))
      expect(results.filter(Boolean)).toHaveLength(5)
      expect([...(await s.all('amy')).values()].filter((x) => x.pinned > 0)).toHaveLength(5)
    })

    it('keeps hidden seqs per user and conversation, once each, bounded', async () => {
      expect(await s.hidden('amy', 'd:amy:bob')).toEqual(new Set())
      expect(await s.hide('amy', 'd:amy:bob', 2, 3)).toBe('done')
      expect(await s.hide('amy', 'd:amy:bob', 2, 3)).toBe('already')
      expect(await s.hide('amy', 'd:amy:bob', 9_007_199_254_740_991, 3)).toBe('done')
      expect(await s.hide('amy', 'd:amy:bob', 5, 3)).toBe('done')
      expect(await s.hide('amy', 'd:amy:bob', 6, 3)).toBe('full')
      expect(await s.hide('amy', 'd:amy:bob', 5, 3)).toBe('already')
      expect(await s.hidden('amy', 'd:amy:bob')).toEqual(new Set([2, 5, 9_007_199_254_740_991]))
      expect(await s.hidden('bob', 'd:amy:bob')).toEqual(new Set())
      expect(await s.hiddenConvs('amy')).toEqual(new Set(['d:amy:bob']))
      expect(await s.hide('amy', 'g:other', 6, 3)).toBe('done')
      expect(await s.hiddenConvs('amy')).toEqual(new Set(['d:amy:bob', 'g:other']))
      expect(await s.hiddenConvs('bob')).toEqual(new Set())
      expect(await s.hiddenAmong('amy', [])).toEqual(new Set())
      expect(
        await s.hiddenAmong('amy', [
          { conv: 'd:amy:bob', seq: 5 },
          { conv: 'g:other', seq: 7 },
          { conv: 'g:none', seq: 1 },
        ]),
      ).toEqual(new Set(['d:amy:bob 5']))
    })
  })
}

contract('memory', async () => ({ store: new MemoryConvSettings(), cleanup: async () => {} }))

contract('redis', async () => {
  const prefix = randomPrefix()
  const store = await RedisConvSettings.open({ url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 })
  return {
    store,
    async cleanup() {
      await store.close()
      await dropPrefix(prefix)
    },
  }
})

contract('archive (sqlite)', async () => {
  const archive = await openArchive({ url: 'sqlite::memory:' })
  return { store: new ArchiveConvSettings(archive), cleanup: () => archive.close() }
})

contract('archive (mysql)', async () => {
  const db = await createTestDatabase()
  const archive = await openArchive({ url: db.url, poolSize: 4 })
  return {
    store: new ArchiveConvSettings(archive),
    async cleanup() {
      await archive.close()
      await db.drop()
    },
  }
})

contract('archive (mysql), hidden messages mirrored in redis', async () => {
  const db = await createTestDatabase()
  const archive = await openArchive({ url: db.url, poolSize: 4 })
  const prefix = randomPrefix()
  const store = await RedisMirroredConvSettings.open(new ArchiveConvSettings(archive), { url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 })
  return {
    store,
    async cleanup() {
      await store.close()
      await archive.close()
      await db.drop()
      await dropPrefix(prefix)
    },
  }
})

describe('hidden messages mirrored in redis over the archive', () => {
  it('answers from Redis once filled (the archive away), sees a hide of another node, and fills again after Redis lost it', async () => {
    const archive = await openArchive({ url: 'sqlite::memory:' })
    const prefix = randomPrefix()
    const options = { url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000 }
    const inner = new ArchiveConvSettings(archive)
    const n1 = await RedisMirroredConvSettings.open(inner, options)
    const n2 = await RedisMirroredConvSettings.open(inner, options)
    const r = new Redis(REDIS_URL)
    try {
      expect(await n1.hide('amy', 'd:amy:bob', 3, 10)).toBe('done')
      // Node 2 fills its read from the archive; node 1's next hide adds to the same mirror.
      expect(await n2.hiddenConvs('amy')).toEqual(new Set(['d:amy:bob']))
      expect(await n2.hidden('amy', 'd:amy:bob')).toEqual(new Set([3]))
      expect(await n1.hide('amy', 'd:amy:bob', 5, 10)).toBe('done')
      expect(await n1.hide('amy', 'g:team', 1, 10)).toBe('done')
      expect(await n2.hidden('amy', 'd:amy:bob')).toEqual(new Set([3, 5]))
      expect(await n2.hiddenConvs('amy')).toEqual(new Set(['d:amy:bob', 'g:team']))
      // A user who hid nothing: an empty but complete mirror (no archive read next time).
      expect(await n2.hiddenConvs('bob')).toEqual(new Set())
      expect(await r.smembers(`${prefix}{u:bob}:hdcm`)).toEqual(['~'])
      expect(await r.pttl(`${prefix}{u:bob}:hdcm`)).toBeGreaterThan(0)

      // Redis lost the mirrors: the archive fills them again.
      await dropPrefix(prefix)
      expect(await n1.hidden('amy', 'd:amy:bob')).toEqual(new Set([3, 5]))
      expect(await n1.hiddenAmong('amy', [{ conv: 'd:amy:bob', seq: 5 }, { conv: 'g:team', seq: 2 }])).toEqual(new Set(['d:amy:bob 5']))

      // The archive away: what is mirrored is still answered.
      await archive.close()
      expect(await n2.hidden('amy', 'd:amy:bob')).toEqual(new Set([3, 5]))
      expect(await n2.hiddenConvs('amy')).toEqual(new Set(['d:amy:bob', 'g:team']))
      // What is not mirrored fails as the store being away: temporary, not internal.
      const err = await n2.hiddenConvs('cat').catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('STORE_UNAVAILABLE')
    } finally {
      r.disconnect()
      await n1.close()
      await n2.close()
      await archive.close().catch(() => {})
      await dropPrefix(prefix)
    }
  })
})

describe('mute and pin mirrored in redis over the archive', () => {
  /** The archive's store with its `all` held after reading until `release()`: a fill that read, and waits to write. */
  function held(real: ConvSettingsStore) {
    let gate: Promise<void> | undefined
    let release = () => {}
    let reached = () => {}
    const store: ConvSettingsStore = {
      all: async (user) => {
        const read = await real.all(user)
        if (gate) {
          reached()
          await gate
        }
        return read
      },
      get: (user, conv) => real.get(user, conv),
      put: (user, conv, setting, max) => real.put(user, conv, setting, max),
      hide: (user, conv, seq, max) => real.hide(user, conv, seq, max),
      hidden: (user, conv) => real.hidden(user, conv),
      hiddenConvs: (user) => real.hiddenConvs(user),
      hiddenAmong: (user, places) => real.hiddenAmong(user, places),
      close: async () => {},
    }
    return {
      store,
      /** Hold the next `all` after its read; resolves once it has read. */
      hold: () => {
        gate = new Promise<void>((r) => (release = r))
        return new Promise<void>((r) => (reached = r))
      },
      release: () => {
        gate = undefined
        release()
      },
    }
  }

  it('answers from Redis once filled (also with the archive away), refuses a change then as temporary, and a fill that read before a change never stores over it', async () => {
    const archive = await openArchive({ url: 'sqlite::memory:' })
    const prefix = randomPrefix()
    const options = { url: REDIS_URL, clusterNodes: [], prefix, commandTimeoutMs: 2000, connectTimeoutMs: 5000, ttlMs: 60_000 }
    const real = new ArchiveConvSettings(archive)
    const slow = held(real)
    const n1 = await RedisMirroredConvSettings.open(slow.store, options)
    const n2 = await RedisMirroredConvSettings.open(real, options)
    const r = new Redis(REDIS_URL)
    const key = `${prefix}{u:amy}:csm`
    try {
      // Node 1 starts filling amy's copy and has read the archive (nothing set yet) when node 2 mutes.
      const read = slow.hold()
      const stale = n1.all('amy')
      await read
      expect(await n2.put('amy', 'd:amy:bob', { muted: true, pinned: 0 }, 5)).toBe(true)
      // The change refilled the copy from the archive.
      expect(await r.hgetall(key)).toEqual({ '~': '1', 'd:amy:bob': '1 0' })
      slow.release()
      expect(await stale).toEqual(new Map())
      // The late fill lost its token: it deleted the copy rather than store what it read.
      expect(await r.exists(key)).toBe(0)
      expect(await n2.all('amy')).toEqual(new Map([['d:amy:bob', { muted: true, pinned: 0 }]]))
      expect(await r.hgetall(key)).toEqual({ '~': '1', 'd:amy:bob': '1 0' })
      expect(await r.pttl(key)).toBeGreaterThan(0)
      expect(await n1.put('amy', 'g:team', { muted: false, pinned: 7 }, 5)).toBe(true)
      expect(await n2.get('amy', 'g:team')).toEqual({ muted: false, pinned: 7 })

      // The archive away: the copy answers; a change is refused as temporary and leaves it usable.
      await archive.close()
      expect(await n2.all('amy')).toEqual(
        new Map([
          ['d:amy:bob', { muted: true, pinned: 0 }],
          ['g:team', { muted: false, pinned: 7 }],
        ]),
      )
      expect(await n1.get('amy', 'd:amy:bob')).toEqual({ muted: true, pinned: 0 })
      await expect(n2.put('amy', 'd:amy:bob', { muted: false, pinned: 0 }, 5)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      expect(await n2.get('amy', 'd:amy:bob')).toEqual({ muted: true, pinned: 0 })
      // A copy marked by a change that never finished (its node died): not trusted, the archive is
      // asked, and when it cannot answer the reader leaves the copy answering again.
      await r.hset(key, '~f', 'a-change-in-flight')
      await expect(n2.all('amy')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
      expect(await n2.get('amy', 'g:team')).toEqual({ muted: false, pinned: 7 })
      // A user whose copy Redis does not hold: the archive would have to answer.
      await expect(n2.all('cat')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    } finally {
      r.disconnect()
      await n1.close()
      await n2.close()
      await archive.close().catch(() => {})
      await dropPrefix(prefix)
    }
  })
})
