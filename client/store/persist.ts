/**
 * The last known state in storage, bounded, so the app opens on it before the socket connects:
 * the newest `cacheConversations` conversations and, for each, its newest
 * `cacheMessagesPerConversation` confirmed messages plus its pending ones. One key per
 * conversation, written only when that conversation changed, coalesced over `cacheSaveDelayMs`
 * (wx storage calls are synchronous and cross to native).
 *
 * Within wx storage's limits (platform/types.ts: 1 MB a key, 10 MB in all): a group's members (up to
 * LIMITS.maxGroupMembers) are kept apart from the conversations' index, in keys of their own of at
 * most MEMBERS_KEY_CHARS each, written only when they change. The index, rewritten whenever any
 * conversation changes (every message), holds a group without them: a few hundred bytes per
 * conversation whatever its size. A group whose members could not be read back (a write refused
 * when storage was full) is left out of the cache loaded; the server's list brings it.
 */
import * as v from 'valibot'
import { schemas, type Conversation, type ConvId, type User, type UserId } from '@chat/shared'
import type { KeyValueStorage, TimerId, Timers } from '../platform/types'
import { convOrder } from './selectors'
import type { ChatStore } from './store'
import type { ChatMessage, ChatState, PeerMarks } from './types'

export interface CacheBounds {
  readonly cacheConversations: number
  readonly cacheMessagesPerConversation: number
  readonly cacheSaveDelayMs: number
}

/** 2: a group's members in keys of their own (1 held them in the index). */
const CACHE_VERSION = 2

/**
 * Most characters of JSON in one key of a group's members: 3 bytes per character at worst (UTF-8),
 * within a key's 1 MB with room to spare. A group of 2,000 WeChat users takes 1-2 keys.
 */
const MEMBERS_KEY_CHARS = 300_000

const keys = (user: string) => ({
  index: `chat.cache.${user}.convs`,
  drafts: `chat.cache.${user}.drafts`,
  conv: (conv: ConvId) => `chat.cache.${user}.m.${conv}`,
  /** Part `part` of a group's members. */
  members: (conv: ConvId, part: number) => `chat.cache.${user}.u.${conv}.${part}`,
})

const Pending = v.object({
  cid: schemas.ClientMsgId,
  from: schemas.UserId,
  conv: schemas.ConvId,
  kind: schemas.MessageKind,
  // What an unsent message may carry: a text (with its quote and mentions), or the layout of a file
  // being uploaded (name, size, and what the upload added); anything else is not restored.
  body: v.union([
    schemas.SendTextBody,
    v.looseObject({
      name: v.string(),
      size: v.number(),
      mime: v.optional(v.string()),
      width: v.optional(v.number()),
      height: v.optional(v.number()),
      duration: v.optional(v.number()),
    }),
  ]),
  ts: v.number(),
  status: v.optional(v.picklist(['sending', 'failed'])),
  error: v.optional(v.string()),
  failedPlace: v.optional(v.object({ after: v.number(), behind: v.pipe(v.array(v.string()), v.maxLength(20)) })),
  upload: v.optional(
    v.object({
      localPath: v.string(),
      sentBytes: v.number(),
      totalBytes: v.number(),
      done: v.boolean(),
      failure: v.optional(v.object({ code: v.string(), message: v.string() })),
    }),
  ),
})

const Index = v.object({
  v: v.literal(CACHE_VERSION),
  /** Groups with `members: []`: theirs are in `parts[id]` keys of their own. */
  convs: v.array(v.unknown()),
  /** How many keys hold each group's members. */
  parts: v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(64))),
  peers: v.record(v.string(), v.object({ delivered: v.number(), read: v.number() })),
})

const MembersPart = v.array(schemas.User)

/** A group's members as `storeMembers` wrote them in `parts` keys, or undefined if any part is missing or malformed. */
function loadMembers(storage: KeyValueStorage, k: ReturnType<typeof keys>, conv: ConvId, parts: number): User[] | undefined {
  const members: User[] = []
  for (let part = 0; part < parts; part++) {
    const stored = v.safeParse(MembersPart, storage.get(k.members(conv, part)))
    if (!stored.success) return undefined
    for (const u of stored.output) members.push(u)
  }
  return members
}

