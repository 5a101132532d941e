import { describe, expect, it } from 'vitest'
import { AppError, CloseCode, ERRORS, ERROR_CODES, directConvId, directMembers, directPeer, isAppError, isErrorCode, randomId } from '../src'

describe('error table', () => {
  it('gives every code a status, a message and a temporary flag', () => {
    for (const code of ERROR_CODES) {
      const spec = ERRORS[code]
      expect(spec.status).toBeGreaterThanOrEqual(400)
      expect(spec.message.length).toBeGreaterThan(0)
      expect(typeof spec.temporary).toBe('boolean')
    }
  })

  it('uses close codes only from the RFC range or ours', () => {
    for (const code of ERROR_CODES) {
      const close = (ERRORS[code] as { close?: number }).close
      if (close !== undefined) expect(Object.values(CloseCode)).toContain(close)
    }
  })

  it('makes AppError a real Error carrying its spec and cause', () => {
    const cause = new Error('redis down')
    const err = new AppError('STORE_UNAVAILABLE', undefined, { cause })
    expect(err).toBeInstanceOf(Error)
    expect(isAppError(err)).toBe(true)
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.temporary).toBe(true)
    expect(err.status).toBe(503)
    expect(err.cause).toBe(cause)
    expect(new AppError('FRAME_TOO_LARGE').closeCode).toBe(1009)
    expect(new AppError('NOT_MEMBER').closeCode).toBeUndefined()
  })

  it('recognises codes', () => {
    expect(isErrorCode('NOT_MEMBER')).toBe(true)
    expect(isErrorCode('toString')).toBe(false)
    expect(isErrorCode(3)).toBe(false)
  })
})

describe('ids', () => {
  it('derives the same 1:1 id from either side', () => {
    expect(directConvId('bob', 'alice')).toBe('d:alice:bob')
    expect(directConvId('alice', 'bob')).toBe('d:alice:bob')
    expect(directMembers('d:alice:bob')).toEqual(['alice', 'bob'])
    expect(directMembers('g:x')).toBeUndefined()
  })

  it('names the other member of a 1:1 for either of its two, oneself in a note to self, and nobody else', () => {
    expect(directPeer('d:alice:bob', 'alice')).toBe('bob')
    expect(directPeer('d:alice:bob', 'bob')).toBe('alice')
    expect(directPeer('d:alice:alice', 'alice')).toBe('alice')
    expect(directPeer('d:alice:bob', 'carol')).toBeUndefined()
    expect(directPeer('d:alice:alice', 'bob')).toBeUndefined()
    expect(directPeer('g:alice', 'alice')).toBeUndefined()
    expect(directPeer('d:alice', 'alice')).toBeUndefined()
    // Malformed ids and names that only start or end like the user's.
    for (const conv of ['d:alice:bob:carol', 'd::alice', 'd:alice:', 'd:', 'd:alice:bob:']) expect(directPeer(conv, 'alice')).toBeUndefined()
    expect(directPeer('d:alicex:bob', 'alice')).toBeUndefined()
    expect(directPeer('d:bob:xalice', 'alice')).toBeUndefined()
    expect(directPeer('d:ab:b', 'b')).toBe('ab')
  })

  it('reads a 1:1 id in place exactly as directMembers splits it, for every id and user', () => {
    const parts = ['', 'a', 'b', 'ab', 'ba', 'a:b', 'alice', 'bob']
    for (const x of parts) {
      for (const y of parts) {
        for (const conv of [`d:${x}:${y}`, `d:${x}`, `g:${x}:${y}`]) {
          const members = directMembers(conv)
          for (const user of parts) {
            const expected = !members ? undefined : members[0] === user ? members[1] : members[1] === user ? members[0] : undefined
            expect(directPeer(conv, user), `${conv} for ${user}`).toBe(expected)
          }
        }
      }
    }
  })

  it('makes random ids of the asked length from a safe alphabet', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId(16)))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/)
  })
})
