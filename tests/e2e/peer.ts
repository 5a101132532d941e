/**
 * The other side of a conversation in e2e tests and the benchmark: a user scripted frame by frame
 * (shared/PROTOCOL.md) over the test kit's protocol socket (bff/test/support/client.ts, which
 * validates every frame), logged in with the kit's dev login.
 */
import { randomId, type AuthResponse, type ClientFrame, type Conversation, type ServerFrame } from '@chat/shared'
import { devLogin, TestClient } from '../../bff/test/support/client'

export class Peer {
  private waiters: Array<{ pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }> = []

  private constructor(
    readonly auth: AuthResponse,
    private readonly socket: TestClient,
  ) {
    // After the kit's own listener: the frame is in `frames` already.
    socket.ws.on('message', () => {
      const f = socket.frames.at(-1)
      if (!f) return
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true
        w.resolve(f)
        return false
      })
    })
  }

  static async connect(baseUrl: string, user: string, name?: string): Promise<Peer> {
    const auth = await devLogin(baseUrl, user, name)
    const peer = new Peer(auth, await TestClient.connect(baseUrl, auth.token))
    await peer.next((f) => f.type === 'welcome', 10_000, 0)
    return peer
  }

  /** Every valid frame received, in order. */
  get frames(): readonly ServerFrame[] {
    return this.socket.frames
  }

  get id(): string {
    return this.auth.user.id
  }

  raw(frame: ClientFrame): void {
    this.socket.send(frame)
  }

  /** The next frame matching `pred` (or one already received since `from`). */
  next<T extends ServerFrame>(pred: (f: ServerFrame) => boolean, timeoutMs = 10_000, from?: number): Promise<T> {
    if (from !== undefined) {
      const seen = this.frames.slice(from).find(pred)
      if (seen) return Promise.resolve(seen as T)
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer ${this.id}: no matching frame in ${timeoutMs} ms`)), timeoutMs)
      this.waiters.push({
        pred,
        resolve: (f) => {
          clearTimeout(timer)
          resolve(f as T)
        },
      })
    })
  }

  async direct(other: string): Promise<Conversation> {
    const rid = randomId(10)
    const from = this.frames.length
    this.raw({ type: 'conv.create', rid, kind: 'direct', members: [other] })
    const f = await this.next<Extract<ServerFrame, { type: 'conv' }>>((x) => x.type === 'conv' && x.rid === rid, 10_000, from)
    return f.conv
  }

  /** Send a text and wait for its ack. */
  async say(conv: string, text: string): Promise<Extract<ServerFrame, { type: 'ack' }>> {
    const cid = randomId(21)
    const from = this.frames.length
    this.raw({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return this.next((f) => (f.type === 'ack' && f.cid === cid) || (f.type === 'error' && f.cid === cid), 10_000, from).then((f) => {
      if (f.type !== 'ack') throw new Error(`send refused: ${JSON.stringify(f)}`)
      return f
    })
  }

  /** Send without waiting (for paced streams); returns the cid. */
  fire(conv: string, text: string): string {
    const cid = randomId(21)
    this.raw({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return cid
  }

  close(): void {
    this.socket.ws.terminate()
  }
}
