/**
 * The upload domain, without HTTP: admission (UPLOAD_MAX_ACTIVE_PER_USER, ownership), the content
 * checks and publication of a finished upload, withdrawal, what a file message may carry, and the
 * sweep of expired uploads. tus.ts and file-routes.ts are its HTTP entry points.
 *
 * An upload is bound to a conversation at creation (metadata `conv`, membership checked then); the
 * finished file may be sent only by its uploader, only to that conversation, and read only by that
 * conversation's members. Binding at creation rather than at send keeps reads a single check, lets a
 * stranger's upload attempt fail before any byte is stored, and a file never needs to be re-bound.
 * A forward of its message grants it to one more conversation (`shareFile`): the members of that
 * one read it too.
 */
import { EventEmitter } from 'node:events'
import { mkdirSync } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Upload } from '@tus/server'
import { Counter, Registry } from 'prom-client'
import * as v from 'valibot'
import { AppError, LIMITS, VOICE_MIMES, schemas } from '@chat/shared'
import type { FileBody, ImageBody, VoiceBody } from '@chat/shared'
import { boundedCache } from '../bounded-cache'
import type { SharedFile } from '../chat/files'
import type { UploadSlotStore } from '../store/types'
import type { UploadConfig } from './config'
import { VOICE_DURATION_TOLERANCE_MS, measureAudioMs } from './audio'
import { ACCEPTED_TYPES_TEXT, SNIFF_BYTES, checkFile, checkHead, isAudioMime, isImageMime } from './content'
import { FileRepository, bodyOf } from './files'
import type { FileRecord } from './files'
import { ImageRejected, makeThumbnail } from './images'
import { sanitizeFileName } from './names'
import { FileUrlSigner, derivedUrlKey } from './signed'
import type { FileVariant } from './signed'
import { UPLOAD_ID_RE, UploadStore, metaOf } from './store'

export interface UploadLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface UploadsDeps {
  readonly config: UploadConfig
  /** Whether `user` belongs to `conv` (the conversation store). */
  readonly isMember: (conv: string, user: string) => Promise<boolean>
  /** Key material of file URLs when `config.urlKeys` is unset (the JWT secret: every process has it). */
  readonly urlSecret: string
  /** Clock of the URL signer, ms (tests). Default Date.now. */
  readonly now?: (() => number) | undefined
  /** Admission of uploads in progress (the engine's, shared by every process): UPLOAD_MAX_ACTIVE_PER_USER. */
  readonly slots: UploadSlotStore
  readonly logger?: UploadLogger | undefined
  /** Where the upload component's metrics go (the BFF's registry). Absent: a registry of its own. */
  readonly registry?: Registry | undefined
}

export interface ResolveFileInput {
  readonly user: string
  readonly conv: string
  readonly kind: 'image' | 'file' | 'voice'
  readonly fileId: string
}

export interface ShareFileInput {
  readonly fileId: string
  /** The conversation of the message forwarded. */
  readonly from: string
  /** The conversation it is forwarded to. */
  readonly to: string
  readonly kind: 'image' | 'file'
}

export interface ResolveVoiceInput {
  readonly user: string
  readonly conv: string
  readonly fileId: string
  /** The length the sender claims, ms (already within 1..LIMITS.maxVoiceMs: the send's schema). */
  readonly claimedMs: number
}

/** Most upload owners remembered in process (an owner never changes; a miss reads the info file). */
const OWNERS_MAX = 10_000

class ContentRejected extends Error {
  override readonly name = 'ContentRejected'
}

export class Uploads {
  readonly store: UploadStore
  readonly files: FileRepository
  /** Signs and verifies file URLs (signed.ts). */
  readonly urls: FileUrlSigner
  /** `finished` (FileRecord), `rejected` ({ id, code, reason }), `withdrawn` (id), `swept` (count). */
  readonly events = new EventEmitter()
  /** Owner of an upload id (never changes): saves a read of the info file on every append. */
  private readonly owners = boundedCache<string, string>({ max: OWNERS_MAX })
  private readonly config: UploadConfig
  readonly log: UploadLogger | undefined
  /** Voice messages sent with the sender's duration because the file gives none, by type. */
  private readonly claimedDurations: Counter<'mime'>

