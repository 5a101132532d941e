/**
 * Load generator process of the benchmark, driven by run.ts over IPC. It holds up to ~19,000
 * sockets (the open-file cap is 20,000 per process), spreads their source addresses over
 * 127.0.0.1-127.0.0.250 (each address has its own ~28,000 ephemeral ports), and measures
 * latencies with its own clock: sender and receiver of a measured message live in this process.
 */
import { WebSocket } from 'ws'
import { PROTOCOL_VERSION } from '@chat/shared'

type Mode = 'bff' | 'base'
interface Peer {
  readonly id: string
  readonly token?: string
}

const sockets = new Map<string, WebSocket>()
/** Called for every frame any socket receives (the running scenario sets it). */
let onFrame: (user: string, text: string) => void = () => {}
let addressCursor = Number(process.env.ADDRESS_OFFSET ?? 0)

function nextAddress(): string {
  const a = `127.0.0.${1 + (addressCursor % 250)}`
  addressCursor++
  return a
}

function open(base: string, mode: Mode, peer: Peer, group?: string, refusable = false): Promise<WebSocket> {
  const url =
    mode === 'bff'
      ? `${base.replace(/^http/, 'ws')}/ws?v=${PROTOCOL_VERSION}&token=${peer.token}`
      : `${base.replace(/^http/, 'ws')}/?user=${peer.id}${group ? `&group=${group}` : ''}`
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: nextAddress() })
  return new Promise((resolve, reject) => {
    let ready = false
    if (refusable) {
      ws.on('unexpected-response', (_req, res) => {
        const seconds = Number(res.headers['retry-after'])
        res.resume()
        ws.terminate()
        reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), Number.isFinite(seconds) ? { retryAfterMs: seconds * 1000 } : {}))
      })
    }
    ws.on('error', (err) => {
      if (!ready) reject(err)
    })
    ws.on('close', (code) => {
      if (!ready) reject(new Error(`closed ${code} before welcome`))
    })
    ws.on('message', (data) => {
      const text = (data as Buffer).toString() // ws's default binaryType: one Buffer
      if (!ready && mode === 'bff') {
        // `welcome`: the socket is authenticated and routable from here. Pushes for the user (a
        // contact's presence) can come first: the socket is routed before it is welcomed.
        if (text.startsWith('{"type":"error"')) return reject(new Error(`refused: ${text.slice(0, 100)}`))
        if (!text.startsWith('{"type":"welcome"')) return
        ready = true
        return resolve(ws)
      }
      onFrame(peer.id, text)
    })
    ws.on('open', () => {
      if (mode === 'base') {
        ready = true
        resolve(ws)
      }
    })
  })
}

async function connect(cmd: { url: string; mode: Mode; peers: Peer[]; group?: string; concurrency?: number }) {
  let failed = 0
  let refusedBusy = 0
  let next = 0
  const worker = async () => {
    while (next < cmd.peers.length) {
      const peer = cmd.peers[next++]!
      // An upgrade refused by admission control (503 + Retry-After) is retried after that delay.
      for (let tries = 0; ; tries++) {
        try {
          sockets.set(peer.id, await open(cmd.url, cmd.mode, peer, cmd.group, true))
          break
        } catch (err) {
          const wait = (err as { retryAfterMs?: number }).retryAfterMs
          if (wait === undefined || tries >= 50) {
            failed++
            break
          }
          refusedBusy++
          await new Promise((r) => setTimeout(r, wait * Math.random() + wait / 2))
        }
      }
    }
  }
  await Promise.all(Array.from({ length: cmd.concurrency ?? 200 }, worker))
  return { connected: cmd.peers.length - failed, failed, refusedBusy }
}

function percentiles(values: number[]) {
  const s = [...values].sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] ?? NaN }
}

/** Client ids must be new on every call: a repeated one is (rightly) deduplicated by the BFF. */
let cidRun = 0
function frameFor(mode: Mode, from: string, to: string, text: string, n: number): string {
  if (mode === 'base') return JSON.stringify({ type: 'send', to, text })
  const conv = from < to ? `d:${from}:${to}` : `d:${to}:${from}`
  return JSON.stringify({ type: 'send', cid: `c${process.pid}r${cidRun}x${from}x${n}`, conv, kind: 'text', body: { text } })
}

