/**
 * Read marks and typing, both ways: the read mark goes up to what the user has seen (debounced by
 * `readDebounceMs`, never while the app is in the background); others' receipts and typing marks
 * enter the store; our typing is sent at most every `typingSendEveryMs`.
 */
import type { ConvId, Message, ServerFrameOf } from '@chat/shared'
import type { TimerId } from '../platform/types'
import { cursorOf } from '../store/selectors'
import { applyReceipt, expireTyping, markReadLocal, setTyping } from '../store/store'
import type { ClientContext } from './context'

/** What the chat page tells the client about what the user sees. */
export interface Viewing {
  readonly conv: ConvId
  /**
   * The highest seq of a message whose row has been on screen while the page was visible: the read
   * mark goes up to it and never past it (a message below the viewport is not read).
   */
  readonly seenSeq: number
}

export class Receipts {
  private viewing?: Viewing
  private foreground = true
  private readonly readSent = new Map<ConvId, number>()
  private readTimer?: TimerId
  private readonly typingSentAt = new Map<ConvId, number>()
  private typingTimer?: TimerId

  constructor(private readonly ctx: ClientContext) {}

  /** The chat page reports what is on screen (undefined: no chat open). */
  setViewing(viewing: Viewing | undefined): void {
    const left = this.viewing
    this.viewing = viewing
    // Leaving a chat within the debounce: what was on screen while it was open is read now (a
    // person who saw a message and went back expects it read), unless the app is going away.
    // Not within the call: the page calls this while it is being taken down, and a store update
    // there re-renders the pages in the middle of the router's transition.
    if (left && left.conv !== viewing?.conv && this.readTimer !== undefined) {
      this.ctx.timers.clearTimeout(this.readTimer)
      this.readTimer = this.ctx.timers.setTimeout(() => {
        this.readTimer = undefined
        this.readNow(left)
      }, 0)
    }
    if (viewing && viewing.seenSeq > 0) this.scheduleRead()
  }

  setForeground(foreground: boolean): void {
    this.foreground = foreground
  }

  /** The user types in `conv`: tell the others, at most every `typingSendEveryMs`. */
  typing(conv: ConvId): void {
    const now = this.ctx.timers.now()
    if (now - (this.typingSentAt.get(conv) ?? -Infinity) < this.ctx.opts.typingSendEveryMs) return
    if (this.ctx.connection.send({ type: 'typing', conv })) this.typingSentAt.set(conv, now)
  }

  /** Messages of `conv` arrived: if it is on screen, the read mark may move. */
  merged(conv: ConvId): void {
    if (this.viewing?.conv === conv && this.viewing.seenSeq > 0) this.scheduleRead()
  }

  /**
   * A pushed message: its sender stopped typing, and sending moved the sender's read mark to it (the
   * server's rule, see its store): a reply shows what it answers as read even when its sender's own
   * read frame was not needed.
   */
  pushed(m: Message): void {
    const { store, timers } = this.ctx
    store.setState((s) => expireTyping(s, timers.now(), m.conv, m.from))
    if (m.from !== store.getState().me?.id) {
      store.setState((s) => applyReceipt(s, { type: 'receipt', kind: 'read', conv: m.conv, user: m.from, seq: m.seq }))
    }
  }

  onReceipt(f: ServerFrameOf<'receipt'>): void {
    this.ctx.store.setState((s) => applyReceipt(s, f))
  }

  onTyping(f: ServerFrameOf<'typing'>): void {
    if (f.user === this.ctx.me()) return
    const until = this.ctx.timers.now() + this.ctx.opts.typingShowMs
    this.ctx.store.setState((s) => setTyping(s, f.conv, f.user, until))
    this.scheduleTypingExpiry()
  }

  /** Another user (or none): our read marks sent start over. */
  reset(): void {
    this.readSent.clear()
  }

  dispose(): void {
    this.ctx.timers.clearTimeout(this.readTimer)
    this.ctx.timers.clearTimeout(this.typingTimer)
  }

  private scheduleRead(): void {
    if (this.readTimer !== undefined) return
    this.readTimer = this.ctx.timers.setTimeout(() => {
      this.readTimer = undefined
      if (this.viewing) this.readNow(this.viewing)
    }, this.ctx.opts.readDebounceMs)
  }

  /** Mark `v.conv` read up to what was seen of it (never while the app is in the background). */
  private readNow(v: Viewing): void {
    const { store, connection } = this.ctx
    if (!this.foreground) return
    const seq = Math.min(v.seenSeq, cursorOf(store.getState().messages[v.conv]))
    if (seq <= 0) return
    store.setState((s) => markReadLocal(s, v.conv, seq))
    if (seq <= (this.readSent.get(v.conv) ?? 0)) return
    if (connection.send({ type: 'read', conv: v.conv, seq })) this.readSent.set(v.conv, seq)
  }

  private scheduleTypingExpiry(): void {
    const { store, timers } = this.ctx
    const marks = Object.values(store.getState().typing).flatMap((u) => Object.values(u))
    if (marks.length === 0) return
    const next = Math.min(...marks)
    timers.clearTimeout(this.typingTimer)
    this.typingTimer = timers.setTimeout(
      () => {
        this.typingTimer = undefined
        store.setState((s) => expireTyping(s, timers.now()))
        this.scheduleTypingExpiry()
      },
      Math.max(0, next - timers.now()),
    )
  }
}
