/**
 * The persister: moves every acked message from Redis to the archive (MySQL).
 *
 * The append script (redis.ts) adds each new message to one Redis Stream in the same atomic step
 * that stores it, so a message acked is a message in the stream (and, with AOF, on disk). Read
 * marks go the same way (`r` entries, added after the mark moved in Redis, before the answer). Each
 * persister is a consumer of one consumer group: each batch is read with XREADGROUP, written to the
 * archive in one transaction of multi-row INSERT IGNORE (a message's primary key is (conv, seq): a
 * batch written twice stores nothing twice), and only then XACKed and XDELed. A persister killed at
 * any point leaves its batches pending in the group; another persister (or its successor) takes
 * them over with XAUTOCLAIM after ARCHIVE_CLAIM_IDLE_MS and writes them again.
 *
 * Where it runs (ARCHIVE_PERSISTER): its own process by default (bff/src/persister.ts, started by
 * the BFF or deployed on its own), or inline on the BFF's event loop.
 *
 * Pipelined (issue 11, "Measured"): the next batch is read while earlier ones are being written,
 * up to ARCHIVE_WRITES_IN_FLIGHT transactions at once, each on its own pooled connection. One
 * batch at a time made the lag the sum of a read, a linger, a multi-statement transaction with
 * its commit, an ack and a trim round trip, all waiting behind each other (and, inline, behind the
 * chat's event loop). Batches are written in parallel but finished (acked, windows trimmed) in the
 * order they were read: a window is never trimmed past a message that an earlier batch still
 * holds unwritten.
 *
 * Once a batch is in the archive, the recent window of its conversations is trimmed to
 * WINDOW_MESSAGES, never below what the archive holds: Redis memory stays flat while every
 * message stays readable. The ack, the delete and the trims go in one MULTI: one round trip.
 *
 * Trims are amortised (issue 11: a trim per conversation per batch was three Redis commands per
 * message when batches are small, and made a send slower with the archive than without): a
 * conversation is trimmed by the batch that holds one of its seqs divisible by WINDOW_TRIM_EVERY
 * (K), so once per K of its messages, whichever persister writes it and however batches fall
 * (every seq is in exactly one batch; a batch written again trims again, harmlessly). A window
 * then holds at most WINDOW_MESSAGES + K - 1 messages the archive has, plus those it has not yet.
 */
import type { ChainableCommander, Redis } from 'ioredis'
import type { Archive, ArchivedMessage, ReadMark } from '../archive/archive'
import type { Logger } from '../log'
import { peekMessage } from './message-json'

export interface PersisterOptions {
  readonly stream: string
  readonly group: string
  readonly consumer: string
  readonly batchMax: number
  readonly claimIdleMs: number
  readonly windowMessages: number
  /** WINDOW_TRIM_EVERY: a conversation's window is trimmed by the batch holding a seq divisible by this. */
  readonly trimEvery: number
  /** ARCHIVE_WRITES_IN_FLIGHT: batches being written to the archive at once. */
  readonly writesInFlight: number
  /** Queue, in `tx`, the trim of the window of `conv` to `window` messages, none above `persistedSeq`. */
  readonly trim: (tx: ChainableCommander, conv: string, persistedSeq: number, window: number) => void
  /** After each batch is in the archive and acked. */
  readonly onBatch?: (batch: BatchStats) => void
  readonly log?: Logger
}

