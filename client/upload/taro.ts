/**
 * The uploader's platform on Taro, for weapp and h5 (TARO.md, h5 mapping; PLATFORM.md):
 *  - HTTP: Taro.request. On weapp that is wx.request, which has no PATCH: tus.ts sends appends as
 *    POST + X-HTTP-Method-Override: PATCH with an ArrayBuffer body (reaches wx.request unchanged).
 *    On h5 Taro.request is fetch, which sends an ArrayBuffer as it is.
 *  - Files: weapp reads a range with FileSystemManager.readFile({ filePath, position, length })
 *    (base library >= 2.10.0), never the whole file; h5 slices the File (no FileSystemManager there).
 *  - Picking: chooseMedia (images) and chooseMessageFile (files) on weapp; on h5 a file input
 *    (Taro's chooseMedia on h5 is one, and gives `originalFileObj`).
 *  - Keeping: on weapp a picked temp file is saved under USER_DATA_PATH so that the upload can
 *    resume after the app restarts (temp files do not outlive the app); on h5 a File does not
 *    outlive the page, so nothing is kept and a reload resumes only if the same file is picked
 *    again (the fingerprint is made of its content: fingerprint.ts).
 */
import Taro from '@tarojs/taro'
import type { FileMessageKind } from './types'
import type { LocalFile, UploadPlatform } from './manager'
import { UploadNetworkError } from './platform'
import type { FileSource, UploadHttp, UploadHttpCall, UploadHttpRequest, UploadHttpResponse } from './platform'

export const taroUploadHttp: UploadHttp = {
  send(req: UploadHttpRequest): UploadHttpCall {
    let task: { abort(): void } | undefined
    let aborted = false
    const response = new Promise<UploadHttpResponse>((resolve, reject) => {
      const options = {
        url: req.url,
        // Taro's type lists PATCH, WeChat's wx.request does not; we never use it (tus.ts).
        method: req.method,
        header: req.headers,
        data: req.body,
        dataType: '其他' as const, // do not JSON.parse: tus.ts reads the text itself
        responseType: 'text' as const,
        // h5 (fetch): tokens are headers, never cookies; credentials would break a '*' CORS answer.
        credentials: 'omit' as const,
        timeout: req.timeoutMs,
        success: (res: { statusCode: number; header?: Record<string, string>; data: unknown }) => {
          const lower = new Map<string, string>()
          for (const [k, v] of Object.entries(res.header ?? {})) lower.set(k.toLowerCase(), String(v))
          resolve({
            status: res.statusCode,
            header: (name) => lower.get(name.toLowerCase()),
            text: typeof res.data === 'string' ? res.data : res.data === undefined || res.data === null ? '' : JSON.stringify(res.data),
          })
        },
        fail: (err: { errMsg?: string }) => {
          const msg = err?.errMsg ?? 'request failed'
          reject(new UploadNetworkError(msg, aborted ? 'aborted' : /timeout/i.test(msg) ? 'timeout' : 'network'))
        },
      }
      const request = Taro.request(options)
      task = request
      // Taro.request's own promise also rejects on fail (h5: fetch's "Failed to fetch"), an
      // unhandled rejection for every failed append otherwise; `fail` above already settled ours.
      Promise.resolve(request).catch(() => undefined)
    })
    // Ours may reject before tus.ts awaits it (an abort while a chunk is read): not unhandled either.
    ;(response as Promise<unknown>).catch(() => undefined)
    return {
      response,
      abort() {
        aborted = true
        task?.abort()
      },
    }
  },
}

/** weapp: ranged reads (PLATFORM.md: readFile with position and length returns an ArrayBuffer). */
export function weappSource(filePath: string, size: number): FileSource {
  const fs = Taro.getFileSystemManager()
  return {
    size,
    read: (start, end) =>
      new Promise<ArrayBuffer>((resolve, reject) => {
        if (end <= start) return resolve(new ArrayBuffer(0))
        fs.readFile({
          filePath,
          position: start,
          length: end - start,
          success: (res) => resolve(res.data as ArrayBuffer),
          fail: (err) => reject(new Error(err.errMsg)),
        })
      }),
  }
}

/** h5: File.slice reads only the asked range. */
export function blobSource(file: Blob): FileSource {
  return { size: file.size, read: (start, end) => file.slice(start, end).arrayBuffer() }
}

function userDataPath(): string | undefined {
  const env = (globalThis as { wx?: { env?: { USER_DATA_PATH?: string } } }).wx?.env
  return env?.USER_DATA_PATH
}

const KEEP_DIR = 'chat-uploads'

async function imageSize(path: string): Promise<{ width?: number; height?: number }> {
  try {
    const info = await Taro.getImageInfo({ src: path })
    return { width: info.width, height: info.height }
  } catch {
    return {}
  }
}

/** h5: the decoded size of a picked image (EXIF orientation applied, as the browser shows it). */
async function blobImageSize(file: Blob): Promise<{ width?: number; height?: number }> {
  try {
    const bitmap = await createImageBitmap(file)
    const size = { width: bitmap.width, height: bitmap.height }
    bitmap.close()
    return size
  } catch {
    return {}
  }
}

