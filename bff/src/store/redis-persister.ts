/**
 * The persister: moves every acked message from Redis to the archive (MySQL).
 *
 * The append script (redis.ts) adds each new message to one Redis Stream in the same atomic step
 * that stores it, so a message acked is a message in the stream (and, with AOF, on disk). Every
 * BFF process runs one persister, a consumer of one consumer group: each batch is read with
 * XREADGROUP, written to the archive in one transaction of multi-row INSERT IGNORE (a message's
 * primary key is (conv, seq): a batch written twice stores nothing twice), and only then XACKed and
 * XDELed. A persister killed at any point leaves its batch pending in the group; another persister
 * (or its successor) takes it over with XAUTOCLAIM after ARCHIVE_CLAIM_IDLE_MS and writes it again.
 *
 * Once a batch is in the archive, the recent window of each of its conversations is trimmed to
 * WINDOW_MESSAGES, never below what the archive holds: Redis memory stays flat while every
 * message stays readable.
 */
import type { Redis } from 'ioredis'
import type { Archive, ArchivedMessage, ReadMark } from '../archive/archive'
import { ArchiveWriter } from '../archive/writer'
import type { Logger } from '../log'

export interface PersisterOptions {
  readonly stream: string
  readonly group: string
  readonly consumer: string
  readonly batchMax: number
  readonly claimIdleMs: number
  readonly windowMessages: number
  /** Trim the window of `conv` to `window` messages, none above `persistedSeq`. */
  readonly trim: (conv: string, persistedSeq: number, window: number) => Promise<unknown>
  /** After each batch is in the archive: its size and the age of its oldest message, ms. */
  readonly onBatch?: (count: number, lagMs: number) => void
  readonly log?: Logger
}

type Entry = [id: string, fields: string[]]

/** How long the persister waits after a failure (archive or Redis away) before trying again. */
const RETRY_MS = 500
/** How long one XREADGROUP blocks waiting for new messages. */
const BLOCK_MS = 1000
/**
 * A batch read with fewer new messages than this waits LINGER_MS once and takes what arrived
 * meanwhile: under a steady load the persister would otherwise write a transaction (and ack, and
 * trim) for every few messages as they trickle in. Adds at most LINGER_MS to the lag.
 */
const LINGER_MIN = 100
const LINGER_MS = 25
/**
 * How often pending batches are looked for (XAUTOCLAIM), ms, while a scan of the pending list is
 * under way or has found nothing: not before every read, which under load cost a round trip per
 * batch. A dead persister's batch is taken over at most this much after ARCHIVE_CLAIM_IDLE_MS.
 */
const CLAIM_EVERY_MS = 1000

export class Persister {
  private stopped = false
  private loop: Promise<void> | undefined
  private claimCursor = '0-0'
  private claimedAt = 0
  private readonly writer: ArchiveWriter
  /** False from a failed archive write until the next successful one. */
  archiveOk = true
  lastError: string | undefined
  lastLagMs = 0

  constructor(
    /** A connection of its own: XREADGROUP blocks it. */
    private readonly blocking: Redis,
    /** The engine's command connection (acks, trims). */
    private readonly cmd: Redis,
    archive: Archive,
    private readonly options: PersisterOptions,
  ) {
    this.writer = new ArchiveWriter(archive)
  }

