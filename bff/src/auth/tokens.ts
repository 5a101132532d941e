/**
 * Access tokens: short-lived JWTs (HS256, jose) carrying the user's id and display name, so a socket
 * can be authenticated and welcomed without a store lookup. The id is checked against the shared
 * UserId schema on every verify: a token is only as good as what it names.
 *
 * Refresh tokens: `<family>.<secret>`, the secret 32 random bytes, stored server-side only as a
 * SHA-256 hash, single use (each refresh spends the old one and issues the next of the same
 * family). A login starts a family. Presenting a spent token again means two parties hold the
 * family (a stolen copy, RFC 6819 5.2.2.3, OAuth 2.0 Security BCP 4.14.2): the whole family is
 * revoked, so neither the thief nor the victim can refresh, and the victim logs in again.
 */
import { createHash, hash, randomBytes, webcrypto } from 'node:crypto'
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose'
import * as v from 'valibot'
import { AppError, randomId, schemas } from '@chat/shared'
import type { AuthResponse, User } from '@chat/shared'
import { boundedCache } from '../bounded-cache'
import type { TokenStore } from '../store/types'

export interface TokenOptions {
  readonly secret: string
  readonly tokenTtlMs: number
  readonly refreshTtlMs: number
}

export interface TokenClaims {
  readonly user: User
  readonly expiresAt: number
}

const ISSUER = 'chat-bff'
/** Most verdicts remembered (`verify`); the least recently used is forgotten first. */
const VERIFIED_MAX = 10_000

export class Tokens {
  /**
   * Imported once: handed raw bytes, jose imports a WebCrypto key on every call, which was most of
   * the CPU a reconnect storm spends per upgrade.
   */
  private readonly key: Promise<webcrypto.CryptoKey>
  /**
   * Tokens already verified, until they expire: an upload sends one request per chunk with the same
   * token, and an HMAC check through WebCrypto costs more than a chunk's own bookkeeping. Access
   * tokens cannot be revoked before they expire, so remembering a verdict changes nothing. Keyed
   * by the token's SHA-256 (`verdictKey`), not the token: a 32-character key instead of ~190, 348
   * B per entry before (issue 15, idle memory per connection).
   */
  private readonly verified = boundedCache<string, TokenClaims>({ max: VERIFIED_MAX })

  constructor(
    private readonly options: TokenOptions,
    private readonly store: TokenStore,
  ) {
    const raw = new TextEncoder().encode(options.secret)
    this.key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  }

  /** A fresh access token and refresh token for `user`: of `family` on a refresh, a new family at a login. */
  async issue(user: User, family: string = randomId(16)): Promise<AuthResponse> {
    const now = Date.now()
    const expiresAt = now + this.options.tokenTtlMs
    const claims: Record<string, string> = { name: user.name }
    if (user.avatar) claims.avatar = user.avatar
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer(ISSUER)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .sign(await this.key)
    const refreshToken = `${family}.${randomBytes(32).toString('base64url')}`
    await this.store.put(family, hashToken(refreshToken), user.id, this.options.refreshTtlMs)
    // The JWT's exp has second precision: report exactly what it says.
    return { user, token, expiresAt: Math.floor(expiresAt / 1000) * 1000, refreshToken, refreshExpiresAt: now + this.options.refreshTtlMs }
  }

  /** Throws AppError UNAUTHORIZED (missing, forged, malformed) or TOKEN_EXPIRED. */
  async verify(token: string | undefined): Promise<TokenClaims> {
    if (!token) throw new AppError('UNAUTHORIZED', 'missing token')
    const key = verdictKey(token)
    const hit = this.verified.get(key)
    if (hit && hit.expiresAt > Date.now()) return hit
    if (hit) this.verified.delete(key)
    const claims = await this.check(token)
    this.verified.set(key, claims)
    return claims
  }

  private async check(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, await this.key, { algorithms: ['HS256'], issuer: ISSUER })
      if (typeof payload.sub !== 'string' || typeof payload.name !== 'string' || typeof payload.exp !== 'number') {
        throw new AppError('UNAUTHORIZED', 'token lacks its claims')
      }
      if (!v.is(schemas.UserId, payload.sub)) throw new AppError('UNAUTHORIZED', 'token names an invalid user id')
      const user: User = { id: payload.sub, name: payload.name }
      if (typeof payload.avatar === 'string') user.avatar = payload.avatar
      return { user, expiresAt: payload.exp * 1000 }
    } catch (err) {
      if (err instanceof AppError) throw err
      if (err instanceof joseErrors.JWTExpired) throw new AppError('TOKEN_EXPIRED', undefined, { cause: err })
      throw new AppError('UNAUTHORIZED', undefined, { cause: err })
    }
  }

  /**
   * Spend a refresh token: its user and family (the next token continues the family). Throws
   * UNAUTHORIZED when it is malformed, unknown, expired, of a revoked family, or spent already, the
   * last revoking its whole family.
   */
  async spendRefresh(refreshToken: string): Promise<{ user: string; family: string }> {
    const m = /^([A-Za-z0-9_-]{16})\.[A-Za-z0-9_-]{43}$/.exec(refreshToken)
    if (!m) throw new AppError('UNAUTHORIZED', 'refresh token unknown, used or expired')
    const family = m[1]!
    const r = await this.store.take(family, hashToken(refreshToken))
    if (r?.outcome === 'reused') throw new AppError('UNAUTHORIZED', 'refresh token used twice: every session of this login is revoked, log in again')
    if (r?.outcome !== 'ok' || !v.is(schemas.UserId, r.user)) throw new AppError('UNAUTHORIZED', 'refresh token unknown, used or expired')
    return { user: r.user, family }
  }
}

/** A verdict's key: the token's SHA-256, its 32 bytes as a one-byte string (a different token never shares it). */
function verdictKey(token: string): string {
  return hash('sha256', token, 'binary')
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
