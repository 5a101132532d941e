/**
 * The checker process (WX_CHECKER=process, wechat/checker-client.ts): text checks with
 * msgSecCheck off the chat's event loop. Started by the BFF with an IPC channel and a pipe on fd
 * CHECKER_PIPE_FD. On the channel: its settings in the first message (`init`), it answers
 * `ready`, and, asked `counts?` (a scrape of the BFF's /metrics), `counts`: its counter
 * increments since the last, added to the BFF's counters of the same names. On the pipe (binary
 * frames, checker-wire.ts): frames of checks, each the texts of one turn of the BFF (or of its
 * window), and back frames of verdicts, those reached in one turn of its own, or in up to
 * WX_CHECKER_BATCH_MS of turns while they keep coming, or until every check of a frame has its
 * verdict, whichever comes first.
 *
 * It holds the HTTP to WeChat (pipelined with WX_HTTP_PIPELINING, else undici on its own loop:
 * nothing else runs here), the access_token reads, the shared per-minute budget, the recent passes
 * (verdicts.ts) and the retries. Exits when the BFF goes (the channel closes), or on SIGTERM once
 * the checks in flight are answered. Exit codes: 0 stopped, 1 could not open its store.
 */
import { Socket } from 'node:net'
import { Registry } from 'prom-client'
import type { CheckerSettings, InitMessage } from './wechat/checker-client'
import { Batcher, CHECKER_PIPE_FD, FrameReader, decodeChecks, encodeVerdicts, toWire } from './wechat/checker-wire'
import type { CountsMessage, CountsRequest, UsedMessage, UsedRequest, WireVerdict } from './wechat/checker-wire'
import { createLogger } from './log'
import { openSideClient } from './store/redis-side'
import { MemoryWeChatStore, RedisWeChatStore } from './store/wechat'
import type { WeChatStore } from './store/wechat'
import { AccessTokens, WxApi, WxMetrics } from './wechat/api'
import { PipelinedHttp } from './wechat/pipeline'
import { TextCheckMetrics, TextChecker } from './wechat/security'
import { PassCache } from './wechat/verdicts'

let http: PipelinedHttp | undefined
let closeStore = async (): Promise<void> => {}
// No BFF to talk to (gone before or after the settings came): nothing to do.
process.once('disconnect', () => void exit(0))
const settings = await new Promise<CheckerSettings>((resolve) => {
  const first = (m: InitMessage) => {
    if (m?.t !== 'init') return
    process.off('message', first)
    resolve(m.settings)
  }
  process.on('message', first)
})
const log = createLogger(settings.logLevel).child({ role: 'checker' })

let store: WeChatStore
try {
  if (settings.store.kind === 'redis') {
    const client = await openSideClient({ ...settings.store, onError: () => {} }, {}, 'wechat checker')
    store = new RedisWeChatStore(client, settings.store.prefix, (work) => work())
    closeStore = async () => void client.disconnect()
  } else store = new MemoryWeChatStore()
} catch (err) {
  log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'checker start failed')
  process.exit(1)
}

const registry = new Registry()
const wxMetrics = new WxMetrics(registry)
if (settings.httpPipelining > 0) http = new PipelinedHttp({ depth: settings.httpPipelining })
const options = { ...settings.api, ...(http ? { http } : {}) }
const api = new WxApi(new AccessTokens(store, options, wxMetrics, log), options, wxMetrics, log)
const passes = settings.cacheMax > 0 ? new PassCache({ max: settings.cacheMax, ttlMs: settings.cacheTtlMs }) : undefined
const checker = new TextChecker(api, store, { checksPerMin: settings.checksPerMin, ...(passes ? { passes } : {}) }, new TextCheckMetrics(registry), log)

// The checks pipe: read once the checker is built (frames sent before wait in the pipe).
const pipe = new Socket({ fd: CHECKER_PIPE_FD, readable: true, writable: true })
// The BFF gone: `disconnect` above exits; a write meanwhile (EPIPE) is nothing to report.
pipe.on('error', () => {})
// Verdicts reached in one turn (or window) leave together, one frame.
const out = new Batcher<WireVerdict>((v) => {
  if (pipe.writable) pipe.write(encodeVerdicts(v))
}, settings.batchMs)

/**
 * The checks of one frame, those not answered yet. WeChat answers the calls of one frame together
 * (they left together, ~20 ms before): once the last is answered no verdict is due soon, and what
 * is held leaves at the end of the turn instead of at the window's end (each frame's verdicts in
 * one frame back, without their wait).
 */
interface Unanswered {
  left: number
}
let frame: Unanswered = { left: 0 }
// verdict() never throws: a failed check is `unavailable`.
const check = (id: number, user: string, text: string) => {
  const of = frame
  of.left++
  void checker.verdict(user, text).then((v) => {
    out.push(toWire(id, v))
    if (--of.left === 0) out.soon()
  })
}
const frames = new FrameReader((body) => {
  frame = { left: 0 }
  decodeChecks(body, check)
})
pipe.on('data', (chunk: Buffer) => frames.push(chunk))

process.on('message', (m: CountsRequest | UsedRequest) => {
  if (m?.t === 'counts?') void reportCounts()
  else if (m?.t === 'used?') {
    const answer = (n: number | undefined) => process.connected && process.send!({ t: 'used', id: m.id, ...(n === undefined ? {} : { n }) } satisfies UsedMessage)
    void checker.budgetUsed().then(answer, () => answer(undefined))
  }
})

// Counter increments since the last report, when the BFF asks (a scrape of its /metrics): it adds
// them to its counters of the same names.
const reported = new Map<string, number>()
async function reportCounts(): Promise<void> {
  const c: CountsMessage['c'] = []
  for (const metric of await registry.getMetricsAsJSON()) {
    // The string at run time (prom-client's typings declare a numeric enum it does not export).
    if (String(metric.type) !== 'counter') continue
    for (const value of metric.values) {
      const labels = value.labels as Record<string, string>
      const key = `${metric.name}\n${JSON.stringify(labels)}`
      const n = value.value - (reported.get(key) ?? 0)
      if (n <= 0) continue
      reported.set(key, value.value)
      c.push([metric.name, labels, n])
    }
  }
  if (process.connected) process.send!({ t: 'counts', c } satisfies CountsMessage)
}

/**
 * Stop: the BFF stopping (SIGTERM) has already answered its texts in flight `unavailable`, and a
 * BFF gone (the channel closed, even by kill -9) waits for nothing: no check is worth finishing.
 */
async function exit(code: number): Promise<never> {
  await http?.close()
  await closeStore()
  process.exit(code)
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void exit(0))
process.send!({ t: 'ready' })
log.debug({ store: settings.store.kind, pipelining: settings.httpPipelining }, 'checker ready')
