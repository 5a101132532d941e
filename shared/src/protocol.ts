/**
 * Protocol constants. Both sides import these; the server may announce tighter values in its
 * `welcome` frame (`limits`), which the client then obeys.
 */

/**
 * Version spoken by this build. The client asks for it at connect (`?v=3`); see PROTOCOL.md,
 * "Connecting". 2 added the `presences` frame: a version-1 client (a mini-program not yet updated)
 * gets one `presence` frame per peer instead. 3: a group in a `convs` list names its first
 * LIMITS.listMembersMax members and its `memberCount`, not every member.
 */
export const PROTOCOL_VERSION = 3
/** Versions this build's server accepts. */
export const SUPPORTED_VERSIONS: readonly number[] = [1, 2, 3]

/** Path of the WebSocket endpoint. */
export const WS_PATH = '/ws'

export const LIMITS = {
  /** Largest text frame accepted, in bytes (UTF-8). A bigger frame closes the socket with 1009. */
  maxFrameBytes: 64 * 1024,
  /** Longest text message body, in characters. */
  maxTextChars: 5000,
  /** Client and server message ids: length bounds. */
  maxIdChars: 64,
  /** Largest history page and sync batch a client may ask for, in messages. */
  maxPageSize: 200,
  /** Default history page. */
  defaultPageSize: 50,
  /** Most conversations one sync request may name. */
  maxSyncConversations: 500,
  /** Most members of a group conversation. */
  maxGroupMembers: 2000,
  /**
   * Most members a group names in a `convs` list (version 3): its first, as its avatar draws them
   * and its untitled name lists them; `memberCount` says how many there are. The rest come by
   * `members` (pages, or the ids a client needs named).
   */
  listMembersMax: 9,
  /** Longest conversation title, in characters. */
  maxTitleChars: 64,
  /** Longest note of a contact request, in characters. */
  maxNoteChars: 64,
  /** Most relations (contacts, pending requests both ways, blocks) one user may hold. */
  maxRelations: 1000,
  /** Largest seq a client may name (2^53 - 1: JSON numbers stay exact). */
  maxSeq: Number.MAX_SAFE_INTEGER,
  /** How long after its send a sender may recall a message, ms: the BFF's RECALL_WINDOW_MS default (the client offers Recall this long). */
  recallWindowMs: 120_000,
  /** MAX_PINNED: most conversations one user may pin to the top of their list. */
  maxPinned: 20,
  /** MAX_HIDDEN_PER_CONV: most messages one user may delete for themself in one conversation. */
  maxHiddenPerConv: 1000,
  /** Longest voice message, ms: the recorder stops by itself at this length (WeChat's RecorderManager allows 60 s). */
  maxVoiceMs: 60_000,
  /** Shortest voice message, ms: the client does not send a shorter one ("说话时间太短"); the server accepts from 1 ms. */
  minVoiceMs: 1_000,
  /** Largest voice recording, bytes: 60 s of AAC or Opus at speech bit rates is a few hundred KB. */
  maxVoiceBytes: 2 * 1024 * 1024,
  /** Most users one text message may mention (`mentions`); more is INVALID_FRAME. */
  maxMentions: 20,
  /** A reply's quoted snippet: the first this many characters (code points) of the quoted text. */
  replySnippetChars: 40,
} as const

/**
 * Audio types a voice message may carry, as the BFF names them after looking at the bytes: WeChat's
 * RecorderManager writes AAC (ADTS, or in an MP4/M4A container), Chromium's MediaRecorder Opus in
 * WebM, Firefox Opus in Ogg; MP3 for recorders that have nothing else.
 */
export const VOICE_MIMES = ['audio/aac', 'audio/mp4', 'audio/x-m4a', 'audio/webm', 'audio/ogg', 'audio/ogg; codecs=opus', 'audio/mpeg'] as const

/** Heartbeat defaults, in milliseconds. The server's `welcome` frame carries the values in force. */
export const HEARTBEAT = {
  /** How often the client sends `ping` when nothing else was sent. */
  clientIntervalMs: 25_000,
  /**
   * The client drops the socket and reconnects when nothing at all (frame or pong) arrived for this
   * long. Longer than the interval plus a round trip on a bad mobile network.
   */
  clientTimeoutMs: 60_000,
} as const

/** Reconnect backoff defaults (full jitter), in milliseconds. */
export const RECONNECT = {
  minDelayMs: 500,
  maxDelayMs: 20_000,
} as const
