/**
 * Relations in the archive (tables `relations` and `relation_policies`, migration 0003): their
 * system of record wherever the deployment has an archive, SQLite (the embedded default) or
 * MySQL. The compare-and-set of store/relations.ts is an INSERT that ignores an existing row (a
 * record new at version 0) or an UPDATE guarded by the version read. A row is never deleted, only
 * emptied, so its version keeps counting.
 */
import { sql } from 'kysely'
import type { DirectPolicy, UserId } from '@chat/shared'
import type { Edge, Pair, RelationStore } from '../store/relations'
import { ordered } from '../store/relations'
import type { Archive } from './archive'

function edgeOf(state: string | null, note: string | null, at: number | null): Edge | undefined {
  if (state !== 'contact' && state !== 'requested' && state !== 'blocked') return undefined
  return note !== null ? { state, note, at: Number(at ?? 0) } : { state, at: Number(at ?? 0) }
}

function columns(p: Pair) {
  return {
    ab_state: p.ab?.state ?? null,
    ab_note: p.ab?.note ?? null,
    ab_at: p.ab?.at ?? null,
    ba_state: p.ba?.state ?? null,
    ba_note: p.ba?.note ?? null,
    ba_at: p.ba?.at ?? null,
  }
}

export class ArchiveRelations implements RelationStore {
  constructor(private readonly archive: Archive) {}

  private get db() {
    return this.archive.db
  }

  async pair(x: UserId, y: UserId): Promise<Pair> {
    const [a, b] = ordered(x, y)
    const row = await this.db.selectFrom('relations').selectAll().where('a', '=', a).where('b', '=', b).executeTakeFirst()
    if (!row) return { a, b, version: 0 }
    const ab = edgeOf(row.ab_state, row.ab_note, row.ab_at)
    const ba = edgeOf(row.ba_state, row.ba_note, row.ba_at)
    return { a, b, ...(ab ? { ab } : {}), ...(ba ? { ba } : {}), version: Number(row.version) }
  }

  async put(next: Pair): Promise<boolean> {
    if (next.version === 0) {
      const res = await this.db
        .insertInto('relations')
        .orIgnore()
        .values({ a: next.a, b: next.b, ...columns(next), version: 1 })
        .executeTakeFirst()
      return Number(res.numInsertedOrUpdatedRows ?? 0) === 1
    }
    const res = await this.db
      .updateTable('relations')
      .set({ ...columns(next), version: next.version + 1 })
      .where('a', '=', next.a)
      .where('b', '=', next.b)
      .where('version', '=', next.version)
      .executeTakeFirst()
    return Number(res.numUpdatedRows) === 1
  }

  async peers(user: UserId): Promise<UserId[]> {
    const live = sql<boolean>`(ab_state is not null or ba_state is not null)`
    const [asA, asB] = await Promise.all([
      this.db.selectFrom('relations').select('b as peer').where('a', '=', user).where(live).execute(),
      this.db.selectFrom('relations').select('a as peer').where('b', '=', user).where(live).execute(),
    ])
    return [...asA, ...asB].map((r) => r.peer)
  }

  async policy(user: UserId): Promise<DirectPolicy> {
    const row = await this.db.selectFrom('relation_policies').select('policy').where('user', '=', user).executeTakeFirst()
    return row?.policy === 'contacts' ? 'contacts' : 'anyone'
  }

  async setPolicy(user: UserId, policy: DirectPolicy): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('relation_policies').where('user', '=', user).execute()
      if (policy !== 'anyone') await tx.insertInto('relation_policies').values({ user, policy }).execute()
    })
  }

  /** The archive is closed by its engine. */
  async close(): Promise<void> {}
}