/** `members` in keys of at most MEMBERS_KEY_CHARS of JSON each (one at least); returns how many. */
function storeMembers(storage: KeyValueStorage, k: ReturnType<typeof keys>, conv: ConvId, members: readonly User[]): number {
  let part = 0
  let chunk: User[] = []
  let chars = 2
  for (const u of members) {
    const size = JSON.stringify(u).length + 1
    if (chunk.length > 0 && chars + size > MEMBERS_KEY_CHARS) {
      storage.set(k.members(conv, part++), chunk)
      chunk = []
      chars = 2
    }
    chunk.push(u)
    chars += size
  }
  storage.set(k.members(conv, part++), chunk)
  return part
}

/** The groups' member keys the stored index names (none if it is not this version's). */
function storedParts(storage: KeyValueStorage, k: ReturnType<typeof keys>): Record<ConvId, number> {
  const index = v.safeParse(Index, storage.get(k.index))
  return index.success ? index.output.parts : {}
}

function removeMembers(storage: KeyValueStorage, k: ReturnType<typeof keys>, conv: ConvId, from: number, to: number): void {
  for (let part = from; part < to; part++) storage.remove(k.members(conv, part))
}

/** Read the cached state of `user`. Anything malformed is skipped, never fatal. */
export function loadCache(storage: KeyValueStorage, user: string): Partial<ChatState> {
  const k = keys(user)
  const index = v.safeParse(Index, storage.get(k.index))
  if (!index.success) return {}
  const convs: Record<ConvId, Conversation> = {}
  const messages: Record<ConvId, readonly ChatMessage[]> = {}
  for (const raw of index.output.convs) {
    const c = v.safeParse(schemas.Conversation, raw)
    if (!c.success) continue
    const parts = index.output.parts[c.output.id]
    if (parts !== undefined) {
      const members = loadMembers(storage, k, c.output.id, parts)
      if (!members) continue
      c.output.members = members
    }
    convs[c.output.id] = c.output
    const stored = storage.get(k.conv(c.output.id))
    if (!Array.isArray(stored)) continue
    const list: ChatMessage[] = []
    for (const m of stored) {
      const confirmed = v.safeParse(schemas.Message, m)
      if (confirmed.success) {
        list.push(confirmed.output)
        continue
      }
      const pending = v.safeParse(Pending, m)
      if (pending.success) list.push(restorePending(pending.output))
    }
    if (list.length) messages[c.output.id] = list
  }
  const peers: Record<ConvId, PeerMarks> = {}
  for (const [conv, marks] of Object.entries(index.output.peers)) if (convs[conv]) peers[conv] = marks
  const users = membersNamed(convs)
  return { convs, messages, peers, convsLoaded: Object.keys(convs).length > 0, drafts: loadDrafts(storage, k.drafts), users }
}

/**
 * The names the cached summaries hold, so the cached timelines name their people before (and
 * whatever the order of) the server's answers: a sync's change that ends a group may come before
 * the list that no longer names its members, and nothing else names them then.
 * A name that is only the id (a member known by id alone) names no one.
 */
function membersNamed(convs: Readonly<Record<ConvId, Conversation>>): Record<UserId, User> {
  const users: Record<UserId, User> = {}
  for (const c of Object.values(convs)) {
    for (const u of c.members) if (u.name && u.name !== u.id) users[u.id] ??= u
  }
  return users
}

/** Most conversations whose draft is kept (the latest written win). */
const DRAFTS_MAX = 200
const Drafts = v.record(schemas.ConvId, v.pipe(v.string(), v.maxLength(5000)))

function loadDrafts(storage: KeyValueStorage, key: string): Record<ConvId, string> {
  const stored = v.safeParse(Drafts, storage.get(key))
  return stored.success ? stored.output : {}
}

/** An upload cut by the app's end did not finish: show it as failed, with retry. */
function restorePending(m: ChatMessage): ChatMessage {
  if (m.upload && !m.upload.done && !m.upload.failure) {
    return { ...m, status: 'failed', upload: { ...m.upload, failure: { code: 'INTERRUPTED', message: 'upload interrupted' } } }
  }
  return m
}

export interface CacheWriter {
  /** Write what changed now (app going to the background). */
  flush(): void
  stop(): void
}

