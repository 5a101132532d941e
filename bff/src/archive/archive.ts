// Over 400 lines on purpose: the archive's SQL, written once for MySQL and SQLite, is one implementation of one interface.
/**
 * The archive: the system of record (users, conversations, members, every message, read marks).
 * One implementation over Kysely, so the SQL is written once for MySQL/MariaDB (production) and
 * SQLite (the embedded default, `npm start`); both pass bff/test/archive/contract.ts.
 *
 * Messages are written in multi-row `INSERT IGNORE` batches keyed by (conv, seq): writing a batch
 * twice (a retry after a crash) stores nothing twice. On MySQL they go as prepared statements (the
 * binary protocol): bench:archive measured the server parsing a 500-row text INSERT as the
 * largest cost of a batch. Reads answer the stored wire JSON in ascending seq, as the engines'
 * message stores do.
 */
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { inspect } from 'node:util'
import { CompiledQuery, Kysely, Migrator, MysqlDialect, SqliteDialect, sql } from 'kysely'
import type { Migration, MigrationProvider } from 'kysely'
import { createPool } from 'mysql2'
import type { ExecuteValues } from 'mysql2'
import type { Pool as PromisePool } from 'mysql2/promise'
import { AppError } from '@chat/shared'
import type { ConvId, User, UserId } from '@chat/shared'
import { RECALLED_MARK } from '../store/types'
import type { ConvRecord, RetractOutcome } from '../store/types'
import { directoryTerms } from '../store/directory'
import { groupFields, groupJson } from '../store/group-json'
import { migrations } from './migrations'
import type { Dialect } from './migrations'
import type { ArchiveDb } from './schema'

export interface ArchivedMessage {
  readonly conv: ConvId
  readonly seq: number
  readonly sender: UserId
  readonly cid: string
  readonly ts: number
  readonly json: string
}

export interface ReadMark {
  readonly conv: ConvId
  readonly user: UserId
  readonly seq: number
}

/** What the archive knows of one conversation: enough to rebuild its hot state. */
export interface ArchivedConvState {
  readonly lastSeq: number
  readonly lastJson?: string | undefined
  readonly reads: ReadonlyMap<UserId, number>
}

export interface ArchiveOptions {
  /** `mysql://user:password@host:port/database`, `sqlite:<file>` or `sqlite::memory:`. */
  readonly url: string
  /** MySQL connections in the pool. Default 10. */
  readonly poolSize?: number
}

/** The archive refuses to open: its schema is newer than this code, or it cannot be migrated. */
export class ArchiveSchemaError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ArchiveSchemaError'
  }
}

/**
 * Most rows per INSERT statement. A batch goes in statements of 512 rows and the rest in powers of
 * two (256, 128, ... 1), so a connection prepares at most 10 distinct INSERTs: the server's
 * max_prepared_stmt_count (16,382 by default, for all connections together) stays far away with
 * any number of BFFs.
 */
const INSERT_CHUNK_MAX = 512
/**
 * Most message JSON per INSERT statement, bytes (counted as 3 per UTF-16 unit, UTF-8's worst
 * case): a statement of larger messages is halved until it fits, so it stays under MariaDB's
 * default max_allowed_packet of 16 MiB (MySQL 8: 64 MiB) whatever the messages' size (64 KiB
 * frames: 512 of them would be 32 MiB).
 */
export const INSERT_BYTES_MAX = 4 * 1024 * 1024

/** The sizes of the INSERT statements that write `n` rows (see INSERT_CHUNK_MAX). */
export function insertChunks(n: number): number[] {
  const out: number[] = []
  for (; n >= INSERT_CHUNK_MAX; n -= INSERT_CHUNK_MAX) out.push(INSERT_CHUNK_MAX)
  for (let size = INSERT_CHUNK_MAX / 2; size >= 1; size /= 2) {
    if (n >= size) {
      out.push(size)
      n -= size
    }
  }
  return out
}

