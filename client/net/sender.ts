/**
 * Sending: every message is shown at once as pending, kept in the outbox (persisted) and sent with
 * its cid; after every `welcome` the whole outbox goes out again (the server answers a repeated cid
 * with the original ack, `dup: true`, so nothing is stored twice). A temporary refusal is retried
 * with backoff under the same cid; a final one marks the message failed.
 */
import { backoffDelay, LIMITS, randomId, type ConvId, type ForwardRef, type SendTextBody, type ServerFrameOf, type UserId } from '@chat/shared'
import type { KeyValueStorage, TimerId } from '../platform/types'
import { uploadRefused } from '../store/selectors'
import { addPending, confirmPending, patchPending, removePending } from '../store/store'
import type { ChatBody, ChatMessage } from '../store/types'
import { appErrorFrom } from './errors'
import { displayText, replyOf, wireText, type TextExtras } from '../store/reply'
import type { FileMessageUploads } from '../upload/types'
import { requireUser, type ClientContext } from './context'
import { Outbox, type OutboxEntry } from './outbox'

export class Sender {
  private outbox?: Outbox
  private readonly resendTimers = new Map<string, TimerId>()
  private readonly resendAttempts = new Map<string, number>()
  /** Forwards waiting for their ack or final refusal, by cid (`forward`'s promise). */
  private readonly forwards = new Map<string, { resolve: () => void; reject: (err: Error) => void }>()

  constructor(
    private readonly ctx: ClientContext,
    private readonly storage: KeyValueStorage,
    private readonly uploads: () => FileMessageUploads | undefined,
  ) {}

  /** The outbox of `me` (kept per user). */
  open(me: UserId): void {
    this.outbox = new Outbox(this.storage, `chat.outbox.${me}`)
  }

  close(): void {
    this.outbox = undefined
  }

  /** Show the message at once, queue it, and send it if connected. Returns its cid. */
  sendText(conv: ConvId, text: string, extras?: TextExtras): string {
    const me = requireUser(this.ctx)
    const trimmed = text.slice(0, LIMITS.maxTextChars)
    const cid = randomId(21)
    const ts = this.ctx.timers.now()
    // A quote or mentions (reply.ts): shown with the quote at once, sent with the quote's seq only.
    const body = extras ? displayText(trimmed, extras) : { text: trimmed }
    this.ctx.store.setState((s) => addPending(s, { cid, from: me, conv, kind: 'text', body, ts, status: 'sending' }))
    this.enqueue({ cid, conv, kind: 'text', body: extras ? wireText(body)! : body, ts, ...(extras?.quote ? { quote: extras.quote } : {}) })
    return cid
  }

  /**
   * Forward stored message `m` (a text, image or file) to `to` (PROTOCOL.md, Forwarding): shown
   * there at once with the content the server copies (a text without its quote and mentions), and
   * sent with a cid like any message, resent until it is answered. Resolves once it is stored;
   * rejects with the refusal, and the copy goes (nothing was stored: there is nothing to retry).
   */
  forward(m: ChatMessage, to: ConvId): Promise<void> {
    const me = requireUser(this.ctx)
    const body = forwardedBody(m)
    if (m.seq === undefined || !body || (m.kind !== 'text' && m.kind !== 'image' && m.kind !== 'file')) {
      return Promise.reject(appErrorFrom('FORWARD_NOT_ALLOWED', `a ${m.kind} message is not forwarded`))
    }
    const cid = randomId(21)
    const ts = this.ctx.timers.now()
    const done = new Promise<void>((resolve, reject) => this.forwards.set(cid, { resolve, reject }))
    this.ctx.store.setState((s) => addPending(s, { cid, from: me, conv: to, kind: m.kind, body, ts, status: 'sending' }))
    this.enqueue({ cid, conv: to, kind: 'forward', body: { from: { conv: m.conv, seq: m.seq } }, ts })
    return done
  }

  /** Remove a message the server refused for good (uploadRefused): it was never stored, nothing is left to send. */
  dismiss(conv: ConvId, cid: string): void {
    const m = this.ctx.store.getState().messages[conv]?.find((x) => x.cid === cid && x.seq === undefined)
    // Final refusals only: a refused upload, or a text content security refused (CONTENT_RISKY).
    if (!m || !(uploadRefused(m) || (m.status === 'failed' && m.error === 'CONTENT_RISKY'))) return
    this.ctx.store.setState((s) => removePending(s, conv, cid))
  }

  /** Send a failed message again, with the same cid. */
  retry(conv: ConvId, cid: string): void {
    const m = this.ctx.store.getState().messages[conv]?.find((x) => x.cid === cid && x.seq === undefined)
    if (!m) return
    // The server refused the file itself: a refusal is final (the same bytes would be refused again).
    if (uploadRefused(m)) return
    if (m.upload && !m.upload.done) {
      this.ctx.store.setState((s) =>
        patchPending(s, conv, cid, (x) => ({
          ...x,
          status: 'sending',
          error: undefined,
          upload: x.upload ? { ...x.upload, failure: undefined } : undefined,
        })),
      )
      this.uploads()?.retry(cid)
      return
    }
    const body =
      m.kind === 'text' && 'text' in m.body
        ? wireText(m.body)
        : m.kind === 'voice' && 'fileId' in m.body && 'duration' in m.body
          ? { fileId: m.body.fileId, duration: m.body.duration }
          : 'fileId' in m.body
            ? { fileId: m.body.fileId }
            : undefined
    // Only what a user sends is resent: never a system message or a recall event or tombstone.
    if (!body || (m.kind !== 'text' && m.kind !== 'image' && m.kind !== 'file' && m.kind !== 'voice')) return
    this.ctx.store.setState((s) => patchPending(s, conv, cid, (x) => ({ ...x, status: 'sending', error: undefined })))
    const quote = replyOf(m)
    this.enqueue({ cid, conv, kind: m.kind, body, ts: m.ts, ...(quote ? { quote } : {}) })
  }