export function persistCache(
  store: ChatStore,
  storage: KeyValueStorage,
  timers: Timers,
  user: string,
  bounds: CacheBounds,
): CacheWriter {
  const k = keys(user)
  let saved: { convs?: ChatState['convs']; peers?: ChatState['peers']; lists: Map<ConvId, readonly ChatMessage[]>; ids: ConvId[] } = {
    lists: new Map(),
    ids: [],
  }
  const initial = store.getState()
  // What was just loaded from the cache needs no rewrite.
  saved = { convs: initial.convs, peers: initial.peers, lists: new Map(Object.entries(initial.messages)), ids: Object.keys(initial.convs) }
  let savedDrafts = initial.drafts
  /** Each cached group's members as last written, by reference, and how many keys hold them. */
  const savedMembers = new Map<ConvId, { members: readonly User[]; parts: number }>()
  for (const [id, parts] of Object.entries(storedParts(storage, k))) {
    const c = initial.convs[id]
    if (c?.kind === 'group') savedMembers.set(id, { members: c.members, parts })
  }
  let timer: TimerId | undefined

  const write = (): void => {
    timers.clearTimeout(timer)
    timer = undefined
    const s = store.getState()
    const ids = convOrder(s).slice(0, bounds.cacheConversations)
    if (s.convs !== saved.convs || s.peers !== saved.peers || ids.join() !== saved.ids.join()) {
      const peers: Record<ConvId, PeerMarks> = {}
      for (const id of ids) if (s.peers[id]) peers[id] = s.peers[id]!
      // A group's members first (only where they changed), then the index that names their keys.
      const parts: Record<ConvId, number> = {}
      const convs = ids.map((id) => {
        const c = s.convs[id]!
        if (c.kind !== 'group') return c
        let had = savedMembers.get(id)
        if (had?.members !== c.members) {
          const written = storeMembers(storage, k, id, c.members)
          if (had) removeMembers(storage, k, id, written, had.parts)
          had = { members: c.members, parts: written }
          savedMembers.set(id, had)
        }
        parts[id] = had.parts
        return { ...c, members: [] }
      })
      storage.set(k.index, { v: CACHE_VERSION, convs, parts, peers })
    }
    const keep = new Set(ids)
    for (const [id, had] of savedMembers) {
      if (!keep.has(id)) {
        removeMembers(storage, k, id, 0, had.parts)
        savedMembers.delete(id)
      }
    }
    for (const id of ids) {
      const list = s.messages[id]
      if (!list || saved.lists.get(id) === list) continue
      storage.set(k.conv(id), bounded(list, bounds.cacheMessagesPerConversation))
      saved.lists.set(id, list)
    }
    for (const id of saved.ids) {
      if (!keep.has(id)) {
        storage.remove(k.conv(id))
        saved.lists.delete(id)
      }
    }
    saved = { convs: s.convs, peers: s.peers, lists: saved.lists, ids }
    // Drafts: one key, written only when a draft changed, coalesced like the rest (not per keystroke).
    if (s.drafts !== savedDrafts) {
      const entries = Object.entries(s.drafts)
      if (entries.length === 0) storage.remove(k.drafts)
      else storage.set(k.drafts, Object.fromEntries(entries.slice(-DRAFTS_MAX)))
      savedDrafts = s.drafts
    }
  }

  const unsubscribe = store.subscribe(() => {
    if (timer === undefined) timer = timers.setTimeout(write, bounds.cacheSaveDelayMs)
  })

  return {
    flush: write,
    stop() {
      timers.clearTimeout(timer)
      unsubscribe()
    },
  }
}

/** The newest `max` confirmed messages and every pending one. */
function bounded(list: readonly ChatMessage[], max: number): ChatMessage[] {
  let firstPending = list.findIndex((m) => m.seq === undefined)
  if (firstPending < 0) firstPending = list.length
  const start = Math.max(0, firstPending - max)
  return list.slice(start)
}

export function clearCache(storage: KeyValueStorage, user: string, convIds: readonly ConvId[]): void {
  const k = keys(user)
  for (const [id, parts] of Object.entries(storedParts(storage, k))) removeMembers(storage, k, id, 0, parts)
  storage.remove(k.drafts)
  for (const id of convIds) storage.remove(k.conv(id))
  storage.remove(k.index)
}
