/**
 * The names of people a group's messages name and the store does not hold (PROTOCOL.md,
 * Conversation list): a version-3 list names a group's first LIMITS.listMembersMax members only,
 * so a sender, a mention, a quoted sender or a change's member beyond them would show as a raw
 * id. Those ids are asked with `members {conv, users}`: gathered for NAMES_SOON_MS, at most
 * LIMITS.maxPageSize a request, one request per conversation at a time, each answer one store
 * update.
 *
 * An id is asked once per session, also when the answer leaves it out (a former member): a message
 * never causes a request again. The ids of a request that failed are asked on the next connection.
 */
import { LIMITS, type ConvId, type UserId } from '@chat/shared'
import type { TimerId } from '../platform/types'
import { setUsers } from '../store/store'
import type { ChatMessage } from '../store/types'
import type { ClientContext } from './context'
import type { Requests } from './requests'

/** Ids wanted within this long (a sync's batches, a burst of pushes) go in one request, ms. */
const NAMES_SOON_MS = 100

export class Names {
  /** Per conversation: the ids asked this session, or waiting to be. */
  private readonly asked = new Map<ConvId, Set<UserId>>()
  /** Per conversation: the ids the next request asks. */
  private readonly queued = new Map<ConvId, Set<UserId>>()
  /** Per conversation: the ids of requests that failed, asked on the next connection. */
  private readonly failed = new Map<ConvId, Set<UserId>>()
  private readonly inFlight = new Set<ConvId>()
  private timer?: TimerId
  /** Changed by `reset`: what a request of an earlier session brings is dropped. */
  private session = 0

  constructor(
    private readonly ctx: ClientContext,
    private readonly requests: Requests,
    private readonly connected: () => boolean,
  ) {}

  /** Messages of `conv` came (push, sync batch, history page, the cache at start): the people they name. */
  messages(conv: ConvId, msgs: readonly ChatMessage[]): void {
    const s = this.ctx.store.getState()
    // Unknown yet (a sync before the list): gathered, asked once the list says it is a group.
    const c = s.convs[conv]
    if (c && (c.kind !== 'group' || s.ended?.[conv])) return
    for (const m of msgs) for (const id of named(m)) if (!s.users[id]) this.want(conv, id)
    this.soon()
  }

  /** A list was set: the people its groups' last messages name ("Name: text" in the list). */
  listed(): void {
    for (const c of Object.values(this.ctx.store.getState().convs)) if (c.kind === 'group' && c.lastMsg) this.messages(c.id, [c.lastMsg])
    // What waited for the list to know its conversations.
    this.soon()
  }

  /** Connected (again): what failed on the connection before is asked, with what waited for one. */
  online(): void {
    const users = this.ctx.store.getState().users
    for (const [conv, ids] of this.failed) {
      const asked = this.asked.get(conv)
      for (const id of ids) {
        asked?.delete(id)
        if (!users[id]) this.want(conv, id)
      }
    }
    this.failed.clear()
    this.soon()
  }

  /** Logout: the next user starts with nothing asked. */
  reset(): void {
    this.session++
    this.asked.clear()
    this.queued.clear()
    this.failed.clear()
    this.inFlight.clear()
    this.dispose()
  }

  dispose(): void {
    this.ctx.timers.clearTimeout(this.timer)
    this.timer = undefined
  }

  private want(conv: ConvId, id: UserId): void {
    let asked = this.asked.get(conv)
    if (!asked) this.asked.set(conv, (asked = new Set()))
    if (asked.has(id)) return
    asked.add(id)
    let queued = this.queued.get(conv)
    if (!queued) this.queued.set(conv, (queued = new Set()))
    queued.add(id)
  }

  private soon(): void {
    if (this.timer !== undefined || this.queued.size === 0) return
    this.timer = this.ctx.timers.setTimeout(() => {
      this.timer = undefined
      // Offline: `online` asks them.
      if (this.connected()) for (const conv of [...this.queued.keys()]) this.ask(conv)
    }, NAMES_SOON_MS)
  }

  /** The next request of `conv`, unless one is on its way (its answer sends the next). */
  private ask(conv: ConvId): void {
    const queued = this.queued.get(conv)
    if (!queued || this.inFlight.has(conv)) return
    const s = this.ctx.store.getState()
    const c = s.convs[conv]
    if (!c) return
    if (c.kind !== 'group' || s.ended?.[conv]) {
      this.queued.delete(conv)
      return
    }
    const users: UserId[] = []
    for (const id of queued) {
      if (users.length === LIMITS.maxPageSize) break
      queued.delete(id)
      // Named since (a list, another group's answer): nothing to ask.
      if (!s.users[id]) users.push(id)
    }
    if (queued.size === 0) this.queued.delete(conv)
    if (users.length === 0) return
    const session = this.session
    this.inFlight.add(conv)
    void this.requests
      .send<'members'>('members', (rid) => ({ type: 'members', rid, conv, users }), conv)
      .then(
        (f) => {
          if (session === this.session) this.ctx.store.setState((x) => setUsers(x, f.items.map((i) => i.user)))
        },
        () => {
          if (session !== this.session) return
          let failed = this.failed.get(conv)
          if (!failed) this.failed.set(conv, (failed = new Set()))
          for (const id of users) failed.add(id)
        },
      )
      .then(() => {
        if (session !== this.session) return
        this.inFlight.delete(conv)
        if (this.connected()) this.ask(conv)
      })
  }
}

/** Whom message `m` names: its sender, a text's mentions and quoted sender, a change's members. */
function named(m: ChatMessage): UserId[] {
  const b = m.body
  const ids = [m.from]
  if ('mentions' in b && b.mentions) ids.push(...b.mentions)
  if ('reply' in b && b.reply && 'from' in b.reply) ids.push(b.reply.from)
  if ('op' in b && b.users) ids.push(...b.users)
  return ids
}
