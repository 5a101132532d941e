/** Frames and messages for unit tests, valid by the shared schemas. */
import type { Conversation, Message, ServerFrameOf, User } from '@chat/shared'

export const ALICE: User = { id: 'alice', name: 'Alice' }
export const BOB: User = { id: 'bob', name: 'Bob' }
export const CAROL: User = { id: 'carol', name: 'Carol' }
export const AB = 'd:alice:bob'

export function welcome(user: User = ALICE, heartbeatMs = 25_000): ServerFrameOf<'welcome'> {
  return {
    type: 'welcome',
    v: 1,
    user,
    session: 's1',
    serverTime: 1_800_000_000_000,
    heartbeatMs,
    limits: { maxFrameBytes: 65536, maxTextChars: 5000, maxPageSize: 200 },
  }
}

export function msg(seq: number, from = BOB.id, conv = AB, text = `m${seq}`): Message {
  return {
    mid: `mid-${conv}-${seq}`,
    cid: `cid-${from}-${String(seq).padStart(6, '0')}`,
    conv,
    seq,
    from,
    ts: 1_800_000_000_000 + seq * 1000,
    kind: 'text',
    body: { text },
  }
}

export function conv(overrides: Partial<Conversation> = {}): Conversation {
  return {
    id: AB,
    kind: 'direct',
    members: [ALICE, BOB],
    createdAt: 1_799_000_000_000,
    lastSeq: 0,
    readSeq: 0,
    unread: 0,
    ...overrides,
  }
}

export function authResponse(user: User = ALICE, now = 1_800_000_000_000, ttlMs = 15 * 60_000) {
  return {
    user,
    token: `tok-${user.id}-${now}`,
    expiresAt: now + ttlMs,
    refreshToken: `ref-${user.id}-${now}`,
    refreshExpiresAt: now + 30 * 86_400_000,
  }
}
