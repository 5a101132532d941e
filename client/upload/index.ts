/**
 * The uploads module of the app: `createUploads(sink)` (the CreateUploads of types.ts) on the Taro
 * platform. Uploads pause when the app goes to the background (wx cuts requests ~5 s after it,
 * PLATFORM.md) and resume when it returns; unfinished ones of an earlier run resume at start.
 */
import Taro from '@tarojs/taro'
import { taroStorage } from '../platform/taro'
import { Uploads } from './manager'
import type { UploadsOptions } from './manager'
import { taroUploadPlatform } from './taro'
import type { FileMessageSink, FileMessageUploads } from './types'

export type { FileInfo } from './tus'
export { Uploads, bodyFor } from './manager'
export { documentTypeOf } from './preview'

export function createUploads(sink: FileMessageSink, options: UploadsOptions = {}): FileMessageUploads & Uploads {
  const uploads = new Uploads(sink, taroUploadPlatform(taroStorage), options)
  Taro.onAppHide(() => uploads.pauseAll())
  Taro.onAppShow(() => uploads.resumeAll())
  uploads.restore()
  return uploads
}
