/**
 * What each relation operation does to a pair of users, as a pure function of the pair: the
 * service reads the pair, applies the rule, and stores the result by compare-and-set (a lost race
 * reads again and applies the rule to what is stored then). Each refusal is a stable code.
 */
import { AppError } from '@chat/shared'
import type { RelationEntry, RelationState, User, UserId } from '@chat/shared'
import type { Edge, Pair } from '../store/relations'
import { sides } from '../store/relations'

export type RelationOp = 'request' | 'accept' | 'decline' | 'remove' | 'block' | 'unblock'

/** The pair after `actor` did `op` about the other user, or an AppError. */
export function apply(pair: Pair, actor: UserId, op: RelationOp, at: number, note?: string): Pair {
  const { mine, theirs } = sides(pair, actor)
  let nextMine: Edge | undefined = mine
  let nextTheirs: Edge | undefined = theirs
  switch (op) {
    case 'request':
      if (theirs?.state === 'blocked') throw new AppError('BLOCKED')
      if (mine?.state === 'blocked') throw new AppError('BLOCKED', 'you blocked this user: unblock first')
      if (mine?.state === 'contact') throw new AppError('ALREADY_CONTACT')
      if (mine?.state === 'requested') throw new AppError('REQUEST_EXISTS')
      if (theirs?.state === 'requested') {
        // Both asked: that is an agreement.
        nextMine = { state: 'contact', at }
        nextTheirs = { state: 'contact', at }
      } else {
        nextMine = note ? { state: 'requested', note, at } : { state: 'requested', at }
      }
      break
    case 'accept':
      if (theirs?.state !== 'requested') throw mine?.state === 'contact' ? new AppError('ALREADY_CONTACT') : new AppError('NO_REQUEST')
      nextMine = { state: 'contact', at }
      nextTheirs = { state: 'contact', at }
      break
    case 'decline':
      if (theirs?.state !== 'requested') throw new AppError('NO_REQUEST')
      nextTheirs = undefined
      break
    case 'remove':
      if (mine?.state !== 'contact') throw new AppError('NOT_CONTACT')
      nextMine = undefined
      nextTheirs = undefined
      break
    case 'block':
      if (mine?.state === 'blocked') return pair
      nextMine = { state: 'blocked', at }
      // A contact or a pending request of theirs ends; their own block of this user stays.
      if (theirs?.state !== 'blocked') nextTheirs = undefined
      break
    case 'unblock':
      if (mine?.state !== 'blocked') throw new AppError('NOT_BLOCKED')
      nextMine = undefined
      break
  }
  const mineIsA = actor === pair.a
  return { a: pair.a, b: pair.b, ab: mineIsA ? nextMine : nextTheirs, ba: mineIsA ? nextTheirs : nextMine, version: pair.version }
}

/** How `user` sees the relation with the other user of `pair` (a block of theirs is not shown). */
export function stateOf(pair: Pair, user: UserId): { state: RelationState; note?: string | undefined; at: number } {
  const { mine, theirs } = sides(pair, user)
  if (mine?.state === 'blocked') return { state: 'blocked', at: mine.at }
  if (mine?.state === 'contact') return { state: 'contact', at: mine.at }
  if (mine?.state === 'requested') return { state: 'outgoing', note: mine.note, at: mine.at }
  if (theirs?.state === 'requested') return { state: 'incoming', note: theirs.note, at: theirs.at }
  return { state: 'none', at: Math.max(mine?.at ?? 0, theirs?.at ?? 0) }
}

export function entryOf(pair: Pair, user: UserId, other: User): RelationEntry {
  const s = stateOf(pair, user)
  const entry: RelationEntry = { user: other, state: s.state, at: s.at }
  if (s.note !== undefined) entry.note = s.note
  return entry
}

/** Whether the change from `before` to `after` adds a relation to `user` (the bound LIMITS.maxRelations counts those). */
export function adds(before: Pair, after: Pair, user: UserId): boolean {
  const had = before.ab !== undefined || before.ba !== undefined
  const has = after.ab !== undefined || after.ba !== undefined
  return !had && has && (user === after.a || user === after.b)
}
