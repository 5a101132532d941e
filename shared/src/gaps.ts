/**
 * Gap detection on per-conversation sequence numbers. Seqs are gap-free on the server, so a hole
 * in what a client holds is a message it missed; it asks for it by seq (never by timestamp).
 */

export interface SeqRange {
  /** First missing seq (inclusive). */
  readonly from: number
  /** Last missing seq (inclusive). */
  readonly to: number
}

/**
 * Missing ranges in (after, upTo], given the seqs held (ascending, duplicates allowed).
 * Seqs outside the window are ignored.
 */
export function findGaps(heldAscending: readonly number[], after: number, upTo: number): SeqRange[] {
  const gaps: SeqRange[] = []
  let expected = after + 1
  for (const seq of heldAscending) {
    if (seq < expected) continue
    if (seq > upTo) break
    if (seq > expected) gaps.push({ from: expected, to: seq - 1 })
    expected = seq + 1
  }
  if (expected <= upTo) gaps.push({ from: expected, to: upTo })
  return gaps
}

/**
 * The highest seq reachable from `after` without a hole: the cursor a client may acknowledge and
 * sync from. Example: after 4 with held [5, 6, 8] gives 6.
 */
export function contiguousUpTo(heldAscending: readonly number[], after: number): number {
  let cursor = after
  for (const seq of heldAscending) {
    if (seq <= cursor) continue
    if (seq !== cursor + 1) break
    cursor = seq
  }
  return cursor
}
