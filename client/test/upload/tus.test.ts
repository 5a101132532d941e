import { describe, expect, it } from 'vitest'
import { FakeTusServer, MemorySource, MemoryStorage } from '../../upload/fake'
import { fingerprintOf } from '../../upload/fingerprint'
import { TusUpload, encodeMetadata, resolveUrl } from '../../upload/tus'
import type { TusUploadOptions } from '../../upload/tus'

const KB = 1024

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    out[i] = x >>> 16
  }
  return out
}

interface Setup {
  server: FakeTusServer
  source: MemorySource
  storage: MemoryStorage
  sleeps: number[]
  progress: number[]
  make(extra?: Partial<TusUploadOptions>): TusUpload
}

function setup(size = 10 * KB, chunkSize = 4 * KB): Setup {
  const server = new FakeTusServer()
  const source = new MemorySource(bytes(size))
  const storage = new MemoryStorage()
  const sleeps: number[] = []
  const progress: number[] = []
  return {
    server,
    source,
    storage,
    sleeps,
    progress,
    make: (extra = {}) =>
      new TusUpload({
        endpoint: `${server.origin}/uploads`,
        source,
        fingerprint: 'conv:fp',
        metadata: { conv: 'd:a:b', filename: '报告.pdf' },
        http: server,
        storage,
        getToken: async () => 'tok',
        chunkSize,
        retry: { maxAttempts: 3, minDelayMs: 100, maxDelayMs: 1000 },
        sleep: async (ms) => {
          sleeps.push(ms)
        },
        random: () => 0.5,
        onProgress: (sent) => progress.push(sent),
        ...extra,
      }),
  }
}

function stored(s: Setup): Uint8Array {
  return new Uint8Array(s.server.uploads.get('u1')!.bytes)
}

