import { describe, expect, it } from 'vitest'
import type { FileBody, ImageBody, VoiceBody } from '@chat/shared'
import { FakeTusServer, MemorySource, MemoryStorage } from '../../upload/fake'
import { Uploads, bodyFor } from '../../upload/manager'
import type { LocalFile, UploadPlatform } from '../../upload/manager'
import { documentTypeOf } from '../../upload/preview'
import type { FileMessageKind, FileMessageSink, PickedFile, UploadFailure } from '../../upload/types'

const KB = 1024

type Event =
  | { type: 'add'; cid: string; conv: string; kind: FileMessageKind; file: PickedFile }
  | { type: 'progress'; cid: string; sent: number }
  | { type: 'fail'; cid: string; failure: UploadFailure }
  | { type: 'complete'; cid: string; body: ImageBody | FileBody | VoiceBody }
  | { type: 'remove'; cid: string }

function sink(): FileMessageSink & { events: Event[]; next: number } {
  const s = {
    events: [] as Event[],
    next: 1,
    bffUrl: 'https://bff.test',
    getToken: async () => 'tok',
    addPendingFile(conv: string, kind: FileMessageKind, file: PickedFile) {
      const cid = `cid${s.next++}`
      s.events.push({ type: 'add', cid, conv, kind, file })
      return cid
    },
    setProgress: (cid: string, sent: number) => void s.events.push({ type: 'progress', cid, sent }),
    failUpload: (cid: string, failure: UploadFailure) => void s.events.push({ type: 'fail', cid, failure }),
    completeUpload: (cid: string, body: ImageBody | FileBody | VoiceBody) => void s.events.push({ type: 'complete', cid, body }),
    removePending: (cid: string) => void s.events.push({ type: 'remove', cid }),
  }
  return s
}

function fileOf(name: string, size: number, seed: number): { file: LocalFile; bytes: Uint8Array } {
  const bytes = new Uint8Array(size).map((_, i) => (i * seed + seed) & 0xff)
  return { file: { path: `wxfile://tmp/${name}`, name, size }, bytes }
}

function platform(server: FakeTusServer, files: Array<{ file: LocalFile; bytes: Uint8Array }>, storage = new MemoryStorage(), persistent = true) {
  const byPath = new Map(files.map((f) => [f.file.path, f.bytes]))
  const kept: string[] = []
  const released: string[] = []
  const p: UploadPlatform & { kept: string[]; released: string[]; picks: LocalFile[][] } = {
    http: server,
    storage,
    persistent,
    kept,
    released,
    picks: [files.map((f) => f.file)],
    pick: async () => p.picks.shift() ?? [],
    open: async (f) => {
      const bytes = byPath.get(f.path)
      if (!bytes) throw new Error(`no such file ${f.path}`)
      return new MemorySource(bytes)
    },
    keep: async (f, id) => {
      const path = `wxfile://usr/chat-uploads/${id}`
      byPath.set(path, byPath.get(f.path)!)
      kept.push(path)
      return { ...f, path }
    },
    release: async (f) => void released.push(f.path),
  }
  return p
}

async function settle(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 0))
  expect(cond()).toBe(true)
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((r) => (open = r))
  return { promise, open }
}