  constructor(private readonly deps: UploadsDeps) {
    const { config } = deps
    this.config = config
    this.log = deps.logger
    const tusDir = path.join(config.dir, 'tus')
    this.store = new UploadStore(tusDir, config.expiryMs)
    this.files = new FileRepository(path.join(config.dir, 'files'))
    mkdirSync(tusDir, { recursive: true })
    mkdirSync(this.files.dir, { recursive: true })
    this.urls = new FileUrlSigner(config.urlKeys ?? [derivedUrlKey(deps.urlSecret)], config.urlTtlMs, deps.now)
    this.claimedDurations = new Counter({
      name: 'chat_voice_duration_claimed_total',
      help: "Voice messages stored with the sender's duration because the audio gives none (a WebM without Duration), by type",
      labelNames: ['mime'],
      registers: [deps.registry ?? new Registry()],
    })
  }

  readonly urlOf = (id: string, variant: FileVariant): string => this.urls.sign(id, variant)

  /** Whether `user` belongs to `conv` (the conversation store). */
  isMember(conv: string, user: string): Promise<boolean> {
    return this.deps.isMember(conv, user)
  }

  /** Whether `user` may read file `record`: its uploader, a member of its conversation or of one it was forwarded to. */
  async readable(record: FileRecord, user: string): Promise<boolean> {
    if (record.owner === user || (await this.deps.isMember(record.conv, user))) return true
    for (const conv of await this.files.grants(record.id)) if (await this.deps.isMember(conv, user)) return true
    return false
  }

  // ---------------------------------------------------------------- admission

  /**
   * A new upload of `user`: bound to the conversation its metadata names (a member's), within the
   * user's uploads in progress. Returns the metadata stored with it.
   */
  async admit(user: string, upload: Upload): Promise<Record<string, string>> {
    if (upload.size === 0) throw new AppError('UPLOAD_INVALID', 'empty files are not accepted')
    const conv = upload.metadata?.conv
    if (!conv || !v.is(schemas.ConvId, conv)) {
      throw new AppError('UPLOAD_INVALID', 'Upload-Metadata must name the conversation: conv <base64 id>')
    }
    if (!(await this.deps.isMember(conv, user))) throw new AppError('NOT_MEMBER')
    // One atomic step in the engine (a Lua script on Redis): simultaneous creations on any number
    // of processes cannot both see a free slot. The slot is given back when the upload ends
    // (`releaseSlot`), or frees itself after UPLOAD_IDLE_MS without a byte.
    if (!(await this.deps.slots.acquire(user, upload.id, this.config.maxActivePerUser, this.config.idleMs))) {
      throw new AppError('UPLOAD_TOO_MANY', `at most ${this.config.maxActivePerUser} uploads in progress per user`)
    }
    const filename = sanitizeFileName(upload.metadata?.filename ?? upload.metadata?.name)
    return { conv, filename, owner: user }
  }

  /** The upload ended (finished, rejected, terminated) or its creation failed: its slot is free. */
  releaseSlot(user: string, id: string): Promise<void> {
    return this.deps.slots.release(user, id)
  }

  /** A byte arrived: the slot stays taken for another UPLOAD_IDLE_MS. */
  touchSlot(user: string, id: string): Promise<void> {
    return this.deps.slots.touch(user, id, this.config.idleMs)
  }

  private async ownerOf(id: string): Promise<string | undefined> {
    const cached = this.owners.get(id)
    if (cached) return cached
    if (!UPLOAD_ID_RE.test(id)) return undefined
    const info = await this.store.info(id)
    const owner = info ? metaOf(info)?.owner : undefined
    if (owner) this.owners.set(id, owner)
    return owner
  }

  /** Someone else's upload answers exactly like one that does not exist (UPLOAD_NOT_FOUND). */
  async checkOwner(user: string, id: string): Promise<void> {
    const owner = await this.ownerOf(id)
    if (owner !== undefined && owner !== user) throw new AppError('UPLOAD_NOT_FOUND')
  }

  // ---------------------------------------------------------------- finish