export class Archive {
  /**
   * The message INSERT of n rows, as Kysely writes it, by n (at most 10 sizes, insertChunks):
   * compiling a 512-row INSERT costs ~9 µs a row (measured), more than the rest of the batch on
   * the BFF's side, so each size is compiled once and its parameters laid out by hand.
   */
  private readonly insertSql = new Map<number, string>()

  private constructor(
    readonly db: Kysely<ArchiveDb>,
    readonly dialect: Dialect,
    /** The MySQL pool under `db` (none on SQLite): batches use its prepared statements. */
    private readonly mysql?: PromisePool,
  ) {}

  /** Opens without migrating: `migrate()` (or `openArchive`) brings the schema up to date. */
  static async create(options: ArchiveOptions): Promise<Archive> {
    const { url } = options
    if (url.startsWith('sqlite:')) {
      const file = url.slice('sqlite:'.length)
      if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
      const SQLite = await loadSqlite()
      const database = new SQLite(file)
      // WAL: readers do not block the writer; NORMAL: a commit survives a crash of the process
      // (kill -9), only a power loss may drop the last commits (https://sqlite.org/wal.html).
      database.pragma('journal_mode = WAL')
      database.pragma('synchronous = NORMAL')
      database.pragma('busy_timeout = 5000')
      return new Archive(new Kysely<ArchiveDb>({ dialect: new SqliteDialect({ database }) }), 'sqlite')
    }
    if (url.startsWith('mysql://')) {
      const pool = createPool({
        uri: url,
        connectionLimit: options.poolSize ?? 10,
        charset: 'utf8mb4',
        // BIGINT columns come back as numbers: seqs and ms stay far below 2^53.
        supportBigNumbers: true,
        bigNumberStrings: false,
        enableKeepAlive: true,
        // Client-side cache of prepared statements per connection: the message INSERTs are at most
        // 10 (insertChunks), the rest of the archive's statements a few dozen.
        maxPreparedStatements: 100,
      })
      return new Archive(new Kysely<ArchiveDb>({ dialect: new MysqlDialect({ pool }) }), 'mysql', pool.promise())
    }
    throw new Error(`archive URL must start with mysql:// or sqlite:, got "${url.replace(/\/\/[^@]*@/, '//***@')}"`)
  }

  private migrator(): Migrator {
    const all = migrations(this.dialect)
    const provider: MigrationProvider = { getMigrations: async (): Promise<Record<string, Migration>> => all }
    return new Migrator({ db: this.db, provider })
  }

  /** Names of the migrations this code knows, in order. */
  knownMigrations(): string[] {
    return Object.keys(migrations(this.dialect)).sort()
  }

  /** Names of the migrations the database has run, in order (empty for a new database). */
  async appliedMigrations(): Promise<string[]> {
    const list = await this.migrator().getMigrations()
    const applied = list.filter((m) => m.executedAt !== undefined).map((m) => m.name)
    // Kysely lists only the migrations it knows: the unknown ones are read from its table.
    const tables = await this.db.introspection.getTables({ withInternalKyselyTables: true })
    if (!tables.some((t) => t.name === 'kysely_migration')) return applied
    const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(this.db)
    return rows.rows.map((r) => r.name)
  }

  /**
   * Run every migration not yet run. Refuses (ArchiveSchemaError) when the database ran a migration
   * this code does not know: an older BFF must not write to a schema it does not understand.
   * Kysely's own lock table keeps two processes starting at once from migrating twice.
   */
  async migrate(): Promise<string[]> {
    const known = new Set(this.knownMigrations())
    const unknown = (await this.appliedMigrations()).filter((n) => !known.has(n))
    if (unknown.length > 0) {
      throw new ArchiveSchemaError(
        `archive schema is newer than this code: it ran ${unknown.join(', ')}, this BFF knows up to ${[...known].pop()}; run a newer BFF`,
      )
    }
    const { error, results } = await this.migrator().migrateToLatest()
    if (error) throw new ArchiveSchemaError(`archive migration failed: ${error instanceof Error ? error.message : inspect(error)}`)
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
  }

  // ---------------------------------------------------------------- users

