/**
 * The WeChat integration, composed: access_token, content security of sends, subscription
 * messages for offline users, reports and the moderation API. With WX_APPID/WX_SECRET unset
 * (the embedded default, h5 trials) token, checks and notifications are off (said once in the log
 * at start) and reports still work: they need nothing from WeChat.
 *
 * HTTP (Authorization: Bearer <access token> unless said otherwise):
 *   GET  /wechat/subscriptions   {templateIds, allowances}: what the client may ask for, what it holds
 *   POST /wechat/subscriptions   {results: {<templateId>: 'accept'|'reject'|...}} -> {allowances}
 *   POST /reports                a report (reports.ts) -> 201 {id}
 *   GET  /admin/reports?limit=   Authorization: Bearer <ADMIN_TOKEN>; newest first (404 when ADMIN_TOKEN is unset)
 *   GET  /admin/flags?limit=     the same for messages flagged by content security
 *   POST /admin/users/:id/suspension {suspended: boolean}   ADMIN_TOKEN; 204. A suspended user's
 *                                sockets close on every process (4001 USER_SUSPENDED: `onSuspend`,
 *                                the delivery bus), logins, refreshes and upgrades are refused everywhere.
 *   POST /admin/withdrawals {conv, seq}   ADMIN_TOKEN; the message is withdrawn (the chat's
 *                                retraction, by moderation: a `recalled` tombstone everywhere and a
 *                                `recall` event to every member) -> {conv, seq, event?}
 *   GET/POST /wechat/push        WeChat's message push (media.ts), signed with WX_PUSH_TOKEN
 */
import { timingSafeEqual } from 'node:crypto'
import { Router } from 'express'
import type { Request } from 'express'
import type { Registry } from 'prom-client'
import * as v from 'valibot'
import { AppError, schemas } from '@chat/shared'
import type { UserId } from '@chat/shared'
import { bearerToken } from '../auth/bearer'
import type { Logger } from '../log'
import type { Engine } from '../store/types'
import type { WeChatConfig } from './config'
import { AccessTokens, WxApi, WxMetrics } from './api'
import { WxHttpThreads } from './http'
import type { WxHttp } from './http'
import { PipelinedHttp } from './pipeline'
import { PassCache } from './verdicts'
import { NO_CHECKS, TextCheckMetrics, TextChecker, TextSecurity } from './security'
import type { SendChecks, VerdictSource } from './security'
import { CheckerProcess } from './checker-client'
import type { CheckerStore } from './checker-client'
import { Subscriptions } from './subscriptions'
import { Reports } from './reports'
import { MediaSecurity, pushRouter } from './media'
import { Rechecks } from './recheck'
import type { Retractor } from './recheck'

export interface WeChatDeps {
  readonly config: WeChatConfig
  readonly appId: string
  readonly secret: string
  readonly apiBase: string
  readonly timeoutMs: number
  readonly engine: Engine
  readonly registry: Registry
  readonly log: Logger
  readonly verifyToken: (token: string | undefined) => Promise<{ readonly user: { readonly id: UserId } }>
  /** Where the checker process (WX_CHECKER=process) keeps the budget and reads the token: the engine's store. */
  readonly checkerStore: CheckerStore
  /** LOG_LEVEL of the checker process. */
  readonly logLevel: string
  /** QUEUE_RETENTION_MS: content let through unchecked is re-checked for this long at most, ms. */
  readonly retentionMs: number
  /** DEDUP_WINDOW_MS: how long the store tells where a send's cid was stored (a re-check finds its message by it), ms. */
  readonly dedupWindowMs: number
  /** The upload component's signing and withdrawal, for image checks. */
  readonly files?: { readonly signedPath: (fileId: string) => string; readonly withdraw: (fileId: string) => Promise<boolean> }
}

export interface WeChat {
  /** The one call of the chat service before a send is stored. */
  readonly checks: SendChecks
  /** The checker process (WX_CHECKER=process with checks on). */
  readonly checker: CheckerProcess | undefined
  /** Resolves when the integration takes traffic (its checker process ready, or given up on: checker-client.ts). */
  ready(): Promise<void>
  /** Undefined when WeChat is not configured. */
  readonly subscriptions: Subscriptions | undefined
  readonly api: WxApi | undefined
  /** The counters of calls to WeChat (`wechat_calls_total`), for the other callers (code2session). Undefined when off. */
  readonly metrics: WxMetrics | undefined
  /** Re-checks of content let through unchecked (policy allow, WX_RECHECK_INTERVAL_MS above 0). */
  readonly rechecks: Rechecks | undefined
  /** Image checks (WX_PUBLIC_URL set): call `submit` when an upload finishes. */
  readonly media: MediaSecurity | undefined
  readonly router: Router
  /** A stored message reached no device of `user`. */
  undelivered(user: UserId, msgJson: string): void
  /** A device of `user` connected. */
  online(user: UserId): void
  /** Throws USER_SUSPENDED for a suspended user (logins, refreshes, socket upgrades). */
  admit(user: UserId): Promise<void>
  /** Set by the composition: close the sockets a user holds, on every process (Delivery.closeUser). */
  onSuspend: ((user: UserId) => void) | undefined
  /** Set by the composition: the chat's moderation retraction of one message, and of the messages carrying a file. */
  retract: Retractor | undefined
  close(): Promise<void>
}

