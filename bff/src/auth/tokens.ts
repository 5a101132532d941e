/**
 * Access tokens: short-lived JWTs (HS256, jose) carrying the user's id and display name, so a socket
 * can be authenticated and welcomed without a store lookup. Refresh tokens: 32 random bytes, stored
 * server-side only as a SHA-256 hash, single use (each refresh spends the old one and issues a new
 * one), so one can be revoked by deleting it and a leaked copy stops working at the next rotation.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto'
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose'
import { AppError } from '@chat/shared'
import type { AuthResponse, User } from '@chat/shared'
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

export class Tokens {
  /**
   * Imported once: handed raw bytes, jose imports a WebCrypto key on every call, which was most of
   * the CPU a reconnect storm spends per upgrade.
   */
  private readonly key: Promise<webcrypto.CryptoKey>

  constructor(
    private readonly options: TokenOptions,
    private readonly store: TokenStore,
  ) {
    const raw = new TextEncoder().encode(options.secret)
    this.key = webcrypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify'])
  }

  /** A fresh access token and refresh token for `user`. */
  async issue(user: User): Promise<AuthResponse> {
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
    const refreshToken = randomBytes(32).toString('base64url')
    await this.store.put(hashToken(refreshToken), user.id, this.options.refreshTtlMs)
    // The JWT's exp has second precision: report exactly what it says.
    return { user, token, expiresAt: Math.floor(expiresAt / 1000) * 1000, refreshToken, refreshExpiresAt: now + this.options.refreshTtlMs }
  }

  /** Throws AppError UNAUTHORIZED (missing, forged, malformed) or TOKEN_EXPIRED. */
  async verify(token: string | undefined): Promise<TokenClaims> {
    if (!token) throw new AppError('UNAUTHORIZED', 'missing token')
    try {
      const { payload } = await jwtVerify(token, await this.key, { algorithms: ['HS256'], issuer: ISSUER })
      if (typeof payload.sub !== 'string' || typeof payload.name !== 'string' || typeof payload.exp !== 'number') {
        throw new AppError('UNAUTHORIZED', 'token lacks its claims')
      }
      const user: User = { id: payload.sub, name: payload.name }
      if (typeof payload.avatar === 'string') user.avatar = payload.avatar
      return { user, expiresAt: payload.exp * 1000 }
    } catch (err) {
      if (err instanceof AppError) throw err
      if (err instanceof joseErrors.JWTExpired) throw new AppError('TOKEN_EXPIRED', undefined, { cause: err })
      throw new AppError('UNAUTHORIZED', undefined, { cause: err })
    }
  }

  /** The user of a live refresh token, spending it. Throws UNAUTHORIZED when unknown, spent or expired. */
  async spendRefresh(refreshToken: string): Promise<string> {
    const user = await this.store.take(hashToken(refreshToken))
    if (!user) throw new AppError('UNAUTHORIZED', 'refresh token unknown, used or expired')
    return user
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
