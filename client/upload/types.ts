/**
 * The seam between the chat client (client/net, client/store, the composer) and the uploads module
 * (client/upload, issue 5). The chat side owns the message model, the outbox and the socket; the
 * uploads side owns picking, chunked/resumable upload and retries of the transfer itself.
 *
 * Flow of an image or file message:
 *   1. the composer calls `uploads.pickAndSend(conv, kind)`;
 *   2. uploads picks the file and calls `sink.addPendingFile(...)`: the message appears at once with
 *      the local preview and a 0 % progress bar (it has a cid, no seq);
 *   3. uploads reports `sink.setProgress(cid, sentBytes)` as chunks land (the view shows at most one
 *      update per batching window, so calling it per chunk is fine);
 *   4. on success `sink.completeUpload(cid, body)`: the chat client puts `send {cid, kind, {fileId}}`
 *      into its persisted outbox and sends it over the socket (same cid on every resend); the ack
 *      turns the message into a confirmed one;
 *      on failure `sink.failUpload(cid, error)`: the bubble shows "failed" with a retry, which calls
 *      `uploads.retry(cid)`.
 *
 * The sender's own socket does not get a `msg` push for its message (PROTOCOL.md, Sending step 3),
 * only the `ack`, which carries no body: the full `ImageBody`/`FileBody` must therefore come from the
 * upload (the BFF's answer when the upload finishes), and is handed over in `completeUpload`.
 *
 * `client/upload/index.ts` exports `createUploads` (a CreateUploads once given the app's platform);
 * the app creates it once at start-up with the chat client's sink.
 */
import type { ConvId, FileBody, ImageBody, VoiceBody } from '@chat/shared'

export type FileMessageKind = 'image' | 'file' | 'voice'
/** What the composer's picker offers (a voice comes from the recorder: `sendRecording`). */
export type PickKind = Exclude<FileMessageKind, 'voice'>

/** A file the user picked, as the platform describes it. */
export interface PickedFile {
  /** Local path: a wx temp path on weapp, a `blob:` URL on h5. The bubble shows it until the upload ends. */
  readonly path: string
  /** File name shown on a file card (sanitised by the server when stored). */
  readonly name: string
  /** Size in bytes. */
  readonly size: number
  /** MIME type if the platform knows it (the server checks the content anyway). */
  readonly mime?: string
  /** Pixel size of an image (chooseMedia / getImageInfo give it), so the bubble does not jump. */
  readonly width?: number
  readonly height?: number
  /** Length of a recorded voice, ms. */
  readonly duration?: number
}

/** What went wrong with an upload, for the bubble; `code` from the shared error table when it is one. */
export interface UploadFailure {
  readonly code: string
  readonly message: string
}

/** Offered by the chat client to the uploads module. */
export interface FileMessageSink {
  /** Origin of the BFF (`http(s)://host[:port]`, or the page origin on h5). */
  readonly bffUrl: string
  /** A valid access token for `Authorization: Bearer`; renewed before it expires. */
  getToken(): Promise<string>
  /**
   * Show a pending image/file message with its local preview; returns its cid, the id the message
   * keeps across retries (the uploads module may key its own state by it).
   */
  addPendingFile(conv: ConvId, kind: FileMessageKind, file: PickedFile): string
  /** Bytes uploaded so far. */
  setProgress(cid: string, sentBytes: number): void
  /** The upload failed: the bubble shows "failed" and offers retry (which calls `uploads.retry`). */
  failUpload(cid: string, failure: UploadFailure): void
  /** The upload finished: the message is sent over the socket through the outbox. */
  completeUpload(cid: string, body: ImageBody | FileBody | VoiceBody): void
  /** The user cancelled: the pending message is removed. */
  removePending(cid: string): void
}

/** Implemented by the uploads module (client/upload/index.ts). */
export interface FileMessageUploads {
  /** The composer's image / file button: pick, add the pending message, upload, complete. */
  pickAndSend(conv: ConvId, kind: PickKind): Promise<void>
  /** A voice the recorder left (`file.duration` set): the pending voice message, its upload, its send. */
  sendRecording(conv: ConvId, file: PickedFile & { readonly blob?: unknown; readonly duration: number }): void
  /** Retry a failed upload (tap on the failed bubble). */
  retry(cid: string): void
  /** Cancel an upload in progress; the pending message goes away. */
  cancel(cid: string): void
}

export type CreateUploads = (sink: FileMessageSink) => FileMessageUploads
