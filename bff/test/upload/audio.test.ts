/**
 * measureAudioMs (bff/src/upload/audio.ts) on files built byte by byte: the length an ADTS stream
 * or a WebM with a Duration gives, nothing (undefined, never a throw) for a WebM written as a live
 * stream (no Duration), for a header with nothing after it, and for bytes of another type than named.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { measureAudioMs } from '../../src/upload/audio'
import { aacBytes, aacOfMs, webmBytes, webmOpusBytes } from '../support/audio'

const dir = await mkdtemp(path.join(os.tmpdir(), 'chat-audio-test-'))
afterAll(() => rm(dir, { recursive: true, force: true }))

let n = 0
async function measure(bytes: Buffer, mime: string): Promise<number | undefined> {
  const file = path.join(dir, `f${++n}`)
  await writeFile(file, bytes)
  return measureAudioMs(file, mime)
}

describe('measureAudioMs', () => {
  it('counts ADTS AAC frames to the end: 1024 samples each at the stream rate', async () => {
    expect(await measure(aacOfMs(30_000).bytes, 'audio/aac')).toBe(30_016) // 469 frames at 16 kHz
    expect(await measure(aacOfMs(300).bytes, 'audio/aac')).toBe(320)
    // 44.1 kHz, 4 KiB frames: 512 frames, 11.888 s (no estimate from the first frame's bit rate).
    expect(await measure(aacBytes(2 * 1024 * 1024, { frameBytes: 4096 }), 'audio/aac')).toBe(11_889)
  })

  it('reads a WebM length from its Info Duration', async () => {
    expect(await measure(webmOpusBytes(20_000, { withDuration: true }), 'audio/webm')).toBe(20_000)
    expect(await measure(webmOpusBytes(90_000, { withDuration: true }), 'audio/webm')).toBe(90_000)
  })

  it('gives nothing for a WebM without Duration (a live stream), an EBML header alone, or bytes of another type', async () => {
    expect(await measure(webmOpusBytes(20_000), 'audio/webm')).toBeUndefined()
    expect(await measure(webmBytes(9_000), 'audio/webm')).toBeUndefined()
    expect(await measure(Buffer.from('%PDF-1.7\n'.repeat(100)), 'audio/mpeg')).toBeUndefined()
    expect(await measure(Buffer.alloc(0), 'audio/aac')).toBeUndefined()
  })
})
