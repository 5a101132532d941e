/**
 * The WeChat integration's section of the configuration (config.wechat): read from the same
 * environment, validated, with documented defaults; bff/README.md ("Live on WeChat") has the table.
 * Everything here is off unless WX_APPID and WX_SECRET are set (the embedded default, h5 trials).
 */
import type { Env } from '../env'

export type UnavailablePolicy = 'allow' | 'refuse'

export interface WeChatConfig {
  /** WX_APPID and WX_SECRET both set: access_token, content security and subscription messages run. */
  readonly enabled: boolean
  /** WX_TOKEN_REFRESH_AHEAD_MS: the access_token is refreshed this long before it expires. Default 300000 (WeChat keeps the old one ~5 min). */
  readonly tokenRefreshAheadMs: number
  /** WX_TOKEN_LOCK_MS: lease of the refresh lock (one process refreshes; a dead holder frees it after this). Default 10000. */
  readonly tokenLockMs: number
  /** WX_RETRY_MAX: retries of a WeChat call answered -1 (busy), 5xx or not at all. Default 2. */
  readonly retryMax: number
  /** WX_RETRY_BASE_MS: first retry delay, doubled per retry, full jitter. Default 200. */
  readonly retryBaseMs: number
  /**
   * WX_HTTP_THREADS: worker threads that make the HTTP calls to WeChat (http.ts), so that their
   * client CPU is off the chat's event loop; 0 makes them on the event loop. Default 1, at most 16.
   */
  readonly httpThreads: number
  /**
   * WX_HTTP_BATCH_MS: calls to the HTTP threads, and their answers, are gathered this long before
   * they cross between threads (one message each way for all of them), so a call waits up to twice
   * this longer. Default 2 (bench/wxhttp.ts at 2,000-5,000 calls/s: a fifth less CPU a call than
   * crossing every event-loop turn); 0: every turn. At most 50.
   */
  readonly httpBatchMs: number
  /**
   * WX_HTTP_PIPELINING: above 0, the calls go through pipeline.ts on the event loop (HTTP/1.1
   * pipelining, this many requests in flight on a connection, the requests of a turn in one write;
   * WX_HTTP_THREADS is then unused) instead of undici. Default 0 (off), at most 256.
   */
  readonly httpPipelining: number
  /**
   * WX_CHECKER: where text checks run. `process` (default): a checker process the BFF starts and
   * restarts (dist/checker.js; checker-client.ts), which makes the HTTP calls, keeps the budget,
   * the recent passes and the retries, so the chat's event loop only hands the texts of a turn over
   * in one message; `inline`: on this process (WX_HTTP_THREADS/WX_HTTP_PIPELINING say how).
   */
  readonly checker: 'process' | 'inline'
  /**
   * WX_CHECKER_TIMEOUT_MS: a text the checker process has not answered within this long is
   * unavailable (WX_SECCHECK_UNAVAILABLE decides). Default 15000: above a check's own worst case
   * (WX_TIMEOUT_MS 5000 over WX_RETRY_MAX+1 attempts with their backoff), so it fires only when
   * the process is stuck. 100 to 600000.
   */
  readonly checkerTimeoutMs: number
  /**
   * WX_CHECKER_BATCH_MS: while texts keep coming, the texts to the checker process, and its
   * verdicts back, leave in one message at most every this long (checker-wire.ts, Batcher): fewer,
   * fuller messages and turns of the chat's loop, each text waiting up to this long each way. At a
   * low rate nothing waits beyond its turn; at a high one a message of checks leaves once it holds
   * CHECKER_CHECKS_FULL (8) texts, and the verdicts of a message of checks once all are reached,
   * whichever comes first. Default 4; 0: one message a turn. At most 20.
   */
  readonly checkerBatchMs: number
  /** WX_SECCHECK: msgSecCheck of message text before it is stored. Default on (when enabled). */
  readonly secCheck: boolean
  /**
   * WX_SECCHECK_UNAVAILABLE: what a text send does when WeChat cannot check it (down, busy past the
   * retries, or over WX_TEXT_CHECKS_PER_MIN): `allow` stores it, lists it as `unchecked` for the
   * moderators and re-checks it later (WX_RECHECK_INTERVAL_MS); `refuse` answers SECCHECK_UNAVAILABLE (temporary: the client resends). Default allow.
   */
  readonly unavailablePolicy: UnavailablePolicy
  /**
   * WX_RECHECK_INTERVAL_MS: while content let through unchecked (policy allow) waits for its
   * re-check, a sweep runs this often on one process of the deployment (recheck.ts). Default 60000;
   * 0: no re-checks (the content stays listed `unchecked`). At most a day.
   */
  readonly recheckIntervalMs: number
  /** WX_RECHECK_BATCH: items one re-check sweep takes at most, oldest first. Default 50, 1 to 10000. */
  readonly recheckBatch: number
  /** WX_TEXT_CHECKS_PER_MIN: msgSecCheck calls a minute for the whole deployment. Default 4000 (WeChat's limit per app). */
  readonly textChecksPerMin: number
  /**
   * WX_SECCHECK_CACHE_MAX: short texts (<= 256 characters) WeChat passed that each process keeps, so
   * the same text again within WX_SECCHECK_CACHE_TTL_MS passes without a call (verdicts.ts: the
   * pass is reused across senders). Default 10000; 0 turns it off.
   */
  readonly secCheckCacheMax: number
  /** WX_SECCHECK_CACHE_TTL_MS: how long a pass is reused, ms. Default 60000, 1000 to 3600000. */
  readonly secCheckCacheTtlMs: number
  /** WX_SUBSCRIBE_TEMPLATE_ID: the one-time template of "new message" notifications. Unset: no notifications. */
  readonly templateId: string
  /** WX_SUBSCRIBE_FIELDS: the template's keys for sender name, preview, time, in that order. Default thing1,thing2,time3. */
  readonly templateFields: readonly [string, string, string]
  /** WX_SUBSCRIBE_GRACE_MS: how long a user has no device before a waiting message notifies. Default 30000. */
  readonly graceMs: number
  /** WX_SUBSCRIBE_MAX: one-time allowances kept per user and template. Default 50. */
  readonly maxAllowances: number
  /** WX_MINIPROGRAM_STATE: which build a notification opens: formal, trial or developer. Default formal. */
  readonly miniprogramState: 'formal' | 'trial' | 'developer'
  /** REPORTS_PER_HOUR: abuse reports one user may file an hour. Default 20. */
  readonly reportsPerHour: number
  /** MODERATION_LIST_MAX: reports, and flagged messages, kept (newest). Default 10000. */
  readonly moderationListMax: number
  /** WX_PUBLIC_URL: https origin WeChat fetches images from for mediaCheckAsync (signed file URLs). Unset: images are not checked. */
  readonly publicUrl: string
  /** WX_MEDIA_CHECKS_PER_MIN: mediaCheckAsync calls a minute for the deployment. Default 2000 (WeChat's limit per app). */
  readonly mediaChecksPerMin: number
  /** WX_PUSH_TOKEN: the message-push Token of the admin console (its signature key). Unset: /wechat/push answers 404. */
  readonly pushToken: string | undefined
  /** ADMIN_TOKEN: bearer credential of /admin (at least 16 characters). Unset: the admin API answers 404. */
  readonly adminToken: string | undefined
}