describe('Uploads', () => {
  it('shows each picked file at once from its kept path, uploads it, and completes the message with the server body', async () => {
    const server = new FakeTusServer('https://bff.test', (id, size) => ({
      fileId: id,
      kind: 'image',
      name: 'a.jpg',
      size,
      mime: 'image/jpeg',
      url: `/files/${id}`,
      width: 640,
      height: 480,
      thumbUrl: `/files/${id}/thumb`,
    }))
    const s = sink()
    const a = fileOf('a.jpg', 5 * KB, 3)
    const p = platform(server, [a])
    const uploads = new Uploads(s, p, { chunkSize: 2 * KB })
    await uploads.pickAndSend('d:a:b', 'image')
    await settle(() => s.events.some((e) => e.type === 'complete'))
    expect(s.events[0]).toEqual({ type: 'add', cid: 'cid1', conv: 'd:a:b', kind: 'image', file: { path: p.kept[0], name: 'a.jpg', size: 5 * KB } })
    expect(s.events.filter((e) => e.type === 'progress').map((e) => (e as { sent: number }).sent)).toEqual([2048, 4096, 5120])
    expect(s.events.at(-1)).toEqual({
      type: 'complete',
      cid: 'cid1',
      body: { fileId: 'u1', name: 'a.jpg', size: 5120, mime: 'image/jpeg', url: '/files/u1', width: 640, height: 480, thumbUrl: '/files/u1/thumb' },
    })
    expect(new Uint8Array(server.uploads.get('u1')!.bytes)).toEqual(a.bytes)
    expect(p.storage.get('uploads.jobs.v1')).toBeUndefined()
  })

  it('uploads at most two files at a time, in order', async () => {
    const server = new FakeTusServer()
    const gates = [gate(), gate(), gate()]
    for (const g of gates) server.failNext({ kind: 'wait', until: g.promise }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '0')
    const s = sink()
    const files = [1, 2, 3, 4].map((n) => fileOf(`${n}.pdf`, 3 * KB, n))
    const uploads = new Uploads(s, platform(server, files), { chunkSize: 4 * KB })
    await uploads.pickAndSend('d:a:b', 'file')
    await settle(() => server.requests.filter((r) => r.method === 'PATCH').length === 2)
    expect(uploads.states()).toEqual({ cid1: 'running', cid2: 'running', cid3: 'queued', cid4: 'queued' })
    gates[1]!.open()
    await settle(() => uploads.states().cid2 === undefined)
    expect(uploads.states()).toEqual({ cid1: 'running', cid3: 'running', cid4: 'queued' })
    gates[0]!.open()
    gates[2]!.open()
    await settle(() => s.events.filter((e) => e.type === 'complete').length === 4)
    expect(s.events.filter((e) => e.type === 'complete').map((e) => e.cid)).toEqual(['cid2', 'cid1', 'cid3', 'cid4'])
  })

  it('reports a failure with its code and resumes from the server offset on retry', async () => {
    const server = new FakeTusServer()
    const s = sink()
    const f = fileOf('r.pdf', 6 * KB, 5)
    const uploads = new Uploads(s, platform(server, [f]), { chunkSize: 2 * KB, retry: { maxAttempts: 1 }, sleep: async () => undefined })
    server.failNext({ kind: 'status', status: 503, code: 'STORE_UNAVAILABLE' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '2048')
    server.failNext({ kind: 'status', status: 503, code: 'STORE_UNAVAILABLE' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '2048')
    await uploads.pickAndSend('d:a:b', 'file')
    await settle(() => s.events.some((e) => e.type === 'fail'))
    expect(s.events.find((e) => e.type === 'fail')).toEqual({ type: 'fail', cid: 'cid1', failure: { code: 'STORE_UNAVAILABLE', message: 'fault' } })
    expect(uploads.states()).toEqual({ cid1: 'failed' })
    uploads.retry('cid1')
    await settle(() => s.events.some((e) => e.type === 'complete'))
    const lastRefused = server.requests.map((r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '2048').lastIndexOf(true)
    const after = server.requests.slice(lastRefused - 1)
    expect(after.map((r) => `${r.method} ${r.headers['Upload-Offset'] ?? ''}`)).toEqual(['HEAD ', 'PATCH 2048', 'PATCH 4096'])
    expect(server.uploads.size).toBe(1)
  })

  it('cancels: the message goes, the upload is terminated, the kept file released', async () => {
    const server = new FakeTusServer()
    const g = gate()
    server.failNext({ kind: 'wait', until: g.promise })
    const s = sink()
    const p = platform(server, [fileOf('c.pdf', 3 * KB, 7)])
    const uploads = new Uploads(s, p, { chunkSize: 1 * KB })
    await uploads.pickAndSend('d:a:b', 'file')
    await settle(() => server.requests.some((r) => r.method === 'PATCH'))
    uploads.cancel('cid1')
    g.open()
    await settle(() => server.requests.some((r) => r.method === 'DELETE'))
    await settle(() => p.released.length === 1)
    expect(s.events.filter((e) => e.type === 'remove')).toEqual([{ type: 'remove', cid: 'cid1' }])
    expect(s.events.some((e) => e.type === 'complete')).toBe(false)
    expect(server.uploads.size).toBe(0)
    expect(uploads.states()).toEqual({})
  })

  it.each([
    [413, 'UPLOAD_TOO_LARGE'],
    [415, 'UPLOAD_TYPE_REJECTED'],
  ] as const)('takes a %s refusal as final: retry and the next start send nothing again', async (status, code) => {
    const server = new FakeTusServer()
    const storage = new MemoryStorage()
    const s = sink()
    const f = fileOf('setup.exe', 6 * KB, 3)
    const p = platform(server, [f], storage)
    const uploads = new Uploads(s, p, { chunkSize: 2 * KB, sleep: async () => undefined })
    server.failNext({ kind: 'status', status, code }, (r) => r.method === 'PATCH')
    await uploads.pickAndSend('d:a:b', 'file')
    await settle(() => s.events.some((e) => e.type === 'fail'))
    expect(s.events.find((e) => e.type === 'fail')).toEqual({ type: 'fail', cid: 'cid1', failure: { code, message: 'fault' } })
    const sent = server.requests.length
    uploads.retry('cid1')
    await new Promise((r) => setTimeout(r, 0))
    expect(server.requests).toHaveLength(sent)
    expect(uploads.states()).toEqual({})
    expect(storage.get('uploads.jobs.v1')).toBeUndefined()
    expect(p.released).toEqual(p.kept)
    // A new run of the app restores nothing.
    const again = new Uploads(sink(), platform(server, [f], storage), { chunkSize: 2 * KB })
    again.restore()
    expect(again.states()).toEqual({})
    expect(server.requests).toHaveLength(sent)
  })

  it('picks up after an app restart: same cid, resumed where the server is', async () => {
    const server = new FakeTusServer()
    const storage = new MemoryStorage()
    const f = fileOf('big.pdf', 8 * KB, 9)
    server.failNext({ kind: 'hang' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '4096')
    const first = new Uploads(sink(), platform(server, [f], storage), { chunkSize: 2 * KB })
    await first.pickAndSend('d:a:b', 'file')
    await settle(() => server.requests.filter((r) => r.method === 'PATCH').length === 3)
    // The app is killed here. A new run with the same storage (and the kept file still on disk):
    const s2 = sink()
    const p2 = platform(server, [f], storage)
    p2.picks = []
    const keptPath = (storage.get('uploads.jobs.v1') as Array<{ file: { path: string } }>)[0]!.file.path
    const reopened = { ...p2, open: async () => new MemorySource(f.bytes) }
    expect(keptPath).toMatch(/^wxfile:\/\/usr\/chat-uploads\//)
    const second = new Uploads(s2, reopened, { chunkSize: 2 * KB })
    second.restore()
    await settle(() => s2.events.some((e) => e.type === 'complete'))
    expect(s2.events.find((e) => e.type === 'complete')).toMatchObject({ cid: 'cid1', body: { fileId: 'u1', size: 8 * KB } })
    const resumed = server.requests.slice(4).map((r) => `${r.method} ${r.headers['Upload-Offset'] ?? ''}`)
    expect(resumed).toEqual(['HEAD ', 'PATCH 4096', 'PATCH 6144'])
    expect(new Uint8Array(server.uploads.get('u1')!.bytes)).toEqual(f.bytes)
    expect(storage.get('uploads.jobs.v1')).toBeUndefined()
  })

  it('sends a recorded voice: a pending voice with its duration, the upload, a voice body with the duration (kept across a restart)', async () => {
    const server = new FakeTusServer('https://bff.test', (id, size) => ({ fileId: id, kind: 'file', name: 'voice.aac', size, mime: 'audio/aac', url: `/files/${id}` }))
    const storage = new MemoryStorage()
    const v = fileOf('voice.aac', 6 * KB, 5)
    server.failNext({ kind: 'hang' }, (r) => r.method === 'PATCH' && r.headers['Upload-Offset'] === '2048')
    const s = sink()
    const first = new Uploads(s, platform(server, [v], storage), { chunkSize: 2 * KB })
    first.sendRecording('d:a:b', { ...v.file, duration: 4_321 })
    expect(s.events[0]).toEqual({ type: 'add', cid: 'cid1', conv: 'd:a:b', kind: 'voice', file: { path: v.file.path, name: 'voice.aac', size: 6 * KB, duration: 4_321 } })
    await settle(() => server.requests.filter((r) => r.method === 'PATCH').length === 2)
    // The app is killed mid-upload; the next run finishes it and the body still has the duration.
    const s2 = sink()
    const p2 = { ...platform(server, [v], storage), open: async () => new MemorySource(v.bytes) }
    p2.picks = []
    new Uploads(s2, p2, { chunkSize: 2 * KB }).restore()
    await settle(() => s2.events.some((e) => e.type === 'complete'))
    expect(s2.events.find((e) => e.type === 'complete')).toEqual({
      type: 'complete',
      cid: 'cid1',
      body: { fileId: 'u1', name: 'voice.aac', size: 6 * KB, mime: 'audio/aac', url: '/files/u1', duration: 4_321 },
    })
  })

  it('pauses everything when the app is hidden and resumes when it returns', async () => {
    const server = new FakeTusServer()
    const g = gate()
    server.failNext({ kind: 'wait', until: g.promise })
    const s = sink()
    const uploads = new Uploads(s, platform(server, [fileOf('p.pdf', 4 * KB, 2)]), { chunkSize: 2 * KB })
    await uploads.pickAndSend('d:a:b', 'file')
    await settle(() => server.requests.some((r) => r.method === 'PATCH'))
    uploads.pauseAll()
    await settle(() => uploads.states().cid1 === 'paused')
    g.open()
    uploads.resumeAll()
    await settle(() => s.events.some((e) => e.type === 'complete'))
    expect(new Uint8Array(server.uploads.get('u1')!.bytes).length).toBe(4 * KB)
  })
})

describe('bodies and document types', () => {
  const info = { fileId: 'f', kind: 'image' as const, name: 'x.png', size: 10, mime: 'image/png', url: '/files/f', width: 2, height: 3, thumbUrl: '/files/f/thumb' }
  it('makes an image body for an image, a file body otherwise', () => {
    expect(bodyFor('image', info)).toEqual({ fileId: 'f', name: 'x.png', size: 10, mime: 'image/png', url: '/files/f', width: 2, height: 3, thumbUrl: '/files/f/thumb' })
    expect(bodyFor('file', info)).toEqual({ fileId: 'f', name: 'x.png', size: 10, mime: 'image/png', url: '/files/f' })
  })

  it('opens documents by their content type, not their name', () => {
    expect(documentTypeOf('application/pdf', 'notes.txt')).toBe('pdf')
    expect(documentTypeOf('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'a')).toBe('xlsx')
    expect(documentTypeOf('application/msword', 'x.doc')).toBe('doc')
    expect(documentTypeOf('application/zip', 'fake.docx')).toBeUndefined()
    expect(documentTypeOf('text/plain', 'a.pdf')).toBeUndefined()
    expect(documentTypeOf(undefined, 'Report.PPTX')).toBe('pptx')
  })
})
