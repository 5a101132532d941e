/**
 * The login session: logs in (wx.login code or dev login), keeps the access token and the refresh
 * token in storage, renews the access token before it expires, and says when a new login is needed.
 */
import * as v from 'valibot'
import { schemas, type AuthResponse, type User } from '@chat/shared'
import type { HttpClient, KeyValueStorage, TimerId, Timers } from '../platform/types'
import { appErrorFrom, AuthLostError, RequestFailedError } from './errors'

export const AUTH_STORAGE_KEY = 'chat.auth'

export interface AuthOptions {
  readonly baseUrl: string
  readonly http: HttpClient
  readonly storage: KeyValueStorage
  readonly timers: Timers
  /** Renew this long before expiry, ms (or at half the token's lifetime if that is sooner). */
  readonly renewMarginMs: number
  /** Called when the session starts, renews or ends (undefined). */
  readonly onChange?: (session: AuthResponse | undefined) => void
  readonly log?: (msg: string, details?: Record<string, unknown>) => void
}

/** Retry delay for a background renewal that failed on the network, ms. */
const RENEW_RETRY_MS = 10_000

export class Auth {
  private current?: AuthResponse
  private issuedAt = 0
  private inflight?: Promise<AuthResponse>
  private renewTimer?: TimerId
  /** serverTime - local time, ms, from the last `welcome`/`pong`: expiry is judged on the server's clock. */
  private clockOffsetMs = 0

  constructor(private readonly opts: AuthOptions) {
    const stored = v.safeParse(StoredSession, opts.storage.get(AUTH_STORAGE_KEY))
    if (stored.success && stored.output.session.refreshExpiresAt > opts.timers.now()) {
      this.current = stored.output.session
      this.issuedAt = stored.output.issuedAt
      this.scheduleRenewal()
    }
  }

  get session(): AuthResponse | undefined {
    return this.current
  }

  get user(): User | undefined {
    return this.current?.user
  }

  setServerTime(serverTime: number): void {
    this.clockOffsetMs = serverTime - this.opts.timers.now()
  }

  loginDev(user: string, name?: string): Promise<AuthResponse> {
    return this.post('/auth/dev-login', name ? { user, name } : { user }).then((s) => this.adopt(s))
  }

  loginWx(code: string): Promise<AuthResponse> {
    return this.post('/auth/wx-login', { code }).then((s) => this.adopt(s))
  }

  logout(): void {
    this.opts.timers.clearTimeout(this.renewTimer)
    this.current = undefined
    this.inflight = undefined
    this.opts.storage.remove(AUTH_STORAGE_KEY)
    this.opts.onChange?.(undefined)
  }

  /**
   * A valid access token. `force` renews first (the server said the token expired or is invalid).
   * Throws AuthLostError when there is no session or the refresh token is refused;
   * RequestFailedError when the server could not be reached (try again later).
   */
  async getToken(force = false): Promise<string> {
    const s = this.current
    if (!s) throw new AuthLostError('not logged in')
    if (!force && !this.needsRenewal(s)) return s.token
    return (await this.renew()).token
  }

  /** Renew now (single flight: concurrent callers share one request). */
  renew(): Promise<AuthResponse> {
    if (this.inflight) return this.inflight
    const s = this.current
    if (!s) return Promise.reject(new AuthLostError('not logged in'))
    const p = this.post('/auth/refresh', { refreshToken: s.refreshToken })
      .then((next) => this.adopt(next))
      .catch((err: unknown) => {
        // Refused (the refresh token is spent, expired or unknown): the session is over.
        if (!(err instanceof RequestFailedError) && this.current === s) {
          this.logout()
          throw new AuthLostError('session could not be renewed', { cause: err })
        }
        throw err
      })
      .finally(() => {
        if (this.inflight === p) this.inflight = undefined
      })
    this.inflight = p
    return p
  }

  private needsRenewal(s: AuthResponse): boolean {
    return this.serverNow() >= s.expiresAt - this.marginFor(s)
  }

  private marginFor(s: AuthResponse): number {
    const lifetime = Math.max(0, s.expiresAt - this.issuedAt)
    return Math.min(this.opts.renewMarginMs, lifetime / 2)
  }

  private serverNow(): number {
    return this.opts.timers.now() + this.clockOffsetMs
  }

  private adopt(session: AuthResponse): AuthResponse {
    this.current = session
    this.issuedAt = this.serverNow()
    this.opts.storage.set(AUTH_STORAGE_KEY, { session, issuedAt: this.issuedAt })
    this.scheduleRenewal()
    this.opts.onChange?.(session)
    return session
  }

  private scheduleRenewal(): void {
    this.opts.timers.clearTimeout(this.renewTimer)
    const s = this.current
    if (!s) return
    const due = s.expiresAt - this.marginFor(s) - this.serverNow()
    this.renewTimer = this.opts.timers.setTimeout(
      () => {
        this.renew().catch((err: unknown) => {
          if (err instanceof AuthLostError) return
          this.opts.log?.('token renewal failed, retrying', { error: String(err) })
          this.opts.timers.clearTimeout(this.renewTimer)
          this.renewTimer = this.opts.timers.setTimeout(() => this.scheduleRenewal(), RENEW_RETRY_MS)
        })
      },
      Math.max(0, due),
    )
  }

  private async post(path: string, body: unknown): Promise<AuthResponse> {
    let res
    try {
      res = await this.opts.http.postJson(this.opts.baseUrl + path, body)
    } catch (cause) {
      throw new RequestFailedError(`POST ${path}: no response`, 'network', { cause })
    }
    if (res.status >= 200 && res.status < 300) {
      const parsed = v.safeParse(schemas.AuthResponse, res.data)
      if (!parsed.success) throw new RequestFailedError(`POST ${path}: malformed answer`, 'bad-response')
      return parsed.output
    }
    const err = v.safeParse(schemas.ErrorResponse, res.data)
    if (err.success) {
      const appErr = appErrorFrom(err.output.error.code, err.output.error.message)
      // A temporary server error (5xx, rate limit) is not a refusal: retry later.
      if (appErr.temporary) throw new RequestFailedError(`POST ${path}: ${appErr.code}`, 'network', { cause: appErr })
      throw appErr
    }
    if (res.status >= 500) throw new RequestFailedError(`POST ${path}: HTTP ${res.status}`, 'network')
    throw appErrorFrom('UNAUTHORIZED', `POST ${path}: HTTP ${res.status}`)
  }
}

const StoredSession = v.object({ session: schemas.AuthResponse, issuedAt: v.number() })
