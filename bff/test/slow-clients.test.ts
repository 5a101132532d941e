/**
 * Slow senders (slowloris): a connection that sends nothing, trickles its headers, or trickles a
 * body past its length's worth of time is answered 408 and closed after HTTP_HEADERS_TIMEOUT_MS /
 * HTTP_REQUEST_TIMEOUT_MS, so it cannot hold a socket; an upgraded WebSocket is not bound by them.
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningServer } from '../src/app'
import { ConfigError } from '../src/env'
import { connectUser } from './support/client'
import { startTestServer, testConfig } from './support/server'

const HEADERS_MS = 300
const REQUEST_MS = 1000
let server: RunningServer

beforeAll(async () => {
  server = await startTestServer({ HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS), HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_MS) })
})
afterAll(async () => {
  await server?.close()
})

/** A raw connection to the server: what it received, and when it was closed (ms after opening). */
function raw(): Promise<{ socket: Socket; closed: Promise<{ received: string; afterMs: number }> }> {
  const { port } = new URL(server.url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1')
    const opened = Date.now()
    let received = ''
    socket.on('data', (d: Buffer) => (received += d.toString()))
    const closed = new Promise<{ received: string; afterMs: number }>((r) => socket.on('close', () => r({ received, afterMs: Date.now() - opened })))
    socket.once('connect', () => resolve({ socket, closed }))
    socket.once('error', reject)
  })
}

/** Writes `text` one character every `everyMs` until the socket closes. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return void clearInterval(timer)
    socket.write(text[i++]!)
  }, everyMs)
  socket.on('close', () => clearInterval(timer))
}

describe('slow senders', () => {
  it('closes a connection that sends nothing', async () => {
    const { closed } = await raw()
    const { afterMs } = await closed
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_MS - 50)
  })

  it('answers 408 to headers trickled past HTTP_HEADERS_TIMEOUT_MS, and closes', async () => {
    const { socket, closed } = await raw()
    socket.write('GET /healthz HTTP/1.1\r\nHost: a\r\n')
    trickle(socket, `X-Slow: ${'a'.repeat(10_000)}\r\n`, 20)
    const { received, afterMs } = await closed
    expect(received).toMatch(/^HTTP\/1\.1 408/)
    expect(afterMs).toBeGreaterThanOrEqual(HEADERS_MS - 50)
  })

  it('answers 408 to a body trickled past HTTP_REQUEST_TIMEOUT_MS (an upgrade too, if its headers trickle)', async () => {
    const { socket, closed } = await raw()
    socket.write('POST /auth/dev-login HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"user":')
    trickle(socket, '"'.repeat(5000), 20)
    const { received, afterMs } = await closed
    expect(received).toMatch(/^HTTP\/1\.1 408/)
    expect(afterMs).toBeGreaterThanOrEqual(REQUEST_MS - 50)

    const upgrade = await raw()
    upgrade.socket.write('GET /ws?v=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')
    trickle(upgrade.socket, 'Sec-WebSocket-Version: 13\r\n', 200)
    expect((await upgrade.closed).received).toMatch(/^HTTP\/1\.1 408/)
  })

  it('leaves an upgraded WebSocket alone past both timeouts, and serves requests meanwhile', async () => {
    const { client } = await connectUser(server.url, 'slowann')
    // Asserting an absence: the socket is still open well after the request timeout has passed.
    await new Promise((r) => setTimeout(r, REQUEST_MS * 2.5))
    client.send({ type: 'ping', ts: 1 })
    expect((await client.nextOf('pong')).ts).toBe(1)
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    await client.close()
  })

  it('refuses a request timeout shorter than the headers timeout', () => {
    expect(() => testConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '2000' })).toThrow(ConfigError)
  })
})
