/**
 * An HTTP proxy on 127.0.0.1 that records every request and tunnel attempt and refuses them all
 * (502). Pointing a client at it shows where that client's first network call goes, and proves that
 * none was made when none should be, without any real network.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordingProxy {
  readonly url: string
  /** `CONNECT host:port` for tunnels (https), `METHOD url` for plain requests, in arrival order. */
  readonly seen: readonly string[]
  close(): Promise<void>
}

export async function startRecordingProxy(): Promise<RecordingProxy> {
  const seen: string[] = []
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    res.writeHead(502, { 'content-type': 'text/plain' }).end('refused by the test proxy')
  })
  server.on('connect', (req, socket) => {
    seen.push(`CONNECT ${req.url}`)
    socket.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