  /** Checks a complete upload and publishes it as a file. Idempotent (a zero-byte PATCH at the end re-runs it). */
  async finish(upload: Upload): Promise<FileRecord> {
    const { store, files, config } = this
    await store.finished(upload.id)
    const known = await files.get(upload.id)
    if (known) return known
    const meta = metaOf(upload)
    if (!meta || upload.size === undefined) throw new AppError('INTERNAL', 'upload without its metadata')
    const source = store.dataPath(upload.id)
    try {
      const verdict = await checkFile(source, meta.filename, config.allowedTypes)
      if (!verdict.ok) throw new ContentRejected(verdict.reason)
      await files.adopt(upload.id, source)
      let dims: { width: number; height: number } | undefined
      if (isImageMime(verdict.mime)) {
        dims = await makeThumbnail(files.dataPath(upload.id), files.thumbPath(upload.id), {
          maxPx: config.thumbMaxPx,
          maxPixels: config.maxImagePixels,
        })
      }
      // Only what may become a voice message is measured; any other audio is just a file.
      const durationMs =
        isAudioMime(verdict.mime) && upload.size <= LIMITS.maxVoiceBytes ? await measureAudioMs(files.dataPath(upload.id), verdict.mime) : undefined
      const record: FileRecord = {
        id: upload.id,
        owner: meta.owner,
        conv: meta.conv,
        name: meta.filename,
        size: upload.size,
        mime: verdict.mime,
        kind: dims ? 'image' : 'file',
        ...(dims ? { width: dims.width, height: dims.height } : {}),
        ...(durationMs !== undefined ? { durationMs } : {}),
        createdAt: Date.now(),
      }
      await files.publish(record)
      this.log?.info({ upload: upload.id, size: record.size, mime: record.mime, durationMs }, 'upload finished')
      this.events.emit('finished', record)
      return record
    } catch (err) {
      if (err instanceof ContentRejected || err instanceof ImageRejected) {
        await this.reject(upload.id, err.message)
        throw new AppError('UPLOAD_TYPE_REJECTED', `file type not accepted: ${err.message}; accepted: ${ACCEPTED_TYPES_TEXT}`)
      }
      throw err
    }
  }

  /** Drop an upload whose content was refused (its bytes and any published file). */
  async reject(id: string, reason: string): Promise<void> {
    await Promise.all([this.store.discard(id), this.files.discard(id)])
    this.owners.delete(id)
    this.log?.info({ upload: id, reason }, 'upload rejected')
    this.events.emit('rejected', { id, code: 'UPLOAD_TYPE_REJECTED', reason })
  }

