/**
 * Reads over a hot window and the archive. An engine with an archive keeps only the newest
 * messages of each conversation hot (Redis or memory); everything older is read from the archive,
 * transparently: same order (ascending seq), same paging. The window is the newest contiguous
 * run of seqs; an engine drops a message from its window only once the archive has it, so window
 * and archive together never miss a seq.
 */
import type { ConvId } from '@chat/shared'
import { peekMessage } from './message-json'

export interface ColdMessages {
  after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]>
  before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]>
}

const seqOf = (json: string): number => peekMessage(json)?.seq ?? 0

/** `after` over the window's answer `hot` (seq > afterSeq, ascending, at most limit). */
export async function windowAfter(hot: string[], cold: ColdMessages | undefined, conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
  if (!cold || limit <= 0) return hot
  const first = hot.length > 0 ? seqOf(hot[0]!) : undefined
  if (first === afterSeq + 1) return hot
  // The range starts below the window: the archive has it, up to where the window begins.
  const coldLimit = first === undefined ? limit : Math.min(limit, first - afterSeq - 1)
  const out = coldLimit > 0 ? await cold.after(conv, afterSeq, coldLimit) : []
  let last = out.length > 0 ? seqOf(out[out.length - 1]!) : afterSeq
  for (const m of hot) {
    if (out.length >= limit) break
    const s = seqOf(m)
    if (s > last) {
      out.push(m)
      last = s
    }
  }
  return out
}

/** `before` over the window's answer `hot` (seq < beforeSeq, the newest `limit`, ascending). */
export async function windowBefore(
  hot: string[],
  cold: ColdMessages | undefined,
  conv: ConvId,
  beforeSeq: number | undefined,
  limit: number,
): Promise<string[]> {
  if (!cold || hot.length >= limit) return hot
  const lowest = hot.length > 0 ? seqOf(hot[0]!) : beforeSeq
  if (lowest !== undefined && lowest <= 1) return hot
  const older = await cold.before(conv, lowest, limit - hot.length)
  return older.length > 0 ? [...older, ...hot] : hot
}
