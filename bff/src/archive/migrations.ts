/**
 * Versioned, forward-only migrations of the archive, run by Kysely's Migrator at start-up and by
 * `npm run migrate`. A migration, once released, is never edited: a change is a new entry at the
 * end. The names sort in the order they run. The code refuses to start on a database that ran a
 * migration it does not know (a newer BFF migrated it): see `migrate` in archive.ts.
 */
import { sql } from 'kysely'
import type { Kysely, Migration } from 'kysely'
import { directoryTerms } from '../store/directory'

export type Dialect = 'mysql' | 'sqlite'

/** Table options: MySQL gets InnoDB and utf8mb4 with binary (case-sensitive) collation. */
function tableEnd(dialect: Dialect) {
  return dialect === 'mysql' ? sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin` : sql``
}

/**
 * The tables a migration reads or writes rows of, as they were when it ran: a migration never
 * depends on the current schema (./schema.ts), which later migrations change.
 */
interface SchemaAt0002 {
  users: { id: string; name: string }
  user_terms: { term: string; user: string }
}

export function migrations(dialect: Dialect): Record<string, Migration> {
  // A message is at most a 64 KiB frame: MySQL's TEXT (64 KiB) could cut one, MEDIUMTEXT cannot.
  const jsonType = dialect === 'mysql' ? sql`mediumtext` : sql`text`
  return {
    '0001_init': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('id_lc', 'varchar(64)', (c) => c.notNull())
          .addColumn('name', 'varchar(64)', (c) => c.notNull())
          .addColumn('name_lc', 'varchar(64)', (c) => c.notNull())
          .addColumn('avatar', 'varchar(2048)')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .modifyEnd(tableEnd(dialect))
          .execute()
        await db.schema.createIndex('users_id_lc').on('users').column('id_lc').execute()
        await db.schema.createIndex('users_name_lc').on('users').column('name_lc').execute()

        await db.schema
          .createTable('conversations')
          .addColumn('id', 'varchar(140)', (c) => c.primaryKey())
          .addColumn('kind', 'varchar(8)', (c) => c.notNull())
          .addColumn('title', 'varchar(64)')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .modifyEnd(tableEnd(dialect))
          .execute()

        await db.schema
          .createTable('members')
          .addColumn('conv', 'varchar(140)', (c) => c.notNull())
          .addColumn('user', 'varchar(64)', (c) => c.notNull())
          .addColumn('pos', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('members_pk', ['conv', 'user'])
          .modifyEnd(tableEnd(dialect))
          .execute()
        await db.schema.createIndex('members_by_user').on('members').columns(['user', 'created_at', 'conv']).execute()

        await db.schema
          .createTable('messages')
          .addColumn('conv', 'varchar(140)', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('sender', 'varchar(64)', (c) => c.notNull())
          .addColumn('cid', 'varchar(64)', (c) => c.notNull())
          .addColumn('ts', 'bigint', (c) => c.notNull())
          .addColumn('json', jsonType, (c) => c.notNull())
          // The primary key makes a second insert of one message a no-op (INSERT IGNORE), which
          // is what lets the persister retry a batch after any crash.
          .addPrimaryKeyConstraint('messages_pk', ['conv', 'seq'])
          .modifyEnd(tableEnd(dialect))
          .execute()

        await db.schema
          .createTable('read_marks')
          .addColumn('conv', 'varchar(140)', (c) => c.notNull())
          .addColumn('user', 'varchar(64)', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('read_marks_pk', ['conv', 'user'])
          .modifyEnd(tableEnd(dialect))
          .execute()
      },
    },
    // Chinese names are searched by pinyin and initials too: one row per (term, user), filled for
    // the users already stored.
    '0002_user_terms': {
      async up(db: Kysely<SchemaAt0002>) {
        await db.schema
          .createTable('user_terms')
          .addColumn('term', 'varchar(200)', (c) => c.notNull())
          .addColumn('user', 'varchar(64)', (c) => c.notNull())
          .addPrimaryKeyConstraint('user_terms_pk', ['term', 'user'])
          .modifyEnd(tableEnd(dialect))
          .execute()
        await db.schema.createIndex('user_terms_by_user').on('user_terms').column('user').execute()
        const users = await db.selectFrom('users').select(['id', 'name']).execute()
        for (let i = 0; i < users.length; i += 500) {
          const rows = users.slice(i, i + 500).flatMap((u) => directoryTerms(u).map((term) => ({ term: term.slice(0, 200), user: u.id })))
          if (rows.length) await db.insertInto('user_terms').values(rows).execute()
        }
      },
    },
    // Relations (contacts, requests, blocks): one row per pair of users (a < b) holding both
    // directions, changed by compare-and-set on `version` (bff/src/store/relations.ts); and the
    // users who let only contacts open a 1:1.
    '0003_relations': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('relations')
          .addColumn('a', 'varchar(64)', (c) => c.notNull())
          .addColumn('b', 'varchar(64)', (c) => c.notNull())
          .addColumn('ab_state', 'varchar(16)')
          .addColumn('ab_note', 'varchar(256)')
          .addColumn('ab_at', 'bigint')
          .addColumn('ba_state', 'varchar(16)')
          .addColumn('ba_note', 'varchar(256)')
          .addColumn('ba_at', 'bigint')
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('relations_pk', ['a', 'b'])
          .modifyEnd(tableEnd(dialect))
          .execute()
        await db.schema.createIndex('relations_by_b').on('relations').columns(['b', 'a']).execute()
        await db.schema
          .createTable('relation_policies')
          .addColumn('user', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('policy', 'varchar(16)', (c) => c.notNull())
          .modifyEnd(tableEnd(dialect))
          .execute()
      },
    },
    // Groups: roles and join seqs (JSON) and the revision membership changes compare-and-set on.
    '0004_groups': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('conversations').addColumn('grp', 'text').execute()
        await db.schema.alterTable('conversations').addColumn('rev', 'bigint', (c) => c.notNull().defaultTo(0)).execute()
      },
    },
    // Each user's own settings of a conversation (muted, pin time; a row only while not the
    // default) and the messages a user deleted for themself (bff/src/store/conv-settings.ts).
    '0005_conv_settings': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('conv_settings')
          .addColumn('user', 'varchar(64)', (c) => c.notNull())
          .addColumn('conv', 'varchar(140)', (c) => c.notNull())
          .addColumn('muted', 'integer', (c) => c.notNull())
          .addColumn('pinned', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('conv_settings_pk', ['user', 'conv'])
          .modifyEnd(tableEnd(dialect))
          .execute()
        await db.schema
          .createTable('hidden_messages')
          .addColumn('user', 'varchar(64)', (c) => c.notNull())
          .addColumn('conv', 'varchar(140)', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('hidden_messages_pk', ['user', 'conv', 'seq'])
          .modifyEnd(tableEnd(dialect))
          .execute()
      },
    },
  }
}