  /** Keep the entry in the outbox and send it. */
  enqueue(entry: OutboxEntry): void {
    this.outbox?.add(entry)
    this.resendAttempts.delete(entry.cid)
    this.transmit(entry)
  }

  /** A message that will not be sent (its upload was cancelled). */
  drop(cid: string): void {
    this.outbox?.remove(cid)
  }

  /** After `welcome`: everything still queued, again with its cid. */
  resendAll(): void {
    for (const entry of this.outbox?.list() ?? []) this.transmit(entry)
  }

  private transmit(entry: OutboxEntry): void {
    const frame =
      entry.kind === 'text'
        ? { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: 'text' as const, body: entry.body as SendTextBody }
        : entry.kind === 'voice'
          ? { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: 'voice' as const, body: voiceRef(entry.body) }
          : entry.kind === 'forward'
            ? { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: 'forward' as const, body: { from: (entry.body as ForwardRef).from } }
            : { type: 'send' as const, cid: entry.cid, conv: entry.conv, kind: entry.kind, body: { fileId: (entry.body as { fileId: string }).fileId } }
    this.ctx.connection.send(frame)
  }

  /**
   * Messages still in the outbox after a restart are "sending" (they go out on connect); a text the
   * cache did not keep (the app died before the cache write) is shown again from the outbox.
   */
  markPending(): void {
    const outbox = this.outbox
    const me = this.ctx.me()
    if (!outbox || !me) return
    const store = this.ctx.store
    const queued = new Set(outbox.list().map((e) => e.cid))
    for (const e of outbox.list()) {
      const list = store.getState().messages[e.conv]
      if (list?.some((m) => m.cid === e.cid && m.from === me)) continue
      if (e.kind === 'text' && 'text' in e.body) {
        const body = displayText(e.body.text, { quote: e.quote, mentions: e.body.mentions, mentionAll: e.body.mentionAll })
        store.setState((s) => addPending(s, { cid: e.cid, from: me, conv: e.conv, kind: 'text', body, ts: e.ts, status: 'sending' }))
      }
    }
    for (const [conv, list] of Object.entries(store.getState().messages)) {
      for (const m of list) {
        if (m.seq !== undefined || m.upload) continue
        const status = queued.has(m.cid) ? 'sending' : 'failed'
        if (m.status !== status) store.setState((s) => patchPending(s, conv, m.cid, (x) => ({ ...x, status })))
      }
    }
  }

  /** The server stored our message. */
  onAck(f: ServerFrameOf<'ack'>): void {
    this.outbox?.remove(f.cid)
    this.ctx.timers.clearTimeout(this.resendTimers.get(f.cid))
    this.resendTimers.delete(f.cid)
    this.resendAttempts.delete(f.cid)
    this.ctx.store.setState((s) => confirmPending(s, f, this.ctx.opts.maxMessagesInMemory))
    this.forwards.get(f.cid)?.resolve()
    this.forwards.delete(f.cid)
  }

  /** An error naming a cid of ours: the send was refused. False when the cid is not queued. */
  onError(f: ServerFrameOf<'error'>): boolean {
    const entry = f.cid ? this.outbox?.get(f.cid) : undefined
    if (!entry) return false
    const cid = entry.cid
    if (f.temporary) {
      // STORE_UNAVAILABLE, RATE_LIMITED, FILE_NOT_READY: the same cid again later (PROTOCOL.md "Sending" 4).
      const attempt = this.resendAttempts.get(cid) ?? 0
      this.resendAttempts.set(cid, attempt + 1)
      this.ctx.timers.clearTimeout(this.resendTimers.get(cid))
      this.resendTimers.set(
        cid,
        this.ctx.timers.setTimeout(
          () => {
            this.resendTimers.delete(cid)
            const still = this.outbox?.get(cid)
            if (still) this.transmit(still)
          },
          Math.max(1, backoffDelay(attempt, this.ctx.opts.reconnect, this.ctx.random)),
        ),
      )
      return true
    }
    this.outbox?.remove(cid)
    if (entry.kind === 'forward') {
      this.ctx.store.setState((s) => removePending(s, entry.conv, cid))
      this.forwards.get(cid)?.reject(appErrorFrom(f.code, f.message))
      this.forwards.delete(cid)
      return true
    }
    this.ctx.store.setState((s) => patchPending(s, entry.conv, cid, (m) => ({ ...m, status: 'failed', error: f.code })))
    return true
  }

  dispose(): void {
    for (const timer of this.resendTimers.values()) this.ctx.timers.clearTimeout(timer)
  }
}

/** What a forward of `m` shows at once: the content the server copies (PROTOCOL.md, Forwarding). */
function forwardedBody(m: ChatMessage): ChatBody | undefined {
  if (m.kind === 'text') return 'text' in m.body && typeof m.body.text === 'string' ? { text: m.body.text } : undefined
  return (m.kind === 'image' || m.kind === 'file') && 'fileId' in m.body ? m.body : undefined
}

/** A voice's `{fileId, duration}` as the outbox holds it. */
function voiceRef(body: OutboxEntry['body']): { fileId: string; duration: number } {
  const b = body as { fileId: string; duration?: number }
  return { fileId: b.fileId, duration: b.duration ?? 0 }
}
