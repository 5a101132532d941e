/**
 * A TCP proxy that behaves like a phone's link, for the upload benchmark: this machine has no netem
 * (`tc qdisc ... netem` is unknown here), and a loopback benchmark measures a request's fixed cost,
 * which no phone sees, instead of round trips and bandwidth, which decide there.
 *
 * Each direction is a serial link: bytes read from one side are cut into pieces of `PIECE_BYTES`,
 * each piece occupies the link for its size at the direction's bandwidth (after the previous piece),
 * then arrives `delayMs` (one way) later, plus a jitter drawn uniformly from [-jitterMs/2, +jitterMs/2]
 * per piece; pieces never overtake each other (TCP delivers in order, so a late piece holds back the
 * ones behind it). Connection set-up costs one round trip. When more than `bufferMs` worth of bytes
 * wait for the link, the proxy stops reading from the sender (the socket is paused), so the sender's
 * kernel buffers fill and its writes wait, as on a real bottleneck with a bounded queue.
 */
import net from 'node:net'
import type { AddressInfo } from 'node:net'

export interface LinkProfile {
  readonly name: string
  /** Round-trip time, ms (half of it each way). */
  readonly rttMs: number
  /** Uplink (client -> server), bits per second. */
  readonly upBps: number
  /** Downlink (server -> client), bits per second. */
  readonly downBps: number
  /** Spread of the one-way delay per piece, ms (uniform, centred on rttMs / 2). */
  readonly jitterMs: number
}

/**
 * The profiles. Downlinks are not given there; an answer here is a few hundred bytes, so they
 * hardly matter: typical figures for each (4G about 50 Mbit/s, a weak cell a few Mbit/s).
 */
export const PROFILES: Readonly<Record<'4G' | 'weak', LinkProfile>> = {
  '4G': { name: '4G', rttMs: 60, upBps: 20e6, downBps: 50e6, jitterMs: 0 },
  weak: { name: 'weak', rttMs: 200, upBps: 2e6, downBps: 4e6, jitterMs: 50 },
}

/** Granularity of the link model, bytes: a 16 KiB piece is 6.6 ms at 20 Mbit/s, 66 ms at 2 Mbit/s. */
const PIECE_BYTES = 16 * 1024
/** Queue in front of the link, ms of its bandwidth, before the sender is paused. */
const BUFFER_MS = 100

export interface ShapingProxy {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

export async function startShapingProxy(target: { host: string; port: number }, profile: LinkProfile, random: () => number = Math.random): Promise<ShapingProxy> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    client.setNoDelay(true)
    client.pause()
    sockets.add(client)
    client.once('close', () => sockets.delete(client))
    // The TCP handshake: one round trip before the first byte can go.
    setTimeout(() => {
      if (client.destroyed) return
      const upstream = net.connect(target.port, target.host)
      upstream.setNoDelay(true)
      sockets.add(upstream)
      upstream.once('close', () => sockets.delete(upstream))
      upstream.once('connect', () => {
        shape(client, upstream, profile.upBps, profile, random)
        shape(upstream, client, profile.downBps, profile, random)
        client.resume()
      })
      const end = (): void => {
        client.destroy()
        upstream.destroy()
      }
      upstream.once('error', end)
      client.once('error', end)
    }, profile.rttMs)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}

/** One direction: `from`'s bytes reach `to` as over a serial link of `bps` with the profile's delay. */
function shape(from: net.Socket, to: net.Socket, bps: number, profile: LinkProfile, random: () => number): void {
  const bytesPerMs = bps / 8 / 1000
  const oneWayMs = profile.rttMs / 2
  /** When the link has finished sending what it was given (ms, performance.now()). */
  let linkFreeAt = 0
  /** When the last piece is delivered: no piece overtakes it. */
  let lastArrival = 0
  let pending = 0
  let ended = false
  const bufferBytes = Math.max(PIECE_BYTES, BUFFER_MS * bytesPerMs)

  from.on('data', (data: Buffer) => {
    for (let i = 0; i < data.length; i += PIECE_BYTES) {
      const piece = data.subarray(i, Math.min(i + PIECE_BYTES, data.length))
      const now = performance.now()
      linkFreeAt = Math.max(now, linkFreeAt) + piece.length / bytesPerMs
      const jitter = profile.jitterMs > 0 ? (random() - 0.5) * profile.jitterMs : 0
      const arrival = Math.max(lastArrival, linkFreeAt + oneWayMs + jitter)
      lastArrival = arrival
      pending++
      setTimeout(() => {
        pending--
        if (!to.destroyed) to.write(piece)
        if (ended && pending === 0) to.end()
      }, arrival - now)
    }
    // Bytes still waiting for the link beyond the queue: stop reading until it has room again.
    const queuedBytes = (linkFreeAt - performance.now()) * bytesPerMs
    if (queuedBytes > bufferBytes) {
      from.pause()
      setTimeout(() => from.resume(), (queuedBytes - bufferBytes) / bytesPerMs)
    }
  })
  from.once('end', () => {
    ended = true
    if (pending === 0) to.end()
  })
}
