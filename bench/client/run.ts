/**
 * `npm run bench:client`: the chat list in the weapp harness (the built mini-program in Node under
 * the fake host of tests/e2e, against a real BFF on loopback), against a naive baseline page built
 * in the same run (client/bench/naive: every message rendered with map(), every incoming message
 * its own state update). Prints a table and writes bench/results/client.json.
 *
 *   A. Open a conversation of 10,000 messages: setData bytes of the first render.
 *   B. Scroll through 1,000 messages: setData bytes per scroll step (one scroll event, 60 px).
 *   C. 200 messages arriving within one second: setData calls, and the time from the first
 *      message's arrival on the socket to the first setData that carries it.
 *
 * Figures are measured, never asserted: the targets are printed beside them.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ensureBuilt, ROOT, TARGETS } from '../../tests/e2e/build'
import { startBffProcess } from '../../tests/e2e/bff'
import { hostFor, waitFor } from '../../tests/e2e/harness'
import { devLogin } from '../../bff/test/support/client'
import { Peer } from '../../tests/e2e/peer'
import type { MiniHost, SetDataRecord } from '../../tests/e2e/weapp-host'

const BIG = 10_000
const SCROLL_MESSAGES = 1_000
const SCROLL_STEP_PX = 60
const BURST = 200
const BURST_MS = 1_000
const KB = 1024

interface Bench {
  client: { loadOlder(conv: string): Promise<void> }
  store: { getState(): { messages: Record<string, unknown[]>; conn: { state: string } } }
}

const log = (msg: string) => console.log(`[bench:client] ${msg}`)

/** Wait until no setData happened for `quietMs` (the view settled). */
async function settle(h: MiniHost, quietMs = 150, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let count = h.records.length
  let since = Date.now()
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10))
    if (h.records.length !== count) {
      count = h.records.length
      since = Date.now()
    } else if (Date.now() - since >= quietMs) return
  }
  throw new Error('the view did not settle')
}

const sum = (rs: readonly SetDataRecord[]) => rs.reduce((n, r) => n + r.bytes, 0)
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

function dirBytes(dir: string): { total: number; withoutLicenses: number } {
  let total = 0
  let withoutLicenses = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else {
        total += st.size
        if (!e.endsWith('.LICENSE.txt')) withoutLicenses += st.size
      }
    }
  }
  walk(dir)
  return { total, withoutLicenses }
}

/** `-- --only=burst` runs scenario C alone (no 10,000-message seeding), for quick iterations. */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length)

