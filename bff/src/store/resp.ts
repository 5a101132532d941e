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
 * `parts` encoded as RESP bulk strings, preceded by `header` (an array header, or nothing), in a
 * Buffer of its own: a command sent once (not a slice of Node's shared 8 KiB pool, which one kept
 * slice would keep whole).
 */
export function encodeParts(header: string, parts: readonly string[]): Buffer {
  return encodeInto(Buffer.allocUnsafeSlow(encodedLength(header, parts)), header, parts)
}

/**
 * `parts` encoded as RESP bulk strings, preceded by `header`, as text of one character per byte
 * (latin1): the form kept for parts written again and again (a 1:1 sender's append command, issue
 * 15). A Buffer of its own costs two objects (the view and its ArrayBuffer, ~180 B) and a native
 * block beside its bytes, per part kept: a string is its bytes and a 16-byte header. Copied into a
 * command with `writeEncoded`.
 */
export function encodeText(header: string, parts: readonly string[]): string {
  return encodeInto(Buffer.allocUnsafe(encodedLength(header, parts)), header, parts).toString('latin1')
}

function encodedLength(header: string, parts: readonly string[]): number {
  let total = header.length
  for (const p of parts) total += bulkLength(p)
  return total
}

function encodeInto(buf: Buffer, header: string, parts: readonly string[]): Buffer {
  let at = buf.write(header, 0, 'latin1')
  for (const p of parts) at = writeBulk(buf, at, p)
  return buf
}

/** Copy encoded text (`encodeText`) into `buf` at `at`, byte for byte; the offset after it. */
function writeEncoded(buf: Buffer, at: number, text: string): number {
  return at + buf.write(text, at, 'latin1')
}

/**
 * One command, written piece by piece into one Buffer from the shared pool (the command lives
 * until the socket took it): `encoded` pieces are text of `encodeText` copied as they are (their
 * parts counted in the array header by the caller), `bulk` pieces are written as bulk strings.
 * Sized first (`sizeEncoded`, `sizeBulk`), then written in the same order.
 */
export class CommandWriter {
  private length: number
  private buf: Buffer | undefined
  private at = 0

  constructor(private readonly header: string) {
    this.length = header.length
  }

  /** Count a piece to be written with `bulk`. */
  sizeBulk(s: string): this {
    this.length += bulkLength(s)
    return this
  }

  /** Count a piece to be written with `encoded`. */
  sizeEncoded(text: string): this {
    this.length += text.length
    return this
  }

  /** Allocate; from here on only `encoded` and `bulk`, in the order sized. */
  start(): this {
    this.buf = Buffer.allocUnsafe(this.length)
    this.at = this.buf.write(this.header, 0, 'latin1')
    return this
  }

  encoded(text: string): this {
    this.at = writeEncoded(this.buf!, this.at, text)
    return this
  }

  bulk(s: string): this {
    this.at = writeBulk(this.buf!, this.at, s)
    return this
  }

  /** The command, checked to be exactly as long as it was sized. */
  done(): Buffer {
    if (this.at !== this.length) throw new Error(`command written ${this.at} of ${this.length} bytes`)
    return this.buf!
  }
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