function nameOf(path: string, fallback: string): string {
  const last = path.split(/[\\/]/).pop() ?? ''
  return last || fallback
}

/** The user closing the picker is not an error (wx: `chooseMedia:fail cancel`). */
async function pickWeapp(kind: FileMessageKind): Promise<LocalFile[]> {
  try {
    return await chooseWeapp(kind)
  } catch (err) {
    if (/cancel/i.test((err as { errMsg?: string })?.errMsg ?? '')) return []
    throw err
  }
}

async function chooseWeapp(kind: FileMessageKind): Promise<LocalFile[]> {
  if (kind === 'image') {
    const res = await Taro.chooseMedia({ count: 9, mediaType: ['image'], sizeType: ['original', 'compressed'] })
    return Promise.all(
      res.tempFiles.map(async (f) => ({ path: f.tempFilePath, name: nameOf(f.tempFilePath, 'image.jpg'), size: f.size, ...(await imageSize(f.tempFilePath)) })),
    )
  }
  const res = await Taro.chooseMessageFile({ count: 9, type: 'file' })
  return res.tempFiles.map((f) => ({ path: f.path, name: f.name || nameOf(f.path, 'file'), size: f.size }))
}

/** h5: one hidden file input, resolved with the picked Files (empty when the dialog is dismissed). */
function pickH5(kind: FileMessageKind): Promise<LocalFile[]> {
  return new Promise((resolve) => {
    const input = document.createElement('input')
    input.type = 'file'
    input.multiple = true
    if (kind === 'image') input.accept = 'image/*'
    input.style.display = 'none'
    const done = (files: File[]): void => {
      input.remove()
      resolve(
        Promise.all(
          files.map(async (file) => ({
            path: URL.createObjectURL(file),
            name: file.name,
            size: file.size,
            ...(file.type ? { mime: file.type } : {}),
            // The pixel size before the upload, so the bubble has the image's shape from the start.
            ...(file.type.startsWith('image/') ? await blobImageSize(file) : {}),
            blob: file,
          })),
        ),
      )
    }
    input.addEventListener('change', () => done(Array.from(input.files ?? [])))
    input.addEventListener('cancel', () => done([]))
    document.body.appendChild(input)
    input.click()
  })
}

/** `target`: the Taro build target (the build's TARO_ENV; a parameter so tests can pick one). */
export function taroUploadPlatform(storage: UploadPlatform['storage'], target: string | undefined = process.env.TARO_ENV): UploadPlatform {
  const isH5 = target === 'h5'
  return {
    http: taroUploadHttp,
    storage,
    persistent: !isH5,
    pick: (kind) => (isH5 ? pickH5(kind) : pickWeapp(kind)),
    async open(file) {
      if (file.blob) return blobSource(file.blob as Blob)
      if (isH5) throw new Error('the picked file is no longer available (page reloaded)')
      return weappSource(file.path, file.size)
    },
    async keep(file, id) {
      const root = userDataPath()
      if (isH5 || !root) return file
      const fs = Taro.getFileSystemManager()
      const dir = `${root}/${KEEP_DIR}`
      const ext = /\.[A-Za-z0-9]{1,8}$/.exec(file.name)?.[0] ?? ''
      const target = `${dir}/${id}${ext}`
      try {
        try {
          fs.mkdirSync(dir, true)
        } catch {
          // exists
        }
        // saveFile moves the temp file (no copy); the bubble previews the kept path from now on.
        const saved = await new Promise<string>((resolve, reject) =>
          fs.saveFile({ tempFilePath: file.path, filePath: target, success: (r) => resolve(r.savedFilePath), fail: reject }),
        )
        return { ...file, path: saved }
      } catch {
        // Out of space (user data is capped): upload from the temp path; it will not survive a restart.
        return file
      }
    },
    async cleanup(inUse) {
      const root = userDataPath()
      if (isH5 || !root) return
      const fs = Taro.getFileSystemManager()
      const dir = `${root}/${KEEP_DIR}`
      let names: string[] = []
      try {
        names = fs.readdirSync(dir)
      } catch {
        return
      }
      const keep = new Set(inUse)
      // A day's grace: a sent message not yet acknowledged may still show its kept file.
      const cutoff = Date.now() / 1000 - 24 * 3600
      for (const name of names) {
        const path = `${dir}/${name}`
        if (keep.has(path)) continue
        try {
          const stat = fs.statSync(path) as unknown as { lastModifiedTime: number }
          if (stat.lastModifiedTime < cutoff) fs.unlinkSync(path)
        } catch {
          // gone or unreadable: leave it
        }
      }
    },
    async release(file) {
      const root = userDataPath()
      if (isH5 || !root || !file.path.startsWith(`${root}/${KEEP_DIR}/`)) return
      try {
        Taro.getFileSystemManager().unlinkSync(file.path)
      } catch {
        // already gone
      }
    },
  }
}
