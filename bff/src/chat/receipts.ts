/**
 * Delivery receipts, at most one per sender and conversation per window (issue 15): a device
 * acknowledging a burst of messages one `recv` at a time would otherwise send the other member
 * one `receipt` frame per message. The first receipt of a window goes out at once (an isolated
 * message is reported without delay); later ones within RECEIPT_WINDOW_MS only raise the seq held,
 * and the highest goes out once when the window ends. Receipts are cumulative (`seq` = everything up
 * to it), so the one sent says all the others would have.
 */
import type { ConvId, UserId } from '@chat/shared'

/** One delivery receipt per (sender, conversation) per this many ms at most. */
export const RECEIPT_WINDOW_MS = 100

interface Pending {
  seq: number
  /** Highest seq already sent. */
  sent: number
  send: (seq: number) => void
}

export class ReceiptWindow {
  private readonly open = new Map<string, Pending>()

  constructor(private readonly windowMs: number = RECEIPT_WINDOW_MS) {}

  /** Receipt `seq` of `user` for `conv`: sent now, or folded into the one sent at the window's end. */
  offer(user: UserId, conv: ConvId, seq: number, send: (seq: number) => void): void {
    const key = `${user}\u0000${conv}`
    const p = this.open.get(key)
    if (p) {
      if (seq > p.seq) {
        p.seq = seq
        p.send = send
      }
      return
    }
    send(seq)
    const held: Pending = { seq, sent: seq, send }
    this.open.set(key, held)
    setTimeout(() => this.close(key, held), this.windowMs).unref()
  }

  /** Windows open now (tests, metrics). */
  get size(): number {
    return this.open.size
  }

  private close(key: string, p: Pending): void {
    this.open.delete(key)
    if (p.seq > p.sent) p.send(p.seq)
  }
}
