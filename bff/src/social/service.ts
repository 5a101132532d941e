/**
 * The relations domain: contact requests (with a note), accept, decline, remove, block, unblock,
 * the list with presence, and who may open a 1:1. Plain objects in; frames out through the
 * `push` callback (Delivery.frame in the server). The chat service consults it through the
 * `SendChecks` it is composed with (`checks`): a blocked sender's sends into the 1:1 are refused
 * (BLOCKED), a 1:1 is opened only when the other allows it (BLOCKED, NOT_CONTACT), and a search
 * never lists someone who blocked the searcher.
 */
import { AppError, LIMITS, directConvId, directMembers } from '@chat/shared'
import type { ConvId, DirectPolicy, Presence, RelationEntry, User, UserId } from '@chat/shared'
import type { Edge, Pair, RelationStore } from '../store/relations'
import { sides } from '../store/relations'
import type { Overview, PresenceStore, UserStore } from '../store/types'
import { AS_NOTE, NO_TEXT_CHECK, type SendChecks } from '../wechat/security'
import { boundedCache } from '../bounded-cache'
import { adds, apply, entryOf } from './rules'
import type { RelationOp } from './rules'

/** Compare-and-set attempts of one operation before giving up (STORE_UNAVAILABLE, temporary). */
const CAS_ATTEMPTS = 8
/** The cid under which content security lists a contact request's note it flagged (a note has no cid of its own). */
const NOTE_CID = 'note'
/** Order of the list: contacts, then requests to answer, then sent ones, then blocked users. */
const ORDER = { contact: 0, incoming: 1, outgoing: 2, blocked: 3, none: 4 } as const
/**
 * How long a pair read for the send check is used again, ms: a backstop only. A change of the pair
 * drops it at once on the node that made it and, through `RelationsDeps.changed` (the bus), on
 * every other node; this bounds how long a lost announcement could leave it stale.
 */
export const SEND_CHECK_TTL_MS = 60_000
/** Most pairs kept for the send check (the least recently used dropped first): every active 1:1 of a large node. */
const SEND_CHECK_MAX = 100_000

export interface RelationsDeps {
  readonly store: RelationStore
  readonly users: UserStore
  readonly presence: PresenceStore
  /** An ephemeral frame to every device of `users`, except the connection `except` (Delivery.frame). */
  readonly push: (users: readonly UserId[], type: 'relation', json: string, except?: unknown) => void
  /** Most relations a user may hold. Default LIMITS.maxRelations. */
  readonly maxRelations?: number
  /**
   * Called after the pair of the 1:1 `conv` changed here: the composition tells every other node
   * (Delivery.convChanged), which calls `forget(conv)` there. The change is answered once it resolves.
   */
  readonly changed?: (conv: ConvId) => Promise<void> | void
  /**
   * Content security of a contact request's note, as of a message's text (SendChecks.text: throws
   * CONTENT_RISKY or SECCHECK_UNAVAILABLE). Default: notes are not checked.
   */
  readonly checkText?: SendChecks['text']
}

export class Relations {
  private readonly maxRelations: number
  /**
   * The send check's verdicts, by 1:1 conversation id: a send into a 1:1 costs no store read
   * while its pair is unchanged (issue 15: the check was one Redis round trip per message). Only
   * what the check needs is kept, a small integer (`sendVerdict`), not the pair: an entry is its
   * key and that number (issue 15, memory: this cache fills with every active 1:1).
   */
  private readonly sendPairs = boundedCache<ConvId, number>({ max: SEND_CHECK_MAX, ttlMs: SEND_CHECK_TTL_MS })
  /** Counts the drops of `sendPairs`: a read that began before one is not kept (it may be older than the change). */
  private epoch = 0

  constructor(private readonly deps: RelationsDeps) {
    this.maxRelations = deps.maxRelations ?? LIMITS.maxRelations
  }

