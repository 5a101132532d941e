import { describe, expect, it } from 'vitest'
import { ChunkSizer, DEFAULT_CHUNK_SIZING } from '../../upload/chunks'
import { FakeTusServer, MemorySource, MemoryStorage } from '../../upload/fake'
import type { UploadHttp } from '../../upload/platform'
import { TusUpload } from '../../upload/tus'

const KB = 1024

describe('ChunkSizer', () => {
  it('starts at 256 KiB and sizes a chunk to take targetMs at the measured goodput, bounded', () => {
    const s = new ChunkSizer()
    expect(s.next).toBe(DEFAULT_CHUNK_SIZING.initialBytes)
    // 1 KB/ms measured: 3 s worth is 3000 KB, but growth is at most 4x per append.
    s.record(256 * KB, 256)
    expect(s.next).toBe(1024 * KB)
    s.record(1024 * KB, 1024)
    expect(s.next).toBe(3000 * KB)
    // A fast link: 4x growth, then capped at 8 MiB.
    s.record(1500 * KB, 10)
    expect(s.next).toBe(6000 * KB)
    s.record(6000 * KB, 10)
    expect(s.next).toBe(8 * 1024 * KB)
    // A slow one: down to what 3 s carry, not below the minimum.
    s.record(8 * 1024 * KB, 20_000)
    expect(s.next).toBe(Math.round(((8 * 1024 * KB) / 20_000) * 3000))
    s.record(256 * KB, 1_000_000)
    expect(s.next).toBe(256 * KB)
  })

  it('halves after a failure, not below the minimum', () => {
    const s = new ChunkSizer({ initialBytes: 4 * 1024 * KB })
    s.failed()
    expect(s.next).toBe(2 * 1024 * KB)
    for (let i = 0; i < 10; i++) s.failed()
    expect(s.next).toBe(256 * KB)
  })

  it('refuses bounds that cannot hold', () => {
    expect(() => new ChunkSizer({ minBytes: 10, maxBytes: 5 })).toThrow(RangeError)
    expect(() => new ChunkSizer({ targetMs: 0 })).toThrow(RangeError)
  })
})

/**
 * The uploader over a simulated link: a virtual clock advanced, per request, by the round trip plus
 * the body's bytes at the link's rate. The sizes the uploader chooses are then a function of the link.
 */
function linkOver(server: FakeTusServer, clock: { t: number }, bytesPerMs: number, rttMs: number): UploadHttp {
  return {
    send(req) {
      clock.t += rttMs + (req.body?.byteLength ?? 0) / bytesPerMs
      return server.send(req)
    },
  }
}

describe('TusUpload with adaptive chunks', () => {
  const sizing = { initialBytes: 1 * KB, minBytes: 1 * KB, maxBytes: 64 * KB, targetMs: 1000, maxGrowth: 4 }

  function run(size: number, bytesPerMs: number, rttMs: number, server = new FakeTusServer()) {
    const clock = { t: 0 }
    const source = new MemorySource(new Uint8Array(size).map((_, i) => i & 0xff))
    const upload = new TusUpload({
      endpoint: `${server.origin}/uploads`,
      source,
      fingerprint: 'fp',
      metadata: { conv: 'd:a:b', filename: 'f.pdf' },
      http: linkOver(server, clock, bytesPerMs, rttMs),
      storage: new MemoryStorage(),
      getToken: async () => 'tok',
      chunkSizing: sizing,
      now: () => clock.t,
      sleep: async () => undefined,
      random: () => 0.5,
    })
    return { server, source, upload, appends: () => server.requests.filter((r) => r.method === 'PATCH').map((r) => r.bodyBytes) }
  }

  it('grows the chunk towards targetMs of the link (one step behind: the next chunk is read ahead)', async () => {
    // 16 bytes/ms, 50 ms RTT: 1 s carries ~16 KB.
    const r = run(200 * KB, 16, 50)
    const out = await r.upload.start()
    expect(out.done).toBe(true)
    const sizes = r.appends()
    // 1 KiB takes 50 + 64 ms: 9 bytes/ms measured, 4x growth at most, the read-ahead one step behind.
    expect(sizes.slice(0, 4)).toEqual([1 * KB, 1 * KB, 4 * KB, 4 * KB])
    for (let i = 1; i < sizes.length - 1; i++) expect(sizes[i]!).toBeLessThanOrEqual(4 * sizes[i - 1]!)
    // Steady state: what 1 s of the link carries with its RTT counted (s = 1000 * s / (50 + s / 16),
    // s = 15 200), never above the max.
    const steady = sizes.slice(8, -1)
    expect(steady.length).toBeGreaterThan(5)
    for (const s of steady) expect(Math.abs(s - 15_200)).toBeLessThan(100)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200 * KB)
    expect(new Uint8Array(r.server.uploads.get('u1')!.bytes)).toEqual(r.source.bytes)
  })

  it('stays at maxBytes on a fast link', async () => {
    const r = run(400 * KB, 10_000, 1)
    await r.upload.start()
    expect(r.appends().filter((s) => s === 64 * KB).length).toBe(5)
  })

  it('after an append cut mid-body re-sends only the unstored rest of that one chunk, then halves the chunk', async () => {
    const server = new FakeTusServer()
    const r = run(200 * KB, 16, 50, server)
    // The sixth append loses its connection after 3000 bytes were stored.
    let appends = 0
    server.failNext({ kind: 'partial', bytes: 3000 }, (req) => req.method === 'PATCH' && ++appends === 6)
    const out = await r.upload.start()
    expect(out.done).toBe(true)
    const patches = server.requests.filter((q) => q.method === 'PATCH')
    const cut = patches[5]!
    const after = patches[6]!
    expect(server.requests[server.requests.indexOf(cut) + 1]!.method).toBe('HEAD')
    expect(Number(after.headers['Upload-Offset'])).toBe(Number(cut.headers['Upload-Offset']) + 3000)
    // Bytes sent beyond the file's size: only what the server did not store of the cut chunk.
    const sent = patches.reduce((a, q) => a + q.bodyBytes, 0)
    expect(sent - 200 * KB).toBe(cut.bodyBytes - 3000)
    expect(sent - 200 * KB).toBeLessThan(cut.bodyBytes)
    // The chunk after the failure is at most half the one that failed.
    expect(after.bodyBytes).toBeLessThanOrEqual(Math.ceil(cut.bodyBytes / 2))
    expect(new Uint8Array(server.uploads.get('u1')!.bytes)).toEqual(r.source.bytes)
  })
})
