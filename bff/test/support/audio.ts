/**
 * Small audio files built here, byte by byte (no encoder runs in tests), real enough for both the
 * content check (file-type) and the duration measure (music-metadata): ADTS AAC frames as WeChat's
 * RecorderManager writes them, and Opus in WebM as a browser's MediaRecorder does. The containers and
 * frame headers are real; the coded audio is silence-shaped filler that nothing here decodes.
 */

/** ADTS sampling_frequency_index of each rate (ISO/IEC 14496-3, 1.6.3.4). */
const ADTS_RATES: Record<number, number> = { 48000: 3, 44100: 4, 24000: 6, 22050: 7, 16000: 8, 8000: 11 }

/** AAC samples per ADTS frame (one raw data block). */
const AAC_FRAME_SAMPLES = 1024

export interface AacOptions {
  /** Bytes per ADTS frame, header included (at most 8191). Default 512. */
  readonly frameBytes?: number
  /** Default 44100. */
  readonly sampleRate?: number
}

/** `size` bytes of ADTS AAC frames (MPEG-4 LC, mono), each 7 header bytes + payload; the last one may be cut short. */
export function aacBytes(size: number, options: AacOptions = {}): Buffer {
  const frame = options.frameBytes ?? 512
  const rate = ADTS_RATES[options.sampleRate ?? 44100]
  if (rate === undefined || frame < 8 || frame > 8191) throw new Error('unsupported ADTS frame')
  const buf = Buffer.alloc(size)
  for (let at = 0; at < size; at += frame) {
    const header = Buffer.from([0xff, 0xf1, 0x40 | (rate << 2), 0x40 | ((frame >> 11) & 3), (frame >> 3) & 0xff, ((frame & 7) << 5) | 0x1f, 0xfc])
    header.copy(buf, at, 0, Math.min(7, size - at))
  }
  return buf
}

/**
 * ADTS AAC of about `ms` (whole 1024-sample frames, so up to one frame longer), as WeChat records
 * voice: 16 kHz mono at 24 kbit/s (192-byte frames of 64 ms). Returns the bytes and their exact length.
 */
export function aacOfMs(ms: number, options: AacOptions = {}): { bytes: Buffer; ms: number } {
  const sampleRate = options.sampleRate ?? 16000
  const frameBytes = options.frameBytes ?? 192
  const frames = Math.ceil((ms * sampleRate) / 1000 / AAC_FRAME_SAMPLES)
  return { bytes: aacBytes(frames * frameBytes, { frameBytes, sampleRate }), ms: (frames * AAC_FRAME_SAMPLES * 1000) / sampleRate }
}

/** `size` bytes starting with a WebM EBML header (DocType "webm"), the rest filler. */
export function webmBytes(size: number): Buffer {
  const head = ebmlHeader()
  const buf = Buffer.alloc(Math.max(size, head.length))
  head.copy(buf, 0)
  return buf
}

/** An EBML element: its id, its size as a 4-byte vint (up to 2^28 - 2 bytes), its data. */
function el(id: number, data: Buffer): Buffer {
  const idBytes = Buffer.from(id.toString(16).padStart(id > 0xffffff ? 8 : id > 0xffff ? 6 : id > 0xff ? 4 : 2, '0'), 'hex')
  const size = Buffer.alloc(4)
  size.writeUInt32BE(0x10000000 | data.length)
  return Buffer.concat([idBytes, size, data])
}
const uint = (n: number, bytes = 4): Buffer => {
  const b = Buffer.alloc(bytes)
  b.writeUIntBE(n, 0, bytes)
  return b
}
const float = (n: number): Buffer => {
  const b = Buffer.alloc(8)
  b.writeDoubleBE(n)
  return b
}

function ebmlHeader(): Buffer {
  return el(
    0x1a45dfa3,
    Buffer.concat([
      el(0x4286, uint(1, 1)), // EBMLVersion
      el(0x42f7, uint(1, 1)), // EBMLReadVersion
      el(0x42f2, uint(4, 1)), // EBMLMaxIDLength
      el(0x42f3, uint(8, 1)), // EBMLMaxSizeLength
      el(0x4282, Buffer.from('webm')), // DocType
      el(0x4287, uint(4, 1)), // DocTypeVersion
      el(0x4285, uint(2, 1)), // DocTypeReadVersion
    ]),
  )
}

/** Opus frames per WebM cluster (Chromium starts a new cluster every few seconds). */
const BLOCKS_PER_CLUSTER = 100
const OPUS_FRAME_MS = 20

/**
 * Opus in WebM, `ms` long in 20 ms blocks, laid out as MediaRecorder streams it: a Segment of
 * unknown size (written while recording), Info without a Duration element unless `withDuration`
 * (Chromium 156 writes one into a recording taken in one piece: 2.94 s for a 3 s recording; so
 * does a remuxer), one Opus track, clusters of SimpleBlocks.
 */
export function webmOpusBytes(ms: number, options: { readonly withDuration?: boolean } = {}): Buffer {
  const info = el(
    0x1549a966,
    Buffer.concat([
      el(0x2ad7b1, uint(1_000_000)), // TimecodeScale: 1 ms
      el(0x4d80, Buffer.from('Chrome')), // MuxingApp
      el(0x5741, Buffer.from('Chrome')), // WritingApp
      ...(options.withDuration ? [el(0x4489, float(ms))] : []), // Duration, in TimecodeScale units
    ]),
  )
  const tracks = el(
    0x1654ae6b,
    el(
      0xae,
      Buffer.concat([
        el(0xd7, uint(1, 1)), // TrackNumber
        el(0x73c5, uint(1)), // TrackUID
        el(0x83, uint(2, 1)), // TrackType: audio
        el(0x86, Buffer.from('A_OPUS')), // CodecID
        el(0xe1, Buffer.concat([el(0xb5, float(48_000)), el(0x9f, uint(1, 1))])), // Audio: SamplingFrequency, Channels
      ]),
    ),
  )
  const clusters: Buffer[] = []
  const blocks = Math.ceil(ms / OPUS_FRAME_MS)
  for (let first = 0; first < blocks; first += BLOCKS_PER_CLUSTER) {
    const parts = [el(0xe7, uint(first * OPUS_FRAME_MS))] // Timecode of the cluster
    for (let i = first; i < Math.min(blocks, first + BLOCKS_PER_CLUSTER); i++) {
      // SimpleBlock: track 1 (vint 0x81), timecode relative to the cluster, keyframe flag, an Opus packet (TOC 0x78: SILK wideband 20 ms).
      const head = Buffer.from([0x81, 0, 0, 0x80, 0x78])
      head.writeInt16BE((i - first) * OPUS_FRAME_MS, 1)
      parts.push(el(0xa3, Buffer.concat([head, Buffer.alloc(35)])))
    }
    clusters.push(el(0x1f43b675, Buffer.concat(parts)))
  }
  const segment = Buffer.concat([Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), info, tracks, ...clusters])
  return Buffer.concat([ebmlHeader(), segment])
}
