/**
 * Turning raw text into validated frames (and back). Both sides use these, so a malformed frame is
 * classified the same way everywhere: BAD_JSON, UNKNOWN_TYPE or INVALID_FRAME, each an AppError.
 */
import * as v from 'valibot'
import { AppError } from './errors'
import { CLIENT_FRAME_TYPES, ClientFrame, SERVER_FRAME_TYPES, ServerFrame } from './schemas'
import type { ClientFrame as ClientFrameT, ServerFrame as ServerFrameT } from './types'

const clientTypes = new Set<string>(CLIENT_FRAME_TYPES)
const serverTypes = new Set<string>(SERVER_FRAME_TYPES)

function decode<T>(
  text: string,
  schema: v.GenericSchema<unknown, T>,
  known: ReadonlySet<string>,
): T {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (cause) {
    throw new AppError('BAD_JSON', undefined, { cause })
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AppError('INVALID_FRAME', 'frame must be a JSON object')
  }
  const type = (raw as { type?: unknown }).type
  if (typeof type !== 'string') throw new AppError('INVALID_FRAME', 'frame has no string "type"')
  if (!known.has(type)) throw new AppError('UNKNOWN_TYPE', `unknown frame type "${type.slice(0, 40)}"`)
  const result = v.safeParse(schema, raw)
  if (!result.success) {
    throw new AppError('INVALID_FRAME', describeIssue(type, result.issues[0]), {
      details: { type, ref: refOf(raw) },
    })
  }
  return result.output
}

/** The request id or client id a bad frame carried, so the error can name the request it answers. */
export function refOf(raw: unknown): { rid?: string; cid?: string } {
  if (typeof raw !== 'object' || raw === null) return {}
  const r = raw as { rid?: unknown; cid?: unknown }
  const out: { rid?: string; cid?: string } = {}
  if (typeof r.rid === 'string' && r.rid.length <= 64) out.rid = r.rid
  if (typeof r.cid === 'string' && r.cid.length <= 64) out.cid = r.cid
  return out
}

function describeIssue(type: string, issue: v.BaseIssue<unknown> | undefined): string {
  if (!issue) return `invalid "${type}" frame`
  const path = issue.path?.map((p) => String(p.key)).join('.') ?? ''
  return `invalid "${type}" frame${path ? ` at ${path}` : ''}: ${issue.message}`
}

/** Parse a frame a client sent. Throws AppError (BAD_JSON, INVALID_FRAME, UNKNOWN_TYPE). */
export function decodeClientFrame(text: string): ClientFrameT {
  return decode(text, ClientFrame as v.GenericSchema<unknown, ClientFrameT>, clientTypes)
}

/** Parse a frame the server sent. Throws AppError (BAD_JSON, INVALID_FRAME, UNKNOWN_TYPE). */
export function decodeServerFrame(text: string): ServerFrameT {
  return decode(text, ServerFrame as v.GenericSchema<unknown, ServerFrameT>, serverTypes)
}

export function encodeFrame(frame: ClientFrameT | ServerFrameT): string {
  return JSON.stringify(frame)
}

/** Bytes of a string in UTF-8, without allocating a buffer (works in mini-programs, browsers, Node). */
export function utf8Length(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}
