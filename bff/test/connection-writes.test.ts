/**
 * Connection.write: strings framed by the server itself (gateway/ws-frame.ts) and Buffers through
 * ws, corked for the turn (a group's message, `now`, written at once). A real ws client must read every frame whole and in the order written,
 * whatever its length class (7-bit, 16-bit, 64-bit) and whichever path wrote it; and the
 * slow-consumer bound still counts what the server holds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { ACK_HOLD_MAX, Connection } from '../src/gateway/connection'
import type { ConnectionLimits } from '../src/gateway/connection'
import { WelcomedConnection } from '../src/gateway/gateway'
import { textFrame } from '../src/gateway/ws-frame'

const limits = (slowConsumerBytes: number, slow: number[], ackWindowMs = 0, acked: number[] = []): ConnectionLimits => ({
  rateLimitPerSec: 100,
  rateLimitBurst: 100,
  floodMaxRejects: 10,
  floodWindowMs: 1000,
  slowConsumerBytes,
  ackWindowMs,
  acked: (t) => void acked.push(t),
  countOut: () => {},
  countSlow: (bytes) => void slow.push(bytes),
})

const closers: Array<() => void> = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** A server Connection and the client socket at its other end. */
async function pair(slowConsumerBytes = 1 << 30, Kind: typeof Connection = Connection, ackWindowMs = 0) {
  const http = createServer()
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', r))
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, { perMessageDeflate: false })
  const received: string[] = []
  client.on('message', (data) => received.push((data as Buffer).toString()))
  await new Promise((r) => client.once('open', r))
  const slow: number[] = []
  const acked: number[] = []
  const conn = new Kind(await accepted, 'u1', 's1', limits(slowConsumerBytes, slow, ackWindowMs, acked), Date.now() + 60_000)
  closers.push(() => {
    client.terminate()
    wss.close()
    http.close()
  })
  return { conn, client, received, slow, acked }
}

/** The socket writes of `conn` (frames handed to its net.Socket), each with the number of writes made before it in the same synchronous run. */
function countWrites(conn: Connection): { count: number; runs: number[] } {
  const socket = (conn.ws as unknown as { _socket: { write(chunk: unknown): boolean } })._socket
  const write = socket.write.bind(socket)
  const seen = { count: 0, runs: [] as number[] }
  let run = 0
  socket.write = (chunk: unknown) => {
    seen.count++
    if (run++ === 0) queueMicrotask(() => void (seen.runs.push(run), (run = 0)))
    return write(chunk)
  }
  return seen
}

const turn = () => new Promise((r) => setImmediate(r))

