// Over 400 lines on purpose: the memory engine implements every store interface of types.ts against the one contract suite.
/**
 * The embedded engine: every store in this process's memory, backed by an archive (SQLite by
 * default) for what must survive a restart. For one process only (`npm start`, tests, WORKERS=1):
 * nothing is shared with another process. It follows the same contract as the Redis engine,
 * including dedup expiry and queue bounds.
 */
import { AppError, directPeer } from '@chat/shared'
import type { ConvId, Message, Presence, User, UserId } from '@chat/shared'
import type { Archive, ArchivedConvState } from '../archive/archive'
import { ArchiveUsers } from '../archive/users'
import { ArchiveWriter } from '../archive/writer'
import { directoryTerms } from './directory'
import { messageJson, messageJsonParts, messageOf, peekMessage } from './message-json'
import { MemoryWeChatStore } from './wechat'
import { windowAfter, windowBefore } from './window'
import { RECALLED_MARK } from './types'
import type {
  AppendInput,
  AppendResult,
  Bus,
  ConvRecord,
  ConvState,
  ConvSummary,
  ConvStore,
  Engine,
  EngineOptions,
  MessagePlace,
  MessageStore,
  PresenceStore,
  RetractOutcome,
  QueueEntry,
  QueueStore,
  TokenStore,
  UploadSlotStore,
  UserStore,
} from './types'

interface ConvData {
  record: ConvRecord
  /** Last seq stored (in the archive too, when there is one). */
  lastSeq: number
  /** Last seq handed out: above lastSeq while a write is under way. */
  reserved: number
  /** The newest stored messages, contiguous, ending at lastSeq: all of them without an archive. */
  window: string[]
  /** The last message, kept when the window is empty (after a restart). */
  lastJson: string | undefined
  reads: Map<UserId, number>
}

/** What the embedded engine keeps in the archive (SQLite by default) so that a restart loses nothing. */
export interface MemoryArchive {
  readonly archive: Archive
  /** Newest messages per conversation kept in memory; older ones are read from the archive. */
  readonly windowMessages: number
}

/** Entries expire lazily on read and in a sweep, so the map cannot grow without bound. */
class ExpiringMap<V> {
  private readonly map = new Map<string, { value: V; expiresAt: number }>()
  get(key: string, now = Date.now()): V | undefined {
    const e = this.map.get(key)
    if (!e) return undefined
    if (e.expiresAt <= now) {
      this.map.delete(key)
      return undefined
    }
    return e.value
  }
  set(key: string, value: V, ttlMs: number): void {
    this.map.set(key, { value, expiresAt: Date.now() + ttlMs })
  }
  delete(key: string): boolean {
    return this.map.delete(key)
  }
  sweep(now = Date.now()): void {
    for (const [k, e] of this.map) if (e.expiresAt <= now) this.map.delete(k)
  }
}

class MemoryMessages implements MessageStore {
  /** Sends being stored, by dedup key: a retry racing its original waits for it. */
  private readonly inflight = new Map<string, Promise<AppendResult>>()

  constructor(
    private readonly convs: Map<ConvId, ConvData>,
    private readonly dedup: ExpiringMap<number>,
    private readonly backing: (MemoryArchive & { writer: ArchiveWriter }) | undefined,
  ) {}

  async append(input: AppendInput, onStored?: (stored: AppendResult) => void): Promise<AppendResult> {
    const data = this.convs.get(input.conv)
    if (!data) throw new AppError('CONV_NOT_FOUND')
    const key = `${input.conv}\u0000${input.from}\u0000${input.cid}`
    const racing = this.inflight.get(key)
    if (racing) {
      const r = await racing
      return { ...r, dup: true }
    }
    const known = this.dedup.get(key)
    if (known !== undefined) {
      const json = (await this.after(input.conv, known - 1, 1))[0]
      if (json !== undefined && peekMessage(json)?.seq === known) return { msg: JSON.parse(json) as Message, json, dup: true }
    }
    const work = this.store(data, input, key)
    this.inflight.set(key, work)
    try {
      const stored = await work
      onStored?.(stored)
      return stored
    } finally {
      this.inflight.delete(key)
    }
  }

