/**
 * Our own uploader (client/upload, on its Node platform) against the real upload endpoint: a
 * chunked upload is killed half-way through a chunk - its requests dropped and its in-memory state
 * thrown away, as when the app is killed - and a new uploader started from the same storage file
 * resumes it. The server counts the body bytes it received: at most one chunk arrives twice.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fingerprintOf } from '../../../client/upload/fingerprint'
import { jsonFileStorage, nodeFileSource, nodeHttp } from '../../../client/upload/node'
import { TusUpload } from '../../../client/upload/tus'
import type { UploadOutcome } from '../../../client/upload/tus'
import type { UploadHttp } from '../../../client/upload/platform'
import { pdfBytes, startUploads } from './harness'
import type { UploadHarness } from './harness'

let h: UploadHarness
let tmp: string
let conv: string

beforeAll(async () => {
  h = await startUploads()
  conv = await h.direct('alice', 'bob')
  tmp = await mkdtemp(path.join(os.tmpdir(), 'chat-upload-client-'))
})
afterAll(async () => {
  await h.close()
  await rm(tmp, { recursive: true, force: true })
})

const CHUNK = 1024 * 1024

async function uploader(
  file: string,
  storagePath: string,
  http: UploadHttp,
  token: string,
  onProgress?: (sent: number) => void,
  /** null: adaptive (the uploader's default). */
  chunkSize: number | null = CHUNK,
) {
  const source = await nodeFileSource(file)
  const upload = new TusUpload({
    endpoint: `${h.url}/uploads`,
    source,
    fingerprint: await fingerprintOf(source, conv),
    metadata: { conv, filename: path.basename(file) },
    http,
    storage: jsonFileStorage(storagePath),
    getToken: async () => token,
    ...(chunkSize !== null ? { chunkSize } : {}),
    retry: { maxAttempts: 3, minDelayMs: 1, maxDelayMs: 5 },
    ...(onProgress ? { onProgress } : {}),
  })
  return { upload, source }
}

describe('our uploader against the BFF', () => {
  it.each([
    ['fixed 1 MiB chunks', CHUNK],
    ['adaptive chunks', null],
  ])('resumes after being killed half-way through a chunk, sending again at most that chunk (%s)', async (label, chunkSize) => {
    const size = 6 * CHUNK + 12_345
    const data = pdfBytes(size, 42)
    const file = path.join(tmp, `big-${chunkSize ?? 'a'}.pdf`)
    await writeFile(file, data)
    const storagePath = path.join(tmp, `storage-${chunkSize ?? 'a'}.json`)
    const token = await h.token('alice')

    let received = 0
    const stopCounting = h.uploads.store.onBytes((_id, n) => {
      received += n
    })

    // First run: killed once the server holds half the file plus a third of a chunk (mid-append).
    const httpA = nodeHttp()
    /** Body sizes of the first run's appends: the last one is in flight when it is killed. */
    const appends: number[] = []
    const recording: UploadHttp = {
      send(req) {
        if (req.headers['X-HTTP-Method-Override'] === 'PATCH') appends.push(req.body?.byteLength ?? 0)
        return httpA.send(req)
      },
    }
    const a = await uploader(file, storagePath, recording, token, undefined, chunkSize)
    const killAt = Math.floor(size / 2 + CHUNK / 3)
    let killed!: () => void
    const killedAt = new Promise<number>((resolve) => {
      killed = () => resolve(received)
    })
    const offKill = h.uploads.store.onBytes(() => {
      if (received < killAt) return
      offKill()
      // What a process kill does to the uploader: its connection drops mid-request, nothing of it runs again.
      a.upload.pause()
      httpA.close()
      killed()
    })
    const first: UploadOutcome = await a.upload.start()
    expect(first).toEqual({ done: false, reason: 'paused' })
    const atKill = await killedAt
    expect(atKill).toBeGreaterThanOrEqual(killAt)
    expect(atKill).toBeLessThan(size)
    await a.source.close()

    // The URL survived in storage; the server kept the bytes of the interrupted append.
    const stored = JSON.parse(await readFile(storagePath, 'utf8')) as Record<string, { url: string }>
    expect(Object.values(stored)).toHaveLength(1)

    // Second run: a fresh uploader, same storage file, same file.
    const httpB = nodeHttp()
    const resumedFrom: number[] = []
    const b = await uploader(file, storagePath, httpB, token, (sent) => resumedFrom.push(sent), chunkSize)
    const second = await b.upload.start()
    httpB.close()
    await b.source.close()
    stopCounting()

    expect(second.done).toBe(true)
    if (!second.done) return
    expect(resumedFrom[0]).toBeGreaterThan(size / 2)
    expect(second.file).toMatchObject({ kind: 'file', name: path.basename(file), size, mime: 'application/pdf' })

    const resent = received - size
    expect(resent).toBeGreaterThanOrEqual(0)
    // At most the append in flight at the kill (tus keeps what of it arrived).
    const inFlight = appends[appends.length - 1]!
    expect(resent).toBeLessThanOrEqual(inFlight)
    if (label.startsWith('fixed')) expect(inFlight).toBe(CHUNK)
    else expect(new Set(appends).size).toBeGreaterThan(1) // the sizes did adapt

    // One upload only (no second creation), the stored URL is gone, the bytes are exact.
    const tusEntries = (await readdir(path.join(h.dir, 'tus'))).filter((n) => n.endsWith('.json') && n.startsWith(second.file.fileId))
    expect(tusEntries).toHaveLength(1)
    expect(JSON.parse(await readFile(storagePath, 'utf8'))).toEqual({})
    const got = await fetch(`${h.url}/files/${second.file.fileId}`, { headers: { Authorization: `Bearer ${token}` } })
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true)
  })

  it('fails for good with the server code when the content is refused', async () => {
    const file = path.join(tmp, 'tool.exe')
    const exe = Buffer.alloc(3 * CHUNK)
    Buffer.from('MZ').copy(exe)
    exe.fill(0x90, 2)
    await writeFile(file, exe)
    const http = nodeHttp()
    const { upload, source } = await uploader(file, path.join(tmp, 'storage2.json'), http, await h.token('alice'))
    await expect(upload.start()).rejects.toMatchObject({ name: 'UploadError', code: 'UPLOAD_TYPE_REJECTED', status: 415, temporary: false })
    http.close()
    await source.close()
  })
})
