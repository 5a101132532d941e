/**
 * The uploads module the chat client talks to (FileMessageUploads, client/upload/types.ts): pick,
 * show the message at once, upload at most `maxConcurrent` files at a time (default 2: wx.request,
 * uploadFile and downloadFile share 10 slots and the chat needs some - PLATFORM.md), report
 * progress, hand the finished body to the chat client (which sends it over the socket), offer retry
 * on failure, cancel, and pick up unfinished uploads after the app restarts.
 *
 * Platform-free: Taro supplies the picker, files and HTTP (taro.ts), tests a fake (manager.test.ts).
 */
import type { FileBody, ImageBody, VoiceBody } from '@chat/shared'
import { fingerprintOf } from './fingerprint'
import type { FileSource, UploadHttp, UploadStorage } from './platform'
import { TusUpload, UploadError } from './tus'
import type { FileInfo, RetryOptions } from './tus'
import type { FileMessageKind, FileMessageSink, FileMessageUploads, PickKind, PickedFile } from './types'

/** A picked file as the platform knows it: the PickedFile, plus what opens it (an h5 File). */
export interface LocalFile extends PickedFile {
  readonly blob?: unknown
}

export interface UploadPlatform {
  readonly http: UploadHttp
  readonly storage: UploadStorage
  /** Whether a picked file's path still works after the app restarts (weapp, once kept; not h5). */
  readonly persistent: boolean
  /** The platform's picker; [] when the user dismissed it. */
  pick(kind: PickKind): Promise<LocalFile[]>
  open(file: LocalFile): Promise<FileSource>
  /** Make the file outlive the app (weapp: saveFile); returns it with its new path. */
  keep?(file: LocalFile, id: string): Promise<LocalFile>
  /** The file is not needed any more. */
  release?(file: LocalFile): Promise<void>
  /**
   * Remove kept files of earlier runs that no job needs any more (their messages were sent; a
   * kept file stays until then because the pending bubble shows it).
   */
  cleanup?(inUse: readonly string[]): Promise<void>
}

export interface UploadsOptions {
  /** Bytes per append, fixed. Default: sized from the measured goodput (chunks.ts). */
  readonly chunkSize?: number
  /** Files uploading at once. Default 2. */
  readonly maxConcurrent?: number
  readonly retry?: Partial<RetryOptions>
  /** Path of the tus endpoint on the BFF. Default `/uploads`. */
  readonly endpointPath?: string
  /** Test hook: waits of the retry backoff. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

type JobState = 'queued' | 'running' | 'paused' | 'failed'

interface Job {
  readonly cid: string
  readonly conv: string
  readonly kind: FileMessageKind
  readonly file: LocalFile
  state: JobState
  upload?: TusUpload
}

/** What survives a restart, per job (weapp only: h5 Files do not). */
interface StoredJob {
  readonly cid: string
  readonly conv: string
  readonly kind: FileMessageKind
  readonly file: PickedFile
}

const JOBS_KEY = 'uploads.jobs.v1'

/** Codes by which the server refuses a file for what it is: no retry can change the answer. */
const REFUSALS: ReadonlySet<string> = new Set(['UPLOAD_TOO_LARGE', 'UPLOAD_TYPE_REJECTED'])

/**
 * The message body for `kind` from the server's file info (an image sent as a file is a file card);
 * a voice adds its recorded `duration` (ms).
 */
export function bodyFor(kind: FileMessageKind, info: FileInfo, duration?: number): ImageBody | FileBody | VoiceBody {
  const file: FileBody = { fileId: info.fileId, name: info.name, size: info.size, mime: info.mime, url: info.url }
  if (kind === 'voice' && duration !== undefined) return { ...file, duration }
  if (kind === 'image' && info.width && info.height && info.thumbUrl) {
    return { ...file, width: info.width, height: info.height, thumbUrl: info.thumbUrl }
  }
  return file
}

export class Uploads implements FileMessageUploads {
  private readonly jobs = new Map<string, Job>()
  private readonly order: string[] = []
  private readonly maxConcurrent: number

  constructor(
    private readonly sink: FileMessageSink,
    private readonly platform: UploadPlatform,
    private readonly options: UploadsOptions = {},
  ) {
    this.maxConcurrent = options.maxConcurrent ?? 2
  }

  /** Jobs left unfinished by the previous run of the app: queued again, same cids. */
  restore(): void {
    if (!this.platform.persistent) return
    const stored = this.platform.storage.get(JOBS_KEY)
    for (const s of Array.isArray(stored) ? (stored as StoredJob[]) : []) {
      if (!s || typeof s.cid !== 'string' || this.jobs.has(s.cid)) continue
      this.add({ cid: s.cid, conv: s.conv, kind: s.kind, file: s.file, state: 'queued' })
    }
    this.platform.cleanup?.([...this.jobs.values()].map((j) => j.file.path)).catch(() => undefined)
    this.schedule()
  }

  sendRecording(conv: string, file: LocalFile & { readonly duration: number }): void {
    const shown: PickedFile = { path: file.path, name: file.name, size: file.size, duration: file.duration, ...(file.mime ? { mime: file.mime } : {}) }
    const cid = this.sink.addPendingFile(conv, 'voice', shown)
    this.add({ cid, conv, kind: 'voice', file, state: 'queued' })
    this.save()
    this.schedule()
  }