  async upsertUser(user: User): Promise<void> {
    const row = {
      id: user.id,
      id_lc: user.id.toLowerCase(),
      name: user.name,
      name_lc: user.name.toLowerCase(),
      avatar: user.avatar ?? null,
      updated_at: Date.now(),
    }
    const set = { name: row.name, name_lc: row.name_lc, avatar: row.avatar, updated_at: row.updated_at }
    const terms = [...new Set(directoryTerms(user).map((t) => t.slice(0, 200)))].map((term) => ({ term, user: user.id }))
    await retryDeadlock(() =>
      this.db.transaction().execute(async (tx) => {
        const upsert = tx.insertInto('users').values(row)
        // Locks the user's row first: two upserts of one user wait for each other here.
        await (this.dialect === 'mysql' ? upsert.onDuplicateKeyUpdate(set) : upsert.onConflict((oc) => oc.column('id').doUpdateSet(set))).execute()
        // Only the terms that change are touched, each by its primary key. Deleting all of a user's
        // terms by the `user` index took gap locks there, and a burst of logins of new users
        // deadlocked on them (InnoDB), failing the logins with STORE_UNAVAILABLE.
        const had = new Set((await tx.selectFrom('user_terms').select('term').where('user', '=', user.id).execute()).map((r) => r.term))
        const want = new Set(terms.map((t) => t.term))
        // A renamed user is no longer found by the old name's terms.
        const stale = [...had].filter((t) => !want.has(t))
        if (stale.length > 0) await tx.deleteFrom('user_terms').where('user', '=', user.id).where('term', 'in', stale).execute()
        const fresh = terms.filter((t) => !had.has(t.term))
        if (fresh.length > 0) await tx.insertInto('user_terms').orIgnore().values(fresh).execute()
      }),
    )
  }

  async getUsers(ids: readonly UserId[]): Promise<User[]> {
    if (ids.length === 0) return []
    const rows = await this.db.selectFrom('users').select(['id', 'name', 'avatar']).where('id', 'in', [...new Set(ids)]).execute()
    const byId = new Map(rows.map((r) => [r.id, r]))
    const out: User[] = []
    for (const id of ids) {
      const r = byId.get(id)
      if (r) out.push(r.avatar ? { id: r.id, name: r.name, avatar: r.avatar } : { id: r.id, name: r.name })
    }
    return out
  }