  /**
   * `actor` does `op` about `other`. Returns the actor's entry; pushes it to the actor's other
   * devices, and the other's entry to the other user unless it is a block or an unblock (a
   * blocked user is never told).
   */
  async act(actor: UserId, op: RelationOp, other: UserId, note?: string, conn?: unknown): Promise<RelationEntry> {
    if (other === actor) throw new AppError('SELF_RELATION')
    const [profile] = await this.deps.users.get([other])
    if (!profile) throw new AppError('USER_NOT_FOUND')
    const said = note?.trim() || undefined
    // A note is text another user reads: checked before it is stored, listed under the cid `note`
    // (let through unchecked, it is re-checked later: wechat/recheck.ts, `withdrawNote`).
    if (op === 'request' && said !== undefined && this.deps.checkText) await this.deps.checkText(actor, directConvId(actor, other), NOTE_CID, said, AS_NOTE)
    let stored: Pair | undefined
    let wrote = false
    for (let i = 0; i < CAS_ATTEMPTS && !stored; i++) {
      const before = await this.deps.store.pair(actor, other)
      const after = apply(before, actor, op, Date.now(), said)
      if (after === before) stored = before
      else {
        for (const u of [actor, other]) {
          if (adds(before, after, u) && (await this.deps.store.peers(u)).length >= this.maxRelations) throw new AppError('RELATIONS_FULL')
        }
        if (await this.deps.store.put(after)) {
          stored = after
          wrote = true
        }
      }
    }
    if (!stored) throw new AppError('STORE_UNAVAILABLE', 'relation changed concurrently too often: retry')
    if (wrote) await this.changedPair(actor, other)
    return this.tell(stored, actor, other, profile, op !== 'block' && op !== 'unblock', conn)
  }

