/**
 * Conversation settings and "delete for me" in the archive (tables `conv_settings` and
 * `hidden_messages`, migration 0005): their system of record wherever the deployment has an
 * archive, SQLite (the embedded default) or MySQL, so a Redis that lost its data loses none of
 * them. The bounds (pinned conversations, hidden messages per conversation) are checked in the
 * transaction that writes; on MySQL the user's rows are locked first (SELECT ... FOR UPDATE), so two
 * devices pinning at once cannot both pass the count. SQLite has one writer: its transactions
 * run one after the other.
 */
import { AppError } from '@chat/shared'
import type { ConvId, UserId } from '@chat/shared'
import type { ConvSetting, ConvSettingsStore, HideOutcome } from '../store/conv-settings'
import { DEFAULT_SETTING, isDefault } from '../store/conv-settings'
import type { Archive } from './archive'

/** Attempts of a write that InnoDB chose as a deadlock victim (two devices locking the user's rows at once). */
const DEADLOCK_ATTEMPTS = 4

/**
 * `work`, again when InnoDB chose it as a deadlock victim; a database that cannot answer is
 * STORE_UNAVAILABLE (temporary: the client retries), never an internal error that closes its socket.
 */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (err) {
      if (attempt < DEADLOCK_ATTEMPTS && (err as { code?: string }).code === 'ER_LOCK_DEADLOCK') continue
      if (err instanceof AppError) throw err
      throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err })
    }
  }
}

/** (conv, seq) pairs looked up by one statement of `hiddenAmong`. */
const HIDDEN_AMONG_CHUNK = 200

export class ArchiveConvSettings implements ConvSettingsStore {
  constructor(private readonly archive: Archive) {}

  private get db() {
    return this.archive.db
  }

  async all(user: UserId): Promise<Map<ConvId, ConvSetting>> {
    const rows = await guarded(() => this.db.selectFrom('conv_settings').select(['conv', 'muted', 'pinned']).where('user', '=', user).execute())
    return new Map(rows.map((r) => [r.conv, { muted: Number(r.muted) === 1, pinned: Number(r.pinned) }]))
  }

  async get(user: UserId, conv: ConvId): Promise<ConvSetting> {
    const row = await guarded(() => this.db.selectFrom('conv_settings').select(['muted', 'pinned']).where('user', '=', user).where('conv', '=', conv).executeTakeFirst())
    return row ? { muted: Number(row.muted) === 1, pinned: Number(row.pinned) } : DEFAULT_SETTING
  }

  async put(user: UserId, conv: ConvId, setting: ConvSetting, maxPinned: number): Promise<boolean> {
    const mysql = this.archive.dialect === 'mysql'
    return guarded(() => this.db.transaction().execute(async (tx) => {
      if (isDefault(setting)) {
        await tx.deleteFrom('conv_settings').where('user', '=', user).where('conv', '=', conv).execute()
        return true
      }
      if (setting.pinned > 0) {
        const query = tx.selectFrom('conv_settings').select(['conv', 'pinned']).where('user', '=', user)
        const rows = await (mysql ? query.forUpdate() : query).execute()
        const already = rows.some((r) => r.conv === conv && Number(r.pinned) > 0)
        if (!already && rows.filter((r) => Number(r.pinned) > 0).length >= maxPinned) return false
      }
      const values = { muted: setting.muted ? 1 : 0, pinned: setting.pinned }
      const updated = await tx.updateTable('conv_settings').set(values).where('user', '=', user).where('conv', '=', conv).executeTakeFirst()
      if (Number(updated.numUpdatedRows) === 0) {
        // MySQL counts a row updated to the values it held as unchanged (0): the insert is then ignored.
        await tx.insertInto('conv_settings').orIgnore().values({ user, conv, ...values }).execute()
      }
      return true
    }))
  }

  async hide(user: UserId, conv: ConvId, seq: number, max: number): Promise<HideOutcome> {
    const mysql = this.archive.dialect === 'mysql'
    return guarded(() => this.db.transaction().execute(async (tx) => {
      const query = tx.selectFrom('hidden_messages').select('seq').where('user', '=', user).where('conv', '=', conv)
      const rows = await (mysql ? query.forUpdate() : query).execute()
      if (rows.some((r) => Number(r.seq) === seq)) return 'already'
      if (rows.length >= max) return 'full'
      await tx.insertInto('hidden_messages').orIgnore().values({ user, conv, seq }).execute()
      return 'done' as const
    }))
  }

  async hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>> {
    const rows = await guarded(() => this.db.selectFrom('hidden_messages').select('seq').where('user', '=', user).where('conv', '=', conv).execute())
    return new Set(rows.map((r) => Number(r.seq)))
  }

  async hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>> {
    const rows = await guarded(() => this.db.selectFrom('hidden_messages').select('conv').distinct().where('user', '=', user).execute())
    return new Set(rows.map((r) => r.conv))
  }

  async hiddenAmong(user: UserId, places: readonly { readonly conv: ConvId; readonly seq: number }[]): Promise<Set<string>> {
    const out = new Set<string>()
    // A few hundred (conv, seq) pairs per statement: a list of thousands of conversations stays a few queries.
    for (let i = 0; i < places.length; i += HIDDEN_AMONG_CHUNK) {
      const chunk = places.slice(i, i + HIDDEN_AMONG_CHUNK)
      const rows = await guarded(() =>
        this.db
          .selectFrom('hidden_messages')
          .select(['conv', 'seq'])
          .where('user', '=', user)
          .where((eb) => eb.or(chunk.map((p) => eb.and([eb('conv', '=', p.conv), eb('seq', '=', p.seq)]))))
          .execute(),
      )
      for (const r of rows) out.add(`${r.conv} ${Number(r.seq)}`)
    }
    return out
  }

  /** The archive is closed by its engine. */
  async close(): Promise<void> {}
}
