/**
 * Opening a file message, platform-free: the h5 build opens the URL in a new tab (the BFF serves a
 * PDF inline with its type, so the browser's viewer shows it); the mini-program downloads the file
 * (`wx.downloadFile`) and opens the temp file with `wx.openDocument` and an explicit fileType
 * (PLATFORM.md, Media: pdf, doc(x), xls(x), ppt(x)); any other type only shows name and size.
 * client/components/media.ts supplies Taro's functions; tests supply a fake.
 */
import type { FileBody } from '@chat/shared'
import { documentTypeOf, type DocumentType } from '../upload/preview'

export interface OpenFileApi {
  readonly h5: boolean
  openTab(url: string): void
  downloadFile(url: string): Promise<{ statusCode: number; tempFilePath: string }>
  openDocument(filePath: string, fileType: DocumentType): Promise<void>
  toast(title: string): void
  busy(on: boolean): void
}

export type OpenOutcome = 'tab' | 'opened' | 'unsupported' | 'failed'

export async function openFileWith(api: OpenFileApi, url: string, body: Pick<FileBody, 'mime' | 'name'>): Promise<OpenOutcome> {
  if (api.h5) {
    // Synchronously inside the tap: a tab opened after an await is taken for a popup and blocked.
    api.openTab(url)
    return 'tab'
  }
  // The type the server found in the content, not the sender's name.
  const fileType = documentTypeOf(body.mime, body.name)
  if (!fileType) {
    api.toast('Cannot open this file type here')
    return 'unsupported'
  }
  api.busy(true)
  try {
    const res = await api.downloadFile(url)
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
    await api.openDocument(res.tempFilePath, fileType)
    return 'opened'
  } catch {
    api.toast('Could not open the file')
    return 'failed'
  } finally {
    api.busy(false)
  }
}
