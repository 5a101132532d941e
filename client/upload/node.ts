/**
 * The uploader's platform on Node: node:http(s) with a keep-alive agent, positional reads of a file
 * (fs FileHandle.read), and a JSON file as storage (so a new process - an "app restart" - finds the
 * upload URLs the previous one stored). Used by the benchmark and by the integration tests against
 * the real BFF; never bundled into the mini-program (nothing in client/ imports it but tests).
 */
import { readFileSync, writeFileSync, renameSync } from 'node:fs'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { UploadNetworkError } from './platform'
import type { FileSource, UploadHttp, UploadHttpCall, UploadHttpRequest, UploadHttpResponse, UploadStorage } from './platform'

export interface NodeHttpOptions {
  /** Sockets kept open per origin. Default 4. */
  readonly maxSockets?: number
}

export function nodeHttp(options: NodeHttpOptions = {}): UploadHttp & { close(): void } {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 4 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 4 }),
  }
  return {
    send(request: UploadHttpRequest): UploadHttpCall {
      const url = new URL(request.url)
      const lib = url.protocol === 'https:' ? https : http
      const agent = agents[url.protocol as 'http:' | 'https:']
      let req: http.ClientRequest | undefined
      let aborted = false
      const response = new Promise<UploadHttpResponse>((resolve, reject) => {
        const body = request.body ? Buffer.from(request.body) : undefined
        const headers: Record<string, string> = { ...request.headers }
        if (body || request.method === 'POST') headers['Content-Length'] = String(body?.length ?? 0)
        req = lib.request(url, { method: request.method, headers, agent, timeout: request.timeoutMs }, (res) => {
          const parts: Buffer[] = []
          res.on('data', (b: Buffer) => parts.push(b))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              header: (name) => {
                const v = res.headers[name.toLowerCase()]
                return Array.isArray(v) ? v.join(', ') : v
              },
              text: Buffer.concat(parts).toString('utf8'),
            }),
          )
          res.on('error', (err) => reject(new UploadNetworkError(err.message, aborted ? 'aborted' : 'network', { cause: err })))
        })
        req.on('timeout', () => req?.destroy(new UploadNetworkError('timed out', 'timeout')))
        req.on('error', (err) => {
          if (err instanceof UploadNetworkError) reject(err)
          else reject(new UploadNetworkError(err.message, aborted ? 'aborted' : 'network', { cause: err }))
        })
        req.end(body)
      })
      return {
        response,
        abort() {
          aborted = true
          req?.destroy(new UploadNetworkError('aborted', 'aborted'))
        },
      }
    },
    close() {
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  }
}

/** A file on disk, read by position: only the asked range is in memory. */
export async function nodeFileSource(filePath: string): Promise<FileSource & { close(): Promise<void> }> {
  const fh: FileHandle = await open(filePath, 'r')
  const { size } = await fh.stat()
  return {
    size,
    async read(start, end) {
      const buf = Buffer.allocUnsafe(end - start)
      let done = 0
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
      // An ArrayBuffer of exactly the bytes read (what wx's readFile hands over). A large Buffer owns
      // its ArrayBuffer whole: hand that over instead of copying a chunk per read.
      if (buf.byteOffset === 0 && done === buf.buffer.byteLength) return buf.buffer
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + done)
    },
    close: () => fh.close(),
  }
}

/** Storage in a JSON file, written through on every change (rename: never half-written). */
export function jsonFileStorage(filePath: string): UploadStorage {
  let data: Record<string, unknown> = {}
  try {
    data = JSON.parse(readFileSync(filePath, 'utf8')) as Record<string, unknown>
  } catch {
    data = {}
  }
  const save = (): void => {
    writeFileSync(`${filePath}.tmp`, JSON.stringify(data))
    renameSync(`${filePath}.tmp`, filePath)
  }
  return {
    get: (key) => data[key],
    set(key, value) {
      data[key] = value
      save()
    },
    remove(key) {
      if (!(key in data)) return
      delete data[key]
      save()
    },
  }
}