/** Most records one admin list request returns. */
const ADMIN_LIST_MAX = 500

export function createWeChat(deps: WeChatDeps): WeChat {
  const { config, engine, log } = deps
  let api: WxApi | undefined
  let checks: SendChecks = NO_CHECKS
  let subscriptions: Subscriptions | undefined
  let media: MediaSecurity | undefined
  let http: WxHttp | undefined
  let checker: CheckerProcess | undefined
  let metrics: WxMetrics | undefined
  let textVerdicts: VerdictSource | undefined
  let rechecks: Rechecks | undefined
  if (config.enabled) {
    if (config.httpPipelining > 0) {
      http = new PipelinedHttp({ depth: config.httpPipelining })
    } else if (config.httpThreads > 0) {
      http = new WxHttpThreads({ threads: config.httpThreads, batchMs: config.httpBatchMs, onThreadError: (err) => log.error({ err: err.message }, 'wechat HTTP thread failed: its calls failed, the next ones start a new thread') })
    }
    const calls = {
      appId: deps.appId,
      secret: deps.secret,
      apiBase: deps.apiBase,
      timeoutMs: deps.timeoutMs,
      refreshAheadMs: config.tokenRefreshAheadMs,
      lockMs: config.tokenLockMs,
      retryMax: config.retryMax,
      retryBaseMs: config.retryBaseMs,
    }
    const options = { ...calls, ...(http ? { http } : {}) }
    // With a checker process, its counts join these counters whenever they are read.
    const wantsChecker = config.secCheck && config.checker === 'process'
    const collect = wantsChecker ? () => checker?.counts() ?? Promise.resolve() : undefined
    metrics = new WxMetrics(deps.registry, collect)
    api = new WxApi(new AccessTokens(engine.wechat, options, metrics, log), options, metrics, log)
    if (config.secCheck) {
      const textMetrics = new TextCheckMetrics(deps.registry, collect)
      let verdicts: VerdictSource
      if (wantsChecker) {
        checker = new CheckerProcess({
          settings: { api: calls, httpPipelining: config.httpPipelining, checksPerMin: config.textChecksPerMin, cacheMax: config.secCheckCacheMax, cacheTtlMs: config.secCheckCacheTtlMs, batchMs: config.checkerBatchMs, store: deps.checkerStore, logLevel: deps.logLevel },
          timeoutMs: config.checkerTimeoutMs,
          registry: deps.registry,
          metrics: textMetrics,
          log,
        })
        verdicts = checker
      } else {
        const passes = config.secCheckCacheMax > 0 ? new PassCache({ max: config.secCheckCacheMax, ttlMs: config.secCheckCacheTtlMs }) : undefined
        verdicts = new TextChecker(api, engine.wechat, { checksPerMin: config.textChecksPerMin, ...(passes ? { passes } : {}) }, textMetrics, log)
      }
      textVerdicts = verdicts
    }
    subscriptions = new Subscriptions(
      api,
      engine.wechat,
      engine.presence,
      engine.users,
      { templateId: config.templateId, fields: config.templateFields, graceMs: config.graceMs, maxAllowances: config.maxAllowances, miniprogramState: config.miniprogramState },
      deps.registry,
      log,
    )
    if (config.secCheck && config.publicUrl && deps.files) {
      media = new MediaSecurity(
        api,
        engine.wechat,
        {
          publicUrl: config.publicUrl,
          checksPerMin: config.mediaChecksPerMin,
          unavailablePolicy: config.unavailablePolicy,
          listMax: config.moderationListMax,
          ...deps.files,
          retractMessages: (conv, fileId) => self.retract?.file(conv, fileId) ?? Promise.resolve(0),
          unchecked: (file, flag, at) => rechecks?.image(file, flag, at) ?? Promise.resolve(),
        },
        deps.registry,
        log,
      )
    }
    // Content let through unchecked is checked again later (recheck.ts).
    if (config.secCheck && config.unavailablePolicy === 'allow' && config.recheckIntervalMs > 0) {
      rechecks = new Rechecks(
        { store: engine.wechat, messages: engine.messages, convs: engine.convs, verdicts: textVerdicts, media, retract: () => self.retract, registry: deps.registry, log },
        {
          intervalMs: config.recheckIntervalMs,
          batchMax: config.recheckBatch,
          retentionMs: deps.retentionMs,
          dedupWindowMs: deps.dedupWindowMs,
          textChecksPerMin: config.textChecksPerMin,
          mediaChecksPerMin: config.mediaChecksPerMin,
          listMax: config.moderationListMax,
        },
      )
    }
    if (textVerdicts) checks = new TextSecurity(textVerdicts, engine.wechat, { unavailablePolicy: config.unavailablePolicy, listMax: config.moderationListMax }, rechecks)
    log.info({ secCheck: config.secCheck, checker: config.secCheck ? config.checker : undefined, httpThreads: config.httpPipelining > 0 ? 0 : config.httpThreads, httpPipelining: config.httpPipelining, imageChecks: Boolean(media), notifications: Boolean(config.templateId), unavailablePolicy: config.unavailablePolicy }, 'wechat integration on')
  } else {
    log.info('wechat integration off: WX_APPID/WX_SECRET unset (no content security, no subscription messages)')
  }
  const reports = new Reports(engine, { perHour: config.reportsPerHour, listMax: config.moderationListMax })

  const userOf = async (req: Request): Promise<UserId> => (await deps.verifyToken(bearerOf(req))).user.id
  const router = Router()
  router.use(pushRouter(config.pushToken, media, log))
  router.get('/wechat/subscriptions', async (req, res) => {
    const user = await userOf(req)
    res.json({ templateIds: subscriptions?.templateIds ?? [], allowances: subscriptions ? await subscriptions.allowances(user) : {} })
  })
  router.post('/wechat/subscriptions', async (req, res) => {
    const user = await userOf(req)
    const results = (req.body as { results?: unknown } | undefined)?.results
    if (typeof results !== 'object' || results === null || Array.isArray(results)) throw new AppError('INVALID_FRAME', 'request body at results: an object of template id to result')
    res.json({ allowances: subscriptions ? await subscriptions.grant(user, results as Record<string, unknown>) : {} })
  })
  router.post('/reports', async (req, res) => {
    const user = await userOf(req)
    res.status(201).json(await reports.file(user, req.body))
  })
  router.post('/admin/users/:id/suspension', async (req, res) => {
    admin(config.adminToken, req)
    const user = String(req.params.id)
    const on = (req.body as { suspended?: unknown } | undefined)?.suspended
    if (typeof on !== 'boolean') throw new AppError('INVALID_FRAME', 'request body at suspended: a boolean')
    const [known] = await engine.users.get([user])
    if (!known) throw new AppError('USER_NOT_FOUND')
    await engine.wechat.setSuspended(user, on)
    log.info({ user, suspended: on }, 'moderation: suspension changed')
    if (on) self.onSuspend?.(user)
    res.status(204).end()
  })
  router.post('/admin/withdrawals', async (req, res) => {
    admin(config.adminToken, req)
    const parsed = v.safeParse(WithdrawalBody, req.body)
    if (!parsed.success) throw new AppError('INVALID_FRAME', 'request body: {conv, seq} of a stored message')
    if (!self.retract) throw new AppError('NOT_FOUND')
    const { conv, seq } = parsed.output
    const { event } = await self.retract.message({ conv, seq })
    log.info({ conv, seq, event }, 'moderation: message withdrawn')
    res.json(event === undefined ? { conv, seq } : { conv, seq, event })
  })
  for (const name of ['reports', 'flags'] as const) {
    router.get(`/admin/${name}`, async (req, res) => {
      admin(config.adminToken, req)
      const limit = Math.min(ADMIN_LIST_MAX, Math.max(1, Number(req.query.limit) || 100))
      res.json({ [name]: (await engine.wechat.records(name, limit)).map((j) => JSON.parse(j) as unknown) })
    })
  }

  const self: WeChat = {
    checks,
    checker,
    ready: async () => {
      await checker?.ready()
      // Content queued by processes that stopped before its re-check is swept from here too.
      await rechecks?.start().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'recheck: the queue could not be read at start'))
    },
    subscriptions,
    api,
    metrics,
    rechecks,
    media,
    router,
    undelivered: (user, json) => subscriptions?.noticed(user, json),
    online: (user) => subscriptions?.back(user),
    admit: async (user) => {
      if (await engine.wechat.isSuspended(user)) throw new AppError('USER_SUSPENDED')
    },
    onSuspend: undefined,
    retract: undefined,
    close: async () => {
      await rechecks?.close()
      await subscriptions?.close()
      await checker?.close()
      await http?.close()
    },
  }
  return self
}

const WithdrawalBody = v.object({ conv: schemas.ConvId, seq: v.pipe(schemas.Seq, v.minValue(1)) })

/** The admin API's own credential (never a user token). Unset: the API does not exist. */
function admin(token: string | undefined, req: Request): void {
  if (token === undefined) throw new AppError('NOT_FOUND')
  const given = Buffer.from(bearerOf(req) ?? '')
  const want = Buffer.from(token)
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw new AppError('UNAUTHORIZED', 'admin credential required')
}

function bearerOf(req: Request): string | undefined {
  return bearerToken(req.get('authorization'))
}
