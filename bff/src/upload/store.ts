/**
 * Uploads in progress: @tus/file-store's FileStore (one data file and one tus info JSON per upload
 * in `<dir>/tus`), with what the chat needs on top:
 *  - upload ids start with a tag of the owner, so "how many uploads does this user have in progress"
 *    is answered from the directory alone, by every BFF process sharing it;
 *  - bytes received are counted (metrics, and the resume test counts re-sent bytes with it);
 *  - no `creation-defer-length`: the size must be declared at creation so the size limit is
 *    enforced before a byte is stored (OPTIONS then advertises only what is supported);
 *  - its own sweep of expired uploads. FileStore.deleteExpired compares the size with the offset
 *    recorded in the info JSON at creation, which is always 0, so it treats every upload as
 *    unfinished (@tus/file-store 2.1.1); the sweep here decides by age only, which is right because
 *    a finished file lives on in `files/` (see files.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import type { Readable } from 'node:stream'
import { FileConfigstore, FileStore } from '@tus/file-store'
import { ERRORS } from '@tus/server'
import type { Upload } from '@tus/server'
import { boundedCache } from '../bounded-cache'

/** Metadata keys the server writes at creation (router.ts); a client's values for them are replaced. */
export interface UploadMeta {
  readonly owner: string
  readonly conv: string
  readonly filename: string
}

/** The tus info JSON as FileStore writes it. */
interface UploadInfo {
  readonly id: string
  readonly size?: number
  readonly metadata?: Record<string, string | null>
  readonly creation_date?: string
}

const TAG_CHARS = 12
/** Upload ids (and so file ids): the owner tag and 128 random bits, hex. */
export const UPLOAD_ID_RE = /^[0-9a-f]{44}$/

/** Prefix of every upload id of `user`: 48 bits of SHA-256, hex. */
export function ownerTag(user: string): string {
  return createHash('sha256').update(user).digest('hex').slice(0, TAG_CHARS)
}

export function newUploadId(user: string): string {
  return ownerTag(user) + randomBytes(16).toString('hex')
}

/**
 * The tus info JSON, read through a small cache: every append reads it (FileStore.getUpload), and
 * what it holds (size, metadata, creation date) never changes after creation here (no deferred
 * length). A process that did not see a deletion still answers correctly: the data file is gone,
 * so FileStore answers 410 for it.
 */
/** Info records kept in process (bff/src/bounded-cache.ts: least recently used first out). */
const INFO_CACHE_MAX = 10_000

class CachedInfoStore extends FileConfigstore {
  private readonly cache = boundedCache<string, Upload>({ max: INFO_CACHE_MAX })

  override async get(key: string): Promise<Upload | undefined> {
    const hit = this.cache.get(key)
    if (hit) return hit
    const value = await super.get(key)
    if (value) this.cache.set(key, value)
    return value
  }

  override async set(key: string, value: Upload): Promise<void> {
    await super.set(key, value)
    this.cache.set(key, value)
  }

  override async delete(key: string): Promise<void> {
    this.cache.delete(key)
    await super.delete(key)
  }

  /** Forget `key` (its file was removed directly). */
  evict(key: string): void {
    this.cache.delete(key)
  }
}

/**
 * Write handles of uploads in progress, opened on first use and closed after `idleMs` without an
 * append (or when the upload finishes or goes). Bounded: the oldest is closed beyond `max`.
 */
class HandleCache {
  private readonly open = new Map<string, { handle: Promise<FileHandle>; timer: ReturnType<typeof setTimeout> }>()

  constructor(
    private readonly idleMs = 30_000,
    private readonly max = 256,
  ) {}

  get(file: string): Promise<FileHandle> {
    const hit = this.open.get(file)
    if (hit) {
      hit.timer.refresh()
      return hit.handle
    }
    if (this.open.size >= this.max) void this.close(this.open.keys().next().value as string)
    const handle = fs.open(file, 'r+')
    handle.catch(() => this.open.delete(file))
    const timer = setTimeout(() => void this.close(file), this.idleMs)
    timer.unref()
    this.open.set(file, { handle, timer })
    return handle
  }

