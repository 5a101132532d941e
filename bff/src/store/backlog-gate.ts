/**
 * ARCHIVE_BACKLOG_MAX without a Redis command per send (issue 11: the append script's XLEN was one
 * of the commands that made a send with the archive slower than without). The persister's stream
 * length is read at most once per ARCHIVE_BACKLOG_CHECK_MS by each process, and a send is admitted
 * on a reading no older than that: one taken before it when the last one is stale, the cached one
 * otherwise. So the stream holds at most ARCHIVE_BACKLOG_MAX plus what one process admits within
 * one interval (its send rate x the interval), per process. Only admission is cached: what is
 * admitted is still stored and queued for the archive in one atomic step, and acked after it.
 */
import { AppError } from '@chat/shared'

export class BacklogGate {
  private full = false
  /** When the last reading was taken, ms; -Infinity: never. */
  private readAt = Number.NEGATIVE_INFINITY
  private reading: Promise<void> | undefined

  constructor(
    /** The stream's length now (one XLEN). */
    private readonly length: () => Promise<number>,
    /** ARCHIVE_BACKLOG_MAX. */
    private readonly max: number,
    /** ARCHIVE_BACKLOG_CHECK_MS: how old a reading may be; 0 reads before every send. */
    private readonly everyMs: number,
  ) {}

  /** Resolves when a send may be stored; STORE_UNAVAILABLE (temporary) while the backlog is full. */
  async admit(): Promise<void> {
    if (Date.now() - this.readAt >= this.everyMs) await this.read()
    if (this.full) throw new AppError('STORE_UNAVAILABLE', 'the archive is behind: message backlog full')
  }

  /** One reading shared by every send waiting for it; a failure is the send's (Redis away). */
  private read(): Promise<void> {
    this.reading ??= this.length()
      .then((n) => {
        this.full = n >= this.max
        this.readAt = Date.now()
      })
      .finally(() => {
        this.reading = undefined
      })
    return this.reading
  }
}
