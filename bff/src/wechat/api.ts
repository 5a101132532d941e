/**
 * Calls to WeChat's server APIs with the deployment's one access_token (PLATFORM.md, Server APIs).
 *
 * `AccessTokens` keeps the token in the engine's store (every process reads the same one). The
 * process that finds it missing, expired or within WX_TOKEN_REFRESH_AHEAD_MS of expiry takes the
 * refresh lock and asks `/cgi-bin/stable_token`; the others keep using the stored token (WeChat
 * keeps the old one valid ~5 min after a refresh) or, when there is none yet, wait for the holder
 * to store one. An API answer 40001/42001 (invalid/expired token) forces one refresh
 * (`force_refresh: true`, itself limited by WeChat, so only the first process to see that exact
 * token fail does it) and one retry. -1 (busy), 5xx and timeouts are retried WX_RETRY_MAX times
 * with full-jitter backoff. Every call has a timeout, a metric and a log line without secrets.
 */
import { randomUUID } from 'node:crypto'
import type { Agent } from 'undici'
import { inThreadHttp } from './http'
import type { WxHttp } from './http'
import type { Logger } from '../log'
import type { WeChatStore } from '../store/wechat'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'

export interface WxApiOptions {
  readonly appId: string
  readonly secret: string
  readonly apiBase: string
  readonly timeoutMs: number
  readonly refreshAheadMs: number
  readonly lockMs: number
  readonly retryMax: number
  readonly retryBaseMs: number
  /** Keep-alive connections to WeChat for calls on this thread (default: one pool for the process). */
  readonly agent?: Agent
  /** Where the HTTP of the calls runs (http.ts). Default: this thread, through `agent`. */
  readonly http?: WxHttp
}

/** A WeChat answer with a non-zero errcode, or no answer (errcode undefined). */
export class WxError extends Error {
  constructor(
    readonly api: string,
    readonly errcode: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'WxError'
  }
}

const TOKEN_INVALID = new Set([40001, 42001])
const BUSY = -1
/** How long a process without any token waits for the lock holder to store one, at most. */
const TOKEN_WAIT_POLL_MS = 50