  start(): void {
    this.loop ??= this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    // Ends a blocked XREADGROUP at once; a batch being written finishes and is acked.
    this.blocking.disconnect()
    await this.loop
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.ensureGroup()
        break
      } catch (err) {
        this.options.log?.warn({ err }, 'persister: consumer group not ready')
        await sleep(RETRY_MS)
      }
    }
    while (!this.stopped) {
      let entries: Entry[]
      try {
        entries = await this.claim()
        if (entries.length === 0) {
          entries = await this.readNew(this.options.batchMax, true)
          const want = Math.min(LINGER_MIN, this.options.batchMax)
          if (entries.length > 0 && entries.length < want && !this.stopped) {
            await sleep(LINGER_MS)
            entries = entries.concat(await this.readNew(this.options.batchMax - entries.length, false))
          }
        }
      } catch (err) {
        if (this.stopped) break
        this.options.log?.warn({ err }, 'persister: reading the stream failed')
        await sleep(RETRY_MS)
        continue
      }
      if (entries.length > 0) await this.persist(entries)
    }
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From the stream's start ('0'): entries added before the group existed are kept too.
      await this.blocking.xgroup('CREATE', this.options.stream, this.options.group, '0', 'MKSTREAM')
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err
    }
  }

  /** Batches left pending by a persister that died (idle past claimIdleMs). */
  private async claim(): Promise<Entry[]> {
    const o = this.options
    // A scan of the pending list under way (cursor not back at the start) goes on at once.
    if (this.claimCursor === '0-0' && Date.now() - this.claimedAt < CLAIM_EVERY_MS) return []
    this.claimedAt = Date.now()
    const res = (await this.blocking.xautoclaim(o.stream, o.group, o.consumer, o.claimIdleMs, this.claimCursor, 'COUNT', o.batchMax)) as [
      string,
      (Entry | null)[],
      string[]?,
    ]
    this.claimCursor = res[0]
    return res[1].filter((e): e is Entry => e !== null)
  }

  private async readNew(count: number, block: boolean): Promise<Entry[]> {
    const o = this.options
    const res = (
      block
        ? await this.blocking.xreadgroup('GROUP', o.group, o.consumer, 'COUNT', count, 'BLOCK', BLOCK_MS, 'STREAMS', o.stream, '>')
        : await this.blocking.xreadgroup('GROUP', o.group, o.consumer, 'COUNT', count, 'STREAMS', o.stream, '>')
    ) as [string, Entry[]][] | null
    return res?.[0]?.[1] ?? []
  }

  /** Write one batch until it is in the archive (or the persister stops), then ack it and trim windows. */
  private async persist(entries: Entry[]): Promise<void> {
    const rows: ArchivedMessage[] = []
    const marks: ReadMark[] = []
    const top = new Map<string, number>()
    for (const [, fields] of entries) {
      const json = fields[1]
      if (fields[0] !== 'j' || json === undefined) continue
      const m = JSON.parse(json) as { conv: string; seq: number; from: string; cid: string; ts: number }
      rows.push({ conv: m.conv, seq: m.seq, sender: m.from, cid: m.cid, ts: m.ts, json })
      // Sending moved the sender's read mark (the append script did it in Redis).
      marks.push({ conv: m.conv, user: m.from, seq: m.seq })
      top.set(m.conv, Math.max(top.get(m.conv) ?? 0, m.seq))
    }
    for (;;) {
      try {
        await this.writer.write(rows, marks)
        this.archiveOk = true
        this.lastError = undefined
        break
      } catch (err) {
        this.archiveOk = false
        this.lastError = err instanceof Error ? err.message : String(err)
        this.options.log?.warn({ err, count: rows.length }, 'persister: archive write failed, retrying')
        // Stopping: the batch stays pending in the group and the next persister writes it.
        if (this.stopped) return
        await sleep(RETRY_MS)
      }
    }
    const ids = entries.map((e) => e[0])
    this.lastLagMs = Date.now() - Number(ids[0]!.slice(0, ids[0]!.indexOf('-')))
    this.options.onBatch?.(rows.length, this.lastLagMs)
    for (;;) {
      try {
        // One round trip: acked and deleted together (MULTI), or neither and the batch is written again.
        const res = await this.cmd.multi().xack(this.options.stream, this.options.group, ...ids).xdel(this.options.stream, ...ids).exec()
        const failed = res?.find(([err]) => err)
        if (!res || failed) throw failed?.[0] ?? new Error('ack transaction aborted')
        await Promise.all([...top].map(([conv, seq]) => this.options.trim(conv, seq, this.options.windowMessages)))
        return
      } catch (err) {
        // Not acked: the batch is claimed and written again later, which the primary key makes harmless.
        this.options.log?.warn({ err }, 'persister: ack failed')
        if (this.stopped) return
        await sleep(RETRY_MS)
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
