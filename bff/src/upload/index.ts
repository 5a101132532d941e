/**
 * The upload component: a tus 1.0 endpoint at /uploads (tus.ts), the finished files at /files
 * (file-routes.ts), both over the upload domain (service.ts), and the resolver messaging calls
 * when an image or file message is sent. app.ts mounts `router` and wires `resolver`.
 */
import type { EventEmitter } from 'node:events'
import express from 'express'
import type { Router } from 'express'
import type { Registry } from 'prom-client'
import type { FileBody, ImageBody } from '@chat/shared'
import type { FileResolver } from '../chat/files'
import type { CorsPolicy } from '../http/cors'
import type { UploadSlotStore } from '../store/types'
import type { UploadConfig } from './config'
import { fileRoutes } from './file-routes'
import type { FileRepository } from './files'
import { Uploads } from './service'
import type { ResolveFileInput, UploadLogger } from './service'
import type { FileUrlSigner } from './signed'
import type { UploadStore } from './store'
import { UPLOADS_PATH, tusHandler } from './tus'

export { UPLOADS_PATH } from './tus'
export { FILES_PATH } from './file-routes'
export type { ResolveFileInput, UploadLogger } from './service'

export interface UploadDeps {
  readonly config: UploadConfig
  /** The auth module's access-token check; throws AppError UNAUTHORIZED or TOKEN_EXPIRED. */
  readonly verifyToken: (token: string | undefined) => Promise<{ readonly user: { readonly id: string } }>
  /** Whether `user` belongs to `conv` (the conversation store). */
  readonly isMember: (conv: string, user: string) => Promise<boolean>
  /** Key material of file URLs when `config.urlKeys` is unset (the JWT secret: every process has it). */
  readonly urlSecret: string
  /** Clock of the URL signer, ms (tests). Default Date.now. */
  readonly now?: () => number
  /** Admission of uploads in progress (the engine's, shared by every process): UPLOAD_MAX_ACTIVE_PER_USER. */
  readonly slots: UploadSlotStore
  /** The BFF's CORS policy (http/cors.ts): tus answers its own CORS headers from its origins. */
  readonly cors?: CorsPolicy
  readonly logger?: UploadLogger
  /** Where the component's metrics go (the BFF's registry: chat_voice_duration_claimed_total). */
  readonly registry?: Registry
}

export interface UploadService {
  readonly router: Router
  /** Uploads.resolveFile: the body of an image/file message whose sender sent `{ fileId }`. */
  resolveFile(input: ResolveFileInput): Promise<ImageBody | FileBody>
  /** The same, in the shape messaging asks for (bff/src/chat/files.ts), with the URL refresh of stored messages. */
  readonly resolver: FileResolver
  /** Signs and verifies file URLs (signed.ts). */
  readonly urls: FileUrlSigner
  /** Uploads.withdrawFile: its URLs answer 410 FILE_WITHDRAWN from then on; false when no such file exists. */
  withdrawFile(id: string): Promise<boolean>
  /** The conversations file `id` was forwarded to (beside the one it was uploaded for), withdrawn or not. */
  sharedWith(id: string): Promise<string[]>
  readonly store: UploadStore
  readonly files: FileRepository
  /** `finished` (FileRecord), `rejected` ({ id, code, reason }), `withdrawn` (id), `swept` (count). */
  readonly events: EventEmitter
  /** Deletes expired uploads now (the timer calls it every `sweepIntervalMs`). */
  sweep(): Promise<number>
  close(): Promise<void>
}

export function createUploadService(deps: UploadDeps): UploadService {
  const { config } = deps
  const uploads = new Uploads({
    config,
    isMember: deps.isMember,
    urlSecret: deps.urlSecret,
    now: deps.now,
    slots: deps.slots,
    logger: deps.logger,
    registry: deps.registry,
  })
  const userOf = async (token: string | undefined): Promise<string> => (await deps.verifyToken(token)).user.id

  const router = express.Router()
  const tus = tusHandler({ uploads, userOf, allowedOrigins: deps.cors?.allowed, maxFileBytes: config.maxFileBytes })
  router.all(UPLOADS_PATH, (req, res, next) => void tus(req, res, next))
  router.all(`${UPLOADS_PATH}/:id`, (req, res, next) => void tus(req, res, next))
  fileRoutes(router, uploads, userOf)

  const timer =
    config.sweepIntervalMs > 0
      ? setInterval(() => {
          uploads.sweep().catch((err: unknown) => deps.logger?.warn({ err }, 'upload sweep failed'))
        }, config.sweepIntervalMs)
      : undefined
  timer?.unref()

  return {
    router,
    resolveFile: (input) => uploads.resolveFile(input),
    resolver: {
      resolve: (fileId, user, conv, kind) => uploads.resolveFile({ fileId, user, conv, kind }),
      voice: (fileId, user, conv, claimedMs) => uploads.resolveVoice({ fileId, user, conv, claimedMs }),
      share: (fileId, from, to, kind) => uploads.shareFile({ fileId, from, to, kind }),
      refreshUrls: (json) => uploads.urls.refresh(json),
      urlsVersion: () => uploads.urls.version(),
    },
    urls: uploads.urls,
    withdrawFile: (id) => uploads.withdrawFile(id),
    sharedWith: (id) => uploads.files.grants(id),
    store: uploads.store,
    files: uploads.files,
    events: uploads.events,
    sweep: () => uploads.sweep(),
    async close() {
      if (timer) clearInterval(timer)
      await uploads.store.closeHandles()
    },
  }
}