export class WxMetrics {
  readonly calls: Counter<'api' | 'outcome'>
  readonly refreshes: Counter<'reason'>
  /** `collect`: run before each read of the counters (the checker process's counts added, checker-client.ts). */
  constructor(registry: Registry, collect?: () => Promise<void>) {
    const c = collect ? { collect } : {}
    this.calls = new Counter({ name: 'wechat_calls_total', help: 'WeChat API calls by api and outcome (ok, the errcode, unreachable: no answer in time, no connection or a 5xx, retry)', labelNames: ['api', 'outcome'], registers: [registry], ...c })
    this.refreshes = new Counter({ name: 'wechat_token_refreshes_total', help: 'access_token fetches by this process, by reason (missing, ahead, invalid)', labelNames: ['reason'], registers: [registry], ...c })
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class AccessTokens {
  private readonly owner = randomUUID()
  private inflight: Promise<string> | undefined
  /** The token last read or stored by this process: used without a store read until refresh time. */
  private local: { token: string; expiresAt: number } | undefined

  constructor(
    private readonly store: WeChatStore,
    private readonly options: WxApiOptions,
    private readonly metrics: WxMetrics,
    private readonly log: Logger,
  ) {}

  /** A token to call with: the stored one, refreshed first when needed (by one process). */
  async get(): Promise<string> {
    const now = Date.now()
    const l = this.local
    if (l && l.expiresAt - this.options.refreshAheadMs > now) return l.token
    const t = await this.store.token()
    if (t) this.local = t
    if (t && t.expiresAt - this.options.refreshAheadMs > now) return t.token
    if (t && t.expiresAt > now) {
      // Ahead of expiry: one process refreshes, in the background; this call uses the current one.
      void this.refresh('ahead', undefined).catch((err: unknown) => this.log.warn({ err: String(err) }, 'wechat token refresh failed'))
      return t.token
    }
    return this.refresh('missing', undefined)
  }

  /** `bad` was refused as invalid or expired: one forced refresh, unless another process did it already. */
  async invalidate(bad: string): Promise<string> {
    if (this.local?.token === bad) this.local = undefined
    return this.refresh('invalid', bad)
  }

  private refresh(reason: 'missing' | 'ahead' | 'invalid', bad: string | undefined): Promise<string> {
    // One refresh in flight per process; the lock makes it one per deployment.
    this.inflight ??= this.refreshLocked(reason, bad)
      .then(async (token) => {
        const stored = await this.store.token()
        if (stored?.token === token) this.local = stored
        return token
      })
      .finally(() => (this.inflight = undefined))
    return this.inflight
  }

  private async refreshLocked(reason: 'missing' | 'ahead' | 'invalid', bad: string | undefined): Promise<string> {
    const deadline = Date.now() + this.options.lockMs
    for (;;) {
      const current = await this.store.token()
      const usable = current && current.expiresAt > Date.now() && current.token !== bad
      // Someone else refreshed since (or, ahead of expiry, the token is still good enough).
      if (usable && (reason !== 'ahead' || current.expiresAt - this.options.refreshAheadMs > Date.now())) return current.token
      if (await this.store.lock('token', this.owner, this.options.lockMs)) {
        try {
          const again = await this.store.token()
          if (again && again.expiresAt > Date.now() && again.token !== bad && (reason !== 'ahead' || again.expiresAt - this.options.refreshAheadMs > Date.now())) return again.token
          const fresh = await this.fetchToken(reason === 'invalid')
          this.metrics.refreshes.inc({ reason })
          await this.store.setToken(fresh)
          this.log.info({ reason, expiresAt: fresh.expiresAt }, 'wechat access_token refreshed')
          return fresh.token
        } finally {
          await this.store.unlock('token', this.owner)
        }
      }
      // Another process holds the lock: use what is stored if it still works, or wait for it.
      if (usable) return current.token
      if (Date.now() > deadline) throw new WxError('stable_token', undefined, 'no access_token: the refresh lock holder did not store one in time')
      await sleep(TOKEN_WAIT_POLL_MS)
    }
  }

  private async fetchToken(force: boolean): Promise<{ token: string; expiresAt: number }> {
    const body = await postWithRetry(this.options, this.metrics, this.log, 'stable_token', `${this.options.apiBase}/cgi-bin/stable_token`, {
      grant_type: 'client_credential',
      appid: this.options.appId,
      secret: this.options.secret,
      force_refresh: force,
    })
    const token = body.access_token
    const expiresIn = body.expires_in
    if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number') throw new WxError('stable_token', undefined, 'stable_token answered without a token')
    return { token, expiresAt: Date.now() + expiresIn * 1000 }
  }
}

/** A WeChat API called with the access_token: one forced refresh and one retry on 40001/42001. */
export class WxApi {
  constructor(
    readonly tokens: AccessTokens,
    private readonly options: WxApiOptions,
    private readonly metrics: WxMetrics,
    private readonly log: Logger,
  ) {}

  async call(api: string, path: string, body: unknown): Promise<Record<string, unknown>> {
    let token = await this.tokens.get()
    for (let attempt = 0; ; attempt++) {
      try {
        return await postWithRetry(this.options, this.metrics, this.log, api, `${this.options.apiBase}${path}?access_token=${encodeURIComponent(token)}`, body)
      } catch (err) {
        if (attempt === 0 && err instanceof WxError && err.errcode !== undefined && TOKEN_INVALID.has(err.errcode)) {
          token = await this.tokens.invalidate(token)
          continue
        }
        throw err
      }
    }
  }
}

/** POST JSON; errcode 0/absent is success; -1, 5xx and no answer are retried with backoff. */
async function postWithRetry(
  options: WxApiOptions,
  metrics: WxMetrics,
  log: Logger,
  api: string,
  url: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  for (let attempt = 0; ; attempt++) {
    let err: WxError
    try {
      // undici's own timers (headersTimeout, then bodyTimeout), not AbortSignal.timeout: a signal
      // per call was a third of the call's CPU (measured: 175 vs 115 us a call).
      const res = await (options.http ?? inThreadFor(options)).post(url, JSON.stringify(body), options.timeoutMs)
      if (res.status >= 500) throw new Error(`HTTP ${res.status}`)
      const json = JSON.parse(res.text) as Record<string, unknown>
      const errcode = typeof json.errcode === 'number' ? json.errcode : 0
      if (errcode === 0) {
        metrics.calls.inc({ api, outcome: 'ok' })
        log.debug({ api, attempts: attempt + 1 }, 'wechat call ok')
        return json
      }
      metrics.calls.inc({ api, outcome: String(errcode) })
      err = new WxError(api, errcode, `${api} errcode ${errcode}: ${typeof json.errmsg === 'string' ? json.errmsg : ''}`.slice(0, 200))
      if (errcode !== BUSY) {
        log.warn({ api, errcode }, 'wechat call refused')
        throw err
      }
    } catch (cause) {
      if (cause instanceof WxError) throw cause
      metrics.calls.inc({ api, outcome: 'unreachable' })
      err = new WxError(api, undefined, `${api} unreachable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    }
    if (attempt >= options.retryMax) {
      log.warn({ api, errcode: err.errcode, attempts: attempt + 1 }, 'wechat call failed')
      throw err
    }
    metrics.calls.inc({ api, outcome: 'retry' })
    await sleep(Math.random() * options.retryBaseMs * 2 ** attempt)
  }
}

const inThread = new WeakMap<WxApiOptions, WxHttp>()
/** The in-thread transport of options without one: one per options object (its `agent`, or the process's). */
function inThreadFor(options: WxApiOptions): WxHttp {
  let http = inThread.get(options)
  if (!http) {
    http = inThreadHttp(options.agent)
    inThread.set(options, http)
  }
  return http
}