  private async store(data: ConvData, input: AppendInput, key: string): Promise<AppendResult> {
    const seq = ++data.reserved
    const json = messageJson(messageJsonParts(input), seq)
    if (this.backing) {
      try {
        await this.backing.writer.write(
          [{ conv: input.conv, seq, sender: input.from, cid: input.cid, ts: input.ts, json }],
          [{ conv: input.conv, user: input.from, seq }],
        )
      } catch (err) {
        // Give the seq back unless a later send took the next one already.
        if (data.reserved === seq) data.reserved--
        throw new AppError('STORE_UNAVAILABLE', 'the archive refused the message', { cause: err })
      }
    }
    data.lastSeq = Math.max(data.lastSeq, seq)
    data.window.push(json)
    data.lastJson = json
    const max = this.backing?.windowMessages
    if (max !== undefined && data.window.length > max) data.window.splice(0, data.window.length - max)
    data.reads.set(input.from, Math.max(data.reads.get(input.from) ?? 0, seq))
    this.dedup.set(key, seq, input.dedupWindowMs)
    return { msg: messageOf(input, seq), json, dup: false }
  }

  async placeOf(conv: ConvId, from: UserId, cid: string): Promise<number | undefined> {
    return this.dedup.get(`${conv}\u0000${from}\u0000${cid}`)
  }

  async after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
    const data = this.convs.get(conv)
    if (!data) return []
    const first = data.lastSeq - data.window.length + 1
    const start = Math.max(0, afterSeq + 1 - first)
    return windowAfter(data.window.slice(start, start + limit), this.backing?.archive, conv, afterSeq, limit)
  }

  async before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]> {
    const data = this.convs.get(conv)
    if (!data) return []
    const first = data.lastSeq - data.window.length + 1
    const last = beforeSeq === undefined ? data.lastSeq : Math.min(beforeSeq - 1, data.lastSeq)
    const end = last - first + 1
    const hot = end > 0 ? data.window.slice(Math.max(0, end - limit), end) : []
    return windowBefore(hot, this.backing?.archive, conv, hot.length > 0 ? beforeSeq : Math.min(beforeSeq ?? Infinity, first), limit)
  }

  async retract(conv: ConvId, seq: number, tombstone: string): Promise<RetractOutcome> {
    const data = this.convs.get(conv)
    if (!data || seq < 1 || seq > data.lastSeq) return 'missing'
    const held = windowIndex(data, seq)
    if (held >= 0) {
      if (data.window[held]!.includes(RECALLED_MARK)) return 'already'
      // The archive first: a failure leaves the window untouched and the recall can be retried. Its
      // transaction also decides between two retractions racing through this await.
      if (this.backing && (await this.archived(tombstone, true)) === 'already') return 'already'
      // Sends during the await may have moved (or trimmed) the window.
      const at = windowIndex(data, seq)
      if (at >= 0) data.window[at] = tombstone
      if (data.lastJson !== undefined && peekMessage(data.lastJson)?.seq === seq) data.lastJson = tombstone
      return 'done'
    }
    if (!this.backing) return 'missing'
    const outcome = await this.archived(tombstone, false)
    if (outcome === 'done' && data.lastJson !== undefined && peekMessage(data.lastJson)?.seq === seq) data.lastJson = tombstone
    return outcome
  }

  private archived(tombstone: string, insertMissing: boolean): Promise<RetractOutcome> {
    return this.backing!.archive.retract(tombstone, insertMissing).catch((err: unknown) => {
      throw new AppError('STORE_UNAVAILABLE', 'the archive refused the retraction', { cause: err })
    })
  }
}

class MemoryConvs implements ConvStore {
  private readonly byUser = new Map<UserId, Set<ConvId>>()
  constructor(
    private readonly convs: Map<ConvId, ConvData>,
    private readonly backing: (MemoryArchive & { writer: ArchiveWriter }) | undefined,
  ) {}

  /** Add a conversation known to be stored (created here, or loaded from the archive). */
  add(record: ConvRecord, state?: ArchivedConvState): void {
    const lastSeq = state?.lastSeq ?? 0
    this.convs.set(record.id, { record, lastSeq, reserved: lastSeq, window: [], lastJson: state?.lastJson, reads: new Map(state?.reads ?? []) })
    for (const m of record.members) {
      let set = this.byUser.get(m)
      if (!set) this.byUser.set(m, (set = new Set()))
      set.add(record.id)
    }
  }

