/**
 * Pairs of users in 1:1 conversations under a steady send load, and the exactly-once check the
 * failure tests share: every message acked to its sender is held by both members once, under the
 * seq of its ack, with no seq unaccounted for (the store holds exactly what was acked).
 */
import { expect } from 'vitest'
import { directConvId, type BackoffOptions, type ConvId } from '@chat/shared'
import { TestClient, devLogin } from '../../../bff/test/support/client'
import { dropBundle, type BffProcess } from '../../../bff/test/support/spawn'
import { ChatUser, type Held } from '../../kit/chat-user'
import type { RedisServer } from './redis'

export interface Pair {
  readonly conv: ConvId
  readonly a: ChatUser
  readonly b: ChatUser
}

/** Log in and connect both members (random server of `urls`); the first creates their conversation. */
export async function createPairs(urls: () => readonly string[], count: number, tag: string, backoff: BackoffOptions): Promise<Pair[]> {
  const pairs: Pair[] = []
  for (let i = 0; i < count; i++) {
    const a = new ChatUser(`${tag}-a${i}`, { urls, backoff })
    const b = new ChatUser(`${tag}-b${i}`, { urls, backoff })
    pairs.push({ conv: directConvId(a.id, b.id), a, b })
  }
  await Promise.all(pairs.flatMap((p) => [p.a.start(), p.b.start()]))
  for (const { conv, a, b } of pairs) expect((await a.chat.createConv('direct', [b.id])).id).toBe(conv)
  return pairs
}

export const usersOf = (pairs: readonly Pair[]): ChatUser[] => pairs.flatMap((p) => [p.a, p.b])

/** Every user sends to its peer every `everyMs` (sends are queued in the outbox while offline). */
export function startLoad(pairs: readonly Pair[], everyMs: number): { stop(): void; sent(): number } {
  let sending = true
  let sent = 0
  const timers: NodeJS.Timeout[] = []
  for (const { conv, a, b } of pairs) {
    for (const u of [a, b]) {
      let n = 0
      timers.push(
        setInterval(() => {
          if (!sending) return
          u.send(conv, `${u.id}#${n++}`)
          sent++
        }, everyMs),
      )
    }
  }
  return {
    stop() {
      sending = false
      for (const t of timers) clearInterval(t)
    },
    sent: () => sent,
  }
}

export interface ExactlyOnce {
  /** Messages acked (each counted once). */
  readonly acked: number
  /** Acks that answered a resend of an already stored cid. */
  readonly dupAcks: number
}

/**
 * For every pair: the acks of both senders name distinct seqs 1..n (gap-free: every stored message
 * was acked eventually), and both members hold exactly those n messages under those seqs.
 */
export function expectExactlyOnce(pairs: readonly Pair[]): ExactlyOnce {
  let acked = 0
  let dupAcks = 0
  for (const { conv, a, b } of pairs) {
    const expected = new Map<number, string>()
    for (const u of [a, b]) {
      for (const [cid, ack] of u.acks) {
        expect(expected.get(ack.seq), `${conv}: seq ${ack.seq} acked twice`).toBeUndefined()
        expected.set(ack.seq, cid)
        acked++
        if (ack.dup) dupAcks++
      }
    }
    const seqs = [...expected.keys()].sort((x, y) => x - y)
    expect(seqs, `${conv}: acked seqs are not 1..n`).toEqual(seqs.map((_, i) => i + 1))
    for (const u of [a, b]) {
      const held = u.held.get(conv) ?? new Map<number, Held>()
      expect(held.size, `${u.id} holds ${held.size} of ${expected.size} messages of ${conv}`).toBe(expected.size)
      for (const [seq, cid] of expected) expect(held.get(seq)?.cid, `${u.id}: ${conv} seq ${seq}`).toBe(cid)
      expect(new Set([...held.values()].map((h) => h.cid)).size, `${u.id}: a cid stored twice in ${conv}`).toBe(held.size)
    }
  }
  return { acked, dupAcks }
}

/** Violations other than wire repeats of one seq (those have a test of their own). */
export function storeViolations(users: readonly ChatUser[]): string[] {
  return users.flatMap((u) => u.violations.filter((v) => !v.includes('sent twice on one connection')))
}

export function wireRepeats(users: readonly ChatUser[]): string[] {
  return users.flatMap((u) => u.violations.filter((v) => v.includes('sent twice on one connection')))
}

/**
 * What the store holds, read back over a fresh connection: every message of `conv` from seq 0.
 * Independent of what the members received.
 */
export async function storedCids(url: string, user: string, conv: ConvId): Promise<Map<number, string>> {
  const client = await TestClient.connect(url, (await devLogin(url, user)).token)
  try {
    await client.nextOf('welcome')
    const { batches } = await client.sync('verify', [{ conv, seq: 0 }], 30_000)
    const out = new Map<number, string>()
    for (const m of batches.filter((x) => x.conv === conv).flatMap((x) => x.msgs)) out.set(m.seq, m.cid)
    return out
  } finally {
    await client.close()
  }
}

/** The end of a failure test: load and users stopped, BFF processes killed, Redis stopped. */
export async function stopAll(parts: { load?: { stop(): void }; pairs: readonly Pair[]; nodes: readonly BffProcess[]; redis?: RedisServer }): Promise<void> {
  parts.load?.stop()
  await Promise.all(usersOf(parts.pairs).map((u) => u.stop()))
  for (const n of parts.nodes) n.kill('SIGKILL')
  await Promise.all(parts.nodes.map((n) => n.exited))
  await parts.redis?.dispose()
  await dropBundle()
}