/** One finished batch, for metrics and the bench: where its time went. */
export interface BatchStats {
  readonly count: number
  /** Age of its oldest message when the batch was acked, ms. */
  readonly lagMs: number
  /** From read to committed in the archive (the transaction, and any wait for a connection), ms. */
  readonly writeMs: number
  /** From committed to acked: waiting for earlier batches to finish, and the MULTI round trip, ms. */
  readonly ackMs: number
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
/** Entries before a batch still in the stream (other persisters' batches) looked at to bound its trims (trimBounds). */
const OLDER_MAX = 10_000
const LINGER_MS = 20
/**
 * How often pending batches are looked for (XAUTOCLAIM), ms, while a scan of the pending list is
 * under way or has found nothing: not before every read, which under load cost a round trip per
 * batch. A dead persister's batch is taken over at most this much after ARCHIVE_CLAIM_IDLE_MS.
 */
const CLAIM_EVERY_MS = 1000
/**
 * Every persister that ever ran stays a consumer of the group (each process has a name of its
 * own), so the group's consumer list would grow with every restart. Consumers holding nothing and
 * idle for FORGET_IDLE_CLAIMS × ARCHIVE_CLAIM_IDLE_MS are deleted, looked for every FORGET_EVERY_MS.
 */
const FORGET_EVERY_MS = 60_000
const FORGET_IDLE_CLAIMS = 10
/**
 * In one script, so that the check and the delete are one atomic step: XGROUP DELCONSUMER drops a
 * consumer's pending entries with it, and a consumer that read a batch between a check and a
 * delete would lose that batch from the group for good. KEYS[1] the stream; ARGV: group, idle ms.
 */
const FORGET_DEAD = `
local forgot = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) > tonumber(ARGV[2]) then
    forgot = forgot + redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name']) + 1
  end
end
return forgot
`

export class Persister {
  private stopped = false
  private loop: Promise<void> | undefined
  private claimCursor = '0-0'
  private claimedAt = 0
  private forgotAt = 0
  /** Batches read and not yet finished (acked, or given up on because the persister stops). */
  private readonly inFlight = new Set<Promise<void>>()
  /** The last batch's finish: each batch is acked after the one read before it. */
  private tail: Promise<void> = Promise.resolve()
  /** False from a failed archive write until the next successful one. */
  archiveOk = true
  lastError: string | undefined
  lastLagMs = 0

  constructor(
    /** A connection of its own: XREADGROUP blocks it. */
    private readonly blocking: Redis,
    /** A command connection (acks, trims). */
    private readonly cmd: Redis,
    private readonly archive: Archive,
    private readonly options: PersisterOptions,
  ) {}

  start(): void {
    this.loop ??= this.run()
  }

  async stop(): Promise<void> {
    this.stopped = true
    // Ends a blocked XREADGROUP at once; batches being written finish and are acked.
    this.blocking.disconnect()
    await this.loop
    await Promise.all(this.inFlight)
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
      // A free slot first: while every slot is taken, new messages gather into a larger next batch.
      if (this.inFlight.size >= this.options.writesInFlight) {
        await Promise.race(this.inFlight)
        continue
      }
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
        // The stream and its group are gone (Redis lost, FLUSHALL, a new Redis): made again, from
        // the start of whatever the stream holds by now. A persister running on its own would
        // otherwise retry a group that no longer exists for ever.
        if (err instanceof Error && err.message.startsWith('NOGROUP')) await this.ensureGroup().catch(() => {})
        continue
      }
      if (entries.length === 0) continue
      const batch = this.persist(entries)
      this.inFlight.add(batch)
      void batch.finally(() => this.inFlight.delete(batch))
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
    if (this.claimedAt - this.forgotAt >= FORGET_EVERY_MS) {
      this.forgotAt = this.claimedAt
      await this.forgetDead()
    }
    const res = (await this.blocking.xautoclaim(o.stream, o.group, o.consumer, o.claimIdleMs, this.claimCursor, 'COUNT', o.batchMax)) as [
      string,
      (Entry | null)[],
      string[]?,
    ]
    this.claimCursor = res[0]
    return res[1].filter((e): e is Entry => e !== null)
  }

