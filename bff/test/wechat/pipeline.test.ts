/**
 * HTTP/1.1 pipelining of WeChat calls (pipeline.ts) against a raw TCP server that plays the other
 * side byte by byte: how requests leave (together, bounded per connection) and every way an answer
 * can be framed or broken. The contract shared with the other transports is in http.test.ts.
 */
import { createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PipelinedHttp } from '../../src/wechat/pipeline'

/** One request as the server read it. */
interface Seen {
  readonly socket: Socket
  readonly path: string
  readonly body: string
}

/** A server that parses pipelined requests and lets the test write whatever bytes it likes. */
class RawServer {
  readonly server: Server
  readonly sockets: Socket[] = []
  readonly requests: Seen[] = []
  /** Sizes of the TCP reads the server got, per socket (how many requests came in one). */
  readonly reads = new Map<Socket, number[]>()
  onRequest: (r: Seen) => void = () => {}
  url = ''

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.push(socket)
      this.reads.set(socket, [])
      let buf = Buffer.alloc(0)
      socket.on('error', () => {})
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk])
        let count = 0
        for (;;) {
          const end = buf.indexOf('\r\n\r\n')
          if (end < 0) break
          const head = buf.toString('latin1', 0, end)
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
          if (buf.length < end + 4 + length) break
          const r = { socket, path: head.split(' ')[1]!, body: buf.toString('utf8', end + 4, end + 4 + length) }
          buf = buf.subarray(end + 4 + length)
          count++
          this.requests.push(r)
          this.onRequest(r)
        }
        this.reads.get(socket)!.push(count)
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise((r) => this.server.close(r))
  }

  /** Wait until `n` requests have arrived in all. */
  async requested(n: number): Promise<void> {
    while (this.requests.length < n) await new Promise((r) => setImmediate(r))
  }
}

const answer = (text: string, extra = '') => `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`

