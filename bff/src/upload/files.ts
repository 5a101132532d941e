/**
 * Finished files, in `<dir>/files`: `<id>` (the bytes), `<id>.thumb.jpg` (images), `<id>.json` (the
 * record). The record is written last, atomically (write a temporary file, rename): a file without
 * a record does not exist for readers, so a half-written or unchecked upload is never served.
 * `<id>.convs`: the conversations it was forwarded to, one id a line, appended (`grant`).
 *
 * A withdrawn file leaves `<id>.withdrawn` (a tombstone), so its signed URLs say so, and its
 * `<id>.convs`, so moderation finds the messages carrying it everywhere.
 *
 * The bytes are a hard link to the tus upload's data file, not a copy: finishing a 100 MB upload
 * costs no I/O, the tus upload stays answerable (HEAD after a lost final response says "complete")
 * until the sweep removes it, and the link keeps the bytes here after that.
 */
import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { FileBody, FileInfo, ImageBody } from '@chat/shared'
import type { FileVariant } from './signed'
import { UPLOAD_ID_RE } from './store'

export interface FileRecord {
  readonly id: string
  /** The uploader: the only user who may send it. */
  readonly owner: string
  /** The conversation it was uploaded for: its members may read it (and those of the ones it was forwarded to: `grants`). */
  readonly conv: string
  /** Sanitised display name. */
  readonly name: string
  readonly size: number
  /** Decided from the content (content.ts). */
  readonly mime: string
  readonly kind: 'image' | 'file'
  readonly width?: number
  readonly height?: number
  /**
   * Length of the audio, whole ms, measured from its bytes at finish (audio.ts): only for voice
   * audio (VOICE_MIMES) of at most LIMITS.maxVoiceBytes whose format gives one. Absent otherwise,
   * and in records written before it was measured.
   */
  readonly durationMs?: number
  readonly createdAt: number
}

/** The URL of `variant` of a file, as clients get it (signed.ts). */
export type UrlOf = (id: string, variant: FileVariant) => string

export function infoOf(record: FileRecord, urlOf: UrlOf): FileInfo {
  const base = { fileId: record.id, kind: record.kind, name: record.name, size: record.size, mime: record.mime, url: urlOf(record.id, 'data') }
  if (record.kind === 'image' && record.width && record.height) {
    return { ...base, width: record.width, height: record.height, thumbUrl: urlOf(record.id, 'thumb') }
  }
  return base
}

/**
 * The message body for a send of `kind` (an image may be sent as a plain file; not the reverse). A
 * voice message gets the file's fields (the chat adds its duration); whether the file is audio is
 * the caller's check (Uploads.resolveFile).
 */
export function bodyOf(record: FileRecord, kind: 'image' | 'file' | 'voice', urlOf: UrlOf): ImageBody | FileBody | undefined {
  const file: FileBody = { fileId: record.id, name: record.name, size: record.size, mime: record.mime, url: urlOf(record.id, 'data') }
  if (kind === 'file' || kind === 'voice') return file
  if (record.kind !== 'image' || !record.width || !record.height) return undefined
  return { ...file, width: record.width, height: record.height, thumbUrl: urlOf(record.id, 'thumb') }
}

export class FileRepository {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true })
  }

  dataPath(id: string): string {
    return path.join(this.dir, checkId(id))
  }

  thumbPath(id: string): string {
    return path.join(this.dir, `${checkId(id)}.thumb.jpg`)
  }

  /** The record of a finished file, or undefined (unknown, unfinished, or not an id at all). */
  async get(id: string): Promise<FileRecord | undefined> {
    if (!UPLOAD_ID_RE.test(id)) return undefined
    try {
      return JSON.parse(await fs.readFile(path.join(this.dir, `${id}.json`), 'utf8')) as FileRecord
    } catch {
      return undefined
    }
  }

  /** Hard-links the upload's bytes in (a copy where links are not possible). Idempotent. */
  async adopt(id: string, source: string): Promise<void> {
    const target = this.dataPath(id)
    try {
      await fs.link(source, target)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') return
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err
      await fs.copyFile(source, `${target}.tmp`)
      await fs.rename(`${target}.tmp`, target)
    }
  }

  /** Publishes the record: from now on the file exists for readers. */
  async publish(record: FileRecord): Promise<void> {
    const tmp = path.join(this.dir, `${checkId(record.id)}.json.${randomBytes(4).toString('hex')}.tmp`)
    await fs.writeFile(tmp, JSON.stringify(record))
    await fs.rename(tmp, path.join(this.dir, `${record.id}.json`))
  }

  /**
   * Withdraws a finished file: a tombstone (`<id>.withdrawn`) is written first, then the record and
   * the bytes go. From the record's removal on, the file does not exist for readers or senders, and
   * its URLs answer FILE_WITHDRAWN. Returns false when there was no such file.
   */
  async withdraw(id: string): Promise<boolean> {
    if (!(await this.get(id))) return false
    await fs.writeFile(path.join(this.dir, `${checkId(id)}.withdrawn`), JSON.stringify({ id, withdrawnAt: Date.now() }))
    await fs.rm(path.join(this.dir, `${id}.json`), { force: true })
    await Promise.all([this.dataPath(id), this.thumbPath(id)].map((p) => fs.rm(p, { force: true })))
    return true
  }

  /** The conversations file `id` was forwarded to (beside `FileRecord.conv`), oldest first. */
  async grants(id: string): Promise<string[]> {
    if (!UPLOAD_ID_RE.test(id)) return []
    try {
      return (await fs.readFile(this.grantsPath(id), 'utf8')).split('\n').filter((line) => line !== '')
    } catch {
      return []
    }
  }

  /**
   * Lets the members of `conv` read file `id` (it was forwarded there). One short line appended
   * (O_APPEND: concurrent grants from several processes never overwrite each other; a line twice
   * is harmless). Idempotent.
   */
  async grant(id: string, conv: string): Promise<void> {
    if ((await this.grants(id)).includes(conv)) return
    await fs.appendFile(this.grantsPath(id), `${conv}\n`)
  }

  private grantsPath(id: string): string {
    return path.join(this.dir, `${checkId(id)}.convs`)
  }

  /** Whether `id` names a withdrawn file. */
  async withdrawn(id: string): Promise<boolean> {
    if (!UPLOAD_ID_RE.test(id)) return false
    try {
      await fs.access(path.join(this.dir, `${id}.withdrawn`))
      return true
    } catch {
      return false
    }
  }

  /** Removes whatever exists of a file (a rejected upload's partial adoption). */
  async discard(id: string): Promise<void> {
    await Promise.all(
      [this.dataPath(id), this.thumbPath(id), path.join(this.dir, `${id}.json`)].map((p) => fs.rm(p, { force: true })),
    )
  }
}

function checkId(id: string): string {
  if (!UPLOAD_ID_RE.test(id)) throw new Error(`not a file id: ${JSON.stringify(id)}`)
  return id
}
