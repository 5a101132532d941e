/**
 * How `send` of an image or file message turns the `{fileId}` a client sends into the body that is
 * stored and delivered. The uploads component implements it (bff/src/upload/) and app.ts wires it.
 */
import { AppError } from '@chat/shared'
import type { ConvId, FileBody, ImageBody, UserId, VoiceBody } from '@chat/shared'

export interface FileResolver {
  /**
   * The body of a finished upload that `user` may post in `conv`.
   * Throws AppError FILE_NOT_FOUND (unknown, or not the user's) or FILE_NOT_READY (still uploading);
   * for `voice`, UPLOAD_TYPE_REJECTED (not VOICE_MIMES audio) or UPLOAD_TOO_LARGE (over LIMITS.maxVoiceBytes).
   */
  resolve(fileId: string, user: UserId, conv: ConvId, kind: 'image' | 'file' | 'voice'): Promise<ImageBody | FileBody>
  /**
   * The body of a voice message: the checks of `resolve` for `voice`, and the duration measured
   * from the audio (the sender's `claimedMs` only when its format gives none). Also throws
   * VOICE_DURATION_INVALID (the measured length is outside LIMITS.minVoiceMs..maxVoiceMs).
   */
  voice(fileId: string, user: UserId, conv: ConvId, claimedMs: number): Promise<VoiceBody>
  /**
   * The body of a forward, into `to`, of an image or file message of `from` (the chat checked that
   * its sender may read that message): the file as stored, as `kind`, with fresh URLs, and the grant
   * that opens it to `to`'s members (nobody else). The chat calls `grant` once the send passed all
   * its checks, just before the message is stored: a refused forward opens the file to nobody.
   * Throws FILE_NOT_FOUND (withdrawn, or not a file of `from`).
   */
  share(fileId: string, from: ConvId, to: ConvId, kind: 'image' | 'file'): Promise<SharedFile>
  /**
   * Stored message JSON with its file URLs made current: they are short-lived signed URLs, and a
   * stored message keeps the ones of its send. History pages, syncs and conversation lists go out
   * through this. Absent: stored URLs go out as they are.
   */
  refreshUrls?(json: string): string
  /**
   * What the URLs `refreshUrls` signs now depend on (the signing key and the expiry step): a
   * conversation list's tag covers it (chat/list-tag.ts). Absent with `refreshUrls`: nothing.
   */
  urlsVersion?(): string
}

/** A forward's file (`FileResolver.share`): its body, and the grant to the target, not yet made. */
export interface SharedFile {
  readonly body: ImageBody | FileBody
  /** Lets the target's members read the file; idempotent (a retried send grants again). */
  grant(): Promise<void>
}

/**
 * The resolver used while no upload component is wired in: it knows no file, so image and file
 * messages are refused with FILE_NOT_FOUND. app.ts replaces it with the uploads component's.
 */
export const noFiles: FileResolver = {
  async resolve() {
    throw new AppError('FILE_NOT_FOUND', 'no upload component is configured')
  },
  async voice() {
    throw new AppError('FILE_NOT_FOUND', 'no upload component is configured')
  },
  async share() {
    throw new AppError('FILE_NOT_FOUND', 'no upload component is configured')
  },
}