describe('TusUpload', () => {
  it('creates, appends chunk by chunk with the PATCH override, and returns the file info', async () => {
    const s = setup()
    const out = await s.make().start()
    expect(out).toEqual({ done: true, file: { fileId: 'u1', kind: 'file', name: 'f', size: 10 * KB, mime: 'application/pdf', url: '/files/u1' } })
    expect(s.server.requests.map((r) => `${r.method} ${r.path} ${r.bodyBytes}`)).toEqual([
      'POST /uploads 0',
      'PATCH /uploads/u1 4096',
      'PATCH /uploads/u1 4096',
      'PATCH /uploads/u1 2048',
    ])
    const create = s.server.requests[0]!.headers
    expect(create['Upload-Length']).toBe(String(10 * KB))
    expect(create['Upload-Metadata']).toBe(`conv ${Buffer.from('d:a:b').toString('base64')},filename ${Buffer.from('报告.pdf').toString('base64')}`)
    expect(create.Authorization).toBe('Bearer tok')
    expect(s.server.requests[1]!.headers).toMatchObject({
      'X-HTTP-Method-Override': 'PATCH',
      'Upload-Offset': '0',
      'Content-Type': 'application/offset+octet-stream',
      'Tus-Resumable': '1.0.0',
    })
    expect(stored(s)).toEqual(s.source.bytes)
    expect(s.progress).toEqual([4096, 8192, 10240])
    // Only chunk-sized ranges were read, never the whole file.
    expect(s.source.reads).toEqual([
      [0, 4096],
      [4096, 8192],
      [8192, 10240],
    ])
    expect(s.storage.data.size).toBe(0)
  })

  it('keeps the upload URL under the fingerprint while it runs', async () => {
    const s = setup()
    s.server.failNext({ kind: 'hang' })
    const up = s.make()
    const run = up.start()
    await new Promise((r) => setTimeout(r, 0))
    expect(s.storage.get('upload.v1:conv:fp')).toMatchObject({ url: 'https://bff.test/uploads/u1', size: 10 * KB })
    up.pause()
    expect(await run).toEqual({ done: false, reason: 'paused' })
  })

  it('after a dropped append asks the offset and sends only what the server lacks', async () => {
    const s = setup()
    s.server.failNext({ kind: 'partial', bytes: 1000 })
    const out = await s.make().start()
    expect(out.done).toBe(true)
    expect(s.server.requests.map((r) => `${r.method} ${r.headers['Upload-Offset'] ?? ''} ${r.bodyBytes}`)).toEqual([
      'POST  0',
      'PATCH 0 4096',
      'HEAD  0',
      'PATCH 1000 4096',
      'PATCH 5096 4096',
      'PATCH 9192 1048',
    ])
    expect(s.server.bytesReceived).toBe(10 * KB)
    expect(stored(s)).toEqual(s.source.bytes)
    // One backoff, drawn from the first window (full jitter: random 0.5 of 100 ms).
    expect(s.sleeps).toEqual([50])
  })

  it('retries 5xx and network errors with growing backoff windows, then goes on', async () => {
    const s = setup()
    s.server.failNext({ kind: 'status', status: 503 }).failNext({ kind: 'network' }, () => true).failNext({ kind: 'status', status: 500 })
    const out = await s.make().start()
    expect(out.done).toBe(true)
    expect(s.sleeps).toEqual([50, 100, 200])
    expect(stored(s)).toEqual(s.source.bytes)
  })

  it('answers a 409 with HEAD and continues from the server offset', async () => {
    const s = setup()
    // Another writer moved the upload on just before our second append: its offset is stale.
    s.server.failNext({ kind: 'advance', data: s.source.bytes.slice(4096, 6000) }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '4096')
    const out = await s.make().start()
    expect(out.done).toBe(true)
    expect(s.server.requests.map((r) => `${r.method} ${r.headers['Upload-Offset'] ?? ''}`)).toEqual([
      'POST ',
      'PATCH 0',
      'PATCH 4096',
      'HEAD ',
      'PATCH 6000',
      'PATCH 10096',
    ])
    expect(stored(s)).toEqual(s.source.bytes)
  })

  it('resumes from storage after a restart: HEAD, then the rest', async () => {
    const s = setup()
    s.server.failNext({ kind: 'hang' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '4096')
    const first = s.make()
    const run = first.start()
    while (s.server.requests.length < 3) await new Promise((r) => setTimeout(r, 0))
    first.pause()
    await run
    const again = await s.make().start()
    expect(again.done).toBe(true)
    expect(s.server.requests.slice(3).map((r) => `${r.method} ${r.headers['Upload-Offset'] ?? ''}`)).toEqual(['HEAD ', 'PATCH 4096', 'PATCH 8192'])
    expect(s.server.uploads.size).toBe(1)
  })

  it('asks for the file info when the final answer was lost', async () => {
    const s = setup(4 * KB)
    s.server.failNext({ kind: 'partial', bytes: 4 * KB })
    const out = await s.make().start()
    expect(out).toMatchObject({ done: true, file: { fileId: 'u1', size: 4 * KB } })
    expect(s.server.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /uploads', 'PATCH /uploads/u1', 'HEAD /uploads/u1', 'GET /files/u1/info'])
  })

  it('asks again when the file is still being checked (409 FILE_NOT_READY, temporary)', async () => {
    const s = setup(4 * KB)
    s.server.failNext({ kind: 'partial', bytes: 4 * KB })
    s.server.failNext({ kind: 'status', status: 409, code: 'FILE_NOT_READY', temporary: true }, (r) => r.method === 'GET')
    const out = await s.make().start()
    expect(out).toMatchObject({ done: true, file: { fileId: 'u1', size: 4 * KB } })
    expect(s.server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /uploads',
      'PATCH /uploads/u1',
      'HEAD /uploads/u1',
      'GET /files/u1/info',
      'HEAD /uploads/u1',
      'GET /files/u1/info',
    ])
    expect(s.sleeps).toHaveLength(2)
  })

  it('creates a new upload once when the stored one is gone', async () => {
    const s = setup()
    s.storage.set('upload.v1:conv:fp', { url: 'https://bff.test/uploads/expired', size: 10 * KB, createdAt: 0 })
    const out = await s.make().start()
    expect(out.done).toBe(true)
    expect(s.server.requests.slice(0, 2).map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /uploads/expired', 'POST /uploads'])
  })

  it('fails for good on a refusal, with the server code, forgetting the upload', async () => {
    const s = setup()
    s.server.failNext({ kind: 'status', status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    await expect(s.make().start()).rejects.toMatchObject({ code: 'UPLOAD_TYPE_REJECTED', status: 415, temporary: false })
    expect(s.storage.data.size).toBe(0)
  })

  it('gives up after the retry budget with a temporary error', async () => {
    const s = setup()
    for (let i = 0; i < 4; i++) s.server.failNext({ kind: 'network' }, () => true)
    await expect(s.make().start()).rejects.toMatchObject({ code: 'NETWORK', temporary: true })
    expect(s.sleeps).toEqual([50, 100, 200])
  })

  it('retries a creation refused with 429 UPLOAD_TOO_MANY', async () => {
    const s = setup()
    s.server.failNext({ kind: 'status', status: 429, code: 'UPLOAD_TOO_MANY' }, (r) => r.method === 'POST')
    expect((await s.make().start()).done).toBe(true)
    expect(s.sleeps).toEqual([50])
  })

  it('cancels: stops, terminates on the server, forgets the URL', async () => {
    const s = setup()
    s.server.failNext({ kind: 'hang' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '4096')
    const up = s.make()
    const run = up.start()
    while (s.server.requests.length < 3) await new Promise((r) => setTimeout(r, 0))
    await up.cancel()
    expect(await run).toEqual({ done: false, reason: 'cancelled' })
    expect(s.server.requests.at(-1)).toMatchObject({ method: 'DELETE', path: '/uploads/u1' })
    expect(s.server.uploads.size).toBe(0)
    expect(s.storage.data.size).toBe(0)
  })
  it('cancels an upload stored by an earlier run without starting it', async () => {
    const s = setup()
    s.server.failNext({ kind: 'hang' }, (r) => r.method === 'PATCH')
    const first = s.make()
    const run = first.start()
    while (s.server.requests.length < 2) await new Promise((r) => setTimeout(r, 0))
    first.pause()
    await run
    await s.make().cancel()
    expect(s.server.requests.at(-1)).toMatchObject({ method: 'DELETE', path: '/uploads/u1' })
    expect(s.server.uploads.size).toBe(0)
    expect(s.storage.data.size).toBe(0)
  })
})

describe('helpers', () => {
  it('resolves relative Locations against the endpoint origin', () => {
    expect(resolveUrl('https://h.test:8443/uploads', '/uploads/abc')).toBe('https://h.test:8443/uploads/abc')
    expect(resolveUrl('https://h.test/uploads', 'https://other.test/x')).toBe('https://other.test/x')
  })

  it('encodes metadata values as base64 of UTF-8', () => {
    expect(encodeMetadata({ a: 'é😀', b: '' })).toBe(`a ${Buffer.from('é😀').toString('base64')},b `)
  })

  it('fingerprints by content and size, not by path: same bytes same print, other bytes another', async () => {
    const a = await fingerprintOf(new MemorySource(bytes(200 * KB, 1)), 'c')
    expect(await fingerprintOf(new MemorySource(bytes(200 * KB, 1)), 'c')).toBe(a)
    expect(await fingerprintOf(new MemorySource(bytes(200 * KB, 2)), 'c')).not.toBe(a)
    expect(await fingerprintOf(new MemorySource(bytes(200 * KB, 1)), 'other')).not.toBe(a)
    const src = new MemorySource(bytes(10 * 1024 * KB))
    await fingerprintOf(src, 'c')
    expect(src.reads).toEqual([
      [0, 64 * KB],
      [10 * 1024 * KB - 64 * KB, 10 * 1024 * KB],
    ])
  })
})
