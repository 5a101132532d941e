/**
 * A server's text frame built whole (RFC 6455, 5.2: FIN, opcode 1 text, no mask from a server;
 * payload length in 7 bits, or 126 + 16 bits, or 127 + 64 bits). ws's `send` of a string converts
 * it to a Buffer, allocates a header and writes the two as separate chunks, through two option
 * objects and a cork of its own: for the frames sent most (a 1:1 `msg`, an `ack`), one Buffer
 * written once costs less (issue 15: socket writes were the largest part of the CPU per message).
 * A Buffer (UTF-8 JSON already) is copied behind the header.
 */
export function textFrame(text: string | Buffer): Buffer {
  const n = typeof text === 'string' ? Buffer.byteLength(text) : text.length
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + n)
  frame[0] = 0x81
  if (head === 2) frame[1] = n
  else if (head === 4) {
    frame[1] = 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 127
    // A JavaScript string never reaches 2^32 bytes here (frames are bounded far below): the high word is 0.
    frame.writeUInt32BE(0, 2)
    frame.writeUInt32BE(n, 6)
  }
  if (typeof text === 'string') frame.write(text, head, 'utf8')
  else text.copy(frame, head)
  return frame
}
