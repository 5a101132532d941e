/**
 * Redis commands written as one Buffer by the caller, for the one command every message sends (the
 * append script). ioredis builds each command as a string of some fifty pieces, measures it and
 * copies it again into the socket, and a script call adds its own closure and promise: issue 15
 * found ~3 KB allocated per message there alone. Here the parts that stay the same from one
 * message to the next (the command, the script's sha, a conversation's keys) are encoded once and
 * copied, and only the message's own parts are written per message.
 *
 * RESP (https://redis.io/docs/latest/develop/reference/protocol-spec/): a command is an array of
 * bulk strings, `*<count>\r\n` then `$<bytes>\r\n<bytes>\r\n` per part.
 */
import { Command } from 'ioredis'

/** Bytes of `s` as one RESP bulk string. */
export function bulkLength(s: string): number {
  const n = Buffer.byteLength(s)
  return n + digitsOf(n) + 5
}

/** Write `s` as a RESP bulk string at `at`; the offset after it. */
function writeBulk(buf: Buffer, at: number, s: string): number {
  const n = Buffer.byteLength(s)
  buf[at++] = 36 // $
  at = writeDigits(buf, at, n)
  at = crlf(buf, at)
  at += buf.write(s, at, 'utf8')
  return crlf(buf, at)
}

function digitsOf(n: number): number {
  let digits = 1
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++
  return digits
}

function crlf(buf: Buffer, at: number): number {
  buf[at] = 13
  buf[at + 1] = 10
  return at + 2
}

/** The decimal digits of `n` (a length: a non-negative integer) at `at`, without a string for them. */
function writeDigits(buf: Buffer, at: number, n: number): number {
  const digits = digitsOf(n)
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 48 + (n % 10)
    n = Math.floor(n / 10)
  }
  return at + digits
}

/** The header of a command of `count` parts: `*<count>\r\n`. */
export function arrayHeader(count: number): string {
  return `*${count}\r\n`
}

/**
 * `parts` encoded as RESP bulk strings, preceded by `header` (an array header, or nothing). For
 * parts kept (a conversation's): in a Buffer of its own, not a slice of Node's shared 8 KiB pool,
 * which one kept slice would keep whole.
 */
export function encodeParts(header: string, parts: readonly string[]): Buffer {
  let total = header.length
  for (const p of parts) total += bulkLength(p)
  const buf = Buffer.allocUnsafeSlow(total)
  let at = buf.write(header, 0, 'latin1')
  for (const p of parts) at = writeBulk(buf, at, p)
  return buf
}

/**
 * One command: `pre` (encoded already: the array header and the first parts), then `middle`
 * written as bulk strings, then `post` (encoded already). One allocation, from the shared pool:
 * the command lives until the socket took it.
 */
export function encodeCommand(pre: Buffer, middle: readonly string[], post: Buffer): Buffer {
  let total = pre.length + post.length
  for (const p of middle) total += bulkLength(p)
  const buf = Buffer.allocUnsafe(total)
  let at = pre.copy(buf, 0)
  for (const p of middle) at = writeBulk(buf, at, p)
  post.copy(buf, at)
  return buf
}

/**
 * One command from pieces in order: a Buffer is copied as it is (parts encoded already), a string
 * is written as a bulk string. `header` is the array header of the whole command (its part count
 * must count the parts inside the Buffers). One allocation, from the shared pool.
 */
export function encodePieces(header: string, pieces: readonly (Buffer | string)[]): Buffer {
  let total = header.length
  for (const p of pieces) total += typeof p === 'string' ? bulkLength(p) : p.length
  const buf = Buffer.allocUnsafe(total)
  let at = buf.write(header, 0, 'latin1')
  for (const p of pieces) at = typeof p === 'string' ? writeBulk(buf, at, p) : at + p.copy(buf, at)
  return buf
}

/**
 * An ioredis command whose wire form is given. Sent with `sendCommand` on a standalone Redis only:
 * it names no keys, so a Cluster client could not route it. Its reply is decoded as any command's.
 */
export class EncodedCommand extends Command {
  constructor(
    name: string,
    private readonly wire: Buffer,
  ) {
    super(name)
  }

  override toWritable(): Buffer {
    return this.wire
  }
}
