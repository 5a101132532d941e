/**
 * The seam the uploads module (client/upload/types.ts) uses to show and send image/file messages:
 * a pending bubble at once, its progress, its failure, and - once the file is stored - the message
 * itself, sent through the sender's outbox like a text.
 */
import { randomId, type ConvId, type FileBody, type ImageBody, type VoiceBody } from '@chat/shared'
import { addPending, patchPending, removePending, setUploadProgress } from '../store/store'
import type { ChatMessage } from '../store/types'
import type { FileMessageKind, FileMessageSink, PickedFile, UploadFailure } from '../upload/types'
import type { Auth } from './auth'
import { requireUser, type ClientContext } from './context'
import type { Sender } from './sender'

export function createFileSink(ctx: ClientContext, sender: Sender, auth: Auth, baseUrl: string): FileMessageSink {
  const { store, timers } = ctx
  /** The conversation of our pending message `cid` (pending ones are at the end of each list). */
  const convOf = (cid: string): ConvId | undefined => {
    for (const [conv, list] of Object.entries(store.getState().messages)) {
      for (let i = list.length - 1; i >= 0 && list[i]!.seq === undefined; i--) if (list[i]!.cid === cid) return conv
    }
    return undefined
  }
  return {
    bffUrl: baseUrl,
    getToken: () => auth.getToken(false),
    addPendingFile: (conv: ConvId, kind: FileMessageKind, file: PickedFile) => {
      const me = requireUser(ctx)
      const cid = randomId(21)
      const body = {
        name: file.name,
        size: file.size,
        ...(file.mime ? { mime: file.mime } : {}),
        ...(file.width && file.height ? { width: file.width, height: file.height } : {}),
        ...(file.duration !== undefined ? { duration: file.duration } : {}),
      }
      const ts = timers.now()
      store.setState((s) =>
        addPending(s, {
          cid,
          from: me,
          conv,
          kind,
          body,
          ts,
          status: 'sending',
          upload: { localPath: file.path, sentBytes: 0, totalBytes: file.size, done: false },
        }),
      )
      return cid
    },
    setProgress: (cid: string, sentBytes: number) => {
      const conv = convOf(cid)
      if (!conv) return
      const m = store.getState().messages[conv]?.find((x) => x.cid === cid)
      if (!m?.upload) return
      const upload = { ...m.upload, sentBytes }
      store.setState((s) => setUploadProgress(s, conv, cid, upload))
    },
    failUpload: (cid: string, failure: UploadFailure) => {
      const conv = convOf(cid)
      if (!conv) return
      store.setState((s) =>
        patchPending(s, conv, cid, (m) => ({
          ...m,
          status: 'failed',
          error: failure.code,
          upload: m.upload ? { ...m.upload, failure } : m.upload,
        })),
      )
    },
    completeUpload: (cid: string, body: ImageBody | FileBody | VoiceBody) => {
      const conv = convOf(cid)
      if (!conv) return
      let kind: ChatMessage['kind'] = 'file'
      let ts = timers.now()
      store.setState((s) =>
        patchPending(s, conv, cid, (m) => {
          kind = m.kind
          ts = m.ts
          return {
            ...m,
            body,
            status: 'sending',
            error: undefined,
            upload: m.upload ? { ...m.upload, sentBytes: m.upload.totalBytes, done: true, failure: undefined } : undefined,
          }
        }),
      )
      const ref = (kind as ChatMessage['kind']) === 'voice' && 'duration' in body ? { fileId: body.fileId, duration: body.duration } : { fileId: body.fileId }
      sender.enqueue({ cid, conv, kind, body: ref, ts })
    },
    removePending: (cid: string) => {
      const conv = convOf(cid)
      if (!conv) return
      sender.drop(cid)
      store.setState((s) => removePending(s, conv, cid))
    },
  }
}
