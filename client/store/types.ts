import type {
  Conversation,
  ConvId,
  FileBody,
  HiddenBody,
  ImageBody,
  MessageKind,
  Presence,
  SystemBody,
  RecallBody,
  RecalledBody,
  StoredTextBody,
  TextBody,
  User,
  UserId,
  VoiceBody,
} from '@chat/shared'
import type { ConnectionStatus } from '../net/connection'
import type { UploadFailure } from '../upload/types'

/** What an image/file message carries before its upload finished: enough to lay out the bubble. */
export interface PendingFileBody {
  readonly name: string
  readonly size: number
  readonly mime?: string
  readonly width?: number
  readonly height?: number
  /** A recorded voice's length, ms. */
  readonly duration?: number
}

export type ChatBody = TextBody | StoredTextBody | ImageBody | FileBody | VoiceBody | PendingFileBody | SystemBody | RecalledBody | RecallBody | HiddenBody

/** A local file being uploaded for a message (uploads module: client/upload). */
export interface UploadProgress {
  /** Local preview: wx temp path or blob: URL. */
  readonly localPath: string
  readonly sentBytes: number
  readonly totalBytes: number
  /** Set when the upload failed; the bubble offers retry. */
  readonly failure?: UploadFailure
  /** The upload finished; the message is (being) sent. */
  readonly done: boolean
}

/**
 * One message as the client holds it. Confirmed messages (from the server, or our own once acked)
 * have `seq` and `mid`; our own unconfirmed messages have neither and a `status`. The shape fits
 * `mergeMessages` (MergeItem): dedup by (from, cid), mid and seq.
 */
export interface ChatMessage {
  readonly cid: string
  readonly from: UserId
  readonly conv: ConvId
  /** `system`: a group membership change (centred, small in the chat list). */
  readonly kind: MessageKind | 'system'
  readonly body: ChatBody
  /** Server time once stored; local time of writing while pending. Display only. */
  readonly ts: number
  readonly seq?: number
  readonly mid?: string
  /** Own message not acknowledged yet: `sending` (in the outbox) or `failed` (refused: retry). */
  readonly status?: 'sending' | 'failed'
  /** Error code when `failed`. */
  readonly error?: string
  /**
   * Where a message that failed for good stays in the chat (selectors.inPlace): after the confirmed
   * seq `after` and after its own messages sent before it (`behind`, their cids), as WeChat keeps a
   * failed message where it was sent while newer ones arrive below it. Set when it fails.
   */
  readonly failedPlace?: FailedPlace
  /** Image/file upload state, while it matters (kept after the ack for the local preview). */
  readonly upload?: UploadProgress
}

/** A failed message's place in the chat (ChatMessage.failedPlace). */
export interface FailedPlace {
  readonly after: number
  readonly behind: readonly string[]
}

/** Highest seq any other member's device holds (`delivered`) and has read (`read`). */
export interface PeerMarks {
  readonly delivered: number
  readonly read: number
}

export type OlderState = 'idle' | 'loading' | 'error'

export interface ChatState {
  readonly me?: User
  readonly conn: ConnectionStatus
  readonly convs: Readonly<Record<ConvId, Conversation>>
  /** The conversation list was received from the server (or the cache) at least once. */
  readonly convsLoaded: boolean
  /** Why the last conversation list request failed, if it did. */
  readonly convsError?: string
  /**
   * The tag of the last list the server sent (PROTOCOL.md, Conversation list): sent back with the
   * next `convs`, which is answered `same` while nothing the list shows changed. Memory only: the
   * stored cache keeps the newest conversations alone, not the whole list the tag stands for.
   */
  readonly convsTag?: string
  /** Per conversation: confirmed messages in ascending seq, then own pending ones. */
  readonly messages: Readonly<Record<ConvId, readonly ChatMessage[]>>
  /** Paging back through history. */
  readonly older: Readonly<Record<ConvId, OlderState>>
  readonly peers: Readonly<Record<ConvId, PeerMarks>>
  /** Per conversation: who is typing, until when (clock ms). */
  readonly typing: Readonly<Record<ConvId, Readonly<Record<UserId, number>>>>
  readonly presence: Readonly<Record<UserId, Presence>>
  /** Every user we know a name for. */
  readonly users: Readonly<Record<UserId, User>>
  /** The composer's unsent text per conversation (client only, kept in storage: persist.ts). */
  readonly drafts: Readonly<Record<ConvId, string>>
  /** Groups we were removed from, left, or that were dissolved, while the app runs (store/groups.ts). */
  readonly ended?: Readonly<Record<ConvId, Ended>>
  /**
   * Groups the server's list stopped naming before we learned why (a device away at the time):
   * the summary we had, brought back as ended when the change that ended it arrives (sync gives it).
   */
  readonly unlisted?: Readonly<Record<ConvId, Conversation>>
}

/** Why a group is no longer ours. */
export type EndedReason = 'removed' | 'left' | 'dissolved'

export interface Ended {
  readonly reason: EndedReason
  /** The seq of the system message that ended it: the timeline ends there. */
  readonly seq: number
}

export type DisplayStatus = 'sending' | 'failed' | 'sent' | 'delivered' | 'read'
