/**
 * The real BFF (startServer, memory engine) on 127.0.0.1, port 0, with a fresh temporary upload
 * directory. Tokens come from its dev login over HTTP; conversations are created in its engine.
 * Tests talk to it over HTTP only, and look at its upload component for what the server counted.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { directConvId } from '@chat/shared'
import type { AuthResponse } from '@chat/shared'
import { startServer } from '../../src/app'
import type { RunningServer } from '../../src/app'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/log'
import { createMemoryEngine } from '../../src/store/memory'
import type { Engine } from '../../src/store/types'
import type { UploadConfig } from '../../src/upload/config'
import type { UploadService } from '../../src/upload'

export interface UploadHarness {
  readonly url: string
  readonly dir: string
  readonly config: UploadConfig
  readonly uploads: UploadService
  /** The server's engine (its memory store), to plant state a test needs. */
  readonly engine: Engine
  /** The server's re-checks of content let through unchecked (undefined when off). */
  readonly rechecks: RunningServer['rechecks']
  /** A valid access token for `user` (dev login). */
  token(user: string): Promise<string>
  /** A 1:1 conversation between a and b (created if absent). */
  direct(a: string, b: string): Promise<string>
  close(): Promise<void>
}

export const JWT_SECRET = 'upload-tests-secret-0123456789abcdef0123456789'

export async function startUploads(env: Record<string, string> = {}): Promise<UploadHarness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chat-upload-test-'))
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    JWT_SECRET,
    DEV_LOGIN: '1',
    STATIC_DIR: path.join(dir, 'no-static'),
    UPLOAD_DIR: dir,
    DATA_DIR: dir,
    UPLOAD_SWEEP_INTERVAL_MS: '0',
    ...env,
  })
  const engine = createMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 })
  const server = await startServer(config, { engine, log: createLogger('silent') })
  return {
    url: server.url,
    dir,
    config: config.uploads,
    uploads: server.uploads,
    engine,
    rechecks: server.rechecks,
    async token(user) {
      const res = await fetch(`${server.url}/auth/dev-login`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user }),
      })
      if (res.status !== 200) throw new Error(`dev login: ${res.status}`)
      return ((await res.json()) as AuthResponse).token
    },
    async direct(a, b) {
      const id = directConvId(a, b)
      await engine.convs.create({ id, kind: 'direct', members: [a, b], createdAt: Date.now() })
      return id
    },
    async close() {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** tus Upload-Metadata: comma-separated `key base64(value)`. */
export function tusMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`)
    .join(',')
}

export interface Created {
  readonly status: number
  readonly location: string | null
  readonly id: string | undefined
  readonly code: string | undefined
}

/** POST /uploads, as a raw tus request. */
export async function create(
  h: Pick<UploadHarness, 'url'>,
  token: string | undefined,
  size: number,
  meta: Record<string, string>,
  extra: Record<string, string> = {},
): Promise<Created> {
  const headers: Record<string, string> = { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(size), ...extra }
  if (Object.keys(meta).length > 0) headers['Upload-Metadata'] = tusMetadata(meta)
  if (token) headers.Authorization = `Bearer ${token}`
  const res = await fetch(`${h.url}/uploads`, { method: 'POST', headers })
  const location = res.headers.get('location')
  const code = res.status >= 400 ? ((await res.json()) as { error: { code: string } }).error.code : undefined
  return { status: res.status, location, id: location?.split('/').pop(), code }
}

export interface Patched {
  readonly status: number
  readonly offset: number | undefined
  readonly code: string | undefined
  readonly json: unknown
}

/** PATCH (or POST + X-HTTP-Method-Override: PATCH) of raw bytes at `offset`. */
export async function patch(
  h: Pick<UploadHarness, 'url'>,
  token: string | undefined,
  id: string,
  offset: number,
  bytes: Uint8Array,
  options: { override?: boolean; contentType?: string; headers?: Record<string, string> } = {},
): Promise<Patched> {
  const headers: Record<string, string> = {
    'Tus-Resumable': '1.0.0',
    'Upload-Offset': String(offset),
    'Content-Type': options.contentType ?? 'application/offset+octet-stream',
    ...options.headers,
  }
  if (token) headers.Authorization = `Bearer ${token}`
  if (options.override) headers['X-HTTP-Method-Override'] = 'PATCH'
  const res = await fetch(`${h.url}/uploads/${id}`, { method: options.override ? 'POST' : 'PATCH', headers, body: bytes })
  const text = await res.text()
  const json = text ? (JSON.parse(text) as unknown) : undefined
  const code = res.status >= 400 ? (json as { error: { code: string } }).error.code : undefined
  const off = res.headers.get('upload-offset')
  return { status: res.status, offset: off === null ? undefined : Number(off), code, json }
}

export async function head(h: Pick<UploadHarness, 'url'>, token: string | undefined, id: string): Promise<{ status: number; offset: number | undefined; length: number | undefined; code: string | undefined }> {
  const headers: Record<string, string> = { 'Tus-Resumable': '1.0.0' }
  if (token) headers.Authorization = `Bearer ${token}`
  const res = await fetch(`${h.url}/uploads/${id}`, { method: 'HEAD', headers })
  const off = res.headers.get('upload-offset')
  const len = res.headers.get('upload-length')
  return {
    status: res.status,
    offset: off === null ? undefined : Number(off),
    length: len === null ? undefined : Number(len),
    code: res.headers.get('x-error-code') ?? undefined,
  }
}

/** A small valid PDF-looking file (file-type decides by the `%PDF-` magic). */
export function pdfBytes(size: number, seed = 1): Buffer {
  const buf = Buffer.alloc(size)
  let x = seed
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    buf[i] = x >>> 16
  }
  Buffer.from('%PDF-1.7\n').copy(buf, 0)
  return buf
}
