/**
 * Small audio files whose bytes file-type recognises (no encoder runs here): ADTS AAC frames as
 * WeChat's RecorderManager writes them, a WebM (Opus) header as Chromium's MediaRecorder starts one.
 * Only the headers are real; the payload is silence-shaped filler, enough for content checks.
 */

/** `size` bytes of ADTS AAC frames (MPEG-4 LC, 44.1 kHz, mono), each 7 header bytes + payload. */
export function aacBytes(size: number): Buffer {
  const frame = 512
  const buf = Buffer.alloc(size)
  for (let at = 0; at < size; at += frame) {
    const header = Buffer.from([0xff, 0xf1, 0x50, 0x40 | ((frame >> 11) & 3), (frame >> 3) & 0xff, ((frame & 7) << 5) | 0x1f, 0xfc])
    header.copy(buf, at, 0, Math.min(7, size - at))
  }
  return buf
}

/** `size` bytes starting with a WebM EBML header (DocType "webm"), the rest filler. */
export function webmBytes(size: number): Buffer {
  const el = (id: number[], data: Buffer) => Buffer.concat([Buffer.from(id), Buffer.from([0x80 | data.length]), data])
  const body = Buffer.concat([
    el([0x42, 0x86], Buffer.from([1])),
    el([0x42, 0xf7], Buffer.from([1])),
    el([0x42, 0xf2], Buffer.from([4])),
    el([0x42, 0xf3], Buffer.from([8])),
    el([0x42, 0x82], Buffer.from('webm')),
    el([0x42, 0x87], Buffer.from([4])),
    el([0x42, 0x85], Buffer.from([2])),
  ])
  const head = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x80 | body.length]), body])
  const buf = Buffer.alloc(Math.max(size, head.length))
  head.copy(buf, 0)
  return buf
}
