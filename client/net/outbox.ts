/**
 * Messages written but not yet acknowledged by the server, in the order they were written,
 * persisted on every change: a message written offline, during a reconnect or just before the app
 * was killed is sent when the socket returns, with the same cid, so the server stores it once
 * (PROTOCOL.md "Identity and order": the cid is the idempotency key).
 */
import * as v from 'valibot'
import { schemas, type ConvId, type FileRef, type ForwardRef, type ReplyQuote, type SendTextBody, type VoiceRef } from '@chat/shared'

/** The kinds a client sends (`recall` events and `recalled` tombstones are the server's); `forward` is stored as the original's kind. */
export type SendKind = 'text' | 'image' | 'file' | 'voice' | 'forward'
import type { KeyValueStorage } from '../platform/types'

export interface OutboxEntry {
  readonly cid: string
  readonly conv: ConvId
  readonly kind: SendKind
  readonly body: SendTextBody | FileRef | VoiceRef | ForwardRef
  /** A reply's quote as shown (the body sends it by seq only): shown again after a restart. */
  readonly quote?: ReplyQuote | undefined
  /** When it was written (local clock, ms). */
  readonly ts: number
}

const Entry = v.object({
  cid: schemas.ClientMsgId,
  conv: schemas.ConvId,
  kind: v.picklist(['text', 'image', 'file', 'voice', 'forward']),
  // A text keeps its quote (by seq) and mentions across restarts. VoiceRef before FileRef: objects
  // drop unknown keys, so FileRef would take a voice's and lose its duration.
  body: v.union([schemas.SendTextBody, schemas.VoiceRef, schemas.FileRef, schemas.ForwardRef]),
  ts: v.number(),
  quote: v.optional(schemas.ReplyQuote),
})

export class Outbox {
  private entries: OutboxEntry[]

  constructor(
    private readonly storage: KeyValueStorage,
    private readonly key: string,
  ) {
    const stored = storage.get(key)
    this.entries = Array.isArray(stored)
      ? stored.flatMap((e) => {
          const r = v.safeParse(Entry, e)
          return r.success ? [r.output] : []
        })
      : []
  }

  list(): readonly OutboxEntry[] {
    return this.entries
  }

  get(cid: string): OutboxEntry | undefined {
    return this.entries.find((e) => e.cid === cid)
  }

  add(entry: OutboxEntry): void {
    if (this.get(entry.cid)) return
    this.entries = [...this.entries, entry]
    this.save()
  }

  remove(cid: string): boolean {
    const next = this.entries.filter((e) => e.cid !== cid)
    if (next.length === this.entries.length) return false
    this.entries = next
    this.save()
    return true
  }

  private save(): void {
    if (this.entries.length === 0) this.storage.remove(this.key)
    else this.storage.set(this.key, this.entries)
  }
}
