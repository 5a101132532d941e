/**
 * The Taro adapter against a recording stand-in of the Taro API (the real one needs a mini-program
 * host): what reaches wx.request and FileSystemManager.readFile, exactly.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest'

const calls = vi.hoisted(() => ({ request: [] as Array<Record<string, unknown>>, readFile: [] as Array<Record<string, unknown>>, aborted: 0 }))

vi.mock('@tarojs/taro', () => {
  const Taro = {
    request(options: Record<string, unknown> & { success: (r: unknown) => void; fail: (e: unknown) => void; header: Record<string, string> }) {
      calls.request.push(options)
      // Taro's h5 request: on a network failure it calls `fail` and its own promise rejects too.
      const failing = options.header['Upload-Offset'] === 'unreachable'
      const task = (failing ? Promise.reject(new TypeError('Failed to fetch')) : Promise.resolve()) as Promise<void> & { abort(): void }
      if (failing) queueMicrotask(() => options.fail({ errMsg: 'Failed to fetch' }))
      task.abort = () => {
        calls.aborted++
        options.fail({ errMsg: 'request:fail abort' })
      }
      if (options.header['Upload-Offset'] !== 'hang' && !failing) {
        queueMicrotask(() =>
          options.success({ statusCode: 204, header: { 'Upload-Offset': '3', 'Tus-Resumable': '1.0.0' }, data: '' }),
        )
      }
      return task
    },
    chooseMedia: async () => {
      throw { errMsg: 'chooseMedia:fail cancel' }
    },
    chooseMessageFile: async () => ({ tempFiles: [{ path: 'wxfile://tmp/a.pdf', name: 'a.pdf', size: 123, type: 'file', time: 0 }] }),
    getFileSystemManager() {
      return {
        readFile(o: { position: number; length: number; success: (r: { data: ArrayBuffer }) => void }) {
          calls.readFile.push(o)
          const out = new Uint8Array(o.length).map((_, i) => (o.position + i) & 0xff)
          queueMicrotask(() => o.success({ data: out.buffer }))
        },
      }
    },
  }
  return { default: Taro }
})

import { createFakePlatform } from '../../platform/fake'
import { createUploads } from '../../upload/index'
import { taroUploadHttp, taroUploadPlatform, weappSource } from '../../upload/taro'
import type { FileMessageSink } from '../../upload/types'

beforeEach(() => {
  calls.request.length = 0
  calls.readFile.length = 0
  calls.aborted = 0
})

describe('taro upload platform', () => {
  it('sends an append as POST with the override header and the ArrayBuffer itself', async () => {
    const body = new Uint8Array([1, 2, 3]).buffer
    const res = await taroUploadHttp.send({
      method: 'POST',
      url: 'https://bff.test/uploads/x',
      headers: { 'X-HTTP-Method-Override': 'PATCH', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body,
      timeoutMs: 60_000,
    }).response
    expect(calls.request).toHaveLength(1)
    const sent = calls.request[0]!
    expect(sent.method).toBe('POST')
    expect(sent.data).toBe(body)
    expect(sent.header).toMatchObject({ 'X-HTTP-Method-Override': 'PATCH' })
    // Not parsed as JSON by the platform; header names looked up case-insensitively.
    expect(sent.dataType).not.toBe('json')
    expect(sent.timeout).toBe(60_000)
    expect(res.status).toBe(204)
    expect(res.header('upload-offset')).toBe('3')
  })

  it('a network failure rejects the call as network, and Taro.request\'s own rejected promise is no unhandled rejection', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => void unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const call = taroUploadHttp.send({ method: 'HEAD', url: 'https://bff.test/uploads/x', headers: { 'Upload-Offset': 'unreachable' }, timeoutMs: 1000 })
      await expect(call.response).rejects.toMatchObject({ name: 'UploadNetworkError', reason: 'network' })
      // Node reports unhandled rejections after the microtask queue drains: one macrotask later.
      await new Promise((resolve) => setImmediate(resolve))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })

  it('aborts: the call rejects as aborted', async () => {
    const call = taroUploadHttp.send({ method: 'HEAD', url: 'https://bff.test/uploads/x', headers: { 'Upload-Offset': 'hang' }, timeoutMs: 1000 })
    call.abort()
    await expect(call.response).rejects.toMatchObject({ name: 'UploadNetworkError', reason: 'aborted' })
    expect(calls.aborted).toBe(1)
  })

  it('reads a chunk of a weapp file with position and length, never the whole file', async () => {
    const source = weappSource('wxfile://usr/a.jpg', 10 * 1024 * 1024)
    const chunk = new Uint8Array(await source.read(1024 * 1024, 2 * 1024 * 1024))
    expect(calls.readFile).toHaveLength(1)
    expect(calls.readFile[0]).toMatchObject({ filePath: 'wxfile://usr/a.jpg', position: 1024 * 1024, length: 1024 * 1024 })
    expect(chunk.length).toBe(1024 * 1024)
    expect(chunk[0]).toBe(0)
    expect(chunk[1]).toBe(1)
  })

  it('picks on weapp: a dismissed picker is no error, a chosen file keeps its name and size', async () => {
    const storage = { get: () => undefined, set: () => undefined, remove: () => undefined }
    const platform = taroUploadPlatform(storage, 'weapp')
    await expect(platform.pick('image')).resolves.toEqual([])
    await expect(platform.pick('file')).resolves.toEqual([{ path: 'wxfile://tmp/a.pdf', name: 'a.pdf', size: 123 }])
  })
})

describe('createUploads on the app platform', () => {
  it('pauses every upload when the platform says the app went to the background, resumes when it returns', () => {
    const platform = createFakePlatform()
    const unexpected = () => {
      throw new Error('no upload in this test')
    }
    const sink: FileMessageSink = {
      bffUrl: 'http://bff.test',
      getToken: unexpected,
      addPendingFile: unexpected,
      setProgress: unexpected,
      failUpload: unexpected,
      completeUpload: unexpected,
      removePending: unexpected,
    }
    const uploads = createUploads(sink, platform)
    const pause = vi.spyOn(uploads, 'pauseAll')
    const resume = vi.spyOn(uploads, 'resumeAll')
    platform.lifecycle.goBackground()
    expect(pause).toHaveBeenCalledTimes(1)
    expect(resume).not.toHaveBeenCalled()
    platform.lifecycle.goForeground()
    expect(resume).toHaveBeenCalledTimes(1)
  })
})
