/**
 * The archive's tables, as Kysely sees them. One schema for MySQL/MariaDB (production, InnoDB,
 * utf8mb4 with binary collation: ids are case-sensitive) and SQLite (the embedded default), created
 * by the migrations in migrations.ts. Times are ms since the epoch (BIGINT), like the protocol's.
 */
import type { ColumnType, Generated } from 'kysely'

/** A BIGINT read back: a number from both drivers (seqs and ms stay below 2^53). */
type Big = ColumnType<number, number, number>

export interface UsersTable {
  id: string
  /** Lowercased id and name: prefix search without a case-insensitive collation. */
  id_lc: string
  name: string
  name_lc: string
  avatar: string | null
  updated_at: Big
}

/** The terms a user is found by (store/directory.ts: id, name, and a Chinese name's pinyin and initials). */
export interface UserTermsTable {
  term: string
  user: string
}

export interface ConversationsTable {
  id: string
  kind: 'direct' | 'group'
  title: string | null
  created_at: Big
  /** Groups: owner, admins and join seqs as JSON (migration 0004); null for 1:1s. */
  grp: string | null
  /** Groups: revision of the mutable part (compare-and-set of membership changes). */
  rev: Big
}

export interface MembersTable {
  conv: string
  user: string
  /** The member's place in the conversation's member list (kept as created). */
  pos: number
  /** The conversation's creation time, copied: a user's list is read in this order by one index. */
  created_at: Big
}

export interface MessagesTable {
  conv: string
  seq: Big
  sender: string
  cid: string
  ts: Big
  /** The message exactly as it went on the wire (message-json.ts): served without re-encoding. */
  json: string
}

export interface ReadMarksTable {
  conv: string
  user: string
  seq: Big
}

/** One pair of users (a < b), both directions (bff/src/store/relations.ts). */
export interface RelationsTable {
  a: string
  b: string
  ab_state: string | null
  ab_note: string | null
  ab_at: Big | null
  ba_state: string | null
  ba_note: string | null
  ba_at: Big | null
  version: Big
}

export interface RelationPoliciesTable {
  user: string
  policy: string
}

/** One user's non-default setting of one conversation (migration 0005). */
export interface ConvSettingsTable {
  user: string
  conv: string
  /** 1 muted, 0 not. */
  muted: number
  /** Pin time, ms; 0 not pinned. */
  pinned: Big
}

/** A message one user deleted for themself (migration 0005). */
export interface HiddenMessagesTable {
  user: string
  conv: string
  seq: Big
}

export interface MigrationRow {
  name: string
  timestamp: string
}

export interface ArchiveDb {
  users: UsersTable
  user_terms: UserTermsTable
  conversations: ConversationsTable
  members: MembersTable
  messages: MessagesTable
  read_marks: ReadMarksTable
  relations: RelationsTable
  relation_policies: RelationPoliciesTable
  conv_settings: ConvSettingsTable
  hidden_messages: HiddenMessagesTable
}

export type { Generated }