describe('connection writes', () => {
  it('frames text of every length class as ws would read it', () => {
    for (const n of [0, 1, 125, 126, 65535, 65536, 300_000]) {
      const text = 'x'.repeat(n)
      const frame = textFrame(text)
      const head = n < 126 ? 2 : n < 65536 ? 4 : 10
      // FIN + text, unmasked; the length in 7 bits, or 126 + 16 bits, or 127 + 64 bits (RFC 6455, 5.2).
      expect([frame[0], frame[1]]).toEqual([0x81, head === 2 ? n : head === 4 ? 126 : 127])
      const len = head === 2 ? frame[1] : head === 4 ? frame.readUInt16BE(2) : Number(frame.readBigUInt64BE(2))
      expect(len).toBe(n)
      expect(frame.subarray(head).toString()).toBe(text)
    }
  })

  it('delivers every frame whole and in write order, strings framed here and Buffers through ws, in one turn and across turns', async () => {
    const { conn, received } = await pair()
    const texts = ['short', 'é'.repeat(100), '{"t":"你好 🎉"}', 'y'.repeat(70_000), 'z'.repeat(126)]
    const want: string[] = []
    for (let round = 0; round < 3; round++) {
      // One turn: strings and a shared Buffer interleaved, all corked together.
      for (const t of texts) {
        const s = `${round}:${t}`
        expect(conn.write(s)).toBe(true)
        want.push(s)
        const b = `${round}:buffer:${t.length}`
        expect(conn.write(Buffer.from(b))).toBe(true)
        want.push(b)
      }
      await new Promise((r) => setImmediate(r))
    }
    await expect.poll(() => received.length).toBe(want.length)
    expect(received).toEqual(want)
  })

  it.each([
    ['a Connection', Connection],
    // The gateway's own (every client's): it once dropped `now`, so a group's frame waited for the turn.
    ['a welcomed connection', WelcomedConnection],
  ])('writes a `now` frame (a group\'s message) at once on %s, not held for the turn, and behind what the turn already holds', async (_, Kind) => {
    const { conn, received } = await pair(1 << 30, Kind)
    if (conn instanceof WelcomedConnection) {
      conn.holdUntilWelcome(1 << 20)
      expect(conn.welcome('welcome')).toBe(true)
      await expect.poll(() => received).toEqual(['welcome'])
      received.length = 0
    }
    const socket = (conn.ws as unknown as { _socket: { writableCorked: number } })._socket
    expect(conn.write(Buffer.from('group 1'), true)).toBe(true)
    // Handed to the socket: nothing corked until the end of the turn.
    expect(socket.writableCorked).toBe(0)
    expect(conn.write('ack')).toBe(true)
    expect(socket.writableCorked).toBe(1)
    expect(conn.write(Buffer.from('group 2'), true)).toBe(true)
    await new Promise((r) => setImmediate(r))
    expect(socket.writableCorked).toBe(0)
    await expect.poll(() => received.length).toBe(3)
    expect(received).toEqual(['group 1', 'ack', 'group 2'])
  })

  it('frames a Buffer shared by many sockets (a group\'s message) once: every socket is written the same frame', async () => {
    const a = await pair()
    const b = await pair()
    const frames: unknown[] = []
    for (const { conn } of [a, b]) {
      const socket = (conn.ws as unknown as { _socket: { write(chunk: unknown): boolean } })._socket
      const write = socket.write.bind(socket)
      socket.write = (chunk: unknown) => {
        frames.push(chunk)
        return write(chunk)
      }
    }
    const shared = Buffer.from('{"type":"msg","m":"é"}')
    const other = Buffer.from('other')
    expect(a.conn.write(shared, true)).toBe(true)
    expect(b.conn.write(shared, true)).toBe(true)
    expect(a.conn.write(other, true)).toBe(true)
    expect(b.conn.write(shared, true)).toBe(true)
    // One frame object for the run of `shared`; another Buffer in between frames it again.
    expect(frames).toHaveLength(4)
    expect(frames[1]).toBe(frames[0])
    expect(frames[2]).not.toBe(frames[0])
    expect(frames[3]).not.toBe(frames[0])
    expect(frames[3]).toEqual(frames[0])
    await expect.poll(() => b.received.length).toBe(2)
    expect(a.received).toEqual([shared.toString(), 'other'])
    expect(b.received).toEqual([shared.toString(), shared.toString()])
  })

  it('still cuts a reader past the unsent-bytes bound, counting the bytes framed here', async () => {
    const { conn, client, slow } = await pair(256 * 1024)
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)))
    ;(client as unknown as { _socket: { pause(): void } })._socket.pause()
    const big = 'w'.repeat(60_000)
    let written = 0
    // Written turn after turn until the bound refuses one (the kernel's buffers take the first ones).
    while (conn.write(big)) {
      written++
      await new Promise((r) => setImmediate(r))
      expect(written).toBeLessThan(10_000)
    }
    expect(slow).toHaveLength(1)
    expect(slow[0]).toBeGreaterThan(256 * 1024)
    expect(conn.write('after')).toBe(false)
    ;(client as unknown as { _socket: { resume(): void } })._socket.resume()
    expect(await closed).toBe(4009)
  })

  describe('the ack window', () => {
    it('writes the first ack at once and those within the window after it together, in order, with their latency observed when written', async () => {
      const { conn, received, acked } = await pair(1 << 30, Connection, 150)
      const writes = countWrites(conn)
      // The window's clock held still (the timer and the sockets stay real): however slow the
      // machine, the burst below falls within the window of the first ack.
      const clock = vi.spyOn(performance, 'now').mockReturnValue(1_000_000)
      try {
        conn.ack('ack 0', 1)
        await expect.poll(() => received).toEqual(['ack 0'])
        expect(acked).toEqual([1])
        for (let i = 1; i < 10; i++) conn.ack(`ack ${i}`, 1 + i)
        // Held: nothing more handed to the socket.
        expect(writes.count).toBe(1)
      } finally {
        clock.mockRestore()
      }
      // The window's end (its timer, 150 ms): all of them, in order, in one synchronous run (one turn: one socket write).
      await expect.poll(() => received.length).toBe(10)
      expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `ack ${i}`))
      expect(writes.runs).toEqual([1, 9])
      expect(acked).toEqual(Array.from({ length: 10 }, (_, i) => 1 + i))
    })

    it('never puts a held ack behind a later frame: any other frame takes the held acks first, without waiting for the window', async () => {
      const { conn, received } = await pair(1 << 30, Connection, 60_000)
      conn.ack('ack 1', 0)
      conn.ack('ack 2', 0)
      conn.ack('ack 3', 0)
      expect(conn.write('msg')).toBe(true)
      conn.ack('ack 4', 0)
      expect(conn.reply('convs', 'convs')).toBe(true)
      await expect.poll(() => received).toEqual(['ack 1', 'ack 2', 'ack 3', 'msg', 'ack 4', 'convs'])
      // `replyAndDrain` (a sync's batches) too.
      conn.ack('ack 5', 0)
      expect(await conn.replyAndDrain('messages', 'messages')).toBe(true)
      await expect.poll(() => received.slice(6)).toEqual(['ack 5', 'messages'])
    })

    it('writes held acks before a close frame', async () => {
      const { conn, client, received } = await pair(1 << 30, Connection, 60_000)
      const closed = new Promise<number>((r) => client.once('close', (code) => r(code)))
      conn.ack('ack 1', 0)
      conn.ack('ack 2', 0)
      conn.close(1012, 'SHUTTING_DOWN')
      expect(await closed).toBe(1012)
      expect(received).toEqual(['ack 1', 'ack 2'])
    })

    it(`holds at most ACK_HOLD_MAX (${ACK_HOLD_MAX}) acks: past it they leave at once`, async () => {
      const { conn, received, acked } = await pair(1 << 30, Connection, 60_000)
      const writes = countWrites(conn)
      conn.ack('ack 0', 0)
      await turn()
      for (let i = 1; i <= ACK_HOLD_MAX; i++) conn.ack(`ack ${i}`, i)
      await expect.poll(() => received.length).toBe(ACK_HOLD_MAX + 1)
      expect(writes.runs).toEqual([1, ACK_HOLD_MAX])
      expect(acked).toHaveLength(ACK_HOLD_MAX + 1)
      // The next one starts a window again: held.
      conn.ack('next', 0)
      for (let i = 0; i < 3; i++) await turn()
      expect(writes.count).toBe(ACK_HOLD_MAX + 1)
    })

    it('measures the window across any uptime (its clock wraps at 2^30 ms, 12 days)', async () => {
      const { conn, received } = await pair(1 << 30, Connection, 150)
      const writes = countWrites(conn)
      const now = vi.spyOn(performance, 'now')
      try {
        // 24.8 days after the process started, then 70 ms later across 2^31 ms.
        now.mockReturnValue(2 ** 31 - 50)
        conn.ack('ack 1', 0)
        now.mockReturnValue(2 ** 31 + 20)
        conn.ack('ack 2', 0)
        expect(writes.count).toBe(1)
        // A window later (in the process clock), after its end was written: the next leaves at once.
        now.mockReturnValue(2 ** 31 + 20 + 150)
        conn.flushAcks()
        now.mockReturnValue(2 ** 31 + 20 + 150 + 151)
        conn.ack('ack 3', 0)
        expect(writes.count).toBe(3)
      } finally {
        now.mockRestore()
      }
      await expect.poll(() => received).toEqual(['ack 1', 'ack 2', 'ack 3'])
    })

    it('with a window of 0 writes each ack in the turn it was made', async () => {
      const { conn, received } = await pair(1 << 30, Connection, 0)
      const writes = countWrites(conn)
      for (let i = 0; i < 5; i++) {
        conn.ack(`ack ${i}`, 0)
        expect(writes.count).toBe(i + 1)
      }
      await expect.poll(() => received.length).toBe(5)
    })

    it('drops held acks of a socket closed by its peer, and writes nothing to it', async () => {
      const { conn, client, received, acked } = await pair(1 << 30, Connection, 60_000)
      conn.ack('ack 1', 0)
      conn.ack('ack 2', 0)
      await expect.poll(() => received).toEqual(['ack 1'])
      client.close()
      await expect.poll(() => conn.open).toBe(false)
      // The window's end (its timer's work) writes nothing: the client retries its send, same
      // cid, on its next connection, and is answered as a duplicate.
      conn.flushAcks()
      expect(acked).toHaveLength(1)
      expect(received).toEqual(['ack 1'])
    })
  })
})
