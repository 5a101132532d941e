/**
 * The last known state in storage, bounded, so the app opens on it before the socket connects:
 * the newest `cacheConversations` conversations and, for each, its newest
 * `cacheMessagesPerConversation` confirmed messages plus its pending ones. One key per
 * conversation, written only when that conversation changed, coalesced over `cacheSaveDelayMs`
 * (wx storage calls are synchronous and cross to native).
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

const CACHE_VERSION = 1

const keys = (user: string) => ({
  index: `chat.cache.${user}.convs`,
  drafts: `chat.cache.${user}.drafts`,
  conv: (conv: ConvId) => `chat.cache.${user}.m.${conv}`,
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
  convs: v.array(v.unknown()),
  peers: v.record(v.string(), v.object({ delivered: v.number(), read: v.number() })),
})

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
  let timer: TimerId | undefined

  const write = (): void => {
    timers.clearTimeout(timer)
    timer = undefined
    const s = store.getState()
    const ids = convOrder(s).slice(0, bounds.cacheConversations)
    if (s.convs !== saved.convs || s.peers !== saved.peers || ids.join() !== saved.ids.join()) {
      const peers: Record<ConvId, PeerMarks> = {}
      for (const id of ids) if (s.peers[id]) peers[id] = s.peers[id]!
      storage.set(k.index, { v: CACHE_VERSION, convs: ids.map((id) => s.convs[id]), peers })
    }
    const keep = new Set(ids)
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
  storage.remove(k.drafts)
  for (const id of convIds) storage.remove(k.conv(id))
  storage.remove(k.index)
}
