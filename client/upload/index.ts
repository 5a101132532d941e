/**
 * The uploads module of the app: `createUploads(sink, platform)` (the CreateUploads of types.ts) on
 * the Taro platform. Uploads pause when the app goes to the background (wx cuts requests ~5 s after
 * it, PLATFORM.md) and resume when it returns; unfinished ones of an earlier run resume at start.
 * Storage and the app's show/hide come from the app's one platform (client/platform); only what is
 * the uploader's own - ranged file reads, the picker, abortable binary HTTP - lives in ./taro.ts.
 */
import type { Platform } from '../platform/types'
import { Uploads } from './manager'
import type { UploadsOptions } from './manager'
import { taroUploadPlatform } from './taro'
import type { FileMessageSink, FileMessageUploads } from './types'

export type { FileInfo } from './tus'
export { Uploads, bodyFor } from './manager'
export { documentTypeOf } from './preview'

export function createUploads(
  sink: FileMessageSink,
  platform: Pick<Platform, 'storage' | 'lifecycle'>,
  options: UploadsOptions = {},
): FileMessageUploads & Uploads {
  const uploads = new Uploads(sink, taroUploadPlatform(platform.storage), options)
  platform.lifecycle.onHide(() => uploads.pauseAll())
  platform.lifecycle.onShow(() => uploads.resumeAll())
  uploads.restore()
  return uploads
}