  /**
   * Moderation (a risky note found on its re-check, wechat/recheck.ts): the note `note` taken off
   * `from`'s pending request to `to`, if the request still carries it. The request stays; both
   * users' devices get the changed entry. Resolves whether it took the note off.
   */
  async withdrawNote(from: UserId, to: UserId, note: string): Promise<boolean> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const pair = await this.deps.store.pair(from, to)
      const { mine } = sides(pair, from)
      if (mine?.state !== 'requested' || mine.note !== note) return false
      const bare: Edge = { state: 'requested', at: mine.at }
      const after: Pair = from === pair.a ? { ...pair, ab: bare } : { ...pair, ba: bare }
      if (!(await this.deps.store.put(after))) continue
      await this.changedPair(from, to)
      const [profile] = await this.deps.users.get([to])
      await this.tell(after, from, to, profile ?? { id: to, name: to }, true)
      return true
    }
    throw new AppError('STORE_UNAVAILABLE', 'relation changed concurrently too often: retry')
  }

  /** Whether `from`'s pending contact request to `to` carries the note `note`. */
  async noteShown(from: UserId, to: UserId, note: string): Promise<boolean> {
    const { mine } = sides(await this.deps.store.pair(from, to), from)
    return mine?.state === 'requested' && mine.note === note
  }

  /** The pair of `x` and `y` changed here: its kept send check goes, here and on every other node. */
  private async changedPair(x: UserId, y: UserId): Promise<void> {
    const conv = directConvId(x, y)
    this.forget(conv)
    await this.deps.changed?.(conv)
  }

  /** `stored` as `actor` sees it, pushed to the actor's devices (but `conn`) and, when `both`, as `other` sees it to theirs. Returns the actor's entry. */
  private async tell(stored: Pair, actor: UserId, other: UserId, profile: User, both: boolean, conn?: unknown): Promise<RelationEntry> {
    const [me] = await this.deps.users.get([actor])
    const mine = await this.withPresence(entryOf(stored, actor, profile))
    this.deps.push([actor], 'relation', JSON.stringify({ type: 'relation', entry: mine }), conn)
    if (both) {
      const theirs = await this.withPresence(entryOf(stored, other, me ?? { id: actor, name: actor }))
      this.deps.push([other], 'relation', JSON.stringify({ type: 'relation', entry: theirs }))
    }
    return mine
  }

  /** Every relation of `user` (contacts with presence first), and its 1:1 setting. */
  async list(user: UserId): Promise<{ policy: DirectPolicy; items: RelationEntry[] }> {
    const peers = (await this.deps.store.peers(user)).slice(0, this.maxRelations)
    const [pairs, profiles, policy] = await Promise.all([Promise.all(peers.map((p) => this.deps.store.pair(user, p))), this.deps.users.get(peers), this.deps.store.policy(user)])
    const byId = new Map(profiles.map((p) => [p.id, p]))
    const items = pairs.map((pair, i) => entryOf(pair, user, byId.get(peers[i]!) ?? { id: peers[i]!, name: peers[i]! })).filter((e) => e.state !== 'none')
    const contacts = items.filter((e) => e.state === 'contact')
    const presence = new Map((contacts.length > 0 ? await this.deps.presence.get(contacts.map((c) => c.user.id)) : []).map((p) => [p.user, p]))
    for (const e of contacts) setPresence(e, presence.get(e.user.id))
    items.sort((x, y) => ORDER[x.state] - ORDER[y.state] || x.user.name.localeCompare(y.user.name) || (x.user.id < y.user.id ? -1 : 1))
    return { policy, items }
  }

  async setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    await this.deps.store.setPolicy(user, policy)
  }

  private async withPresence(entry: RelationEntry): Promise<RelationEntry> {
    if (entry.state !== 'contact') return entry
    const [p] = await this.deps.presence.get([entry.user.id])
    setPresence(entry, p)
    return entry
  }

  // ---------------------------------------------------------------- the chat service's checks

  /** Throws BLOCKED when the other member of the 1:1 `conv` blocked `user` (groups: nothing to check). */
  async checkSend(user: UserId, conv: ConvId): Promise<void> {
    await this.sendCheck(user, conv)
  }

  /**
   * `checkSend` without a promise when the pair is kept (`sendPairs`) and allows the send
   * (undefined); otherwise a promise rejected with BLOCKED, or the read of the pair.
   */
  sendCheck(user: UserId, conv: ConvId): Promise<void> | undefined {
    // A kept pair is of a valid 1:1 between two users (kept below only then): which side `user` is
    // on is read off the id in place, without splitting it (issue 15: one array and three strings
    // per message).
    const kept = this.sendPairs.get(conv)
    if (kept !== undefined) return kept & (isFirstOf(conv, user) ? BLOCKED_FIRST : BLOCKED_SECOND) ? Promise.reject(new AppError('BLOCKED')) : undefined
    const members = directMembers(conv)
    if (!members) return undefined
    const peer = members[0] === user ? members[1] : members[0]
    if (peer === user) return undefined
    const mine = user === members[0] ? BLOCKED_FIRST : BLOCKED_SECOND
    const epoch = this.epoch
    return this.deps.store.pair(user, peer).then((pair) => {
      const verdict = sendVerdict(pair, members)
      if (epoch === this.epoch) this.sendPairs.set(conv, verdict)
      if (verdict & mine) throw new AppError('BLOCKED')
    })
  }

  /** The pair of the 1:1 `conv` changed (here or on another node): read it again at the next send. */
  forget(conv: ConvId): void {
    this.epoch++
    this.sendPairs.delete(conv)
  }

  /** Changes may have been missed (the bus was away): read every pair again. */
  forgetAll(): void {
    this.epoch++
    this.sendPairs.clear()
  }

  /** Throws BLOCKED or NOT_CONTACT when `user` may not open a 1:1 with `peer`. */
  async checkOpen(user: UserId, peer: UserId): Promise<void> {
    if (peer === user) return
    const [pair, policy] = await Promise.all([this.deps.store.pair(user, peer), this.deps.store.policy(peer)])
    const { mine, theirs } = sides(pair, user)
    if (theirs?.state === 'blocked') throw new AppError('BLOCKED')
    if (policy === 'contacts' && mine?.state !== 'contact') throw new AppError('NOT_CONTACT')
  }

  /** `users` without those who blocked `user`. */
  async visibleTo(user: UserId, users: readonly User[]): Promise<User[]> {
    const pairs = await Promise.all(users.map((u) => (u.id === user ? Promise.resolve(undefined) : this.deps.store.pair(user, u.id))))
    return users.filter((_, i) => sides(pairs[i] ?? { a: '', b: '', version: 0 }, user).theirs?.state !== 'blocked')
  }

  /**
   * `user`'s contacts, the users `user` blocked and the users who blocked `user`, from at most
   * maxRelations relations: what presence follows (`presenceAudience`, `presenceSources`).
   */
  async circle(user: UserId, summary?: Pick<Overview, 'relations'>): Promise<{ contacts: UserId[]; blocked: Set<UserId>; blockedBy: Set<UserId> }> {
    const peers = (await this.peersOf(user, summary)).slice(0, this.maxRelations)
    const pairs = await Promise.all(peers.map((p) => this.deps.store.pair(user, p)))
    const contacts: UserId[] = []
    const blocked = new Set<UserId>()
    const blockedBy = new Set<UserId>()
    pairs.forEach((pair, i) => {
      const { mine, theirs } = sides(pair, user)
      const peer = peers[i]!
      if (mine?.state === 'blocked') blocked.add(peer)
      if (theirs?.state === 'blocked') blockedBy.add(peer)
      if (mine?.state === 'contact' && theirs?.state === 'contact') contacts.push(peer)
    })
    return { contacts, blocked, blockedBy }
  }

  /**
   * `user`'s peers (`RelationStore.peers`). `summary`: the user's summary, read anyway: its folded
   * relations when the store folds them (`RelationStore.fold`) and it holds them; when it does not
   * hold them yet, the index is read as before and folded for the next time (best effort).
   */
  private async peersOf(user: UserId, summary?: Pick<Overview, 'relations'>): Promise<readonly UserId[]> {
    const store = this.deps.store
    if (!store.fold || !summary) return store.peers(user)
    if (summary.relations) return summary.relations
    const peers = await store.peers(user)
    await store.fold(user).catch(() => {})
    return peers
  }

  /** Who is told `user`'s presence: `members` (its conversations') and its contacts, less the users `user` blocked. */
  async presenceAudience(user: UserId, members: readonly UserId[]): Promise<UserId[]> {
    const { contacts, blocked } = await this.circle(user)
    return othersOnce(user, members, contacts, blocked)
  }

  /** Whose presence a new device of `user` gets: `peers` (its 1:1s') and its contacts, less those who blocked `user`. */
  async presenceSources(user: UserId, peers: readonly UserId[], summary?: Pick<Overview, 'relations'>): Promise<UserId[]> {
    const { contacts, blockedBy } = await this.circle(user, summary)
    return othersOnce(user, peers, contacts, blockedBy)
  }

  /** These checks as the chat service's `SendChecks`, composed after `inner` (content security). */
  checks(inner: SendChecks): SendChecks {
    return {
      // No text checks stays recognisable as such (the chat service then awaits nothing).
      text: inner.text === NO_TEXT_CHECK ? NO_TEXT_CHECK : (user, conv, cid, text, as) => inner.text(user, conv, cid, text, as),
      direct: inner.direct
        ? async (user, conv) => {
            await inner.direct!(user, conv)
            await this.sendCheck(user, conv)
          }
        : (user, conv) => this.sendCheck(user, conv),
      open: async (user, peer) => {
        await inner.open?.(user, peer)
        await this.checkOpen(user, peer)
      },
      visible: async (user, users) => this.visibleTo(user, inner.visible ? await inner.visible(user, users) : users),
      presenceAudience: async (user, members) => this.presenceAudience(user, inner.presenceAudience ? await inner.presenceAudience(user, members) : members),
      presenceSources: async (user, peers, summary) => this.presenceSources(user, inner.presenceSources ? await inner.presenceSources(user, peers, summary) : peers, summary),
    }
  }
}

