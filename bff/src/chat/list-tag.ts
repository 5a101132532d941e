/**
 * A conversation list's tag (issue 15; PROTOCOL.md, Conversation list). A mini-program reconnects
 * on every return from the background and asks for its list each time, and most of those lists
 * are the one it already holds: building, encoding and sending it again was the largest part of a
 * reconnect's work left in the BFF (a storm's CPU profile, docs/SCALING.md M47). A `convs` answer
 * carries a tag; a client that sends it back is answered `same` while the tag still holds.
 *
 * The tag is a 64-bit hash of everything the list is built from, taken from what the listing has
 * in hand anyway (nothing is read for it): the user, the summary (each conversation's seqs, read
 * marks, peer's read mark, unread marks, last message as stored, setting and newest hidden seq),
 * the conversation records (kind, title, members, roles, creation, the user's joining seq), the
 * members' profiles as listed, and the version of the file URLs (a last image's or file's URL is
 * signed afresh and changes with the signing key and expiry step). A change to any of them changes
 * the tag, so `same` means the list would have been built identical (its order included: it
 * follows from the last messages). The hash is not a secret and need not be: a user can only ask
 * about their own list, and to make a list look unchanged a change would have to be crafted
 * against a hash of state the sender cannot see.
 *
 * The user's settings come from the summary where their store folds them into it, else they are
 * read before the list is built (chat/settings.ts `forList`) and both the tag and the list take
 * them from that one read.
 */
import type { User, UserId } from '@chat/shared'
import type { ConvRecord, ConvSummary } from '../store/types'
import { userJson } from './conv-json'

/** Bumped when what a list shows for the same inputs changes (its encoding, a derived field). */
const LIST_FORMAT = 1

/**
 * Two 32-bit lanes (cyrb53's mixing), fed characters and numbers: each string is preceded by its
 * length, so that no two different sequences of strings feed the same characters.
 */
class TagHash {
  private h1 = 0xdeadbeef ^ LIST_FORMAT
  private h2 = 0x41c6ce57 ^ LIST_FORMAT

  str(s: string | undefined): void {
    if (s === undefined) return this.int(-1)
    this.int(s.length)
    let h1 = this.h1
    let h2 = this.h2
    // Two UTF-16 units per step (half the steps: last messages are most of what is hashed); the
    // rotation carries every bit of a step into the low bits of the next.
    const end = s.length - 1
    let i = 0
    for (; i < end; i += 2) {
      const c = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)
      h1 = Math.imul(h1 ^ c, 2654435761)
      h1 = (h1 << 15) | (h1 >>> 17)
      h2 = Math.imul(h2 ^ c, 1597334677)
      h2 = (h2 << 13) | (h2 >>> 19)
    }
    if (i === end) {
      const c = s.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 2654435761)
      h2 = Math.imul(h2 ^ c, 1597334677)
    }
    this.h1 = h1
    this.h2 = h2
  }

  /** A number: integers below 2^53 (seqs, times) exactly, as two 32-bit halves; undefined apart. */
  num(n: number | undefined): void {
    if (n === undefined) return this.int(-2)
    this.int(n >>> 0)
    this.int(Math.floor(n / 0x100000000) | 0)
  }

  private int(n: number): void {
    this.h1 = Math.imul(this.h1 ^ n, 2654435761)
    this.h2 = Math.imul(this.h2 ^ n, 1597334677)
  }

  /** The tag: the format's digit, then both lanes mixed, 7 base-36 digits each. */
  done(): string {
    let h1 = this.h1
    let h2 = this.h2
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
    return `${LIST_FORMAT}${(h1 >>> 0).toString(36).padStart(7, '0')}${(h2 >>> 0).toString(36).padStart(7, '0')}`
  }
}

/** What a list's tag covers besides the summary: its records, as read by the listing. */
export interface TagInputs {
  readonly user: UserId
  readonly summary: readonly ConvSummary[]
  /** The record of each summary entry (same index), undefined where none was found. */
  readonly records: ReadonlyArray<ConvRecord | undefined>
  readonly profiles: ReadonlyMap<UserId, User>
  /** Whose `urlsVersion` says how the file URLs listed are signed now (`FileResolver`). */
  readonly files: { urlsVersion?(): string }
  /**
   * The user's settings of an entry's conversation as the list shows them (muted, pin, a hidden
   * last message), as text (chat/settings.ts `forList`); undefined: not known, no tag.
   */
  readonly settingOf: (s: ConvSummary) => string | undefined
  /** A group's members listed: its first this many (protocol 3), or all when unset. */
  readonly membersMax?: number | undefined
}

/** The tag of the list built from `inputs`, or undefined when some entry's settings are not known. */
export function listTag(inputs: TagInputs): string | undefined {
  const { user, summary, records, profiles, membersMax } = inputs
  const h = new TagHash()
  h.str(user)
  // A list that names a group's first members is another list than the one naming all of them.
  h.num(membersMax ?? -1)
  let files = false
  for (let i = 0; i < summary.length; i++) {
    const s = summary[i]!
    const setting = inputs.settingOf(s)
    if (setting === undefined) return undefined
    h.str(s.conv)
    h.num(s.lastSeq)
    h.num(s.readSeq)
    h.num(s.peerRead)
    h.str(s.marks)
    h.str(setting)
    const last = s.lastJson ?? (s.lastMsg ? JSON.stringify(s.lastMsg) : undefined)
    h.str(last)
    if (!files && last !== undefined && last.includes('"/files/')) files = true
    const r = records[i]
    if (!r) {
      h.num(-3)
      continue
    }
    h.str(r.kind)
    h.str(r.title)
    h.num(r.createdAt)
    h.num(r.rev)
    h.str(r.owner)
    h.num(r.joined?.[user])
    h.num(r.members.length)
    // The members the list names (their count is hashed above, so a change beyond them shows too).
    const listed = membersMax !== undefined && r.kind === 'group' && r.members.length > membersMax ? membersMax : r.members.length
    for (let j = 0; j < listed; j++) {
      const m = r.members[j]!
      const p = profiles.get(m)
      // The profile as the list writes it (its JSON, kept on the cached object): every field.
      h.str(p === undefined ? m : userJson(p))
    }
    const admins = r.admins ?? []
    h.num(admins.length)
    for (const a of admins) h.str(a)
  }
  // A last image's or file's URL is signed when listed: its signing version is part of the list.
  if (files) h.str(inputs.files.urlsVersion?.() ?? '')
  return h.done()
}
