/**
 * A group's roles and join seqs as the stores keep them (Redis field `grp`, archive column `grp`):
 * one JSON object, so a change replaces them together with the members under one revision.
 */
import type { UserId } from '@chat/shared'
import type { ConvRecord } from './types'

interface GroupJson {
  owner?: UserId
  admins?: UserId[]
  joined?: Record<UserId, number>
}

/** The JSON of a record's group part; null when it has none (a 1:1, or a group stored before roles). */
export function groupJson(record: ConvRecord): string | null {
  if (record.owner === undefined && record.admins === undefined && record.joined === undefined) return null
  const g: GroupJson = {}
  if (record.owner !== undefined) g.owner = record.owner
  if (record.admins !== undefined) g.admins = [...record.admins]
  if (record.joined !== undefined) g.joined = { ...record.joined }
  return JSON.stringify(g)
}

/** The record fields stored as `json` (from `groupJson`) at revision `rev`; none for an empty value. */
export function groupFields(json: string | null | undefined, rev: number): Partial<Pick<ConvRecord, 'owner' | 'admins' | 'joined' | 'rev'>> {
  if (!json) return {}
  const g = JSON.parse(json) as GroupJson
  return {
    ...(g.owner !== undefined ? { owner: g.owner } : {}),
    ...(g.admins !== undefined ? { admins: g.admins } : {}),
    ...(g.joined !== undefined ? { joined: g.joined } : {}),
    rev,
  }
}
