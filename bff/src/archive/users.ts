/** The user directory kept in the archive alone (the embedded engine: SQLite is in process). */
import type { User, UserId } from '@chat/shared'
import type { UserStore } from '../store/types'
import type { Archive } from './archive'

export class ArchiveUsers implements UserStore {
  constructor(private readonly archive: Archive) {}
  upsert(user: User): Promise<void> {
    return this.archive.upsertUser(user)
  }
  get(ids: readonly UserId[]): Promise<User[]> {
    return this.archive.getUsers(ids)
  }
  search(prefix: string, limit: number): Promise<User[]> {
    return this.archive.searchUsers(prefix, limit)
  }
}
