import { describe, expect, it } from 'vitest'
import { CloseCode } from '@chat/shared'
import { createFakePlatform, type FakePlatform } from '../../platform/fake'
import { welcome } from '../fixtures'
import { Connection, type ConnectionStatus } from '../../net/connection'
import { AuthLostError } from '../../net/errors'

interface Harness {
  p: FakePlatform
  conn: Connection
  statuses: ConnectionStatus[]
  frames: string[]
  tokens: boolean[]
  setToken(fn: (force: boolean) => Promise<string>): void
}

/** Let promise callbacks (getToken) run. */
const settle = () => new Promise<void>((r) => setTimeout(r, 0))

function setup(random = () => 0.5, probe?: { server: () => Promise<boolean>; everyMs: number }): Harness {
  const p = createFakePlatform()
  const statuses: ConnectionStatus[] = []
  const frames: string[] = []
  const tokens: boolean[] = []
  let tokenFn = (force: boolean) => Promise.resolve(force ? 'fresh' : 'tok')
  const conn = new Connection({
    baseUrl: 'http://bff.test',
    transport: p.transport,
    timers: p.timers,
    lifecycle: p.lifecycle,
    getToken: (force) => {
      tokens.push(force)
      return tokenFn(force)
    },
    onWelcome: () => frames.push('welcome'),
    onFrame: (f) => frames.push(f.type),
    onStatus: (s) => statuses.push(s),
    reconnect: { minDelayMs: 500, maxDelayMs: 20_000 },
    heartbeatMs: 25_000,
    heartbeatTimeoutMs: 60_000,
    connectTimeoutMs: 15_000,
    foregroundProbeMs: 5_000,
    ...(probe ? { probeServer: probe.server, reachabilityProbeMs: probe.everyMs } : {}),
    random,
  })
  return { p, conn, statuses, frames, tokens, setToken: (fn) => (tokenFn = fn) }
}

async function connect(h: Harness, heartbeatMs = 25_000) {
  h.conn.start()
  await settle()
  const s = h.p.transport.last
  s.open()
  s.push(welcome(undefined, heartbeatMs))
  return s
}

