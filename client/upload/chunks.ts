/**
 * How many bytes the next append carries. tus 1.0 appends one after another: each waits for the
 * answer to the previous one, so every append costs one round trip during which the uplink is idle.
 * With a fixed 1 MiB chunk that idle share is small on loopback and large on a phone: on a 2 Mbit/s
 * link with 200 ms RTT a 1 MiB chunk takes 4.2 s (5 % idle), on 20 Mbit/s with 60 ms it takes 0.42 s
 * (13 % idle), and a 256 KiB chunk on the fast link would leave a third of it idle.
 *
 * So the chunk is sized from the goodput measured on the previous appends: big enough that one takes
 * about `targetMs` on the wire (the round trip is then a few percent of it), bounded by
 * `minBytes` (a very slow or just-started link still makes progress that resume keeps) and `maxBytes`
 * (memory: the chunk and the read-ahead are held as ArrayBuffers, in a phone's JS heap). It grows at
 * most `maxGrowth` times per append (the first appends run in TCP slow start and understate the
 * link) and halves after a failed append (the link got worse, and a smaller chunk loses less).
 *
 * Why not parallel appends (WeChat allows 10 requests at once): tus 1.0 has one offset per upload,
 * so parallel parts need the concatenation extension (partial uploads + a final concatenation),
 * which @tus/server does not implement; and on a phone the parallel parts share one uplink, so they
 * gain only the round-trip idle time that a large enough chunk already removes. One append in flight
 * also keeps resume simple: after a failure at most that one chunk's unsent rest is sent again.
 */
export interface ChunkSizeOptions {
  /** First append, bytes. Default 256 KiB. */
  readonly initialBytes: number
  /** Smallest append, bytes. Default 256 KiB. */
  readonly minBytes: number
  /** Largest append, bytes. Default 8 MiB. */
  readonly maxBytes: number
  /** Wire time one append should take, ms. Default 3000. */
  readonly targetMs: number
  /** Growth factor per append at most. Default 4. */
  readonly maxGrowth: number
}

export const DEFAULT_CHUNK_SIZING: ChunkSizeOptions = {
  initialBytes: 256 * 1024,
  minBytes: 256 * 1024,
  maxBytes: 8 * 1024 * 1024,
  targetMs: 3000,
  maxGrowth: 4,
}

export class ChunkSizer {
  private readonly opts: ChunkSizeOptions
  private size: number

  constructor(options: Partial<ChunkSizeOptions> = {}) {
    const o = { ...DEFAULT_CHUNK_SIZING, ...options }
    if (!(o.minBytes >= 1 && o.maxBytes >= o.minBytes)) throw new RangeError(`chunk sizes need 1 <= minBytes <= maxBytes, got ${o.minBytes}, ${o.maxBytes}`)
    if (!(o.targetMs > 0 && o.maxGrowth > 1)) throw new RangeError('targetMs must be > 0 and maxGrowth > 1')
    this.opts = o
    this.size = clamp(o.initialBytes, o.minBytes, o.maxBytes)
  }

  /** Bytes of the next append. */
  get next(): number {
    return this.size
  }

  /**
   * An append of `bytes` was answered `ms` after it was sent. The time includes the round trip, so
   * the goodput is understated for small chunks: the growth bound, not the estimate, limits the ramp.
   */
  record(bytes: number, ms: number): void {
    if (!(bytes > 0)) return
    const rate = bytes / Math.max(ms, 1)
    const wanted = rate * this.opts.targetMs
    this.size = Math.round(clamp(Math.min(wanted, bytes * this.opts.maxGrowth), this.opts.minBytes, this.opts.maxBytes))
  }

  /** An append of `bytes` failed: the next one is at most half of it. */
  failed(bytes: number = this.size): void {
    this.size = Math.max(this.opts.minBytes, Math.floor(Math.min(this.size, bytes) / 2))
  }
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x))
}
