/** The connections this process holds, by user (a user may have several devices here). */
import type { UserId } from '@chat/shared'
import type { Outlets } from '../chat/outlet'
import type { Connection } from './connection'

export class LocalDevices implements Outlets {
  /** A user's one connection as it is (most users have one device), an array from the second on. */
  private readonly byUser = new Map<UserId, Connection | Connection[]>()
  /** Outlets.version: moved by every add and remove. */
  version = 0

  /** Returns true when it is the user's first device on this process. */
  add(conn: Connection): boolean {
    this.version++
    const held = this.byUser.get(conn.user)
    if (held === undefined) {
      this.byUser.set(conn.user, conn)
      return true
    }
    if (Array.isArray(held)) held.push(conn)
    else this.byUser.set(conn.user, [held, conn])
    return false
  }

  /** Returns true when it was the user's last device on this process. */
  remove(conn: Connection): boolean {
    const held = this.byUser.get(conn.user)
    if (held === undefined) return false
    this.version++
    if (!Array.isArray(held)) {
      if (held !== conn) return false
      this.byUser.delete(conn.user)
      return true
    }
    const i = held.indexOf(conn)
    if (i < 0) return false
    held.splice(i, 1)
    if (held.length === 1) this.byUser.set(conn.user, held[0]!)
    return false
  }

  of(user: UserId): readonly Connection[] | undefined {
    const held = this.byUser.get(user)
    return held === undefined || Array.isArray(held) ? held : [held]
  }

  one(user: UserId): Connection | undefined {
    const held = this.byUser.get(user)
    return Array.isArray(held) ? undefined : held
  }

  /** How many devices of `user` this process holds. */
  count(user: UserId): number {
    const held = this.byUser.get(user)
    return held === undefined ? 0 : Array.isArray(held) ? held.length : 1
  }

  users(): IterableIterator<UserId> {
    return this.byUser.keys()
  }

  has(user: UserId): boolean {
    return this.byUser.has(user)
  }
}