  async create(record: ConvRecord): Promise<{ record: ConvRecord; created: boolean }> {
    const existing = this.convs.get(record.id)
    if (existing) return { record: existing.record, created: false }
    if (this.backing) {
      const stored = await this.backing.archive.createConv(record).catch((err: unknown) => {
        throw new AppError('STORE_UNAVAILABLE', 'the archive refused the conversation', { cause: err })
      })
      // Another create of the same id may have finished while this one was in the archive.
      const raced = this.convs.get(record.id)
      if (raced) return { record: raced.record, created: false }
      this.add(stored.record)
      return stored
    }
    this.add(record)
    return { record, created: true }
  }

  async get(conv: ConvId): Promise<ConvRecord | undefined> {
    return this.convs.get(conv)?.record
  }

  async update(next: ConvRecord): Promise<boolean> {
    const data = this.convs.get(next.id)
    if (!data) throw new AppError('CONV_NOT_FOUND')
    const prev = data.record
    if ((prev.rev ?? 0) !== (next.rev ?? 0) - 1) return false
    if (this.backing) {
      const ok = await this.backing.archive.updateConv(next).catch((err: unknown) => {
        throw new AppError('STORE_UNAVAILABLE', 'the archive refused the group change', { cause: err })
      })
      // Checked again: another update may have finished while this one was in the archive.
      if (!ok || data.record !== prev) return false
    }
    data.record = next
    const now = new Set(next.members)
    for (const m of prev.members) if (!now.has(m)) this.byUser.get(m)?.delete(next.id)
    for (const m of next.members) {
      let set = this.byUser.get(m)
      if (!set) this.byUser.set(m, (set = new Set()))
      set.add(next.id)
    }
    return true
  }

  async listForUser(user: UserId): Promise<ConvId[]> {
    return [...(this.byUser.get(user) ?? [])]
  }

  async states(convs: readonly ConvId[], user: UserId): Promise<ConvState[]> {
    return convs.map((id) => {
      const data = this.convs.get(id)
      const lastJson = data?.lastJson
      return {
        lastSeq: data?.lastSeq ?? 0,
        lastMsg: lastJson ? (JSON.parse(lastJson) as Message) : undefined,
        readSeq: data?.reads.get(user) ?? 0,
      }
    })
  }

  async overview(user: UserId): Promise<ConvSummary[]> {
    const ids = [...(this.byUser.get(user) ?? [])]
    const states = await this.states(ids, user)
    return ids.map((conv, i) => {
      const data = this.convs.get(conv)
      const peer = data?.record.kind === 'direct' ? directPeer(conv, user) : undefined
      const peerRead = peer === undefined ? undefined : Math.min(data!.reads.get(peer) ?? 0, data!.lastSeq)
      return { conv, ...states[i]!, ...(peerRead !== undefined ? { peerRead } : {}) }
    })
  }

  async markRead(conv: ConvId, user: UserId, seq: number): Promise<number> {
    const data = this.convs.get(conv)
    if (!data) throw new AppError('CONV_NOT_FOUND')
    const mark = Math.max(data.reads.get(user) ?? 0, seq)
    if (this.backing && mark > (data.reads.get(user) ?? 0)) {
      await this.backing.writer.write([], [{ conv, user, seq: mark }]).catch((err: unknown) => {
        throw new AppError('STORE_UNAVAILABLE', 'the archive refused the read mark', { cause: err })
      })
    }
    data.reads.set(user, Math.max(data.reads.get(user) ?? 0, mark))
    return data.reads.get(user)!
  }
}

class MemoryUsers implements UserStore {
  private readonly users = new Map<UserId, User>()
  /** Each user's directory terms, computed when the user is stored (pinyin is not free). */
  private readonly terms = new Map<UserId, string[]>()
  async upsert(user: User): Promise<void> {
    this.users.set(user.id, { ...user })
    this.terms.set(user.id, directoryTerms(user))
  }
  async get(ids: readonly UserId[]): Promise<User[]> {
    const out: User[] = []
    for (const id of ids) {
      const u = this.users.get(id)
      if (u) out.push(u)
    }
    return out
  }
  async search(prefix: string, limit: number): Promise<User[]> {
    const p = prefix.toLowerCase()
    const hits: User[] = []
    for (const u of this.users.values()) {
      if (this.terms.get(u.id)!.some((t) => t.startsWith(p))) hits.push(u)
    }
    return hits.sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, limit)
  }
}

