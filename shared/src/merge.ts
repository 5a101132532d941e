/**
 * Ordered, duplicate-free message lists. The client keeps each conversation as one array: confirmed
 * messages (with a seq) in ascending seq, then its own pending sends (no seq yet) in the order they
 * were written. Pushes, sync batches, history pages and acks all enter through `mergeMessages`, so a
 * message that arrives twice (a retried send, a push racing a sync) is shown once.
 */

export interface MergeItem {
  /** Per-conversation sequence number; absent while a sent message waits for its ack. */
  readonly seq?: number | undefined
  /** Server message id; absent while pending. */
  readonly mid?: string | undefined
  /** Client message id chosen by the sender. */
  readonly cid: string
  /** Sender. A cid is unique per sender, so (from, cid) identifies a message. */
  readonly from: string
}

const keyOf = (m: MergeItem): string => `${m.from}\u0000${m.cid}`
const hasSeq = (m: MergeItem): m is MergeItem & { seq: number } => typeof m.seq === 'number'

/**
 * Merge `incoming` into `current` (which must already be ordered and duplicate-free).
 * - A confirmed message replaces a pending one with the same (from, cid): the ack or the echo of
 *   our own send moves it into seq order.
 * - Equal seq or equal mid: the message already present wins (first writer), except that a
 *   confirmed copy replaces a pending one, and that a message at a held seq with another mid
 *   replaces the held one: a server assigns one mid per seq, so this is a server that lost its
 *   data and numbered again (the held copy is stale; keeping it would hide the new message).
 * - Pending items stay after every confirmed one, in their original order.
 * Returns `current` itself when nothing changed, so callers can skip re-rendering.
 */
export function mergeMessages<T extends MergeItem>(current: readonly T[], incoming: readonly T[]): readonly T[] {
  if (incoming.length === 0) return current

  // Fast path: new confirmed messages strictly after everything confirmed, no pending to resolve.
  const firstPending = current.findIndex((m) => !hasSeq(m))
  const confirmedEnd = firstPending === -1 ? current.length : firstPending
  const lastSeq = confirmedEnd > 0 ? (current[confirmedEnd - 1]!.seq as number) : 0
  if (firstPending === -1 && isAscendingAfter(incoming, lastSeq)) return current.concat(incoming)

  const pendingByKey = new Map<string, T>()
  for (let i = confirmedEnd; i < current.length; i++) pendingByKey.set(keyOf(current[i]!), current[i]!)

  const bySeq = new Map<number, T>()
  const mids = new Set<string>()
  const keys = new Set<string>()
  for (let i = 0; i < confirmedEnd; i++) {
    const m = current[i]!
    bySeq.set(m.seq as number, m)
    if (m.mid) mids.add(m.mid)
    keys.add(keyOf(m))
  }

  let changed = false
  const newPending: T[] = []
  for (const m of incoming) {
    const key = keyOf(m)
    if (hasSeq(m)) {
      const held = bySeq.get(m.seq)
      if (held && m.mid && held.mid && held.mid !== m.mid && !mids.has(m.mid) && !keys.has(key)) {
        mids.delete(held.mid)
        keys.delete(keyOf(held))
        bySeq.set(m.seq, m)
        mids.add(m.mid)
        keys.add(key)
        pendingByKey.delete(key)
        changed = true
        continue
      }
      if (held || (m.mid && mids.has(m.mid)) || keys.has(key)) continue
      bySeq.set(m.seq, m)
      if (m.mid) mids.add(m.mid)
      keys.add(key)
      if (pendingByKey.delete(key)) changed = true
      changed = true
    } else if (!keys.has(key) && !pendingByKey.has(key)) {
      const dupInBatch = newPending.some((p) => keyOf(p) === key)
      if (!dupInBatch) {
        newPending.push(m)
        changed = true
      }
    } else if (pendingByKey.has(key)) {
      // A newer copy of a pending message (e.g. its state changed): replace in place.
      pendingByKey.set(key, m)
      changed = true
    }
  }
  if (!changed) return current

  const confirmed = [...bySeq.values()].sort((a, b) => (a.seq as number) - (b.seq as number))
  return confirmed.concat([...pendingByKey.values()], newPending)
}

function isAscendingAfter(items: readonly MergeItem[], after: number): boolean {
  let prev = after
  for (const m of items) {
    if (!hasSeq(m) || m.seq <= prev) return false
    prev = m.seq
  }
  return true
}
