/**
 * What one connection was sent of each conversation, so that no seq goes out on it twice
 * (PROTOCOL.md, Catch-up). Part of the chat domain: sync and live delivery both consult it through
 * the connection's Outlet (outlet.ts).
 */

/**
 * Past this many seqs sent live above a conversation's floor (a client that never syncs), the
 * lowest is forgotten: at worst it is sent again (the client dedups), never withheld.
 */
const SENT_ABOVE_MAX = 512

/** What one connection was sent of one conversation. */
interface ConvSent {
  /** Every seq at or below it was sent on this connection or is held by the client (its sync cursor). */
  floor: number
  /** Seqs above the floor sent on this connection (live pushes arrive out of order across nodes). */
  above: Set<number> | undefined
}

/**
 * PROTOCOL.md, Catch-up: the server never sends a connection the same seq twice, whether a live push
 * lands before, during or after a sync that covers it. Kept for the connection's life, per
 * conversation with traffic: a floor and the few seqs sent above it.
 */
export class SentSeqs {
  private readonly convs = new Map<string, ConvSent>()

  has(conv: string, seq: number): boolean {
    const c = this.convs.get(conv)
    return c !== undefined && (seq <= c.floor || c.above?.has(seq) === true)
  }

  /** `seq` went out on the connection. */
  add(conv: string, seq: number): void {
    let c = this.convs.get(conv)
    if (!c) this.convs.set(conv, (c = { floor: 0, above: undefined }))
    if (seq <= c.floor) return
    if (seq === c.floor + 1 && !c.above) {
      c.floor = seq
      return
    }
    c.above ??= new Set()
    c.above.add(seq)
    this.compact(c)
    if (c.above && c.above.size > SENT_ABOVE_MAX) {
      let min = Infinity
      for (const s of c.above) if (s < min) min = s
      c.above.delete(min)
    }
  }

  /** Every seq up to `upTo` was sent or is held by the client: none of them goes out again. */
  raise(conv: string, upTo: number): void {
    let c = this.convs.get(conv)
    if (!c) this.convs.set(conv, (c = { floor: 0, above: undefined }))
    if (upTo <= c.floor) return
    c.floor = upTo
    this.compact(c)
  }

  private compact(c: ConvSent): void {
    const above = c.above
    if (!above) return
    for (const s of above) if (s <= c.floor) above.delete(s)
    while (above.delete(c.floor + 1)) c.floor++
    if (above.size === 0) c.above = undefined
  }
}
