/**
 * Fresh file URLs for messages the client already holds. The `url` and `thumbUrl` of an image,
 * file or voice message are short-lived signed paths (bff/src/upload/signed.ts: `?e=<expiry, unix s>&k=&s=`).
 * History pages and syncs bring them signed afresh, but a message the client keeps (a chat left
 * open, the persisted cache after a restart) is never sent again: merging keeps the first copy.
 * So when a view is about to use a URL whose expiry is near, `FileUrlRefresher.check` asks the BFF
 * for the file's current info (`GET /files/<id>/info`, the member's `Authorization`) once, and
 * `withFileUrls` puts the new URLs into every message of that file; the view re-renders with them.
 */
import type { FileBody, FileInfo, ImageBody, VoiceBody } from '@chat/shared'
import type { ChatMessage, ChatState } from '../store/types'
import type { UploadHttp } from './platform'

const SIGNED_FILE_URL = /^\/files\/([0-9a-f]{44})(?:\/thumb)?\?(?:.*&)?e=(\d{1,12})(?:&|$)/

/** The file id and expiry (ms) of a signed file path; undefined for anything else (a local path, a blob: URL). */
export function signedFileUrl(path: string): { readonly fileId: string; readonly expiresAt: number } | undefined {
  const m = SIGNED_FILE_URL.exec(path)
  return m ? { fileId: m[1]!, expiresAt: Number(m[2]) * 1000 } : undefined
}

/** `state` with the URLs of every message of `info.fileId` replaced by `info`'s; the same object when none changed. */
export function withFileUrls(state: ChatState, info: FileInfo): ChatState {
  let messages: Record<string, readonly ChatMessage[]> | undefined
  for (const [conv, list] of Object.entries(state.messages)) {
    let next: ChatMessage[] | undefined
    list.forEach((m, i) => {
      const body = m.body as FileBody | ImageBody | VoiceBody
      if ((m.kind !== 'image' && m.kind !== 'file' && m.kind !== 'voice') || body.fileId !== info.fileId) return
      const thumbUrl = m.kind === 'image' && info.thumbUrl ? info.thumbUrl : undefined
      if (body.url === info.url && (thumbUrl === undefined || ('thumbUrl' in body && body.thumbUrl === thumbUrl))) return
      next ??= [...list]
      next[i] = { ...m, body: { ...body, url: info.url, ...(thumbUrl ? { thumbUrl } : {}) } }
    })
    if (next) (messages ??= { ...state.messages })[conv] = next
  }
  return messages ? { ...state, messages } : state
}

export interface FileUrlRefresherOptions {
  /** Origin of the BFF. */
  readonly baseUrl: string
  readonly http: UploadHttp
  /** A valid access token (the member's). */
  readonly getToken: () => Promise<string>
  /** Fresh info of a file arrived (e.g. `store.setState((s) => withFileUrls(s, info))`). */
  readonly onFresh: (info: FileInfo) => void
  /** A URL this close to its expiry is refreshed, ms. Default 60 000. */
  readonly marginMs?: number
  /** After a refresh (done or failed), the same file is not asked again for this long, ms. Default 60 000. */
  readonly retryAfterMs?: number
  /** Per request, ms. Default 15 000. */
  readonly timeoutMs?: number
  readonly now?: () => number
}

export class FileUrlRefresher {
  /** Files being refreshed, or refreshed/failed recently: the time they may be asked again. */
  private readonly quiet = new Map<string, number>()
  private readonly opts: FileUrlRefresherOptions

  constructor(options: FileUrlRefresherOptions) {
    this.opts = options
  }

  /** Called with a URL a view is about to use: refreshes its file (once) when the URL expires soon. */
  check(path: string): void {
    const signed = signedFileUrl(path)
    if (!signed) return
    const now = (this.opts.now ?? Date.now)()
    if (signed.expiresAt - now > (this.opts.marginMs ?? 60_000)) return
    if ((this.quiet.get(signed.fileId) ?? 0) > now) return
    // Until this one ends (and for a while after a failure) nobody asks again.
    this.quiet.set(signed.fileId, Number.POSITIVE_INFINITY)
    if (this.quiet.size > 1000) this.quiet.delete(this.quiet.keys().next().value as string)
    void this.refresh(signed.fileId)
  }

  private async refresh(fileId: string): Promise<void> {
    const now = this.opts.now ?? Date.now
    try {
      const token = await this.opts.getToken()
      const res = await this.opts.http.send({
        method: 'GET',
        url: `${this.opts.baseUrl}/files/${fileId}/info`,
        headers: { Authorization: `Bearer ${token}` },
        timeoutMs: this.opts.timeoutMs ?? 15_000,
      }).response
      const info = res.status === 200 ? (JSON.parse(res.text) as { file?: FileInfo }).file : undefined
      if (!info || info.fileId !== fileId || typeof info.url !== 'string') throw new Error(`file info: HTTP ${res.status}`)
      // Views still holding the old URL until they re-render do not ask again meanwhile.
      this.quiet.set(fileId, now() + (this.opts.retryAfterMs ?? 60_000))
      this.opts.onFresh(info)
    } catch {
      // Withdrawn (410), no longer a member (403), offline: not asked again for a while.
      this.quiet.set(fileId, now() + (this.opts.retryAfterMs ?? 60_000))
    }
  }
}
