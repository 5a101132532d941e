/**
 * How long a recording really is, read from its bytes (music-metadata), so a voice message's
 * `duration` is the audio's and not the sender's claim. Measured once, when the upload finishes
 * (service.ts), and kept in the file's record, as an image's width and height are.
 */
import { readFile } from 'node:fs/promises'
import { parseBuffer } from 'music-metadata'

/**
 * Leeway around LIMITS.minVoiceMs..LIMITS.maxVoiceMs for a measured length, ms. Recorders stop on a
 * timer, not on a sample: an AAC encoder adds its priming frame and rounds up to whole frames (64 ms
 * at WeChat's 16 kHz), so a recording stopped at 60 s measures a little over 60 s; MediaRecorder
 * starts some 100 ms after the client's clock does, so a 1 s press can measure a little under 1 s.
 */
export const VOICE_DURATION_TOLERANCE_MS = 500

/**
 * The length of the audio in `filePath` (of type `mime`, as content.ts decided it), whole ms, or
 * undefined when its format does not give one (a WebM written as a live stream has no Duration
 * element: music-metadata reads it from the segment's Info only and skips the clusters; Chromium
 * 156's MediaRecorder does write one into a recording taken in one piece) or the file cannot be
 * parsed. ADTS AAC and MP3 are counted frame by frame to the end (`duration: true`), not estimated
 * from the first frame's bit rate.
 *
 * Parsed from memory: callers pass files of at most LIMITS.maxVoiceBytes, and music-metadata's file
 * reader costs a read per frame (0.6 s for 2 MiB of 192-byte ADTS frames, against 24 ms from a
 * buffer, in one run). The type is the one content.ts decided, so the parser is the matching one.
 */
export async function measureAudioMs(filePath: string, mime: string): Promise<number | undefined> {
  let seconds: number | undefined
  try {
    const bytes = await readFile(filePath)
    seconds = (await parseBuffer(bytes, { mimeType: mime, size: bytes.length }, { duration: true, skipCovers: true })).format.duration
  } catch {
    return undefined
  }
  return seconds !== undefined && Number.isFinite(seconds) && seconds >= 0 ? Math.round(seconds * 1000) : undefined
}
