/**
 * One read of a user's summary (`ConvStore.overview`) for the presence at connect and the `sync`
 * that follows on the same connection (issue 15): both read the same conversations a few
 * milliseconds apart. The read made at connect is kept on the connection for OVERVIEW_REUSE_MS and
 * one more use, then dropped.
 *
 * Why `sync` may use it: the read started after the connection was subscribed (before `welcome`),
 * so every message stored after it reaches this connection live, and a sync sends what lies between
 * the client's cursors and the last seqs it knows (later ones "come live", PROTOCOL.md). A `sync`
 * whose cursors are ahead of the kept read, or name a conversation it does not know (the client saw
 * a live message or `conv` since), reads afresh (catch-up.ts). Only within one connection: another
 * device may have subscribed after the read began. `convs` never uses it: the list is a snapshot
 * the client takes as it is, and must hold what this connection itself changed since (a read mark).
 */
import type { ConvSummary } from '../store/types'

/** How long a kept read may be used, ms. */
export const OVERVIEW_REUSE_MS = 2000
/** Uses of one read: the connect's presence, then `sync`. */
export const OVERVIEW_MAX_USES = 2

export interface OverviewMemo {
  readonly at: number
  readonly read: Promise<ConvSummary[]>
  uses: number
}

/** Where a connection keeps its read (the Outlet). */
export interface OverviewHolder {
  overview?: OverviewMemo | undefined
}

/** Holders with a read kept: dropped by one sweep for the process, not one timer per connection. */
const holding = new Set<OverviewHolder>()
let sweeper: NodeJS.Timeout | undefined

function drop(holder: OverviewHolder): void {
  holder.overview = undefined
  holding.delete(holder)
  if (holding.size === 0 && sweeper) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

function sweep(): void {
  const now = Date.now()
  for (const h of holding) if (!h.overview || now - h.overview.at >= OVERVIEW_REUSE_MS) drop(h)
}

/**
 * The user's summary through `holder`'s kept read when it is fresh enough, else a new read (kept
 * for the next uses). Without a holder: a plain read. A failed read is not kept.
 */
export function sharedOverview(holder: OverviewHolder | undefined, read: () => Promise<ConvSummary[]>, now = Date.now()): Promise<ConvSummary[]> {
  if (!holder) return read()
  const kept = holder.overview
  if (kept && now - kept.at < OVERVIEW_REUSE_MS) {
    if (++kept.uses >= OVERVIEW_MAX_USES) drop(holder)
    return kept.read
  }
  const p = read()
  holder.overview = { at: now, read: p, uses: 1 }
  holding.add(holder)
  sweeper ??= setInterval(sweep, OVERVIEW_REUSE_MS).unref()
  p.catch(() => {
    if (holder.overview?.read === p) drop(holder)
  })
  return p
}

/** Forget what `holder` keeps (a sync found it behind the client's cursors). */
export function dropOverview(holder: OverviewHolder): void {
  if (holder.overview) drop(holder)
}
