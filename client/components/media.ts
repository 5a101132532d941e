/**
 * Media actions of message bubbles: image preview over the conversation's images, file download
 * and open. The `url` and `thumbUrl` a message carries are short-lived signed paths on the BFF
 * (bff/src/upload/signed.ts): <image>, previewImage and downloadFile load them as they are, with no
 * access token in the URL (history pages and syncs bring fresh ones; client/upload/urls.ts renews
 * those of messages held longer than their lifetime).
 */
import Taro from '@tarojs/taro'
import type { FileBody, ImageBody } from '@chat/shared'
import { baseUrl, fileUrls } from '../services'
import { documentTypeOf } from '../upload/preview'
import type { ChatMessage } from '../store/types'

export function mediaUrl(path: string): string {
  // A URL near its expiry: the message gets fresh ones, and the view re-renders with them.
  fileUrls.check(path)
  return `${baseUrl}${path}`
}

/** The picture a bubble shows: the local file while it is ours and at hand, else the thumbnail. */
export function imageSrc(m: ChatMessage): string {
  const b = m.body as Partial<ImageBody>
  if (m.upload?.localPath && (m.seq === undefined || !b.thumbUrl)) return m.upload.localPath
  return b.thumbUrl ? mediaUrl(b.thumbUrl) : m.upload?.localPath ?? ''
}

/** previewImage wants `current` as a URL (PLATFORM.md, Media), over every image of the chat. */
export function previewImages(all: readonly ChatMessage[], current: ChatMessage): void {
  const urls: string[] = []
  let currentUrl = ''
  for (const m of all) {
    if (m.kind !== 'image') continue
    const b = m.body as Partial<ImageBody>
    const url = b.url ? mediaUrl(b.url) : m.upload?.localPath
    if (!url) continue
    urls.push(url)
    if (m === current) currentUrl = url
  }
  if (!currentUrl) return
  Taro.previewImage({ urls, current: currentUrl }).catch(() => undefined)
}

const DOC_TYPES = ['doc', 'docx', 'xls', 'xlsx', 'ppt', 'pptx', 'pdf'] as const
type DocType = (typeof DOC_TYPES)[number]

export function docTypeOf(name: string): DocType | undefined {
  const ext = name.split('.').pop()?.toLowerCase()
  return (DOC_TYPES as readonly string[]).includes(ext ?? '') ? (ext as DocType) : undefined
}

/**
 * weapp: download, then openDocument with an explicit fileType (PLATFORM.md: pdf, doc(x), xls(x),
 * ppt(x)); other types only show name and size. h5: the browser opens the URL.
 */
export async function openFile(body: FileBody): Promise<void> {
  const url = mediaUrl(body.url)
  if (process.env.TARO_ENV === 'h5') {
    window.open(url, '_blank')
    return
  }
  // The type the server found in the content (client/upload/preview.ts), not the sender's name.
  const fileType = documentTypeOf(body.mime, body.name)
  if (!fileType) {
    await Taro.showToast({ title: 'Cannot open this file type here', icon: 'none' })
    return
  }
  Taro.showLoading({ title: 'Opening…' })
  try {
    const res = await Taro.downloadFile({ url })
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`)
    await Taro.openDocument({ filePath: res.tempFilePath, fileType, showMenu: true })
  } catch {
    await Taro.showToast({ title: 'Could not open the file', icon: 'none' })
  } finally {
    Taro.hideLoading()
  }
}
