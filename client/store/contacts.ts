/**
 * The contacts page's state (PROTOCOL.md, "Relations"): the user's relations as the server lists
 * them (contacts with presence, requests both ways, blocked users), the 1:1 setting, and what is
 * under way. A zustand store of its own (`create`); the page selects with `useShallow`. Requests
 * go through ChatClient's `sendRequest`; `relation` frames the server pushes (a request arrived,
 * was accepted...) update the list in place.
 */
import { create } from 'zustand'
import type { StoreApi, UseBoundStore } from 'zustand'
import { isAppError, LIMITS } from '@chat/shared'
import type { ClientFrameOf, DirectPolicy, RelationEntry, ServerFrame, ServerFrameOf, UserId } from '@chat/shared'
import type { RequestFrame } from '../net/chat-client'

export type RelationOp = ClientFrameOf<'relation'>['op']

/** What the store needs of ChatClient (tests give the real one over the fake platform). */
export interface RelationsApi {
  sendRequest(frame: RequestFrame, onRelation?: (f: ServerFrameOf<'relation'>) => void): Promise<ServerFrame>
}

export interface ContactsState {
  readonly items: readonly RelationEntry[]
  readonly policy: DirectPolicy
  /** The list came from the server at least once. */
  readonly loaded: boolean
  /** Users with an operation under way (their buttons are disabled). */
  readonly busy: Readonly<Record<UserId, true>>
  /** The last refusal: an error code (err.<code> in the catalogue) or NETWORK. */
  readonly error?: string | undefined
  load(): Promise<void>
  act(op: RelationOp, user: UserId, note?: string): Promise<boolean>
  setPolicy(policy: DirectPolicy): Promise<boolean>
  clearError(): void
}

const ORDER = { contact: 0, incoming: 1, outgoing: 2, blocked: 3, none: 4 } as const

/** `items` with `entry` in its place (removed when its state is `none`), in the server's order. */
export function withEntry(items: readonly RelationEntry[], entry: RelationEntry): RelationEntry[] {
  const rest = items.filter((e) => e.user.id !== entry.user.id)
  if (entry.state !== 'none') rest.push(entry)
  return rest.sort((x, y) => ORDER[x.state] - ORDER[y.state] || x.user.name.localeCompare(y.user.name) || (x.user.id < y.user.id ? -1 : 1))
}

const codeOf = (err: unknown): string => (isAppError(err) ? err.code : 'NETWORK')

export type ContactsStore = UseBoundStore<StoreApi<ContactsState>>

export function createContactsStore(api: RelationsApi): ContactsStore {
  const store: ContactsStore = create<ContactsState>()((set, get) => {
    const onPush = (f: ServerFrameOf<'relation'>) => set({ items: withEntry(get().items, f.entry) })
    const busy = (user: UserId, on: boolean) => {
      const next = { ...get().busy }
      if (on) next[user] = true
      else delete next[user]
      set({ busy: next })
    }
    return {
      items: [],
      policy: 'anyone',
      loaded: false,
      busy: {},
      async load() {
        try {
          const f = await api.sendRequest({ type: 'contacts' }, onPush)
          if (f.type === 'contacts') set({ items: f.items, policy: f.policy, loaded: true, error: undefined })
        } catch (err) {
          set({ error: codeOf(err) })
        }
      },
      async act(op, user, note) {
        if (get().busy[user]) return false
        busy(user, true)
        try {
          const trimmed = note?.trim().slice(0, LIMITS.maxNoteChars)
          const f = await api.sendRequest({ type: 'relation', op, user, ...(op === 'request' && trimmed ? { note: trimmed } : {}) }, onPush)
          if (f.type === 'relation') set({ items: withEntry(get().items, f.entry), error: undefined })
          return true
        } catch (err) {
          set({ error: codeOf(err) })
          return false
        } finally {
          busy(user, false)
        }
      },
      async setPolicy(policy) {
        try {
          const f = await api.sendRequest({ type: 'contacts.policy', policy }, onPush)
          if (f.type === 'contacts') set({ items: f.items, policy: f.policy, error: undefined })
          return true
        } catch (err) {
          set({ error: codeOf(err) })
          return false
        }
      },
      clearError() {
        set({ error: undefined })
      },
    }
  })
  return store
}
