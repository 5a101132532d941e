import { describe, expect, it } from 'vitest'
import type { FileInfo } from '@chat/shared'
import { createChatStore } from '../../store/store'
import type { ChatMessage } from '../../store/types'
import type { UploadHttp, UploadHttpRequest, UploadHttpResponse } from '../../upload/platform'
import { FileUrlRefresher, signedFileUrl, withFileUrls } from '../../upload/urls'

const ID = 'ab'.repeat(22)
const OTHER = 'cd'.repeat(22)
const T0 = 1_700_000_000_000
const signed = (id: string, e: number, thumb = false): string => `/files/${id}${thumb ? '/thumb' : ''}?e=${e}&k=j&s=${'x'.repeat(43)}`

function msg(conv: string, seq: number, fileId: string, kind: 'image' | 'file', e: number): ChatMessage {
  const body = { fileId, name: 'p.png', size: 10, mime: 'image/png', url: signed(fileId, e), ...(kind === 'image' ? { width: 2, height: 1, thumbUrl: signed(fileId, e, true) } : {}) }
  return { cid: `c${seq}`, mid: `m${seq}`, seq, from: 'a', conv, kind, ts: seq, body }
}

/** Answers GET /files/<id>/info by the given function; records the requests. */
function infoServer(answer: (id: string) => UploadHttpResponse): UploadHttp & { requests: UploadHttpRequest[]; release: () => void } {
  const requests: UploadHttpRequest[] = []
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  return {
    requests,
    release,
    send(req) {
      requests.push(req)
      const id = /\/files\/([0-9a-f]{44})\/info$/.exec(req.url)![1]!
      return { response: gate.then(() => answer(id)), abort: () => undefined }
    },
  }
}

const ok = (info: FileInfo): UploadHttpResponse => ({ status: 200, header: () => undefined, text: JSON.stringify({ file: info }) })
const gone: UploadHttpResponse = { status: 410, header: () => undefined, text: '{"error":{"code":"FILE_WITHDRAWN","message":"","temporary":false}}' }

describe('signedFileUrl', () => {
  it('reads the file id and expiry of a signed path, and nothing else', () => {
    expect(signedFileUrl(signed(ID, 1_700_000_000, true))).toEqual({ fileId: ID, expiresAt: 1_700_000_000_000 })
    expect(signedFileUrl(`/files/${ID}`)).toBeUndefined()
    expect(signedFileUrl('blob:http://x/1')).toBeUndefined()
    expect(signedFileUrl(`/files/${ID}?token=abc`)).toBeUndefined()
  })
})

describe('withFileUrls', () => {
  it('replaces the URLs of every message of the file, in every conversation, and nothing else', () => {
    const state = createChatStore({
      messages: { 'd:a:b': [msg('d:a:b', 1, ID, 'image', 1), msg('d:a:b', 2, OTHER, 'file', 1)], 'g:x': [msg('g:x', 1, ID, 'file', 1)] },
    }).getState()
    const info: FileInfo = { fileId: ID, kind: 'image', name: 'p.png', size: 10, mime: 'image/png', width: 2, height: 1, url: signed(ID, 9), thumbUrl: signed(ID, 9, true) }
    const next = withFileUrls(state, info)
    expect(next.messages['d:a:b' as never]![0]!.body).toMatchObject({ url: info.url, thumbUrl: info.thumbUrl })
    expect(next.messages['g:x' as never]![0]!.body).toMatchObject({ url: info.url })
    expect(next.messages['g:x' as never]![0]!.body).not.toHaveProperty('thumbUrl')
    expect(next.messages['d:a:b' as never]![1]).toBe(state.messages['d:a:b' as never]![1])
    // Nothing to change: the same state (no re-render).
    expect(withFileUrls(next, info)).toBe(next)
  })
})

describe('withFileUrls and voice', () => {
  it('gives a voice message its fresh URL and keeps its duration', () => {
    const voice: ChatMessage = { cid: 'c9', mid: 'm9', seq: 9, from: 'a', conv: 'd:a:b', kind: 'voice', ts: 9, body: { fileId: ID, name: 'v.aac', size: 10, mime: 'audio/aac', url: signed(ID, 1), duration: 3_000 } }
    const state = createChatStore({ messages: { 'd:a:b': [voice] } }).getState()
    const next = withFileUrls(state, { fileId: ID, kind: 'file', name: 'v.aac', size: 10, mime: 'audio/aac', url: signed(ID, 9) })
    expect(next.messages['d:a:b' as never]![0]!.body).toEqual({ ...voice.body, url: signed(ID, 9) })
  })
})

describe('FileUrlRefresher', () => {
  function setup(answer: (id: string) => UploadHttpResponse) {
    let now = T0
    const fresh: FileInfo[] = []
    const http = infoServer(answer)
    const r = new FileUrlRefresher({ baseUrl: 'https://bff.test', http, getToken: async () => 'tok', onFresh: (i) => fresh.push(i), now: () => now })
    return { r, http, fresh, advance: (ms: number) => (now += ms) }
  }
  const info = (e: number): FileInfo => ({ fileId: ID, kind: 'file', name: 'a.pdf', size: 1, mime: 'application/pdf', url: signed(ID, e) })
  const settle = () => new Promise((r) => setTimeout(r, 0))

  it('asks the file info once, with the token in a header, when a URL is about to expire', async () => {
    const s = setup(() => ok(info(T0 / 1000 + 7200)))
    s.r.check(signed(ID, T0 / 1000 + 3600)) // an hour left: nothing
    expect(s.http.requests).toHaveLength(0)
    s.r.check(signed(ID, T0 / 1000 + 30)) // 30 s left
    s.r.check(signed(ID, T0 / 1000 - 10, true)) // the thumbnail of the same file: the same request
    await settle()
    expect(s.http.requests.map((q) => [q.method, q.url, q.headers.Authorization])).toEqual([['GET', `https://bff.test/files/${ID}/info`, 'Bearer tok']])
    expect(s.http.requests[0]!.url).not.toContain('token')
    s.http.release()
    await settle()
    expect(s.fresh).toEqual([info(T0 / 1000 + 7200)])
  })

  it('after a refused refresh (withdrawn) waits before asking about that file again', async () => {
    const s = setup(() => gone)
    s.http.release()
    s.r.check(signed(ID, 1))
    await settle()
    await settle()
    s.r.check(signed(ID, 1))
    await settle()
    expect(s.http.requests).toHaveLength(1)
    expect(s.fresh).toHaveLength(0)
    s.advance(60_001)
    s.r.check(signed(ID, 1))
    await settle()
    expect(s.http.requests).toHaveLength(2)
  })

  it('ignores what is not a signed file URL', async () => {
    const s = setup(() => gone)
    for (const p of ['blob:http://x/1', '/tmp/wx/abc.png', `/files/${ID}`]) s.r.check(p)
    await settle()
    expect(s.http.requests).toHaveLength(0)
  })
})