  async pickAndSend(conv: string, kind: PickKind): Promise<void> {
    const picked = await this.platform.pick(kind)
    for (const original of picked) {
      const keepId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`
      const file = this.platform.keep ? await this.platform.keep(original, keepId) : original
      const shown: PickedFile = {
        path: file.path,
        name: file.name,
        size: file.size,
        ...(file.mime ? { mime: file.mime } : {}),
        ...(file.width && file.height ? { width: file.width, height: file.height } : {}),
      }
      const cid = this.sink.addPendingFile(conv, kind, shown)
      this.add({ cid, conv, kind, file, state: 'queued' })
    }
    this.save()
    this.schedule()
  }

  retry(cid: string): void {
    const job = this.jobs.get(cid)
    if (!job || (job.state !== 'failed' && job.state !== 'paused')) return
    job.state = 'queued'
    this.moveToEnd(cid)
    this.schedule()
  }

  /** Stops one upload (the server keeps what it has); `resume` or `retry` goes on from there. */
  pause(cid: string): void {
    const job = this.jobs.get(cid)
    if (!job) return
    if (job.state === 'running') job.upload?.pause()
    else if (job.state === 'queued') job.state = 'paused'
  }

  resume(cid: string): void {
    this.retry(cid)
  }

  /** Every upload in progress stops (the app goes to the background: wx cuts requests after ~5 s). */
  pauseAll(): void {
    for (const cid of this.order) this.pause(cid)
  }

  resumeAll(): void {
    for (const job of this.jobs.values()) if (job.state === 'paused') job.state = 'queued'
    this.schedule()
  }

  cancel(cid: string): void {
    const job = this.jobs.get(cid)
    if (!job) return
    this.remove(cid)
    this.sink.removePending(cid)
    const done = job.upload ? job.upload.cancel() : this.cancelStored(job)
    done.catch(() => undefined).finally(() => this.platform.release?.(job.file).catch(() => undefined))
    this.schedule()
  }

  /** For the view and tests: the state of each job. */
  states(): Record<string, JobState> {
    return Object.fromEntries(this.order.map((cid) => [cid, this.jobs.get(cid)!.state]))
  }

  private add(job: Job): void {
    this.jobs.set(job.cid, job)
    this.order.push(job.cid)
  }

  private remove(cid: string): void {
    this.jobs.delete(cid)
    const i = this.order.indexOf(cid)
    if (i >= 0) this.order.splice(i, 1)
    this.save()
  }

  private moveToEnd(cid: string): void {
    const i = this.order.indexOf(cid)
    if (i >= 0) this.order.splice(i, 1)
    this.order.push(cid)
  }

  private save(): void {
    if (!this.platform.persistent) return
    const stored: StoredJob[] = this.order.map((cid) => {
      const j = this.jobs.get(cid)!
      const { blob: _blob, ...file } = j.file
      return { cid: j.cid, conv: j.conv, kind: j.kind, file }
    })
    if (stored.length === 0) this.platform.storage.remove(JOBS_KEY)
    else this.platform.storage.set(JOBS_KEY, stored)
  }

  private schedule(): void {
    let running = 0
    for (const job of this.jobs.values()) if (job.state === 'running') running++
    for (const cid of [...this.order]) {
      if (running >= this.maxConcurrent) return
      const job = this.jobs.get(cid)
      if (job?.state !== 'queued') continue
      running++
      job.state = 'running'
      void this.run(job)
    }
  }

  private async tusFor(job: Job): Promise<TusUpload> {
    const source = await this.platform.open(job.file)
    return new TusUpload({
      endpoint: `${this.sink.bffUrl}${this.options.endpointPath ?? '/uploads'}`,
      source,
      fingerprint: await fingerprintOf(source, job.conv),
      metadata: { conv: job.conv, filename: job.file.name },
      http: this.platform.http,
      storage: this.platform.storage,
      getToken: () => this.sink.getToken(),
      ...(this.options.chunkSize !== undefined ? { chunkSize: this.options.chunkSize } : {}),
      ...(this.options.retry ? { retry: this.options.retry } : {}),
      ...(this.options.sleep ? { sleep: this.options.sleep } : {}),
      onProgress: (sent) => this.sink.setProgress(job.cid, sent),
    })
  }

  private async run(job: Job): Promise<void> {
    try {
      job.upload ??= await this.tusFor(job)
      if (!this.jobs.has(job.cid)) return // cancelled while opening
      const outcome = await job.upload.start()
      if (!this.jobs.has(job.cid)) return
      if (outcome.done) {
        this.remove(job.cid)
        this.sink.completeUpload(job.cid, bodyFor(job.kind, outcome.file, job.file.duration))
      } else {
        job.state = 'paused'
      }
    } catch (err) {
      if (!this.jobs.has(job.cid)) return
      job.state = 'failed'
      const e = err instanceof UploadError ? err : undefined
      if (e && REFUSALS.has(e.code)) {
        // The server judged the file itself (too large, a type it does not take): final. The job is
        // forgotten, so neither a retry nor the next start of the app sends the same bytes again.
        this.remove(job.cid)
        this.platform.release?.(job.file).catch(() => undefined)
      }
      this.sink.failUpload(job.cid, { code: e?.code ?? 'UPLOAD_INVALID', message: err instanceof Error ? err.message : String(err) })
      // Any other refusal cannot succeed by retrying the same upload: start from scratch on retry.
      if (e && !e.temporary) job.upload = undefined
    } finally {
      this.schedule()
    }
  }

  /** Cancel of a job that never started this run: terminate what an earlier run stored. */
  private async cancelStored(job: Job): Promise<void> {
    try {
      const upload = await this.tusFor(job)
      await upload.cancel()
    } catch {
      // The file is gone too: whatever the server holds expires (UPLOAD_EXPIRY_MS).
    }
  }
}
