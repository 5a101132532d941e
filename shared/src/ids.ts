/** Conversation ids. A 1:1 conversation's id is derived from its two members, so both find the same one. */
import type { ConvId, UserId } from './types'

export function directConvId(a: UserId, b: UserId): ConvId {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`
}

export function isDirectConvId(conv: string): boolean {
  return conv.startsWith('d:')
}

/** The two members named by a 1:1 id, or undefined if it is not one. */
export function directMembers(conv: string): [UserId, UserId] | undefined {
  if (!isDirectConvId(conv)) return undefined
  const parts = conv.split(':')
  if (parts.length !== 3 || !parts[1] || !parts[2]) return undefined
  return [parts[1], parts[2]]
}

/**
 * A random id of `length` chars from [A-Za-z0-9_-] (64 symbols: 6 bits each). Uses
 * crypto.getRandomValues where present; mini-program base libraries without it fall back to Math.random,
 * which is enough for client message ids (unique per sender, not secrets).
 */
export function randomId(length = 21): string {
  const alphabet = 'ModuleSymbhasOwnPr-0123456789ABCDEFGHNRVfgctiUvz_KqYTJkLxpZXIjQW'
  const bytes = new Uint8Array(length)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto
  if (c?.getRandomValues) c.getRandomValues(bytes)
  else for (let i = 0; i < length; i++) bytes[i] = Math.floor(Math.random() * 256)
  let id = ''
  for (let i = 0; i < length; i++) id += alphabet[bytes[i]! & 63]
  return id
}