/** The fields of the frames this generator reads: the BFF's `msg`, `messages`, `sync.done`, and the baseline's echo. */
interface Frame {
  type?: string
  text?: string
  round?: number
  m?: { body: { text: string } }
  msgs?: { seq: number }[]
}
const parse = (text: string): Frame => JSON.parse(text) as Frame

/** The send time carried in a delivered frame's text. */
function sentAt(mode: Mode, text: string): number | undefined {
  const f = parse(text)
  if (mode === 'base') return f.type === 'send' ? Number(f.text) : undefined
  return f.type === 'msg' ? Number(f.m?.body.text) : undefined
}

/** Steady rate of 1:1 messages over `pairs` for `durationMs`; latency from send to delivery. */
async function rate(cmd: { mode: Mode; pairs: [string, string][]; rate: number; durationMs: number }) {
  cidRun++
  const latencies: number[] = []
  let received = 0
  const start = performance.now()
  // The worst latency of the messages sent in each STALL_BUCKET_MS: when the slow ones were sent.
  const worst: number[] = []
  onFrame = (_user, text) => {
    const t = sentAt(cmd.mode, text)
    if (t === undefined || Number.isNaN(t)) return
    received++
    const ms = performance.now() - t
    latencies.push(ms)
    const b = Math.max(0, Math.floor((t - start) / STALL_BUCKET_MS))
    if (!(ms <= (worst[b] ?? 0))) worst[b] = ms
  }
  const total = Math.round((cmd.rate * cmd.durationMs) / 1000)
  let sent = 0
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * cmd.rate) / 1000))
      while (sent < due) {
        const [from, to] = cmd.pairs[sent % cmd.pairs.length]!
        sockets.get(from)!.send(frameFor(cmd.mode, from, to, String(performance.now()), sent))
        sent++
      }
      if (sent >= total) resolve()
      else setTimeout(tick, 1)
    }
    tick()
  })
  const sendMs = performance.now() - start
  const end = Date.now() + 10_000
  while (received < sent && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
  onFrame = () => {}
  return { sent, received, sendMs, ...percentiles(latencies), stalls: { startedAt: Math.round(performance.timeOrigin + start), ...stallsOf(worst) } }
}

/** Buckets of send time for the stall timeline of `rate`, ms. */
const STALL_BUCKET_MS = 100
/** A bucket whose worst latency is above this is a stall, ms (the p99 target). */
const STALL_MS = 10

/**
 * Where the p99 comes from: the buckets (STALL_BUCKET_MS of send time) whose worst latency passed
 * STALL_MS, as [start ms into the run, worst ms], and the gaps between them (their period). The
 * run's start (`startedAt`, epoch ms) lines them up with the server's own records (GC pauses).
 */
function stallsOf(worst: number[]) {
  const at: [number, number][] = []
  worst.forEach((ms, b) => {
    if (ms > STALL_MS) at.push([b * STALL_BUCKET_MS, Math.round(ms * 10) / 10])
  })
  const gaps = at.slice(1).map(([t], i) => t - at[i]![0])
  return { bucketMs: STALL_BUCKET_MS, overMs: STALL_MS, buckets: worst.length, count: at.length, at: at.slice(0, 100), medianGapMs: gaps.length > 0 ? [...gaps].sort((x, y) => x - y)[Math.floor(gaps.length / 2)] : undefined }
}

/**
 * Saturation (issue 15): a closed loop over `pairs`, each sender keeping `window` messages under
 * way (sent, not yet delivered to its receiver), for `durationMs`: what the server delivers per
 * second when it never waits for work. Delivery is the completion on both sides (the baselines
 * have no ack). Answers deliveries per second within the span, and their latency percentiles.
 */
