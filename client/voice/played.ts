/**
 * Which received voices this device has played: the red dot of an unplayed voice goes once it was
 * played here. Kept per device and user in storage (not synced: the protocol has no frame for it,
 * see client/README.md "Voice"), the newest PLAYED_MAX marks.
 */
import type { KeyValueStorage } from '../platform/types'

/** Played marks kept per user; older ones are dropped first (their voices are long scrolled away). */
export const PLAYED_MAX = 2000

const keyOf = (user: string) => `voice.played.${user}`

export class PlayedMarks {
  private user: string | undefined
  private marks = new Set<string>()
  private readonly listeners = new Set<() => void>()
  private version = 0

  constructor(private readonly storage: KeyValueStorage) {}

  /** Marks of `user` (loaded on first use and when the user changes). */
  private load(user: string): void {
    if (this.user === user) return
    this.user = user
    const stored = this.storage.get(keyOf(user))
    this.marks = new Set(Array.isArray(stored) ? stored.filter((x): x is string => typeof x === 'string') : [])
  }

  has(user: string, key: string): boolean {
    this.load(user)
    return this.marks.has(key)
  }

  mark(user: string, key: string): void {
    this.load(user)
    if (this.marks.has(key)) return
    this.marks.add(key)
    if (this.marks.size > PLAYED_MAX) this.marks.delete(this.marks.values().next().value as string)
    this.storage.set(keyOf(user), [...this.marks])
    this.version++
    for (const l of this.listeners) l()
  }

  /** Changes with every new mark (for useSyncExternalStore). */
  snapshot = (): number => this.version

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
