/** The connections this process holds, by user (a user may have several devices here). */
import type { UserId } from '@chat/shared'
import type { Connection } from './connection'

export class LocalDevices {
  private readonly byUser = new Map<UserId, Connection[]>()

  /** Returns true when it is the user's first device on this process. */
  add(conn: Connection): boolean {
    const list = this.byUser.get(conn.user)
    if (list) {
      list.push(conn)
      return false
    }
    this.byUser.set(conn.user, [conn])
    return true
  }

  /** Returns true when it was the user's last device on this process. */
  remove(conn: Connection): boolean {
    const list = this.byUser.get(conn.user)
    if (!list) return false
    const i = list.indexOf(conn)
    if (i < 0) return false
    list.splice(i, 1)
    if (list.length > 0) return false
    this.byUser.delete(conn.user)
    return true
  }

  of(user: UserId): readonly Connection[] | undefined {
    return this.byUser.get(user)
  }

  users(): IterableIterator<UserId> {
    return this.byUser.keys()
  }

  has(user: UserId): boolean {
    return this.byUser.has(user)
  }
}
