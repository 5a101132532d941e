/**
 * The HTTP transports of WeChat calls (http.ts, pipeline.ts): the same contract on the event loop,
 * on worker threads and pipelined, against a real local server that answers each request as the test says.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WX_ANSWER_MAX_BYTES, WxHttpThreads, inThreadHttp, wxAgent } from '../../src/wechat/http'
import type { WxHttp } from '../../src/wechat/http'
import { PipelinedHttp } from '../../src/wechat/pipeline'

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void

describe('WeChat HTTP transports', () => {
  let url = ''
  const routes = new Map<string, Handler>()
  const hanging: ServerResponse[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!
      const h = routes.get(path)
      if (!h) return void res.writeHead(404).end('{}')
      h(req, body, res)
    })
  })

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    // Echoes what it was sent, with the query, after a delay taken from the body.
    routes.set('/echo', (req, body, res) => {
      const wait = (JSON.parse(body) as { wait?: number }).wait ?? 0
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ body: JSON.parse(body) as unknown, url: req.url, type: req.headers['content-type'] })), wait)
    })
    routes.set('/fail', (_req, _body, res) => res.writeHead(502).end('bad gateway'))
    routes.set('/hang', (_req, _body, res) => void hanging.push(res))
    routes.set('/huge', (_req, _body, res) => res.writeHead(200).end('x'.repeat(WX_ANSWER_MAX_BYTES + 1)))
  })
  afterAll(async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  const transports: Array<[string, () => WxHttp]> = [
    ['on the event loop', () => inThreadHttp(wxAgent())],
    ['on one worker thread', () => new WxHttpThreads({ threads: 1 })],
    ['on two worker threads', () => new WxHttpThreads({ threads: 2 })],
    ['on a worker thread, calls and answers gathered for 5 ms', () => new WxHttpThreads({ threads: 1, batchMs: 5 })],
    ['pipelined, 16 a connection', () => new PipelinedHttp({ depth: 16 })],
    // 20 calls at once on 2 x 3 places: the others wait for a place.
    ['pipelined, 3 a connection on 2 connections', () => new PipelinedHttp({ depth: 3, connections: 2 })],
  ]

  describe.each(transports)('%s', (_name, make) => {
    let http: WxHttp
    beforeAll(() => {
      http = make()
    })
    afterAll(async () => {
      await http.close()
    })

    it('posts the JSON text with its query and content type, and answers with the status and text of each call', async () => {
      // Calls made in one turn, answered in the reverse order: each gets its own answer.
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => http.post(`${url}/echo?access_token=T${i}`, JSON.stringify({ i, wait: 40 - 2 * i, text: `文本 ${i}` }), 2000)))
      expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200))
      expect(answers.map((a) => JSON.parse(a.text) as unknown)).toEqual(
        Array.from({ length: 20 }, (_, i) => ({ body: { i, wait: 40 - 2 * i, text: `文本 ${i}` }, url: `/echo?access_token=T${i}`, type: 'application/json' })),
      )
    })

    it('answers a 5xx with its status (the caller decides), and fails on no answer within the timeout', async () => {
      expect(await http.post(`${url}/fail`, '{}', 2000)).toEqual({ status: 502, text: 'bad gateway' })
      const t0 = Date.now()
      await expect(http.post(`${url}/hang`, '{}', 150)).rejects.toThrow(/timeout/i)
      const took = Date.now() - t0
      expect(took).toBeGreaterThanOrEqual(140)
      expect(took).toBeLessThan(2000)
    })

    it('fails on a refused connection and on an answer over WX_ANSWER_MAX_BYTES', async () => {
      const closed = createServer()
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
      const port = (closed.address() as AddressInfo).port
      await new Promise((r) => closed.close(r))
      await expect(http.post(`http://127.0.0.1:${port}/x`, '{}', 2000)).rejects.toThrow(/ECONNREFUSED|connect/i)
      await expect(http.post(`${url}/huge`, '{}', 2000)).rejects.toThrow(`answer over ${WX_ANSWER_MAX_BYTES} bytes`)
    })
  })

  it('worker threads: close fails the calls in flight and refuses new ones', async () => {
    const http = new WxHttpThreads({ threads: 1 })
    expect((await http.post(`${url}/echo`, '{}', 2000)).status).toBe(200)
    const inFlight = http.post(`${url}/hang`, '{}', 10_000)
    // The call has reached the server (so it is in the thread, not in the queue) before the close.
    const seen = hanging.length
    const reached = async () => {
      while (hanging.length === seen) await new Promise((r) => setImmediate(r))
    }
    await reached()
    const failed = expect(inFlight).rejects.toThrow('WeChat HTTP threads closed')
    await http.close()
    await failed
    await expect(http.post(`${url}/echo`, '{}', 2000)).rejects.toThrow('WeChat HTTP threads closed')
  })

  it('worker threads: a thread that dies fails its calls, is reported, and the next call starts a new one', async () => {
    const errors: Error[] = []
    const http = new WxHttpThreads({ threads: 1, onThreadError: (e) => errors.push(e) })
    try {
      expect((await http.post(`${url}/echo`, '{}', 2000)).status).toBe(200)
      const seen = hanging.length
      const inFlight = http.post(`${url}/hang`, '{}', 10_000)
      while (hanging.length === seen) await new Promise((r) => setImmediate(r))
      // The thread's own end, as a crash would end it.
      const failed = expect(inFlight).rejects.toThrow(/WeChat HTTP thread exited/)
      await (http as unknown as { threads: Array<{ worker: { terminate(): Promise<number> } }> }).threads[0]!.worker.terminate()
      await failed
      expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/WeChat HTTP thread exited/)])
      expect(JSON.parse((await http.post(`${url}/echo`, JSON.stringify({ again: true }), 2000)).text)).toMatchObject({ body: { again: true } })
    } finally {
      await http.close()
    }
  })
})