  /**
   * The early content check: once the first SNIFF_BYTES of an upload (or all of a shorter one) are
   * stored, look at them. Decided from the request's start offset and the answer's new offset, so no
   * state is kept between requests and any process can do it. The reason it is refused, if it is.
   */
  async checkEarly(id: string, startOffset: number, newOffset: number): Promise<string | undefined> {
    if (startOffset >= SNIFF_BYTES || newOffset <= startOffset) return undefined
    const info = await this.store.info(id)
    const meta = info ? metaOf(info) : undefined
    if (!info || !meta || info.size === undefined) return undefined
    const complete = newOffset >= info.size
    if (newOffset < SNIFF_BYTES && !complete) return undefined
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, newOffset))
    const fh = await fs.open(this.store.dataPath(id), 'r')
    try {
      await fh.read(head, 0, head.length, 0)
    } finally {
      await fh.close()
    }
    const verdict = await checkHead(head, meta.filename, complete, this.config.allowedTypes)
    return verdict.ok ? undefined : verdict.reason
  }

  /** Whether `user`'s upload `id` holds all its bytes (its file not published yet). */
  async finishing(id: string, user: string): Promise<boolean> {
    if (!UPLOAD_ID_RE.test(id)) return false
    const info = await this.store.info(id)
    if (!info || info.size === undefined || metaOf(info)?.owner !== user) return false
    try {
      return (await fs.stat(this.store.dataPath(id))).size >= info.size
    } catch {
      return false
    }
  }

  // ---------------------------------------------------------------- files

  /**
   * Withdraws a finished file (its uploader's DELETE, or moderation: a media check verdict). Its
   * URLs answer 410 FILE_WITHDRAWN from then on. Returns false when no such file exists.
   */
  async withdrawFile(id: string): Promise<boolean> {
    const done = await this.files.withdraw(id)
    if (done) {
      // The finished tus upload is a second link to the same bytes: it goes too, not at the sweep.
      await this.store.discard(id)
      this.owners.delete(id)
      this.log?.info({ file: id }, 'file withdrawn')
      this.events.emit('withdrawn', id)
    }
    return done
  }

  /**
   * The body of an image/file message whose sender sent `{ fileId }`. Throws AppError FILE_NOT_FOUND
   * (unknown, not the sender's, or uploaded for another conversation), FILE_NOT_READY (the upload is
   * not complete yet) or UPLOAD_TYPE_REJECTED (kind `image` for a file that is not an image, kind
   * `voice` for one that is not VOICE_MIMES audio); UPLOAD_TOO_LARGE: a voice over LIMITS.maxVoiceBytes.
   */
  async resolveFile(input: ResolveFileInput): Promise<ImageBody | FileBody> {
    const record = await this.sendable(input)
    const body = bodyOf(record, input.kind, this.urlOf)
    if (!body) throw new AppError('UPLOAD_TYPE_REJECTED', 'an image message needs an image file')
    return body
  }

  /**
   * The body of a voice message whose sender sent `{ fileId, duration }`: the checks of resolveFile
   * (kind `voice`), and the duration measured from the audio at finish, whatever was claimed.
   * Throws AppError VOICE_DURATION_INVALID when the measure is outside LIMITS.minVoiceMs..maxVoiceMs
   * by more than VOICE_DURATION_TOLERANCE_MS; within the tolerance above the maximum it is stored as
   * the maximum. A file whose format gives no length (a WebM without Duration) keeps the claim, counted
   * in chat_voice_duration_claimed_total.
   */
  async resolveVoice(input: ResolveVoiceInput): Promise<VoiceBody> {
    const record = await this.sendable({ ...input, kind: 'voice' })
    const file = bodyOf(record, 'voice', this.urlOf)!
    const measured = record.durationMs
    if (measured === undefined) {
      this.claimedDurations.inc({ mime: record.mime })
      return { ...file, duration: input.claimedMs }
    }
    if (measured < LIMITS.minVoiceMs - VOICE_DURATION_TOLERANCE_MS || measured > LIMITS.maxVoiceMs + VOICE_DURATION_TOLERANCE_MS) {
      throw new AppError(
        'VOICE_DURATION_INVALID',
        `the recording is ${measured} ms long; a voice message is ${LIMITS.minVoiceMs} to ${LIMITS.maxVoiceMs} ms`,
      )
    }
    return { ...file, duration: Math.min(LIMITS.maxVoiceMs, measured) }
  }

  /**
   * The body of a forward of file `input.fileId` from a message of `input.from` into `input.to` (the
   * chat checked that the forwarding user may read that message and send into `input.to`). The file
   * must be one of `input.from`'s (uploaded for it, or forwarded to it) and not withdrawn
   * (FILE_NOT_FOUND). `grant` opens it to `input.to`: the chat calls it once the message is
   * stored and before anyone is sent it, so that the target's members can read it as soon as they
   * get it, and a forward refused by a check or lost by the store opens it to nobody. Granting
   * twice is granting once (a retried send's duplicate grants again).
   */
  async shareFile(input: ShareFileInput): Promise<SharedFile> {
    const record = await this.files.get(input.fileId)
    if (!record) throw new AppError('FILE_NOT_FOUND', (await this.files.withdrawn(input.fileId)) ? 'the file was withdrawn' : undefined)
    const grants = record.conv === input.from && record.conv === input.to ? [] : await this.files.grants(record.id)
    if (record.conv !== input.from && !grants.includes(input.from)) throw new AppError('FILE_NOT_FOUND')
    const body = bodyOf(record, input.kind, this.urlOf)
    if (!body) throw new AppError('UPLOAD_TYPE_REJECTED', 'an image message needs an image file')
    const granted = record.conv === input.to || grants.includes(input.to)
    return { body, grant: async () => (granted ? undefined : this.files.grant(record.id, input.to)) }
  }

  /** The record of a finished file `input.user` may send in `input.conv` as `input.kind` (resolveFile's checks). */
  private async sendable(input: ResolveFileInput): Promise<FileRecord> {
    const record = await this.files.get(input.fileId)
    if (!record) {
      if (await this.files.withdrawn(input.fileId)) throw new AppError('FILE_NOT_FOUND', 'the file was withdrawn')
      const info = UPLOAD_ID_RE.test(input.fileId) ? await this.store.info(input.fileId) : undefined
      const meta = info ? metaOf(info) : undefined
      if (meta && meta.owner === input.user && meta.conv === input.conv) throw new AppError('FILE_NOT_READY')
      throw new AppError('FILE_NOT_FOUND')
    }
    if (record.owner !== input.user || record.conv !== input.conv) throw new AppError('FILE_NOT_FOUND')
    if (input.kind === 'voice') checkVoice(record)
    return record
  }

  /** Deletes expired uploads now (a timer calls it every `sweepIntervalMs`). */
  async sweep(): Promise<number> {
    const n = await this.store.sweep()
    if (n > 0) {
      this.log?.info({ removed: n }, 'expired uploads removed')
      this.events.emit('swept', n)
    }
    return n
  }
}

/** A voice message's file: one of VOICE_MIMES (decided from its bytes at upload), at most LIMITS.maxVoiceBytes. */
function checkVoice(record: FileRecord): void {
  if (!isAudioMime(record.mime)) {
    throw new AppError('UPLOAD_TYPE_REJECTED', `a voice message needs one of ${VOICE_MIMES.join(', ')}, not ${record.mime}`)
  }
  if (record.size > LIMITS.maxVoiceBytes) {
    throw new AppError('UPLOAD_TOO_LARGE', `a voice message holds at most ${LIMITS.maxVoiceBytes} bytes, this one ${record.size}`)
  }
}
