/**
 * The other side of a conversation in e2e tests and the benchmark: a user on a plain WebSocket
 * speaking the protocol (shared/PROTOCOL.md), logged in through the BFF's dev login.
 */
import WebSocket from 'ws'
import { decodeServerFrame, randomId, type AuthResponse, type ClientFrame, type Conversation, type ServerFrame } from '@chat/shared'

export async function devLogin(baseUrl: string, user: string, name?: string): Promise<AuthResponse> {
  const res = await fetch(`${baseUrl}/auth/dev-login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(name ? { user, name } : { user }),
  })
  if (!res.ok) throw new Error(`dev-login ${user}: HTTP ${res.status} ${await res.text()}`)
  return (await res.json()) as AuthResponse
}

export class Peer {
  readonly frames: ServerFrame[] = []
  private waiters: Array<{ pred: (f: ServerFrame) => boolean; resolve: (f: ServerFrame) => void }> = []

  private constructor(
    readonly auth: AuthResponse,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => {
      const f = decodeServerFrame(data.toString())
      this.frames.push(f)
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(f)) return true
        w.resolve(f)
        return false
      })
    })
  }

  static async connect(baseUrl: string, user: string, name?: string): Promise<Peer> {
    const auth = await devLogin(baseUrl, user, name)
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/ws?v=1&token=${encodeURIComponent(auth.token)}`)
    const peer = new Peer(auth, ws)
    await peer.next((f) => f.type === 'welcome', 10_000)
    return peer
  }

  get id(): string {
    return this.auth.user.id
  }

  raw(frame: ClientFrame): void {
    this.ws.send(JSON.stringify(frame))
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
      return f as Extract<ServerFrame, { type: 'ack' }>
    })
  }

  /** Send without waiting (for paced streams); returns the cid. */
  fire(conv: string, text: string): string {
    const cid = randomId(21)
    this.raw({ type: 'send', cid, conv, kind: 'text', body: { text } })
    return cid
  }

  close(): void {
    this.ws.terminate()
  }
}
