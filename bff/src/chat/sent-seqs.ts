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

/** Conversations a connection's record holds in one flat array; past this many, in a Map. */
export const SENT_FLAT_MAX = 32

/**
 * PROTOCOL.md, Catch-up: the server never sends a connection the same seq twice, whether a live push
 * lands before, during or after a sync that covers it. Kept for the connection's life, per
 * conversation with traffic: a floor and the few seqs sent above it. A conversation with nothing
 * above its floor (almost all of them) is just its floor, a number: a connected user in 20
 * conversations holds 20 numbers, not 20 objects more (issue 15, memory per user).
 *
 * Up to SENT_FLAT_MAX conversations they sit in one array, [conv, value, conv, value, ...], searched
 * in order: a Map of 20 entries was ~940 bytes of hash table per connected user (a heap snapshot
 * of 1,000 users after a storm: the largest thing a connection held besides its socket), the
 * array about half that. Past SENT_FLAT_MAX, where a linear search would grow with the user, a Map.
 */
export class SentSeqs {
  private flat: Array<string | number | ConvSent> | undefined = []
  private map: Map<string, number | ConvSent> | undefined

  private get(conv: string): number | ConvSent | undefined {
    const flat = this.flat
    if (!flat) return this.map!.get(conv)
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === conv) return flat[i + 1] as number | ConvSent
    return undefined
  }

  private set(conv: string, value: number | ConvSent): void {
    const flat = this.flat
    if (flat) {
      for (let i = 0; i < flat.length; i += 2) {
        if (flat[i] === conv) {
          flat[i + 1] = value
          return
        }
      }
      if (flat.length < SENT_FLAT_MAX * 2) {
        flat.push(conv, value)
        return
      }
      this.map = new Map()
      for (let i = 0; i < flat.length; i += 2) this.map.set(flat[i] as string, flat[i + 1] as number | ConvSent)
      this.flat = undefined
    }
    this.map!.set(conv, value)
  }

  has(conv: string, seq: number): boolean {
    const c = this.get(conv)
    if (c === undefined) return false
    if (typeof c === 'number') return seq <= c
    return seq <= c.floor || c.above?.has(seq) === true
  }

  /** `seq` went out on the connection. */
  add(conv: string, seq: number): void {
    const got = this.get(conv)
    const floor = got === undefined ? 0 : typeof got === 'number' ? got : got.floor
    if (seq <= floor) return
    if (typeof got !== 'object' && seq === floor + 1) {
      this.set(conv, seq)
      return
    }
    let c: ConvSent
    if (typeof got === 'object') c = got
    else this.set(conv, (c = { floor, above: undefined }))
    c.above ??= new Set()
    c.above.add(seq)
    this.compact(conv, c)
    if (c.above && c.above.size > SENT_ABOVE_MAX) {
      let min = Infinity
      for (const s of c.above) if (s < min) min = s
      c.above.delete(min)
    }
  }

  /** Every seq up to `upTo` was sent or is held by the client: none of them goes out again. */
  raise(conv: string, upTo: number): void {
    const got = this.get(conv)
    if (typeof got !== 'object') {
      if (upTo > (got ?? 0)) this.set(conv, upTo)
      return
    }
    if (upTo <= got.floor) return
    got.floor = upTo
    this.compact(conv, got)
  }

  /** Seqs at or below the floor go; the floor climbs over what follows it; nothing above: back to a number. */
  private compact(conv: string, c: ConvSent): void {
    const above = c.above
    if (!above) return
    for (const s of above) if (s <= c.floor) above.delete(s)
    while (above.delete(c.floor + 1)) c.floor++
    if (above.size === 0) this.set(conv, c.floor)
  }
}
