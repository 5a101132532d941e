/**
 * A TCP proxy in front of Redis that a test can cut and restore: a real outage as the BFF sees it
 * (connections reset, new ones refused), without touching the Redis other tests use.
 */
import { createConnection, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export class TcpProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<void> {
    this.server = createServer((client) => {
      const upstream = createConnection(this.targetPort, this.targetHost)
      this.sockets.add(client).add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r))
    this.port = (this.server.address() as AddressInfo).port
  }

  /** Reset every connection and stop listening (the port stays ours to reopen). */
  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    if (server) await new Promise((r) => server.close(r))
  }

  /** Listen again on the same port. */
  restore(): Promise<void> {
    return this.start(this.port)
  }
}
