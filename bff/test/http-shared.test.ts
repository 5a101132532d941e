/**
 * The pieces every HTTP entry point of the BFF shares, once each: the Bearer reader (auth/bearer.ts),
 * the CORS policy (http/cors.ts), the JSON error body (http/errors.ts) and the verified-token cache
 * (auth/tokens.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { bearerToken } from '../src/auth/bearer'
import { Tokens } from '../src/auth/tokens'
import { CorsPolicy } from '../src/http/cors'
import { errorJson } from '../src/http/errors'
import { createMemoryEngine } from '../src/store/memory'

describe('bearerToken', () => {
  it('reads one token of a case-insensitive Bearer scheme, nothing else', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def')
    expect(bearerToken('bearer   abc')).toBe('abc')
    expect(bearerToken(undefined)).toBeUndefined()
    expect(bearerToken('')).toBeUndefined()
    expect(bearerToken('Basic abc')).toBeUndefined()
    expect(bearerToken('Bearer a b')).toBeUndefined()
    expect(bearerToken('Bearer ')).toBeUndefined()
  })
})

describe('CorsPolicy', () => {
  it('any origin: * for everyone, no list for tus', () => {
    const any = new CorsPolicy(['*'])
    expect(any.allowOrigin('http://x.example')).toBe('*')
    expect(any.allowed).toBeUndefined()
  })

  it('listed origins: only those, echoed', () => {
    const some = new CorsPolicy(['http://h5.example'])
    expect(some.allowOrigin('http://h5.example')).toBe('http://h5.example')
    expect(some.allowOrigin('http://evil.example')).toBeUndefined()
    expect(some.allowOrigin(undefined)).toBeUndefined()
    expect(some.allowed).toEqual(['http://h5.example'])
  })
})

describe('errorJson', () => {
  it('is the table entry, with its message unless one is given', () => {
    expect(JSON.parse(errorJson('NOT_FOUND'))).toEqual({ error: { code: 'NOT_FOUND', message: expect.any(String) as unknown, temporary: false } })
    expect(JSON.parse(errorJson('STORE_UNAVAILABLE', 'away'))).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'away', temporary: true } })
  })
})

describe('Tokens.verify cache', () => {
  afterEach(() => vi.useRealTimers())

  it('answers a repeated token with the same claims, and still refuses it once expired', async () => {
    const engine = createMemoryEngine({ queueMaxLength: 10, queueRetentionMs: 60_000 })
    try {
      const tokens = new Tokens({ secret: 'x'.repeat(32), tokenTtlMs: 1500, refreshTtlMs: 60_000 }, engine.tokens)
      const { token, expiresAt } = await tokens.issue({ id: 'alice', name: 'Alice' })
      const first = await tokens.verify(token)
      expect(first).toEqual({ user: { id: 'alice', name: 'Alice' }, expiresAt })
      expect(await tokens.verify(token)).toBe(first)
      await expect(tokens.verify(token + 'x')).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
      // A remembered verdict is the token's own: another user's token gets its own, and a token
      // carrying a remembered one's signature over another payload is refused.
      const bob = await tokens.issue({ id: 'bob', name: 'Bob' })
      expect((await tokens.verify(bob.token)).user).toEqual({ id: 'bob', name: 'Bob' })
      expect(await tokens.verify(token)).toBe(first)
      const [, bobPayload] = bob.token.split('.')
      const [head, , signature] = token.split('.')
      await expect(tokens.verify(`${head}.${bobPayload}.${signature}`)).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
      // The clock moves past the token's exp: the cached verdict no longer holds.
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(expiresAt + 1000)
      await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' })
    } finally {
      await engine.close()
    }
  })
})
