/**
 * Group changes applied where they happen: a `system` message newer than what the conversation
 * summary knows changes its members, title and roles at once (the header's member count, the
 * title), before the conversation list asked again says the same. A change that ends our
 * membership (removed, left, dissolved) marks the conversation `ended`: it stays, with the
 * timeline up to that message, and the chat says why instead of offering a composer.
 */
import type { Conversation, ConvId, Message, User, UserId } from '@chat/shared'
import { memberCountOf } from './selectors'
import type { ChatState, EndedReason } from './types'

/**
 * Apply the group changes among `msgs` (new ones only: seq above the summary's lastSeq, so a
 * history page of old changes, or the same change again, does nothing). Same state when nothing changed.
 */
export function applyGroupChanges(s: ChatState, conv: ConvId, msgs: readonly Message[]): ChatState {
  const listed = s.convs[conv]
  let c = listed ?? s.unlisted?.[conv]
  if (!c || c.kind !== 'group') return s
  const start = c
  let ended = s.ended?.[conv]
  for (const m of msgs) {
    if (m.kind !== 'system' || m.seq <= c.lastSeq) continue
    const next = changed(c, m, s.users)
    if (next !== c) c = next
    const end = endOf(m, s.me?.id)
    if (end) ended = { reason: end, seq: m.seq }
  }
  if (!listed) {
    // Unlisted: back only once we know it ended (its summary is shown again, with why).
    if (!ended || ended === s.ended?.[conv]) return s
    const unlisted = { ...s.unlisted }
    delete unlisted[conv]
    // Its members' names, which no list names any more (a reload starts without them).
    const users = { ...s.users }
    for (const u of start.members) users[u.id] ??= u
    return { ...s, convs: { ...s.convs, [conv]: c }, ended: { ...s.ended, [conv]: ended }, unlisted, users }
  }
  if (c === start && ended === s.ended?.[conv]) return s
  return {
    ...s,
    convs: c === start ? s.convs : { ...s.convs, [conv]: c },
    ended: ended === s.ended?.[conv] || !ended ? s.ended : { ...s.ended, [conv]: ended },
  }
}

/**
 * The summary after system message `m` (PROTOCOL.md, Groups). A version-3 list's group holds its
 * first members only: its `memberCount` follows the change too (recount), whoever it names.
 */
function changed(c: Conversation, m: Extract<Message, { kind: 'system' }>, users: Readonly<Record<UserId, User>>): Conversation {
  const b = m.body
  const named = b.users ?? []
  const drop = (ids: readonly UserId[]) => ({
    members: c.members.filter((u) => !ids.includes(u.id)),
    admins: (c.admins ?? []).filter((a) => !ids.includes(a)),
  })
  switch (b.op) {
    case 'add': {
      const known = new Set(c.members.map((u) => u.id))
      const added = named.filter((u) => !known.has(u)).map((u) => users[u] ?? { id: u, name: u })
      return added.length === 0 ? c : recount(c, { ...c, members: [...c.members, ...added] }, added.length)
    }
    case 'remove':
      return recount(c, { ...c, ...drop(named) }, -named.length)
    case 'leave':
      return recount(c, { ...c, ...drop([m.from]) }, -1)
    case 'rename': {
      // Taken back by moderation: untitled again, named by its members as a group created without one.
      if (b.by === 'moderation') {
        const { title: _taken, ...untitled } = c
        return untitled
      }
      return b.title === undefined ? c : { ...c, title: b.title }
    }
    case 'admin':
      return { ...c, admins: [...new Set([...(c.admins ?? []), ...named])] }
    case 'unadmin':
      return { ...c, admins: (c.admins ?? []).filter((a) => !named.includes(a)) }
    case 'transfer':
      return named[0] === undefined ? c : { ...c, owner: named[0], admins: (c.admins ?? []).filter((a) => a !== named[0]) }
    case 'dissolve':
      return recount(c, { ...c, members: [], admins: [] }, -memberCountOf(c))
    case 'create':
      return c
  }
}

/**
 * `next` with the count of `c` moved by `by`, when `c` has one. Whom a removal names may be beyond
 * the members held, and still counts; the count never goes below the members held.
 */
function recount(c: Conversation, next: Conversation, by: number): Conversation {
  return c.memberCount === undefined ? next : { ...next, memberCount: Math.max(next.members.length, c.memberCount + by) }
}

/** Whether `m` ends `me`'s membership, and how. */
function endOf(m: Extract<Message, { kind: 'system' }>, me: UserId | undefined): EndedReason | undefined {
  if (me === undefined) return undefined
  if (m.body.op === 'dissolve') return 'dissolved'
  if (m.body.op === 'remove' && m.body.users?.includes(me)) return 'removed'
  if (m.body.op === 'leave' && m.from === me) return 'left'
  // Added back after a removal: the conversation is ours again.
  return undefined
}

/** Conversations we are no longer in, kept while the app runs: the server's list leaves them out. */
export function keepEnded(s: ChatState, convs: Record<ConvId, Conversation>): Record<ConvId, Conversation> {
  if (!s.ended) return convs
  let out: Record<ConvId, Conversation> | undefined
  for (const id of Object.keys(s.ended)) {
    const mine = s.convs[id]
    if (convs[id] || !mine) continue
    out ??= { ...convs }
    out[id] = mine
  }
  return out ?? convs
}

/** `ended` without the groups the server lists as ours again (added back) past the change that ended them. */
export function stillEnded(ended: ChatState['ended'], listed: readonly Conversation[]): ChatState['ended'] {
  if (!ended) return ended
  let out: Record<ConvId, NonNullable<ChatState['ended']>[ConvId]> | undefined
  for (const c of listed) {
    const e = (out ?? ended)[c.id]
    if (!e || c.lastSeq <= e.seq) continue
    out ??= { ...ended }
    delete out[c.id]
  }
  return out ?? ended
}

/**
 * The groups of `s.convs` a new server list leaves out (not ended as far as we know): kept aside,
 * so the change that ended our membership (a later sync batch) can bring them back with why.
 */
export function unlistedGroups(s: ChatState, listed: Readonly<Record<ConvId, Conversation>>): ChatState['unlisted'] {
  let out: Record<ConvId, Conversation> | undefined
  for (const c of Object.values(s.convs)) {
    if (c.kind !== 'group' || listed[c.id] || s.ended?.[c.id]) continue
    out ??= { ...s.unlisted }
    out[c.id] = c
  }
  // Listed again (added back): ours, not aside.
  for (const id of Object.keys(s.unlisted ?? {})) {
    if (!listed[id]) continue
    out ??= { ...s.unlisted }
    delete out[id]
  }
  return out ?? s.unlisted
}