/**
 * `first` then `second`, each user once, without `user` and those in `excluded`: one Set and the
 * result, where spreading both into an array, a Set and an array again allocated four (once per
 * reconnect, issue 15).
 */
function othersOnce(user: UserId, first: readonly UserId[], second: readonly UserId[], excluded: ReadonlySet<UserId>): UserId[] {
  const seen = new Set<UserId>()
  const out: UserId[] = []
  for (const list of [first, second]) {
    for (const u of list) {
      if (u === user || excluded.has(u) || seen.has(u)) continue
      seen.add(u)
      out.push(u)
    }
  }
  return out
}

/** Whether the other of `pair` blocked `user`. */
/** `sendVerdict` bits: the 1:1's first member (directMembers order) is blocked by the second; the second by the first. */
const BLOCKED_FIRST = 1
const BLOCKED_SECOND = 2

/** Which of the two members of a 1:1 may not send into it, as BLOCKED_FIRST | BLOCKED_SECOND. */
function sendVerdict(pair: Pair, members: readonly [UserId, UserId]): number {
  return (blockedBy(pair, members[0]) ? BLOCKED_FIRST : 0) | (blockedBy(pair, members[1]) ? BLOCKED_SECOND : 0)
}

function blockedBy(pair: Pair, user: UserId): boolean {
  return sides(pair, user).theirs?.state === 'blocked'
}

function setPresence(entry: RelationEntry, p: Presence | undefined): void {
  entry.online = p?.online ?? false
  if (p?.lastSeen !== undefined) entry.lastSeen = p.lastSeen
}

/** Whether `user` is the first member named by the 1:1 id `conv` (`d:<first>:<second>`; ids hold no `:`). */
function isFirstOf(conv: ConvId, user: UserId): boolean {
  return conv.charCodeAt(2 + user.length) === 58 && conv.startsWith(user, 2)
}
