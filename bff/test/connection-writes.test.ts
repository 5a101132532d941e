/**
 * Connection.write: strings framed by the server itself (gateway/ws-frame.ts) and Buffers through
 * ws, corked for the turn (a group's message, `now`, written at once). A real ws client must read every frame whole and in the order written,
 * whatever its length class (7-bit, 16-bit, 64-bit) and whichever path wrote it; and the
 * slow-consumer bound still counts what the server holds.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocket, WebSocketServer } from 'ws'
import { Connection } from '../src/gateway/connection'
import type { ConnectionLimits } from '../src/gateway/connection'
import { WelcomedConnection } from '../src/gateway/gateway'
import { textFrame } from '../src/gateway/ws-frame'

const limits = (slowConsumerBytes: number, slow: number[]): ConnectionLimits => ({
  rateLimitPerSec: 100,
  rateLimitBurst: 100,
  floodMaxRejects: 10,
  floodWindowMs: 1000,
  slowConsumerBytes,
  countOut: () => {},
  countSlow: (bytes) => void slow.push(bytes),
})

const closers: Array<() => void> = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

/** A server Connection and the client socket at its other end. */
async function pair(slowConsumerBytes = 1 << 30, Kind: typeof Connection = Connection) {
  const http = createServer()
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r))
  const accepted = new Promise<WebSocket>((r) => wss.once('connection', r))
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`, { perMessageDeflate: false })
  const received: string[] = []
  client.on('message', (data) => received.push((data as Buffer).toString()))
  await new Promise((r) => client.once('open', r))
  const slow: number[] = []
  const conn = new Kind(await accepted, 'u1', 's1', limits(slowConsumerBytes, slow), Date.now() + 60_000)
  closers.push(() => {
    client.terminate()
    wss.close()
    http.close()
  })
  return { conn, client, received, slow }
}

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
})