describe('pipelined WeChat calls', () => {
  let raw: RawServer
  let http: PipelinedHttp | undefined
  beforeEach(async () => {
    raw = await new RawServer().start()
  })
  afterEach(async () => {
    await http?.close()
    http = undefined
    await raw.stop()
  })

  it('sends the calls of one turn on one connection in one write, and matches answers read together to their calls', async () => {
    http = new PipelinedHttp({ depth: 16 })
    const calls = Array.from({ length: 10 }, (_, i) => http!.post(`${raw.url}/wxa/msg_sec_check?access_token=T`, JSON.stringify({ i, text: `文本${i}` }), 2000))
    await raw.requested(10)
    expect(raw.sockets).toHaveLength(1)
    expect(raw.reads.get(raw.sockets[0]!)).toEqual([10])
    expect(raw.requests.map((r) => r.path)).toEqual(Array.from({ length: 10 }, () => '/wxa/msg_sec_check?access_token=T'))
    expect(raw.requests.map((r) => JSON.parse(r.body) as unknown)).toEqual(Array.from({ length: 10 }, (_, i) => ({ i, text: `文本${i}` })))
    // All ten answers in one write; the last one split across two writes.
    const all = raw.requests.map((r) => answer(JSON.stringify({ echo: (JSON.parse(r.body) as { i: number }).i }))).join('')
    raw.sockets[0]!.write(all.slice(0, all.length - 5))
    await new Promise((r) => setTimeout(r, 20))
    raw.sockets[0]!.write(all.slice(all.length - 5))
    const answers = await Promise.all(calls)
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 10 }, () => 200))
    expect(answers.map((a) => JSON.parse(a.text) as unknown)).toEqual(Array.from({ length: 10 }, (_, i) => ({ echo: i })))
  })

  it('keeps at most `depth` calls on a connection and `connections` connections; the rest wait in order for a place', async () => {
    http = new PipelinedHttp({ depth: 2, connections: 2 })
    // Each call answered 10 ms after it arrives; the server counts what is in flight per connection.
    let most = 0
    const inFlight = new Map<Socket, number>()
    raw.onRequest = (r) => {
      inFlight.set(r.socket, (inFlight.get(r.socket) ?? 0) + 1)
      most = Math.max(most, inFlight.get(r.socket)!)
      setTimeout(() => {
        inFlight.set(r.socket, inFlight.get(r.socket)! - 1)
        r.socket.write(answer(r.body))
      }, 10)
    }
    const answers = await Promise.all(Array.from({ length: 9 }, (_, i) => http!.post(`${raw.url}/x`, String(i), 2000)))
    expect(answers.map((a) => a.text)).toEqual(Array.from({ length: 9 }, (_, i) => String(i)))
    expect(raw.sockets).toHaveLength(2)
    expect(most).toBe(2)
    // First come, first served: the calls reached the server in the order they were made.
    expect(raw.requests.map((r) => Number(r.body))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('reads chunked answers, answers that end with the connection, and skips 100 Continue', async () => {
    http = new PipelinedHttp({ depth: 4 })
    const chunked = http.post(`${raw.url}/a`, '{}', 2000)
    const cont = http.post(`${raw.url}/b`, '{}', 2000)
    await raw.requested(2)
    const s = raw.sockets[0]!
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;x=1\r\n{"a":\r\n')
    s.write('4\r\n"é"\r\n1\r\n}\r\n0\r\n\r\n')
    s.write('HTTP/1.1 100 Continue\r\n\r\n' + answer('{"b":1}'))
    expect(await chunked).toEqual({ status: 200, text: '{"a":"é"}' })
    expect(await cont).toEqual({ status: 200, text: '{"b":1}' })
    const untilClose = http.post(`${raw.url}/c`, '{}', 2000)
    await raw.requested(3)
    s.end('HTTP/1.1 503 Service Unavailable\r\n\r\nbusy')
    expect(await untilClose).toEqual({ status: 503, text: 'busy' })
    // The next call opens a new connection.
    const again = http.post(`${raw.url}/d`, '{}', 2000)
    await raw.requested(4)
    expect(raw.sockets).toHaveLength(2)
    raw.sockets[1]!.write(answer('{"d":1}'))
    expect((await again).text).toBe('{"d":1}')
  })

  it('after `connection: close` fails the calls behind that answer (the caller retries them) and goes on on a new connection', async () => {
    http = new PipelinedHttp({ depth: 4 })
    const calls = [0, 1, 2].map((i) => http!.post(`${raw.url}/x`, String(i), 2000).then((a) => a.text, (e: Error) => e.message))
    await raw.requested(3)
    raw.sockets[0]!.write(answer('first', 'connection: close\r\n'))
    expect(await Promise.all(calls)).toEqual(['first', 'connection closed by WeChat', 'connection closed by WeChat'])
    const next = http.post(`${raw.url}/x`, 'next', 2000)
    await raw.requested(4)
    expect(raw.sockets).toHaveLength(2)
    raw.sockets[1]!.write(answer('ok'))
    expect((await next).text).toBe('ok')
  })

  it('fails every call of a connection on a malformed answer, an answer over maxBytes or a reset, and goes on after', async () => {
    http = new PipelinedHttp({ depth: 4, maxBytes: 100 })
    const bad = [http.post(`${raw.url}/x`, '1', 2000), http.post(`${raw.url}/x`, '2', 2000)]
    await raw.requested(2)
    raw.sockets[0]!.write('SMTP ready\r\n\r\n')
    for (const c of bad) await expect(c).rejects.toThrow('malformed answer')

    const big = http.post(`${raw.url}/x`, '3', 2000)
    await raw.requested(3)
    raw.sockets[1]!.write(`HTTP/1.1 200 OK\r\ncontent-length: 101\r\n\r\n`)
    await expect(big).rejects.toThrow('answer over 100 bytes')

    const bigChunks = http.post(`${raw.url}/x`, '4', 2000)
    await raw.requested(4)
    raw.sockets[2]!.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n${'x'.repeat(64)}\r\n40\r\n`)
    await expect(bigChunks).rejects.toThrow('answer over 100 bytes')

    const reset = http.post(`${raw.url}/x`, '5', 2000)
    await raw.requested(5)
    raw.sockets[3]!.resetAndDestroy()
    await expect(reset).rejects.toThrow(/ECONNRESET|connection closed/)

    const fine = http.post(`${raw.url}/x`, '6', 2000)
    await raw.requested(6)
    raw.sockets[4]!.write(answer('fine'))
    expect((await fine).text).toBe('fine')
  })

  it('times out a connection whose oldest call is not answered in time: its calls fail, later calls get a new one', async () => {
    http = new PipelinedHttp({ depth: 4 })
    const t0 = Date.now()
    const slow = [http.post(`${raw.url}/x`, '1', 150), http.post(`${raw.url}/x`, '2', 150)]
    for (const c of slow) await expect(c).rejects.toThrow(/timeout/)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140)
    const next = http.post(`${raw.url}/x`, '3', 2000)
    await raw.requested(3)
    expect(raw.sockets).toHaveLength(2)
    raw.sockets[1]!.write(answer('3'))
    expect((await next).text).toBe('3')
  })

  it('close fails the calls in flight and waiting, and refuses new ones', async () => {
    http = new PipelinedHttp({ depth: 1, connections: 1 })
    const first = http.post(`${raw.url}/x`, '1', 2000)
    const waiting = http.post(`${raw.url}/x`, '2', 2000)
    await raw.requested(1)
    const failed = Promise.all([expect(first).rejects.toThrow('WeChat HTTP closed'), expect(waiting).rejects.toThrow('WeChat HTTP closed')])
    await http.close()
    await failed
    await expect(http.post(`${raw.url}/x`, '3', 2000)).rejects.toThrow('WeChat HTTP closed')
    expect(raw.requests).toHaveLength(1)
  })
})