async function saturate(cmd: { mode: Mode; pairs: [string, string][]; window: number; durationMs: number }) {
  cidRun++
  const byReceiver = new Map(cmd.pairs.map((p, i) => [p[1], i]))
  const bySender = new Map(cmd.pairs.map((p, i) => [p[0], i]))
  let refused = 0
  const inFlight = new Array<number>(cmd.pairs.length).fill(0)
  const latencies: number[] = []
  let sent = 0
  let delivered = 0
  let open = true
  const start = performance.now()
  const pump = (i: number) => {
    const [from, to] = cmd.pairs[i]!
    const ws = sockets.get(from)!
    while (open && inFlight[i]! < cmd.window) {
      ws.send(frameFor(cmd.mode, from, to, String(performance.now()), sent))
      inFlight[i]!++
      sent++
    }
  }
  onFrame = (user, text) => {
    const i = byReceiver.get(user)
    if (i === undefined) {
      // A refused send (the BFF's error frame) is no longer under way either.
      const j = bySender.get(user)
      if (j === undefined || !text.startsWith('{"type":"error"')) return
      refused++
      inFlight[j]!--
      if (open) pump(j)
      return
    }
    const t = sentAt(cmd.mode, text)
    if (t === undefined || Number.isNaN(t)) return
    inFlight[i]!--
    if (!open) return
    delivered++
    latencies.push(performance.now() - t)
    pump(i)
  }
  for (let i = 0; i < cmd.pairs.length; i++) pump(i)
  await new Promise((r) => setTimeout(r, cmd.durationMs))
  open = false
  const ms = performance.now() - start
  // What is still under way drains before the next step (its deliveries are not counted).
  const end = Date.now() + 10_000
  while (inFlight.some((n) => n > 0) && Date.now() < end) await new Promise((r) => setTimeout(r, 5))
  onFrame = () => {}
  return { sent, delivered, refused, ms, perSecond: (delivered * 1000) / ms, ...percentiles(latencies) }
}

/**
 * One message to a group, `rounds` times: time until the last member has it. `frameBytes`: the
 * baseline's frame is padded to that size (the BFF's delivered `msg`, measured in its run), so both
 * broadcast the same number of bytes to every member. Answers the size of the frames delivered, and
 * each complete round's time to its last member and to its first, in the order run (run.ts
 * interleaves servers' rounds and pools them).
 */
async function group(cmd: { mode: Mode; sender: string; members: string[]; conv?: string; rounds: number; gapMs: number; frameBytes?: number }) {
  cidRun++
  const times: number[] = []
  /** Until the first member had it: the part before the fan-out (store, scheduling) apart from the fan-out's own. */
  const firsts: number[] = []
  let incomplete = 0
  let frameBytes = 0
  const expected = cmd.members.filter((m) => m !== cmd.sender).length
  for (let round = 0; round < cmd.rounds; round++) {
    let got = 0
    let first = 0
    const t0 = performance.now()
    const done = new Promise<void>((resolve) => {
      // A round some member never completes is counted, not waited for forever.
      setTimeout(() => {
        if (got < expected) {
          incomplete++
          resolve()
        }
      }, 5000)
      onFrame = (user, text) => {
        if (user === cmd.sender) return
        const f = parse(text)
        const r = cmd.mode === 'base' ? f.round : f.type === 'msg' ? Number(f.m?.body.text) : -1
        if (r !== round) return
        frameBytes = Buffer.byteLength(text)
        if (got === 0) first = performance.now() - t0
        if (++got === expected) resolve()
      }
    })
    const ws = sockets.get(cmd.sender)!
    if (cmd.mode === 'base') {
      const bare = JSON.stringify({ type: 'send', group: 'g', round, text: '' })
      ws.send(JSON.stringify({ type: 'send', group: 'g', round, text: 'x'.repeat(Math.max(40, (cmd.frameBytes ?? 0) - bare.length)) }))
    }
    else ws.send(JSON.stringify({ type: 'send', cid: `grp${process.pid}r${cidRun}x${round}`, conv: cmd.conv, kind: 'text', body: { text: String(round) } }))
    await done
    if (got >= expected) {
      times.push(performance.now() - t0)
      firsts.push(first)
    }
    await new Promise((r) => setTimeout(r, cmd.gapMs))
  }
  onFrame = () => {}
  return { ...percentiles(times), incomplete, frameBytes, times, firsts }
}

