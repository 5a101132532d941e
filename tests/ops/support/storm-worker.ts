/**
 * A load-generator process for the reconnect storm: holds thousands of chat users (ChatUser: the
 * real client on the Node platform, with its own reconnect, sync and outbox) so that 10,000 sockets are spread
 * over several processes (a process may hold at most 20,000 open files here). Driven over IPC by
 * tests/ops/storm.test.ts; run with scripts/run-ts.mjs (the project's TypeScript runner: the IPC channel stays).
 *
 *   parent -> { type: 'start', users, urls, concurrency }   log in and connect every user
 *   worker -> { type: 'ready', ms }
 *   parent -> { type: 'drop' }                               cut every socket at once (no close handshake)
 *   worker -> { type: 'dropped', at }
 *   parent -> { type: 'await', after, timeoutMs, stallMs }   wait until every user is back after `after`,
 *                                                            or none came back for `stallMs`, or `timeoutMs`
 *   worker -> { type: 'back', report }
 *   parent -> { type: 'stop' }                               close everything and exit
 */
import { RECONNECT } from '@chat/shared'
import { ChatUser } from '../../kit/chat-user'

type Command =
  | { type: 'start'; users: string[]; urls: string[]; concurrency: number }
  | { type: 'drop' }
  | { type: 'await'; after: number; timeoutMs: number; stallMs: number }
  | { type: 'stop' }

export interface BackReport {
  readonly users: number
  /** Per user: ms from `after` until the user was back (welcome and sync done). */
  readonly backMs: number[]
  /** Per user: ms from `after` to its first connection attempt. */
  readonly firstAttemptMs: number[]
  /** Connection attempts after `after`, all users. */
  readonly attempts: number
  /** Users not back when the wait ended. */
  readonly missing: number
  readonly rssBytes: number
  /** CPU time of this generator so far (user + system), ms. */
  readonly cpuMs: number
  /** Attempts abandoned after the connect timeout: upgrade never answered / no welcome after it. */
  readonly openTimeouts: number
  readonly welcomeTimeouts: number
  /** Users not back, by what their client says (`state/reason`, online and still syncing), with counts. */
  readonly missingStates: Record<string, number>
  /** Error frames received since the users started, by code, all users (refused syncs among them). */
  readonly errors: Record<string, number>
  /** The wait ended because no user came back for `stallMs` while some were missing. */
  readonly stalled: boolean
}

let users: ChatUser[] = []

function cpuNow(): number {
  const cpu = process.cpuUsage()
  return (cpu.user + cpu.system) / 1000
}

function send(msg: unknown): void {
  process.send!(msg)
}

async function startAll(ids: string[], urls: string[], concurrency: number): Promise<void> {
  // Spread source addresses over 127.0.0.1-127.0.0.200: every address has its own ephemeral ports.
  users = ids.map((id, i) => new ChatUser(id, { urls: () => urls, backoff: RECONNECT, localAddress: `127.0.0.${1 + (i % 200)}` }))
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < users.length) await users[next++]!.start()
    }),
  )
}

/** Why a user is not back: its connection's state, and whether it is online but its sync unanswered. */
function stateOf(u: ChatUser): string {
  const s = u.chat.connection.getStatus()
  const errors = [...u.stats.errors].map(([code, n]) => `${code}x${n}`).join(',')
  return `${s.state}${'reason' in s && s.reason ? `/${s.reason}` : ''}${u.online ? ' online, sync unanswered' : ''}${errors ? ` errors ${errors}` : ''}`
}

function report(after: number, missing: number, stalled: boolean): BackReport {
  const backMs: number[] = []
  const firstAttemptMs: number[] = []
  let attempts = 0
  for (const u of users) {
    if (u.stats.lastReadyAt > after) backMs.push(u.stats.lastReadyAt - after)
    const times = u.stats.attemptTimes.filter((t) => t > after)
    attempts += times.length
    if (times.length > 0) firstAttemptMs.push(times[0]! - after)
  }
  return {
    users: users.length,
    backMs,
    firstAttemptMs,
    attempts,
    missing,
    rssBytes: process.memoryUsage().rss,
    cpuMs: cpuNow(),
    openTimeouts: users.reduce((n, u) => n + u.stats.openTimeouts, 0),
    welcomeTimeouts: users.reduce((n, u) => n + u.stats.welcomeTimeouts, 0),
    missingStates: users
      .filter((u) => !(u.online && u.stats.lastReadyAt > after))
      .reduce<Record<string, number>>((m, u) => ((m[stateOf(u)] = (m[stateOf(u)] ?? 0) + 1), m), {}),
    stalled,
    errors: users.reduce<Record<string, number>>((m, u) => {
      for (const [code, n] of u.stats.errors) m[code] = (m[code] ?? 0) + n
      return m
    }, {}),
  }
}

process.on('message', (cmd: Command) => {
  void (async () => {
    try {
      if (cmd.type === 'start') {
        const t = Date.now()
        await startAll(cmd.users, cmd.urls, cmd.concurrency)
        send({ type: 'ready', ms: Date.now() - t, cpuMs: cpuNow() })
      } else if (cmd.type === 'drop') {
        const at = Date.now()
        for (const u of users) u.drop()
        send({ type: 'dropped', at, cpuMs: cpuNow() })
      } else if (cmd.type === 'await') {
        const asked = Date.now()
        const end = asked + cmd.timeoutMs
        const missing = () => users.filter((u) => !(u.online && u.stats.lastReadyAt > cmd.after)).length
        // Progress: the latest time a user came back (the servers listen when this is asked).
        const progressAt = () => users.reduce((t, u) => Math.max(t, u.stats.lastReadyAt), asked)
        let stalled = false
        while (missing() > 0 && Date.now() < end) {
          if (Date.now() - progressAt() > cmd.stallMs) {
            stalled = true
            break
          }
          await new Promise((r) => setTimeout(r, 50))
        }
        send({ type: 'back', report: report(cmd.after, missing(), stalled) })
      } else if (cmd.type === 'stop') {
        await Promise.all(users.map((u) => u.stop()))
        process.exit(0)
      }
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    }
  })()
})
// The parent gone (test failed or killed): do not linger with thousands of sockets.
process.on('disconnect', () => process.exit(0))
send({ type: 'alive' })