/** The WeChat section, from the environment read by env.ts (defaults and limits there). */
export function loadWeChatConfig(e: Env): WeChatConfig {
  return {
    enabled: Boolean(e.WX_APPID && e.WX_SECRET),
    tokenRefreshAheadMs: e.WX_TOKEN_REFRESH_AHEAD_MS,
    tokenLockMs: e.WX_TOKEN_LOCK_MS,
    retryMax: e.WX_RETRY_MAX,
    retryBaseMs: e.WX_RETRY_BASE_MS,
    httpThreads: e.WX_HTTP_THREADS,
    httpBatchMs: e.WX_HTTP_BATCH_MS,
    httpPipelining: e.WX_HTTP_PIPELINING,
    checker: e.WX_CHECKER,
    checkerTimeoutMs: e.WX_CHECKER_TIMEOUT_MS,
    checkerBatchMs: e.WX_CHECKER_BATCH_MS,
    secCheck: e.WX_SECCHECK,
    unavailablePolicy: e.WX_SECCHECK_UNAVAILABLE,
    recheckIntervalMs: e.WX_RECHECK_INTERVAL_MS,
    recheckBatch: e.WX_RECHECK_BATCH,
    textChecksPerMin: e.WX_TEXT_CHECKS_PER_MIN,
    secCheckCacheMax: e.WX_SECCHECK_CACHE_MAX,
    secCheckCacheTtlMs: e.WX_SECCHECK_CACHE_TTL_MS,
    templateId: e.WX_SUBSCRIBE_TEMPLATE_ID,
    templateFields: e.WX_SUBSCRIBE_FIELDS,
    graceMs: e.WX_SUBSCRIBE_GRACE_MS,
    maxAllowances: e.WX_SUBSCRIBE_MAX,
    miniprogramState: e.WX_MINIPROGRAM_STATE,
    reportsPerHour: e.REPORTS_PER_HOUR,
    moderationListMax: e.MODERATION_LIST_MAX,
    adminToken: e.ADMIN_TOKEN,
    publicUrl: e.WX_PUBLIC_URL,
    mediaChecksPerMin: e.WX_MEDIA_CHECKS_PER_MIN,
    pushToken: e.WX_PUSH_TOKEN,
  }
}