  /** Users whose id or name starts with `prefix` (case-insensitive), by id, at most `limit`. */
  async searchUsers(prefix: string, limit: number): Promise<User[]> {
    // '!' escapes: a backslash means different things in MySQL and SQLite string literals.
    const p = prefix.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`) + '%'
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'avatar'])
      .where((eb) =>
        eb.or([
          eb('id_lc', 'like', sql<string>`${p} escape '!'`),
          eb('name_lc', 'like', sql<string>`${p} escape '!'`),
          eb('id', 'in', eb.selectFrom('user_terms').select('user').where('term', 'like', sql<string>`${p} escape '!'`)),
        ]),
      )
      .orderBy('id')
      .limit(limit)
      .execute()
    return rows.map((r) => (r.avatar ? { id: r.id, name: r.name, avatar: r.avatar } : { id: r.id, name: r.name }))
  }

  // ---------------------------------------------------------------- conversations

  /** Create if absent. Returns the stored record and whether this call created it. */
  async createConv(record: ConvRecord): Promise<{ record: ConvRecord; created: boolean }> {
    const created = await this.db.transaction().execute(async (tx) => {
      const res = await tx
        .insertInto('conversations')
        .orIgnore()
        .values({ id: record.id, kind: record.kind, title: record.title ?? null, created_at: record.createdAt, grp: groupJson(record), rev: record.rev ?? 0 })
        .executeTakeFirst()
      if (Number(res.numInsertedOrUpdatedRows ?? 0) === 0) return false
      await tx
        .insertInto('members')
        .orIgnore()
        .values(record.members.map((user, pos) => ({ conv: record.id, user, pos, created_at: record.createdAt })))
        .execute()
      return true
    })
    if (created) return { record, created }
    const stored = await this.getConv(record.id)
    if (!stored) throw new AppError('STORE_UNAVAILABLE', 'conversation vanished while being created')
    return { record: stored, created: false }
  }

  async getConv(id: ConvId): Promise<ConvRecord | undefined> {
    const conv = await this.db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst()
    if (!conv) return undefined
    const members = await this.db.selectFrom('members').select('user').where('conv', '=', id).orderBy('pos').execute()
    return convRecordOf(conv, members.map((m) => m.user))
  }

  /**
   * A group's mutable part (members, title, roles) replaced by `next` if the stored revision is
   * still `next.rev - 1`, in one transaction. False when another change came first.
   */
  async updateConv(next: ConvRecord): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const res = await tx
        .updateTable('conversations')
        .set({ title: next.title ?? null, grp: groupJson(next), rev: next.rev ?? 0 })
        .where('id', '=', next.id)
        .where('rev', '=', (next.rev ?? 0) - 1)
        .executeTakeFirst()
      if (Number(res.numUpdatedRows) === 0) return false
      const rows = await tx.selectFrom('members').select(['user', 'pos']).where('conv', '=', next.id).execute()
      const keep = new Set(next.members)
      const gone = rows.filter((r) => !keep.has(r.user)).map((r) => r.user)
      if (gone.length > 0) await tx.deleteFrom('members').where('conv', '=', next.id).where('user', 'in', gone).execute()
      const had = new Set(rows.map((r) => r.user))
      let pos = rows.reduce((max, r) => Math.max(max, Number(r.pos)), -1)
      const added = next.members.filter((u) => !had.has(u)).map((user) => ({ conv: next.id, user, pos: ++pos, created_at: Date.now() }))
      if (added.length > 0) await tx.insertInto('members').values(added).execute()
      return true
    })
  }

  /** The user's conversation ids, oldest first (as the engines list them). */
  async listConvs(user: UserId): Promise<ConvId[]> {
    const rows = await this.db.selectFrom('members').select('conv').where('user', '=', user).orderBy('created_at').orderBy('conv').execute()
    return rows.map((r) => r.conv)
  }

  /** Every conversation with its members (the embedded engine loads them at start). */
  async allConvs(): Promise<ConvRecord[]> {
    const convs = await this.db.selectFrom('conversations').selectAll().orderBy('created_at').orderBy('id').execute()
    const members = await this.db.selectFrom('members').select(['conv', 'user']).orderBy('conv').orderBy('pos').execute()
    const byConv = new Map<string, UserId[]>()
    for (const m of members) {
      let list = byConv.get(m.conv)
      if (!list) byConv.set(m.conv, (list = []))
      list.push(m.user)
    }
    return convs.map((c) => convRecordOf(c, byConv.get(c.id) ?? []))
  }

  // ---------------------------------------------------------------- messages

  /** Store messages; one already stored (same conv and seq) is left as it is. */
  insertMessages(rows: readonly ArchivedMessage[]): Promise<void> {
    return this.write(rows, [])
  }

  /**
   * One transaction: store `messages` (one already stored is left as it is) and move read marks
   * up (markRead). What the persister and the embedded engine commit per batch (ArchiveWriter).
   */
  async write(messages: readonly ArchivedMessage[], marks: readonly ReadMark[]): Promise<void> {
    if (messages.length === 0 && marks.length === 0) return
    const statements: CompiledQuery[] = []
    const add = (chunk: readonly ArchivedMessage[]) => {
      let bytes = 0
      for (const r of chunk) bytes += 3 * r.json.length
      if (bytes > INSERT_BYTES_MAX && chunk.length > 1) {
        // Halves of a power of two: still one of the 10 statement sizes.
        add(chunk.slice(0, chunk.length / 2))
        add(chunk.slice(chunk.length / 2))
        return
      }
      let text = this.insertSql.get(chunk.length)
      if (text === undefined) {
        const rows = chunk.map((r) => ({ conv: r.conv, seq: r.seq, sender: r.sender, cid: r.cid, ts: r.ts, json: r.json }))
        text = this.db.insertInto('messages').orIgnore().values(rows).compile().sql
        this.insertSql.set(chunk.length, text)
      }
      // The columns in the order of the object above, row after row, as Kysely binds them.
      const parameters: unknown[] = new Array(chunk.length * 6)
      let k = 0
      for (const r of chunk) {
        parameters[k++] = r.conv
        parameters[k++] = r.seq
        parameters[k++] = r.sender
        parameters[k++] = r.cid
        parameters[k++] = r.ts
        parameters[k++] = r.json
      }
      statements.push(CompiledQuery.raw(text, parameters))
    }
    let at = 0
    for (const size of insertChunks(messages.length)) add(messages.slice(at, (at += size)))
    const marksQuery = this.markReadQuery(marks)
    if (!this.mysql) {
      await this.db.transaction().execute(async (tx) => {
        for (const q of statements) await tx.executeQuery(q)
        if (marksQuery) await tx.executeQuery(marksQuery)
      })
      return
    }
    const conn = await this.mysql.getConnection()
    let broken = false
    try {
      await conn.beginTransaction()
      for (const q of statements) await conn.execute(q.sql, q.parameters as ExecuteValues[])
      // Marks vary in shape (a row per user and conversation): the text protocol, not a prepared statement per shape.
      if (marksQuery) await conn.query(marksQuery.sql, marksQuery.parameters as ExecuteValues[])
      await conn.commit()
    } catch (err) {
      await conn.rollback().catch(() => (broken = true))
      throw err
    } finally {
      // A connection that could not even roll back is not given to the next batch.
      if (broken) conn.destroy()
      else conn.release()
    }
  }

  /** Messages with seq > afterSeq, ascending, at most `limit`, as stored JSON. */
  async after(conv: ConvId, afterSeq: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('messages')
      .select('json')
      .where('conv', '=', conv)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute()
    return rows.map((r) => r.json)
  }

  /** Messages with seq < beforeSeq (the newest when undefined), ascending, at most `limit`. */
  async before(conv: ConvId, beforeSeq: number | undefined, limit: number): Promise<string[]> {
    let q = this.db.selectFrom('messages').select('json').where('conv', '=', conv)
    if (beforeSeq !== undefined) q = q.where('seq', '<', beforeSeq)
    const rows = await q.orderBy('seq', 'desc').limit(limit).execute()
    return rows.map((r) => r.json).reverse()
  }

  /**
   * Replace message `tombstone.seq` by `tombstone` (stored JSON of kind `recalled`) unless it is
   * one already. A row not stored yet is `missing`, or, with `insertMissing` (the engine holds the
   * message and its persist may still be under way), written as the tombstone: the original's
   * INSERT IGNORE then leaves it as it is.
   */
  async retract(tombstone: string, insertMissing: boolean): Promise<RetractOutcome> {
    const t = JSON.parse(tombstone) as { conv: ConvId; seq: number; from: UserId; cid: string; ts: number }
    return this.db.transaction().execute(async (tx) => {
      const updated = await tx
        .updateTable('messages')
        .set({ json: tombstone })
        .where('conv', '=', t.conv)
        .where('seq', '=', t.seq)
        .where('json', 'not like', `%${RECALLED_MARK}%`)
        .executeTakeFirst()
      if (Number(updated.numUpdatedRows) > 0) return 'done'
      const row = await tx.selectFrom('messages').select('seq').where('conv', '=', t.conv).where('seq', '=', t.seq).executeTakeFirst()
      if (row) return 'already'
      if (!insertMissing) return 'missing'
      await tx.insertInto('messages').orIgnore().values({ conv: t.conv, seq: t.seq, sender: t.from, cid: t.cid, ts: t.ts, json: tombstone }).execute()
      return 'done'
    })
  }

  /** Last seq, last message and read marks of a conversation (zero and none when it has no message). */
  async convState(conv: ConvId): Promise<ArchivedConvState> {
    const [last, marks] = await Promise.all([
      this.db.selectFrom('messages').select(['seq', 'json']).where('conv', '=', conv).orderBy('seq', 'desc').limit(1).executeTakeFirst(),
      this.db.selectFrom('read_marks').select(['user', 'seq']).where('conv', '=', conv).execute(),
    ])
    return { lastSeq: last ? Number(last.seq) : 0, lastJson: last?.json, reads: new Map(marks.map((m) => [m.user, Number(m.seq)])) }
  }

  /** Move read marks up (never back); a batch may name one (conv, user) several times. */
  async markRead(marks: readonly ReadMark[]): Promise<void> {
    const q = this.markReadQuery(marks)
    if (q) await this.db.executeQuery(q)
  }

  private markReadQuery(marks: readonly ReadMark[]): CompiledQuery | undefined {
    const top = new Map<string, ReadMark>()
    for (const m of marks) {
      const k = `${m.conv}\u0000${m.user}`
      const cur = top.get(k)
      if (!cur || cur.seq < m.seq) top.set(k, m)
    }
    if (top.size === 0) return undefined
    // In primary key order: the persister's transactions run side by side (ARCHIVE_WRITES_IN_FLIGHT)
    // and upsert the same senders' marks; rows locked in one order by all of them cannot deadlock
    // (in stream order they did, InnoDB rolling one back every few batches under load).
    const values = [...top]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, m]) => ({ conv: m.conv, user: m.user, seq: m.seq }))
    const q = this.db.insertInto('read_marks').values(values)
    return (
      this.dialect === 'mysql'
        ? q.onDuplicateKeyUpdate({ seq: sql<number>`greatest(seq, values(seq))` })
        : q.onConflict((oc) => oc.columns(['conv', 'user']).doUpdateSet({ seq: sql<number>`max(read_marks.seq, excluded.seq)` }))
    ).compile()
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db)
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }
}

/** Attempts of a transaction that InnoDB chose as a deadlock's victim (it is rolled back whole: run it again). */
const DEADLOCK_ATTEMPTS = 3

async function retryDeadlock<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (err) {
      // https://dev.mysql.com/doc/refman/8.0/en/innodb-deadlocks-handling.html: "be prepared to reissue a transaction if it fails due to deadlock".
      if (attempt >= DEADLOCK_ATTEMPTS || (err as { code?: unknown }).code !== 'ER_LOCK_DEADLOCK') throw err
    }
  }
}

/**
 * better-sqlite3 is an optional dependency, loaded only for a `sqlite:` archive: it is a native
 * module, and where it cannot be built (an image without compilers and without its prebuilt
 * binary) a MySQL deployment must still start.
 */
async function loadSqlite(): Promise<typeof import('better-sqlite3')> {
  try {
    return (await import('better-sqlite3')).default
  } catch (err) {
    throw new Error('a sqlite: ARCHIVE_URL needs the package better-sqlite3, which is not installed here: install it, or use a mysql:// ARCHIVE_URL', { cause: err })
  }
}

/** Open and migrate (what the BFF does at start). */
export async function openArchive(options: ArchiveOptions): Promise<Archive> {
  const archive = await Archive.create(options)
  try {
    await archive.migrate()
  } catch (err) {
    await archive.close().catch(() => {})
    throw err
  }
  return archive
}

/**
 * Open and migrate, retrying while the database is not reachable yet (a MySQL container starting
 * beside the BFF) up to `timeoutMs`; a schema error fails at once. Throws with the last cause.
 */
export async function openArchiveWithin(options: ArchiveOptions, timeoutMs: number): Promise<Archive> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await openArchive(options)
    } catch (err) {
      if (err instanceof ArchiveSchemaError || Date.now() + 500 > deadline) {
        if (err instanceof ArchiveSchemaError) throw err
        throw new Error(`archive not reachable within ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      }
      await new Promise((r) => setTimeout(r, 500))
    }
  }
}

function convRecordOf(
  conv: { id: string; kind: string; title: string | null; created_at: unknown; grp?: string | null; rev?: unknown },
  members: UserId[],
): ConvRecord {
  return {
    id: conv.id,
    kind: conv.kind === 'group' ? 'group' : 'direct',
    ...(conv.title !== null ? { title: conv.title } : {}),
    members,
    createdAt: Number(conv.created_at),
    ...groupFields(conv.grp, Number(conv.rev ?? 0)),
  }
}