  async close(file: string): Promise<void> {
    const entry = this.open.get(file)
    if (!entry) return
    this.open.delete(file)
    clearTimeout(entry.timer)
    try {
      await (await entry.handle).close()
    } catch {
      // never opened, or already closed
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.open.keys()].map((f) => this.close(f)))
  }
}

export type BytesListener = (id: string, bytes: number) => void

export class UploadStore extends FileStore {
  readonly dir: string
  /** Body bytes written to uploads since start. */
  bytesReceived = 0
  private readonly byteListeners = new Set<BytesListener>()

  private readonly infos: CachedInfoStore
  private readonly handles = new HandleCache()

  constructor(dir: string, expiryMs: number) {
    const infos = new CachedInfoStore(dir)
    super({ directory: dir, expirationPeriodInMilliseconds: expiryMs, configstore: infos })
    this.infos = infos
    this.dir = dir
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration']
  }

  onBytes(listener: BytesListener): () => void {
    this.byteListeners.add(listener)
    return () => this.byteListeners.delete(listener)
  }

  /**
   * Appends what `readable` delivers at `offset`, through a file handle kept open between the
   * appends of an upload (FileStore opens and closes a write stream per request: two more file
   * system round trips per chunk). Returns the new offset; the bytes that arrived before an
   * abort are kept, as FileStore does (tus 1.0: the offset tells the client where to go on).
   */
  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const fh = await this.handles.get(this.dataPath(id))
    let position = offset
    try {
      for await (const chunk of readable as AsyncIterable<Buffer>) {
        let done = 0
        while (done < chunk.length) {
          const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, position + done)
          done += bytesWritten
        }
        position += chunk.length
        this.bytesReceived += chunk.length
        for (const l of this.byteListeners) l(id, chunk.length)
      }
    } catch {
      // The source failed (the client went away): keep what was written, like FileStore.
      if (position === offset) throw ERRORS.FILE_WRITE_ERROR
    }
    return position
  }

  override async remove(id: string): Promise<void> {
    await this.handles.close(this.dataPath(id))
    await super.remove(id)
  }

  /** The upload is complete: its handle is not needed any more. */
  async finished(id: string): Promise<void> {
    await this.handles.close(this.dataPath(id))
  }

  /**
   * Path of an upload's data; only for ids this store makes (UPLOAD_ID_RE), so never outside `dir`.
   * Any other id names no upload: tus's not-found (404 UPLOAD_NOT_FOUND to a client's request, such
   * as a DELETE of an id it made up), not a fault of ours.
   */
  dataPath(id: string): string {
    if (!UPLOAD_ID_RE.test(id)) throw ERRORS.FILE_NOT_FOUND
    return path.join(this.dir, id)
  }

  async info(id: string): Promise<UploadInfo | undefined> {
    return await this.configstore.get(id)
  }

  /** Deletes every upload created more than the expiry ago (data and info). Returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    let names: string[]
    try {
      names = await fs.readdir(this.dir)
    } catch {
      return 0
    }
    let removed = 0
    for (const name of names) {
      if (!name.endsWith('.json')) continue
      const id = name.slice(0, -'.json'.length)
      const info = await this.info(id)
      const created = info?.creation_date ? Date.parse(info.creation_date) : NaN
      if (!Number.isFinite(created) || now - created <= this.getExpiration()) continue
      this.infos.evict(id)
      if (UPLOAD_ID_RE.test(id)) await this.handles.close(this.dataPath(id))
      await Promise.all([fs.rm(path.join(this.dir, id), { force: true }), fs.rm(path.join(this.dir, name), { force: true })])
      removed++
    }
    return removed
  }

  /** Closes every kept file handle (shutdown). */
  async closeHandles(): Promise<void> {
    await this.handles.closeAll()
  }

  /** Removes an upload whether or not its data file is still there (FileStore.remove needs both). */
  async discard(id: string): Promise<void> {
    this.infos.evict(id)
    await this.handles.close(this.dataPath(id))
    await Promise.all([fs.rm(this.dataPath(id), { force: true }), fs.rm(path.join(this.dir, `${id}.json`), { force: true })])
  }
}

export function metaOf(upload: Pick<Upload, 'metadata'> | UploadInfo): UploadMeta | undefined {
  const m = upload.metadata
  if (!m?.owner || !m.conv || !m.filename) return undefined
  return { owner: m.owner, conv: m.conv, filename: m.filename }
}
