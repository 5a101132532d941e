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
import { openFileWith } from './open-file'
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
  Taro.previewImage({ urls, current: currentUrl })
    .then(() => {
      if (process.env.TARO_ENV === 'h5') closablePreview()
    })
    .catch(() => undefined)
}

/**
 * Taro's h5 preview (a full-screen `.preview-image` layer) closes only on a click on the picture,
 * which nobody guesses: give it a visible close button and Escape. Closing goes through the
 * layer's own click handler, which also drops its router listener.
 */
function closablePreview(): void {
  const layers = document.querySelectorAll<HTMLElement>('.preview-image')
  const layer = layers[layers.length - 1]
  if (!layer || layer.querySelector('.preview-close')) return
  const close = () => layer.click()
  const button = document.createElement('button')
  button.type = 'button'
  button.className = 'preview-close'
  button.setAttribute('aria-label', 'Close')
  button.textContent = '×'
  button.style.cssText =
    'position:absolute;top:12px;right:12px;z-index:2;width:44px;height:44px;border:0;border-radius:22px;' +
    'background:rgba(255,255,255,0.2);color:#fff;font-size:30px;line-height:44px;padding:0;cursor:pointer;'
  button.addEventListener('click', (e) => {
    e.stopPropagation()
    close()
  })
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') close()
  }
  document.addEventListener('keydown', onKey)
  // The layer leaves the page on a close, a route change or a click: stop listening then.
  const gone = new MutationObserver(() => {
    if (layer.isConnected) return
    document.removeEventListener('keydown', onKey)
    gone.disconnect()
  })
  gone.observe(layer.parentNode ?? document.body, { childList: true })
  layer.appendChild(button)
}

/** Open a file message: h5 a new tab with the browser's viewer, weapp download + openDocument. */
export async function openFile(body: FileBody): Promise<void> {
  await openFileWith(
    {
      h5: process.env.TARO_ENV === 'h5',
      openTab: (url) => void window.open(url, '_blank'),
      downloadFile: (url) => Taro.downloadFile({ url }),
      openDocument: (filePath, fileType) => Taro.openDocument({ filePath, fileType, showMenu: true }).then(() => undefined),
      toast: (title) => void Taro.showToast({ title, icon: 'none' }),
      busy: (on) => (on ? void Taro.showLoading({ title: 'Opening…' }) : Taro.hideLoading()),
    },
    mediaUrl(body.url),
    body,
  )
}