  /** Delete the consumers (dead persisters) that hold nothing and have been idle long. */
  async forgetDead(): Promise<number> {
    const o = this.options
    const forgot = Number(await this.cmd.eval(FORGET_DEAD, 1, o.stream, o.group, FORGET_IDLE_CLAIMS * o.claimIdleMs))
    if (forgot > 0) o.log?.info({ forgot }, 'persister: forgot consumers of dead persisters')
    return forgot
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

  /**
   * Write one batch until it is in the archive (or the persister stops), then, after the batch
   * read before it has finished, ack it and trim windows.
   */
  private persist(entries: Entry[]): Promise<void> {
    const readAt = Date.now()
    const rows: ArchivedMessage[] = []
    const marks: ReadMark[] = []
    const top = new Map<string, number>()
    /** The conversations whose window this batch trims (module comment: once per trimEvery seqs). */
    const due = new Set<string>()
    for (const [, fields] of entries) {
      // A read mark moved (RedisConvs.markRead): `r <conv> u <user> s <seq>`.
      if (fields[0] === 'r' && fields.length === 6) {
        marks.push({ conv: fields[1]!, user: fields[3]!, seq: Number(fields[5]) })
        continue
      }
      const json = fields[1]
      if (fields[0] !== 'j' || json === undefined) continue
      const m = JSON.parse(json) as { conv: string; seq: number; from: string; cid: string; ts: number }
      rows.push({ conv: m.conv, seq: m.seq, sender: m.from, cid: m.cid, ts: m.ts, json })
      // Sending moved the sender's read mark (the append script did it in Redis).
      marks.push({ conv: m.conv, user: m.from, seq: m.seq })
      top.set(m.conv, Math.max(top.get(m.conv) ?? 0, m.seq))
      if (m.seq % this.options.trimEvery === 0) due.add(m.conv)
    }
    const written = this.write(rows, marks)
    const previous = this.tail
    const finished = (async () => {
      const ok = await written
      const writtenAt = Date.now()
      await previous
      // Not written (stopping): the batch stays pending in the group and the next persister writes it.
      if (!ok) return
      if (await this.ack(entries, top, due)) {
        const ids = entries.map((e) => e[0])
        const now = Date.now()
        this.lastLagMs = now - Number(ids[0]!.slice(0, ids[0]!.indexOf('-')))
        this.options.onBatch?.({ count: rows.length, lagMs: this.lastLagMs, writeMs: writtenAt - readAt, ackMs: now - writtenAt })
      }
    })()
    this.tail = finished
    return finished
  }

  /** True once committed; false when the persister stops before that. */
  private async write(rows: ArchivedMessage[], marks: ReadMark[]): Promise<boolean> {
    for (;;) {
      try {
        await this.archive.write(rows, marks)
        this.archiveOk = true
        this.lastError = undefined
        return true
      } catch (err) {
        this.archiveOk = false
        this.lastError = err instanceof Error ? err.message : String(err)
        this.options.log?.warn({ err, count: rows.length }, 'persister: archive write failed, retrying')
        if (this.stopped) return false
        await sleep(RETRY_MS)
      }
    }
  }

  /**
   * How far each of `due` may be trimmed: its top seq in this batch, but below any of its messages
   * still in the stream before this batch. Those are being written by another persister (this
   * one finishes its batches in order: its earlier ones are gone from the stream by now), or were
   * left by a dead one; without this bound a window lost them before MySQL had them and a read
   * in between missed them. Later entries of a conversation hold higher seqs (the append script
   * takes the seq and adds the entry in one step), and no entry older than this batch can appear.
   * One XRANGE; with one persister it answers nothing. Undefined: too many to look at, trim none.
   */
  private async trimBounds(entries: Entry[], top: ReadonlyMap<string, number>, due: ReadonlySet<string>): Promise<Map<string, number> | undefined> {
    const bounds = new Map<string, number>()
    for (const conv of due) bounds.set(conv, top.get(conv) ?? 0)
    if (bounds.size === 0) return bounds
    const older = (await this.cmd.xrange(this.options.stream, '-', `(${entries[0]![0]}`, 'COUNT', OLDER_MAX)) as Entry[]
    if (older.length >= OLDER_MAX) return undefined
    for (const [, fields] of older) {
      const m = fields[0] === 'j' && fields[1] !== undefined ? peekMessage(fields[1]) : undefined
      const bound = m && bounds.get(m.conv)
      if (m && bound !== undefined && m.seq <= bound) bounds.set(m.conv, m.seq - 1)
    }
    return bounds
  }

  /** Ack and delete the batch and trim its windows, one MULTI; true once done, false when stopping first. */
  private async ack(entries: Entry[], top: ReadonlyMap<string, number>, due: ReadonlySet<string>): Promise<boolean> {
    const o = this.options
    const ids = entries.map((e) => e[0])
    for (;;) {
      try {
        const bounds = await this.trimBounds(entries, top, due)
        // Acked and deleted together, or neither and the batch is written again (harmless: the primary key).
        const tx = this.cmd.multi().xack(o.stream, o.group, ...ids).xdel(o.stream, ...ids)
        for (const [conv, seq] of bounds ?? []) if (seq > 0) o.trim(tx, conv, seq, o.windowMessages)
        const res = await tx.exec()
        if (!res) throw new Error('ack transaction aborted')
        const failed = res.slice(0, 2).find(([err]) => err)
        if (failed) throw failed[0] ?? new Error('ack failed')
        const trimFailed = res.slice(2).find(([err]) => err)
        // A window left untrimmed is trimmed when the conversation's next multiple of trimEvery is written.
        if (trimFailed) o.log?.warn({ err: trimFailed[0] }, 'persister: window trim failed')
        return true
      } catch (err) {
        o.log?.warn({ err }, 'persister: ack failed')
        if (this.stopped) return false
        await sleep(RETRY_MS)
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