class MemoryQueue implements QueueStore {
  private readonly queues = new Map<UserId, QueueEntry[]>()
  private lastMs = 0
  private lastN = 0
  constructor(private readonly options: EngineOptions) {}

  /** Ids as Redis streams make them: `<ms>-<n>`, strictly increasing. */
  private nextId(): string {
    const now = Date.now()
    if (now > this.lastMs) {
      this.lastMs = now
      this.lastN = 0
    } else this.lastN++
    return `${this.lastMs}-${this.lastN}`
  }

  private trimmed(user: UserId): QueueEntry[] {
    const q = this.queues.get(user) ?? []
    const minMs = Date.now() - this.options.queueRetentionMs
    let drop = 0
    while (drop < q.length && idMs(q[drop]!.id) < minMs) drop++
    if (drop > 0) q.splice(0, drop)
    return q
  }

  async push(user: UserId, ref: MessagePlace): Promise<number> {
    const q = this.trimmed(user)
    q.push({ id: this.nextId(), conv: ref.conv, seq: ref.seq })
    if (q.length > this.options.queueMaxLength) q.splice(0, q.length - this.options.queueMaxLength)
    this.queues.set(user, q)
    return q.length
  }

  async read(user: UserId, limit: number): Promise<QueueEntry[]> {
    return this.trimmed(user).slice(0, limit)
  }

  async ack(user: UserId, upTo: string): Promise<void> {
    const q = this.queues.get(user)
    if (!q) return
    let drop = 0
    while (drop < q.length && compareIds(q[drop]!.id, upTo) <= 0) drop++
    q.splice(0, drop)
    if (q.length === 0) this.queues.delete(user)
  }

  async length(user: UserId): Promise<number> {
    return this.trimmed(user).length
  }
}

class MemoryPresence implements PresenceStore {
  private readonly devices = new Map<UserId, number>()
  private readonly lastSeen = new Map<UserId, number>()
  async connected(user: UserId): Promise<number> {
    const n = (this.devices.get(user) ?? 0) + 1
    this.devices.set(user, n)
    return n
  }
  async disconnected(user: UserId, _node: string, at: number): Promise<number> {
    const n = Math.max(0, (this.devices.get(user) ?? 0) - 1)
    if (n === 0) this.devices.delete(user)
    else this.devices.set(user, n)
    this.lastSeen.set(user, at)
    return n
  }
  async get(users: readonly UserId[]): Promise<Presence[]> {
    return users.map((user) => {
      const lastSeen = this.lastSeen.get(user)
      const p: Presence = { user, online: (this.devices.get(user) ?? 0) > 0 }
      return lastSeen === undefined ? p : { ...p, lastSeen }
    })
  }
  /** One process holds every count: no other node to be reaped by or to reap. */
  async beat(): Promise<boolean> {
    return false
  }
  async reap(): Promise<Presence[]> {
    return []
  }
}

class MemoryTokens implements TokenStore {
  /** token hash -> its family, user and whether it was spent (kept until its expiry). */
  private readonly tokens = new ExpiringMap<{ family: string; user: UserId; spent: boolean }>()
  /** Live families (a revoked one is absent). */
  private readonly families = new ExpiringMap<true>()
  async put(family: string, tokenHash: string, user: UserId, ttlMs: number): Promise<void> {
    this.tokens.set(tokenHash, { family, user, spent: false }, ttlMs)
    this.families.set(family, true, ttlMs)
  }
  async take(family: string, tokenHash: string): Promise<{ outcome: 'ok' | 'reused' | 'revoked'; user: UserId } | undefined> {
    const t = this.tokens.get(tokenHash)
    if (!t || t.family !== family) return undefined
    if (t.spent) {
      this.families.delete(family)
      return { outcome: 'reused', user: t.user }
    }
    t.spent = true
    return { outcome: this.families.get(family) ? 'ok' : 'revoked', user: t.user }
  }
  sweep(): void {
    this.tokens.sweep()
    this.families.sweep()
  }
}

