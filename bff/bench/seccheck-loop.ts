/**
 * `node scripts/run-ts.mjs bff/bench/seccheck-loop.ts`: event-loop CPU of one text check
 * (security.ts and api.ts: budget, token, retries, metrics) with an HTTP transport that answers at
 * once, so the figure is the check's own bookkeeping, without any HTTP. BENCH_CHECKS (200000).
 */
import { Registry } from 'prom-client'
import pino from 'pino'
import { MemoryWeChatStore } from '../src/store/wechat'
import { AccessTokens, WxApi, WxMetrics } from '../src/wechat/api'
import type { WxHttp } from '../src/wechat/http'
import { TextCheckMetrics, TextChecker, TextSecurity } from '../src/wechat/security'
import { PassCache } from '../src/wechat/verdicts'

const N = Number(process.env.BENCH_CHECKS ?? 200_000)
const PASS = JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } })
const http: WxHttp = { post: () => Promise.resolve({ status: 200, text: PASS }), close: async () => {} }
const log = pino({ level: 'warn' })
const registry = new Registry()
const store = new MemoryWeChatStore()
await store.setToken({ token: 'BENCH', expiresAt: Date.now() + 7_200_000 })
const options = { appId: 'wx', secret: 's', apiBase: 'http://127.0.0.1:1', timeoutMs: 5000, refreshAheadMs: 300_000, lockMs: 10_000, retryMax: 2, retryBaseMs: 200, http }
const metrics = new WxMetrics(registry)
const api = new WxApi(new AccessTokens(store, options, metrics, log), options, metrics, log)
// The recent passes on, as the BFF's default (WX_SECCHECK_CACHE_MAX 10000): every text here is new, so each is asked and kept.
const passes = new PassCache({ max: 10_000, ttlMs: 60_000 })
const checker = new TextChecker(api, store, { checksPerMin: 1_000_000_000, passes }, new TextCheckMetrics(registry), log)
const checks = new TextSecurity(checker, store, { unavailablePolicy: 'allow', listMax: 100 })

async function run(n: number): Promise<void> {
  // 100 checks in flight at once, as sends of different users are.
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, j) => checks.text(`u${j}`, 'c', `cid${i + j}`, `text ${i + j}`)))
  }
}
await run(20_000)
const t0 = process.cpuUsage()
await run(N)
const used = process.cpuUsage(t0)
console.log(`${(((used.user + used.system) / N)).toFixed(2)} us of CPU per check (no HTTP)`)
