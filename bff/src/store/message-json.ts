/**
 * The stored form of a message is its wire JSON, built once when it is stored and then passed on
 * byte for byte (to history pages, offline queues, pushes) without being parsed and re-encoded.
 *
 * The seq is known only inside the atomic append (a Lua script in Redis), so the JSON is built in
 * two halves around it. Ids are validated against [A-Za-z0-9_:-] before they get here, so they
 * need no escaping; the body goes through JSON.stringify.
 */
import type { Message } from '@chat/shared'
import type { AppendInput } from './types'

export interface MessageJsonParts {
  readonly head: string
  readonly tail: string
}

export function messageJsonParts(input: AppendInput): MessageJsonParts {
  return {
    head: `{"mid":"${input.mid}","cid":"${input.cid}","conv":"${input.conv}","seq":`,
    tail: `,"from":"${input.from}","ts":${input.ts},"kind":"${input.kind}","body":${JSON.stringify(input.body)}}`,
  }
}

export function messageJson(parts: MessageJsonParts, seq: number): string {
  return parts.head + seq + parts.tail
}

/** The message object of `input` at `seq`, without parsing the JSON just built. */
export function messageOf(input: AppendInput, seq: number): Message {
  return {
    mid: input.mid,
    cid: input.cid,
    conv: input.conv,
    seq,
    from: input.from,
    ts: input.ts,
    kind: input.kind,
    body: input.body,
  } as Message
}

/** conv and seq of a stored message JSON, read without parsing it (the format is ours: message-json.ts). */
export function peekMessage(json: string): { conv: string; seq: number; json: string } | undefined {
  const c = json.indexOf('"conv":"')
  if (c < 0) return undefined
  const ce = json.indexOf('"', c + 8)
  const s = json.indexOf('"seq":', ce)
  if (ce < 0 || s < 0) return undefined
  const seq = parseInt(json.slice(s + 6, s + 26), 10)
  if (!Number.isSafeInteger(seq)) return undefined
  return { conv: json.slice(c + 8, ce), seq, json }
}