class MemoryUploadSlots implements UploadSlotStore {
  /** user -> upload id -> when its slot frees itself (ms). */
  private readonly slots = new Map<UserId, Map<string, number>>()
  async acquire(user: UserId, id: string, max: number, idleMs: number): Promise<boolean> {
    // No await between the count and the take: atomic within the process, which is all there is.
    const now = Date.now()
    const mine = this.live(user, now)
    if (!mine.has(id) && mine.size >= max) return false
    mine.set(id, now + idleMs)
    this.slots.set(user, mine)
    return true
  }
  async touch(user: UserId, id: string, idleMs: number): Promise<void> {
    const mine = this.slots.get(user)
    if (mine?.has(id)) mine.set(id, Date.now() + idleMs)
  }
  async release(user: UserId, id: string): Promise<void> {
    const mine = this.slots.get(user)
    mine?.delete(id)
    if (mine?.size === 0) this.slots.delete(user)
  }
  async count(user: UserId): Promise<number> {
    return this.live(user, Date.now()).size
  }
  private live(user: UserId, now: number): Map<string, number> {
    const mine = this.slots.get(user) ?? new Map<string, number>()
    for (const [id, until] of mine) if (until <= now) mine.delete(id)
    return mine
  }
}

/** One process: the only subscriber is this process, so publishing only counts it. */
class MemoryBus implements Bus {
  private readonly subscribed = new Set<UserId>()
  async subscribe(user: UserId): Promise<void> {
    this.subscribed.add(user)
  }
  async unsubscribe(user: UserId): Promise<void> {
    this.subscribed.delete(user)
  }
  async publish(user: UserId): Promise<number> {
    return this.subscribed.has(user) ? 1 : 0
  }
  async broadcast(): Promise<number> {
    // This process is the only node: it delivered locally already.
    return 1
  }
  onBroadcast(): void {
    // Nothing is ever received from another process.
  }
  onMessage(): void {
    // Nothing is ever received from another process.
  }
  onReconnect(): void {
    // Never disconnected.
  }
}

/**
 * The embedded engine. Without `backing`, nothing survives the process (tests). With it (the
 * default of `npm start`: SQLite under DATA_DIR), users, conversations, every message and read
 * marks are in the archive before a send is acked, and are loaded back at start; only the
 * ephemeral state (offline queues, presence, refresh tokens, dedup) lives in memory alone.
 */
export async function openMemoryEngine(options: EngineOptions, backing: MemoryArchive): Promise<Engine> {
  const engine = createMemoryEngine(options, backing)
  const convs = engine.convs as MemoryConvs
  for (const record of await backing.archive.allConvs()) convs.add(record, await backing.archive.convState(record.id))
  return engine
}

export function createMemoryEngine(options: EngineOptions, archived?: MemoryArchive): Engine {
  const backing = archived && { ...archived, writer: new ArchiveWriter(archived.archive) }
  const convs = new Map<ConvId, ConvData>()
  const dedup = new ExpiringMap<number>()
  const tokens = new MemoryTokens()
  const sweep = setInterval(() => {
    dedup.sweep()
    tokens.sweep()
  }, 60_000)
  sweep.unref()
  return {
    kind: 'memory',
    messages: new MemoryMessages(convs, dedup, backing),
    convs: new MemoryConvs(convs, backing),
    users: backing ? new ArchiveUsers(backing.archive) : new MemoryUsers(),
    queue: new MemoryQueue(options),
    presence: new MemoryPresence(),
    tokens,
    uploadSlots: new MemoryUploadSlots(),
    wechat: new MemoryWeChatStore(),
    bus: new MemoryBus(),
    async ping() {
      if (backing) await backing.archive.ping().catch((err: unknown) => {
        throw new AppError('STORE_UNAVAILABLE', 'archive unreachable', { cause: err })
      })
    },
    async close() {
      clearInterval(sweep)
      await backing?.archive.close()
    },
  }
}

/** Where message `seq` is in the window, or -1. Usually at seq - first; writes finishing out of order may have shuffled it. */
function windowIndex(data: ConvData, seq: number): number {
  const guess = seq - (data.lastSeq - data.window.length + 1)
  return peekMessage(data.window[guess] ?? '')?.seq === seq ? guess : data.window.findIndex((j) => peekMessage(j)?.seq === seq)
}

function idMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')))
}

/** Compare `<ms>-<n>` ids numerically. */
export function compareIds(a: string, b: string): number {
  const [am, an] = a.split('-').map(Number) as [number, number]
  const [bm, bn] = b.split('-').map(Number) as [number, number]
  return am !== bm ? am - bm : an - bn
}