async function main(): Promise<void> {
  await ensureBuilt(TARGETS.weapp, log)
  await ensureBuilt(TARGETS.weappBench, log)
  const size = dirBytes(path.join(ROOT, 'dist/weapp'))

  // The BFF runs in its own process (a phone does not host the server: its work must not delay the
  // app's event loop). Seeding sends thousands of frames from one peer: lift the per-connection
  // rate limit for it.
  await ensureBuilt(TARGETS.bff, log)
  const bff = await startBffProcess({ RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
  const results: Record<string, unknown> = {}
  try {
    const auth = await devLogin(bff.url, 'bench-alice', 'Alice')
    const bob = await Peer.connect(bff.url, 'bench-bob', 'Bob')
    const carol = await Peer.connect(bff.url, 'bench-carol', 'Carol')
    const big = await bob.direct('bench-alice')
    const small = await carol.direct('bench-alice')

    const seedCount = only === 'burst' ? 0 : BIG
    log(`seeding ${seedCount} messages…`)
    for (let i = 1; i <= seedCount; i++) bob.fire(big.id, `bench message ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 4))}`)
    if (seedCount) await bob.next((f) => f.type === 'ack' && f.conv === big.id && f.seq === BIG, 120_000)
    for (let i = 1; i <= 20; i++) await carol.say(small.id, `hello ${i}`)

    const host = hostFor(bff.url, auth, { dist: path.join(ROOT, 'dist/weapp-bench'), keepPayloads: true, scrollEventHeight: false })
    host.launch()
    host.open('pages/index/index')
    const bench = (globalThis as unknown as { __chatBench: Bench }).__chatBench
    const burst = async (route: string, label: string) => {
      host.open(`${route}?conv=${encodeURIComponent(small.id)}`)
      await waitFor(() => host.text().includes('hello 20'), 'the small conversation')
      await settle(host)
      const fromRecord = host.records.length
      const fromReceived = host.received.length
      const first = `${label} 1`
      const last = `${label} ${BURST}`
      await new Promise<void>((resolve) => {
        let i = 0
        const started = performance.now()
        const tick = () => {
          // Paced by the clock, not by timer accuracy: message i leaves at i * BURST_MS / BURST.
          const due = Math.min(BURST, Math.floor(((performance.now() - started) / BURST_MS) * BURST) + 1)
          while (i < due) carol.fire(small.id, `${label} ${++i}`)
          if (i < BURST) setTimeout(tick, 2)
          else resolve()
        }
        tick()
      })
      const needle = (t: string) => `"${t}"`
      await waitFor(() => host.records.slice(fromRecord).some((r) => r.json?.includes(needle(last))), 'the last burst message in the view', 30_000)
      await settle(host)
      const rs = host.records.slice(fromRecord)
      const arrived = host.received.slice(fromReceived).find((f) => f.data.includes(needle(first)))
      const shown = rs.find((r) => r.json?.includes(needle(first)))
      const lastArrived = host.received.slice(fromReceived).find((f) => f.data.includes(needle(last)))
      if (process.env.BENCH_DEBUG) {
        for (const r of rs) console.log(`${(r.at - (arrived?.at ?? 0)).toFixed(0)} ms ${r.target} ${r.bytes} B ${r.json?.slice(0, 300)}`)
      }
      host.back()
      await settle(host)
      return {
        calls: rs.length,
        bytes: sum(rs),
        firstInViewMs: arrived && shown ? shown.at - arrived.at : Number.NaN,
        arrivalSpanMs: arrived && lastArrived ? lastArrived.at - arrived.at : Number.NaN,
      }
    }
    await waitFor(() => bench.store.getState().conn.state === 'connected' && bench.store.getState().messages[small.id]?.length, 'sync', 20_000)
    if (only === 'burst') {
      const c = await burst('pages/chat/index', 'burst')
      console.log(JSON.stringify(c))
      host.close()
      return
    }
    log('loading the whole conversation into the store…')
    while ((bench.store.getState().messages[big.id]?.length ?? 0) < BIG) await bench.client.loadOlder(big.id)
    await settle(host)

    // ---------------------------------------------------------------- A. open 10,000 messages
    const openPage = async (route: string, conv: string) => {
      const from = host.records.length
      host.open(`${route}?conv=${encodeURIComponent(conv)}`)
      await waitFor(() => host.records.slice(from).some((r) => r.json?.includes('bench message 10000:')), 'the newest message', 120_000)
      await settle(host)
      const rs = host.records.slice(from).filter((r) => r.route === route)
      return { first: rs[0]?.bytes ?? 0, total: sum(rs), calls: rs.length }
    }
    log('A: opening the conversation (virtualized)…')
    const openReal = await openPage('pages/chat/index', big.id)

    // ---------------------------------------------------------------- B. scroll 1,000 messages
    log(`B: scrolling through ${SCROLL_MESSAGES} messages…`)
    /**
     * Scroll up from the bottom in 60 px steps, one scroll event each, until `messages` rows went
     * by (virtualized: read from the row at the top of the viewport) or `px` pixels (the baseline
     * scrolls the same distance the virtualized run needed). Returns the setData bytes of each step.
     */
    const scrollRun = async (id: string, until: { messages: number } | { px: number }) => {
      await waitFor(() => host.byId(id), 'the list')
      await waitFor(() => host.scrollPos.has(id), 'the list at its end')
      const from0 = host.scrollPos.get(id)!
      let top = from0
      const rowNo = () => Number(/bench message (\d+)/.exec(host.rowAtTop(id))?.[1] ?? Number.NaN)
      const start = 'messages' in until ? rowNo() : 0
      const steps: number[] = []
      for (;;) {
        if ('messages' in until ? start - rowNo() >= until.messages : from0 - top >= until.px) break
        if (top <= 0) throw new Error('reached the top before the end of the scroll run')
        const from = host.records.length
        top = Math.max(0, top - SCROLL_STEP_PX)
        host.scroll(id, top)
        await settle(host, 20)
        steps.push(sum(host.records.slice(from)))
      }
      return { steps, px: from0 - top }
    }
    const scrollReal = await scrollRun('msgs', { messages: SCROLL_MESSAGES })
    const stepsReal = scrollReal.steps
    host.back()
    await settle(host)

    // ---------------------------------------------------------------- C. 200 messages in 1 s
    log(`C: ${BURST} messages within ${BURST_MS} ms (virtualized)…`)
    const burstReal = await burst('pages/chat/index', 'burst')

    // ---------------------------------------------------------------- baseline, same run
    log('baseline: opening the conversation (naive map)…')
    const openNaive = await openPage('bench/naive/index', big.id)
    log('baseline: scrolling…')
    const stepsNaive = (await scrollRun('naive', { px: scrollReal.px })).steps
    host.back()
    await settle(host)
    log(`baseline: ${BURST} messages within ${BURST_MS} ms…`)
    const burstNaive = await burst('bench/naive/index', 'naive')

    host.close()
    bob.close()
    carol.close()

    const nonZero = (xs: number[]) => xs.filter((x) => x > 0)
    results.mainPackage = { bytes: size.total, bytesWithoutLicenseFiles: size.withoutLicenses, limitBytes: 2 * 1024 * 1024 }
    results.open10k = {
      virtualized: openReal,
      naive: openNaive,
      ratio: openNaive.total / openReal.total,
      target: { maxBytes: 64 * KB, minRatio: 50 },
    }
    results.scroll1k = {
      stepPx: SCROLL_STEP_PX,
      virtualized: { steps: stepsReal.length, medianBytes: median(stepsReal), medianNonZeroBytes: median(nonZero(stepsReal)), maxBytes: Math.max(0, ...stepsReal), totalBytes: stepsReal.reduce((a, b) => a + b, 0) },
      naive: { steps: stepsNaive.length, medianBytes: median(stepsNaive), maxBytes: Math.max(0, ...stepsNaive), totalBytes: stepsNaive.reduce((a, b) => a + b, 0) },
      target: { maxMedianBytes: KB },
    }
    results.burst200 = {
      virtualized: burstReal,
      naive: burstNaive,
      target: { maxCalls: 20, maxFirstInViewMs: 100 },
    }
  } finally {
    await bff.close()
  }

  const o = results as {
    mainPackage: { bytes: number; bytesWithoutLicenseFiles: number }
    open10k: { virtualized: { first: number; total: number; calls: number }; naive: { first: number; total: number; calls: number }; ratio: number }
    scroll1k: { virtualized: { steps: number; medianBytes: number; medianNonZeroBytes: number; maxBytes: number }; naive: { steps: number; medianBytes: number; maxBytes: number } }
    burst200: { virtualized: { calls: number; bytes: number; firstInViewMs: number; arrivalSpanMs: number }; naive: { calls: number; bytes: number; firstInViewMs: number; arrivalSpanMs: number } }
  }
  const kb = (b: number) => `${(b / KB).toFixed(1)} KB`
  const ok = (c: boolean) => (c ? 'met' : 'NOT MET')
  const rows: string[][] = [
    ['measure', 'virtualized', 'naive baseline', 'target', ''],
    [
      `A. open ${BIG} msgs: setData bytes (calls)`,
      `${kb(o.open10k.virtualized.total)} (${o.open10k.virtualized.calls})`,
      `${kb(o.open10k.naive.total)} (${o.open10k.naive.calls})`,
      `<= 64 KB, >= 50x less`,
      `${ok(o.open10k.virtualized.total <= 64 * KB && o.open10k.ratio >= 50)}: ${o.open10k.ratio.toFixed(0)}x less`,
    ],
    [
      `B. scroll ${SCROLL_MESSAGES} msgs: median bytes/step`,
      `${o.scroll1k.virtualized.medianBytes} B (${o.scroll1k.virtualized.steps} steps; non-zero median ${o.scroll1k.virtualized.medianNonZeroBytes} B, max ${o.scroll1k.virtualized.maxBytes} B)`,
      `${o.scroll1k.naive.medianBytes} B (${o.scroll1k.naive.steps} steps; all rows already rendered)`,
      '<= 1 KB',
      ok(o.scroll1k.virtualized.medianBytes <= KB && o.scroll1k.virtualized.medianNonZeroBytes <= KB),
    ],
    [
      `C. ${BURST} msgs in ${BURST_MS} ms: setData calls`,
      `${o.burst200.virtualized.calls} (${kb(o.burst200.virtualized.bytes)})`,
      `${o.burst200.naive.calls} (${kb(o.burst200.naive.bytes)})`,
      '<= 20',
      ok(o.burst200.virtualized.calls <= 20),
    ],
    [
      'C. first message in the view after arrival',
      `${o.burst200.virtualized.firstInViewMs.toFixed(1)} ms`,
      `${o.burst200.naive.firstInViewMs.toFixed(1)} ms`,
      '<= 100 ms',
      ok(o.burst200.virtualized.firstInViewMs <= 100),
    ],
    ['main package (dist/weapp)', `${kb(o.mainPackage.bytes)} (${kb(o.mainPackage.bytesWithoutLicenseFiles)} without LICENSE files)`, '', '<= 2048 KB', ok(o.mainPackage.bytes <= 2 * 1024 * KB)],
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  console.log('')
  for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | '))
  console.log(`(burst arrival span: ${o.burst200.virtualized.arrivalSpanMs.toFixed(0)} ms virtualized, ${o.burst200.naive.arrivalSpanMs.toFixed(0)} ms naive)`)

  const out = path.join(ROOT, 'bench/results/client.json')
  mkdirSync(path.dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, ...results }, null, 2) + '\n')
  log(`written ${path.relative(ROOT, out)}`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
