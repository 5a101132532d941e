import { afterEach, describe, expect, it, vi } from 'vitest'
import { randomId } from '../src'

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
})

describe('randomId', () => {
  it('draws random bytes in blocks, not once per id, and ids stay distinct across blocks', () => {
    const fill = vi.spyOn(globalThis.crypto, 'getRandomValues')
    const ids = Array.from({ length: 500 }, () => randomId(12))
    // 6,000 bytes: a handful of 1 KiB draws (one per id before).
    expect(fill.mock.calls.length).toBeLessThanOrEqual(7)
    expect(new Set(ids).size).toBe(500)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/)
  })

  it('falls back to Math.random where the platform has no crypto.getRandomValues', () => {
    vi.stubGlobal('crypto', undefined)
    const ids = Array.from({ length: 100 }, () => randomId())
    expect(new Set(ids).size).toBe(100)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{21}$/)
  })
})