describe('Connection', () => {
  it('opens one socket with version and token, and is connected only after welcome', async () => {
    const h = setup()
    h.conn.start()
    expect(h.conn.getStatus().state).toBe('connecting')
    await settle()
    const s = h.p.transport.last
    expect(s.url).toBe('ws://bff.test/ws?v=3&token=tok')
    s.open()
    expect(h.conn.getStatus().state).toBe('connecting')
    s.push(welcome())
    expect(h.conn.getStatus()).toEqual({ state: 'connected', attempt: 0 })
    expect(h.frames).toEqual(['welcome'])
    expect(h.p.transport.sockets).toHaveLength(1)
  })

  it('emits a status only when it changes', async () => {
    const h = setup()
    await connect(h)
    const states = h.statuses.map((s) => s.state)
    expect(states).toEqual(['connecting', 'connected'])
  })

  it('reconnects after an abnormal close with full-jitter backoff, never two sockets at once', async () => {
    const h = setup(() => 0.5)
    const s1 = await connect(h)
    s1.drop(1006)
    const st = h.conn.getStatus()
    expect(st.state).toBe('disconnected')
    expect(st.reason).toBe('waiting')
    // attempt 0: uniform in [0, 500) with random 0.5 -> 250 ms
    expect(st.retryAt! - h.p.timers.now()).toBe(250)
    h.p.timers.advance(249)
    expect(h.p.transport.sockets).toHaveLength(1)
    h.p.timers.advance(1)
    await settle()
    expect(h.p.transport.sockets).toHaveLength(2)
    expect(h.p.transport.live()).toHaveLength(1)
    // The second attempt fails before opening: window doubles (1000 ms -> 500).
    h.p.transport.last.drop(1006)
    expect(h.conn.getStatus().retryAt! - h.p.timers.now()).toBe(500)
    expect(h.conn.getStatus().attempt).toBe(2)
  })

  it('caps the backoff window at maxDelayMs', async () => {
    const h = setup(() => 0.999)
    await connect(h)
    for (let i = 0; i < 10; i++) {
      h.p.transport.last.drop(1006)
      const wait = h.conn.getStatus().retryAt! - h.p.timers.now()
      expect(wait).toBeLessThan(20_000)
      h.p.timers.advance(wait)
      await settle()
    }
    h.p.transport.last.drop(1006)
    expect(h.conn.getStatus().retryAt! - h.p.timers.now()).toBeGreaterThan(19_000)
  })

  it('reconnects at once, backoff reset, when a probe reaches the server it had found down', async () => {
    let up = false
    const probes: boolean[] = []
    const h = setup(() => 0.999, {
      everyMs: 1_000,
      server: () => {
        probes.push(up)
        return Promise.resolve(up)
      },
    })
    await connect(h)
    // The server goes away: attempts fail until the backoff is long (attempt 4: up to 8 s).
    for (let i = 0; i < 4; i++) {
      h.p.transport.last.drop(1006)
      h.p.timers.advance(h.conn.getStatus().retryAt! - h.p.timers.now())
      await settle()
    }
    h.p.transport.last.drop(1006)
    const waiting = h.conn.getStatus()
    expect(waiting).toMatchObject({ reason: 'waiting', attempt: 5 })
    // The case: ~8 s left on the backoff timer.
    expect(waiting.retryAt! - h.p.timers.now()).toBeGreaterThan(7_000)
    const sockets = h.p.transport.sockets.length
    probes.length = 0
    // Probes (every ~1 s, jitter 0.999 -> 1.5 s) find it down...
    h.p.timers.advance(1_500)
    await settle()
    h.p.timers.advance(1_500)
    await settle()
    expect(probes).toEqual([false, false])
    expect(h.p.transport.sockets).toHaveLength(sockets)
    // ...then it is back: the next probe connects at once, long before the backoff timer.
    up = true
    h.p.timers.advance(1_500)
    await settle()
    await settle()
    expect(probes).toEqual([false, false, true])
    expect(h.p.transport.sockets).toHaveLength(sockets + 1)
    expect(h.conn.getStatus()).toMatchObject({ state: 'connecting', attempt: 0 })
    // And the backoff starts over: a failure now waits the first window (< 1 s), not 20 s.
    h.p.transport.last.drop(1006)
    expect(h.conn.getStatus()).toMatchObject({ reason: 'waiting', attempt: 1 })
    expect(h.conn.getStatus().retryAt! - h.p.timers.now()).toBeLessThan(500)
  })

  it('keeps the backoff against a server that answers probes but refuses sockets', async () => {
    const probes: number[] = []
    const h = setup(() => 0.999, {
      everyMs: 1_000,
      server: () => {
        probes.push(h.p.timers.now())
        return Promise.resolve(true)
      },
    })
    await connect(h)
    for (let i = 0; i < 5; i++) {
      h.p.transport.last.drop(1006)
      const retryAt = h.conn.getStatus().retryAt!
      // In 100 ms steps, letting each probe's answer arrive before the next step.
      while (h.p.timers.now() + 100 < retryAt) {
        h.p.timers.advance(100)
        await settle()
        // Every probe answered, yet no attempt before the backoff timer: never "was down, is up".
        expect(h.conn.getStatus()).toMatchObject({ reason: 'waiting', retryAt })
      }
      h.p.timers.advance(retryAt - h.p.timers.now())
      await settle()
    }
    // Backoffs of 2, 4 and 8 s with a probe every 1.5 s: 1 + 2 + 5 probes.
    expect(probes).toHaveLength(8)
    expect(h.p.transport.sockets).toHaveLength(6)
  })

  it('ignores events of a socket it already replaced', async () => {
    const h = setup()
    const s1 = await connect(h)
    h.p.lifecycle.goBackground()
    h.p.lifecycle.goForeground() // probe ping on s1
    h.p.timers.advance(5_000) // no answer: s1 dropped, s2 started
    await settle()
    expect(s1.state).toBe('closed')
    const s2 = h.p.transport.last
    expect(s2).not.toBe(s1)
    s2.open()
    s2.push(welcome())
    const before = h.frames.length
    // s1's late frames and close are ignored
    ;(s1 as unknown as { state: string }).state = 'open'
    s1.push({ type: 'pong', serverTime: 1 })
    s1.drop(1006)
    expect(h.frames.length).toBe(before)
    expect(h.conn.getStatus().state).toBe('connected')
  })

  it('sends ping when idle for heartbeatMs and drops the socket when nothing arrives for the timeout', async () => {
    const h = setup()
    const s = await connect(h, 10_000)
    h.p.timers.advance(10_000)
    expect(s.framesOf('ping')).toHaveLength(1)
    s.push({ type: 'pong', serverTime: 2 })
    h.p.timers.advance(10_000)
    expect(s.framesOf('ping')).toHaveLength(2)
    // nothing arrives any more: 60 s after the last pong (at 10 s) the watchdog drops it
    h.p.timers.advance(49_999)
    expect(s.state).toBe('open')
    h.p.timers.advance(1)
    expect(s.state).toBe('closed')
    expect(h.conn.getStatus()).toMatchObject({ state: 'disconnected', reason: 'waiting', lastCloseCode: CloseCode.HEARTBEAT_TIMEOUT })
  })

  it('gives up an attempt that does not reach welcome in time', async () => {
    const h = setup()
    h.conn.start()
    await settle()
    h.p.transport.last.open()
    h.p.timers.advance(15_000)
    expect(h.p.transport.last.state).toBe('closed')
    expect(h.conn.getStatus().reason).toBe('waiting')
  })

  it('renews the token and reconnects at once on 4002', async () => {
    const h = setup()
    const s = await connect(h)
    s.drop(CloseCode.TOKEN_EXPIRED)
    expect(h.conn.getStatus().retryAt).toBe(h.p.timers.now())
    h.p.timers.advance(0)
    await settle()
    expect(h.tokens).toEqual([false, true])
    expect(h.p.transport.last.url).toContain('token=fresh')
  })

  it('stops with reason unauthorized when the session cannot be renewed after 4001', async () => {
    const h = setup()
    const s = await connect(h)
    h.setToken((force) => (force ? Promise.reject(new AuthLostError()) : Promise.resolve('tok')))
    s.drop(CloseCode.UNAUTHORIZED)
    h.p.timers.advance(1_000)
    await settle()
    expect(h.conn.getStatus()).toMatchObject({ state: 'disconnected', reason: 'unauthorized' })
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1)
  })

  it('stops on 4003 (unsupported version)', async () => {
    const h = setup()
    const s = await connect(h)
    s.drop(CloseCode.UNSUPPORTED_VERSION)
    expect(h.conn.getStatus().reason).toBe('unsupported')
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1)
  })

  it('waits retryAfterMs plus jitter after a SHUTTING_DOWN notice and 1012', async () => {
    const h = setup(() => 0.5)
    const s = await connect(h)
    s.push({ type: 'notice', code: 'SHUTTING_DOWN', message: 'bye', retryAfterMs: 3_000 })
    s.drop(CloseCode.SERVICE_RESTART)
    expect(h.conn.getStatus().retryAt! - h.p.timers.now()).toBe(3_250)
  })

  it('renews the token after two refused upgrades in a row (the HTTP 401 is invisible to sockets)', async () => {
    const h = setup()
    h.conn.start()
    await settle()
    h.p.transport.last.drop(1006)
    h.p.timers.advance(1_000)
    await settle()
    h.p.transport.last.drop(1006)
    h.p.timers.advance(2_000)
    await settle()
    expect(h.tokens).toEqual([false, false, true])
  })

  it('does not reconnect in the background, and reconnects at once on return', async () => {
    const h = setup()
    const s = await connect(h)
    h.p.lifecycle.goBackground()
    s.drop(1000, 'interrupted') // the platform kills it (PLATFORM.md)
    expect(h.conn.getStatus()).toMatchObject({ state: 'disconnected', reason: 'background' })
    h.p.timers.advance(120_000)
    expect(h.p.transport.sockets).toHaveLength(1)
    h.p.lifecycle.goForeground()
    await settle()
    expect(h.p.transport.sockets).toHaveLength(2)
    expect(h.conn.getStatus().state).toBe('connecting')
  })

  it('keeps a socket that answers the foreground probe', async () => {
    const h = setup()
    const s = await connect(h)
    h.p.lifecycle.goBackground()
    h.p.lifecycle.goForeground()
    expect(s.framesOf('ping')).toHaveLength(1)
    s.push({ type: 'pong', serverTime: 5 })
    h.p.timers.advance(5_000)
    expect(s.state).toBe('open')
    expect(h.p.transport.sockets).toHaveLength(1)
  })

  it('waits for the network instead of retrying while offline', async () => {
    const h = setup()
    const s = await connect(h)
    h.p.lifecycle.network(false)
    s.drop(1006)
    expect(h.conn.getStatus().reason).toBe('offline')
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1)
    h.p.lifecycle.network(true)
    await settle()
    expect(h.p.transport.sockets).toHaveLength(2)
  })

  it('shows offline within the probe time when the network drops under an open socket', async () => {
    const h = setup()
    const s = await connect(h)
    h.p.lifecycle.network(false)
    expect(s.framesOf('ping')).toHaveLength(1)
    h.p.timers.advance(5_000) // nothing came back: the socket is dead
    expect(s.state).toBe('closed')
    expect(h.conn.getStatus()).toMatchObject({ state: 'disconnected', reason: 'offline' })
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1) // no retries into a missing network
    h.p.lifecycle.network(true)
    await settle()
    expect(h.p.transport.sockets).toHaveLength(2)
  })

  it('keeps a socket that still answers when the platform reports no network', async () => {
    const h = setup()
    const s = await connect(h)
    h.p.lifecycle.network(false)
    s.push({ type: 'pong', serverTime: 5 })
    h.p.timers.advance(5_000)
    expect(s.state).toBe('open')
    expect(h.conn.getStatus().state).toBe('connected')
  })

  it('probes a socket that looks open when the network returns, and replaces it if it is dead', async () => {
    const h = setup()
    const s1 = await connect(h)
    h.p.lifecycle.network(false)
    h.p.lifecycle.network(true)
    expect(s1.framesOf('ping')).toHaveLength(1)
    h.p.timers.advance(5_000) // nothing came back
    await settle()
    expect(s1.state).toBe('closed')
    expect(h.p.transport.sockets).toHaveLength(2)
    expect(h.conn.getStatus().state).toBe('connecting')
  })

  it('logs and ignores invalid frames without dropping the socket', async () => {
    const h = setup()
    const s = await connect(h)
    s.push('not json')
    s.push({ type: 'msg', m: { nonsense: true } })
    s.push({ type: 'from-the-future' })
    s.push({ type: 'presence', user: 'bob', online: true })
    expect(s.state).toBe('open')
    expect(h.frames).toEqual(['welcome', 'presence'])
  })

  it('stop() closes the socket and stays down', async () => {
    const h = setup()
    const s = await connect(h)
    h.conn.stop()
    expect(s.state).toBe('closed')
    expect(s.closedBy?.code).toBe(1000)
    h.p.timers.advance(60_000)
    expect(h.p.transport.sockets).toHaveLength(1)
    expect(h.conn.getStatus()).toMatchObject({ state: 'disconnected', reason: 'stopped' })
  })
})