/** Send `count` messages from one user to another as fast as a window of unanswered sends allows. */
async function blast(cmd: { mode: Mode; from: string; to: string; count: number; window: number }) {
  cidRun++
  const ws = sockets.get(cmd.from)!
  let acked = 0
  let sent = 0
  await new Promise<void>((resolve) => {
    // The baseline acks nothing: it gets everything at once.
    const window = cmd.mode === 'base' ? Infinity : cmd.window
    const pump = () => {
      while (sent < cmd.count && sent - acked < window) {
        ws.send(frameFor(cmd.mode, cmd.from, cmd.to, `q${sent + 1}`, sent))
        sent++
      }
      if (cmd.mode === 'base' && sent >= cmd.count) resolve()
    }
    onFrame = (_u, text) => {
      if (text.startsWith('{"type":"ack"')) {
        acked++
        if (acked >= cmd.count) resolve()
        else pump()
      }
    }
    pump()
  })
  onFrame = () => {}
  return { sent }
}

/** Connect an offline user and receive everything queued for it: time, order, duplicates. */
async function reconnect(cmd: { url: string; mode: Mode; peer: Peer; conv?: string; expect: number }) {
  const seqs: number[] = []
  const t0 = performance.now()
  let doneAt = 0
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reconnect: ${seqs.length} of ${cmd.expect} after 30 s`)), 30_000)
    const finish = () => {
      doneAt = performance.now()
      clearTimeout(timer)
      resolve()
    }
    onFrame = (_u, text) => {
      if (cmd.mode === 'base') {
        seqs.push(Number(parse(text).text?.slice(1)))
        if (seqs.length === cmd.expect) finish()
        return
      }
      const f = parse(text)
      if (f.type === 'messages') for (const m of f.msgs ?? []) seqs.push(m.seq)
      else if (f.type === 'sync.done') finish()
    }
    open(cmd.url, cmd.mode, cmd.peer).then((ws) => {
      sockets.set(cmd.peer.id, ws)
      if (cmd.mode === 'bff') ws.send(JSON.stringify({ type: 'sync', rid: 'bench', cursors: [{ conv: cmd.conv, seq: 0 }] }))
    }, reject)
  })
  onFrame = () => {}
  const inOrder = seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)
  return { ms: doneAt - t0, received: seqs.length, unique: new Set(seqs).size, inOrder }
}

/**
 * Reconnect storm (issue 15): every socket of `peers` is cut at once and reopened at once, as the
 * app does it: on `welcome`, `sync` with the cursors it holds (`cursors[i]` for peers[i]) and
 * `convs`; a user is back when both are answered (the baseline: `sync.done`). A refused upgrade
 * (503 from admission control, a reset) is retried after the Retry-After it carried, else after
 * the client's backoff (full jitter in [0, min(20 s, 500 ms * 2^attempt)]).
 */
async function storm(cmd: { url: string; mode: Mode; peers: Peer[]; cursors?: { conv: string; seq: number }[][]; tags?: boolean }) {
  const index = new Map(cmd.peers.map((p, i) => [p.id, i]))
  const need = new Map<string, number>()
  let back = 0
  let refused = 0
  let retryAfterSeen = 0
  const reasons: Record<string, number> = {}
  const t0 = performance.now()
  let lastAt = t0
  let sameLists = 0
  const wants = cmd.mode === 'bff' ? 2 : 1
  let resolveAll!: () => void
  const all = new Promise<void>((r) => (resolveAll = r))
  onFrame = (user, text) => {
    const left = need.get(user)
    if (left === undefined) return
    const list = cmd.mode === 'bff' && text.startsWith('{"type":"convs"')
    const answered = list || (cmd.mode === 'bff' ? text.startsWith('{"type":"sync.done"') : text === '{"type":"sync.done"}')
    if (!answered) return
    if (list) {
      // The list's tag, last in the frame (no string in it can hold the unescaped key).
      const at = text.lastIndexOf('"tag":"')
      if (at < 0) listTags.delete(user)
      else listTags.set(user, text.slice(at + 7, text.indexOf('"', at + 7)))
      if (text.endsWith(',"same":true}')) sameLists++
    }
    if (left > 1) return void need.set(user, left - 1)
    need.delete(user)
    lastAt = performance.now()
    if (++back === cmd.peers.length) resolveAll()
  }
  for (const p of cmd.peers) sockets.get(p.id)?.terminate()
  const attempt = (peer: Peer, n: number): void => {
    openRefusable(cmd.url, cmd.mode, peer).then(
      (ws) => {
        sockets.set(peer.id, ws)
        need.set(peer.id, wants)
        if (cmd.mode === 'bff') {
          const cursors = cmd.cursors?.[index.get(peer.id)!] ?? []
          ws.send(JSON.stringify({ type: 'sync', rid: 'st', cursors }))
          // As the app does it: the tag of the list it holds, when it holds one (PROTOCOL.md).
          const tag = cmd.tags === false ? undefined : listTags.get(peer.id)
          ws.send(tag === undefined ? '{"type":"convs","rid":"sc"}' : `{"type":"convs","rid":"sc","tag":"${tag}"}`)
        } else ws.send('{"type":"sync"}')
      },
      (err: Error & { retryAfterMs?: number }) => {
        refused++
        const why = err.retryAfterMs !== undefined ? 'retry-after' : err.message.slice(0, 40)
        reasons[why] = (reasons[why] ?? 0) + 1
        if (err.retryAfterMs !== undefined) retryAfterSeen++
        const backoff = Math.floor(Math.random() * Math.min(20_000, 500 * 2 ** n))
        setTimeout(() => attempt(peer, n + 1), (err.retryAfterMs ?? 0) + backoff)
      },
    )
  }
  for (const p of cmd.peers) attempt(p, 0)
  const timer = setTimeout(resolveAll, 120_000)
  await all
  clearTimeout(timer)
  onFrame = () => {}
  return { users: cmd.peers.length, back, ms: lastAt - t0, refused, retryAfterSeen, reasons, sameLists }
}

/** Each user's conversation list tag, from the last `convs` answer it got. */
const listTags = new Map<string, string>()

/** `open`, with the Retry-After of a refused upgrade (seconds) on the rejection as retryAfterMs. */
function openRefusable(base: string, mode: Mode, peer: Peer): Promise<WebSocket> {
  return open(base, mode, peer, undefined, true)
}

function closeAll() {
  const n = sockets.size
  for (const ws of sockets.values()) ws.terminate()
  sockets.clear()
  return Promise.resolve({ closed: n })
}

/** Sends of `pairs` [from, to] (one each), at most `window` unanswered: conversations and their last message. */
async function seed(cmd: { pairs: [string, string][]; window: number }) {
  cidRun++
  let acked = 0
  let sent = 0
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < cmd.pairs.length && sent - acked < cmd.window) {
        const [from, to] = cmd.pairs[sent]!
        const ws = sockets.get(from)
        sent++
        // A user whose connect failed seeds nothing (counted as answered).
        if (!ws) acked++
        else ws.send(frameFor('bff', from, to, `seed${sent - 1}`, sent - 1))
      }
    }
    onFrame = (_u, text) => {
      if (text.startsWith('{"type":"ack"') || text.startsWith('{"type":"error"')) {
        if (++acked >= cmd.pairs.length) resolve()
        else pump()
      }
    }
    pump()
    if (acked >= cmd.pairs.length) resolve()
  })
  onFrame = () => {}
  return { sent }
}

const commands = {
  connect,
  seed,
  storm,
  rate,
  saturate,
  group,
  blast,
  reconnect,
  closeAll,
  alive: () => Promise.resolve({ open: [...sockets.values()].filter((w) => w.readyState === WebSocket.OPEN).length }),
}
/** What run.ts may ask: each command's argument and answer (Generator.call is typed from it). */
export type Commands = typeof commands

process.on('message', (msg: { id: number; cmd: string; args: unknown }) => {
  const run = (commands as Record<string, (args: unknown) => Promise<unknown>>)[msg.cmd]
  if (!run) return process.send!({ id: msg.id, error: `unknown command ${msg.cmd}` })
  run(msg.args).then(
    (result) => process.send!({ id: msg.id, result }),
    (err: unknown) => process.send!({ id: msg.id, error: String(err) }),
  )
})
process.send!({ ready: true })
