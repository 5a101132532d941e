/**
 * The one error table of the product, shared by the WebSocket protocol and the HTTP API.
 *
 * A code is stable: clients branch on it (never on the message). `temporary: true` means the same
 * request may succeed if retried later (with backoff); `false` means retrying the same request is
 * pointless. `status` is the HTTP status used when the error ends an HTTP request. `close` is the
 * WebSocket close code used when the error ends the connection (absent: it is sent as an error frame
 * and the connection stays open).
 */
export interface ErrorSpec {
  readonly status: number
  readonly temporary: boolean
  readonly message: string
  readonly close?: number
}

/** WebSocket close codes (RFC 6455 section 7.4; 4000-4999 are ours). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** Server restart or drain: reconnect (elsewhere) after a short, jittered delay. */
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  UNAUTHORIZED: 4001,
  TOKEN_EXPIRED: 4002,
  UNSUPPORTED_VERSION: 4003,
  RATE_LIMITED: 4008,
  SLOW_CONSUMER: 4009,
  HEARTBEAT_TIMEOUT: 4010,
} as const
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]

export const ERRORS = {
  // --- frames ---
  BAD_JSON: { status: 400, temporary: false, message: 'frame is not valid JSON' },
  /** HTTP: a request the server cannot read (a body that does not decode, a path that does not parse). */
  BAD_REQUEST: { status: 400, temporary: false, message: 'request is malformed' },
  /** HTTP: a Content-Encoding or charset the server does not speak (identity, gzip, deflate, br do). */
  UNSUPPORTED_ENCODING: { status: 415, temporary: false, message: 'content encoding or charset not supported' },
  /** HTTP: no endpoint at this path and method. */
  NOT_FOUND: { status: 404, temporary: false, message: 'no such endpoint' },
  INVALID_FRAME: { status: 400, temporary: false, message: 'frame does not match its schema' },
  UNKNOWN_TYPE: { status: 400, temporary: false, message: 'unknown frame type' },
  BINARY_UNSUPPORTED: {
    status: 400,
    temporary: false,
    message: 'binary frames are not accepted: send JSON text frames',
    close: CloseCode.UNSUPPORTED_DATA,
  },
  FRAME_TOO_LARGE: {
    status: 413,
    temporary: false,
    message: 'frame exceeds the maximum frame size',
    close: CloseCode.MESSAGE_TOO_BIG,
  },
  RATE_LIMITED: { status: 429, temporary: true, message: 'too many frames: slow down' },
  FLOODING: {
    status: 429,
    temporary: true,
    message: 'rate limit exceeded repeatedly: connection closed',
    close: CloseCode.RATE_LIMITED,
  },
  UNSUPPORTED_VERSION: {
    status: 400,
    temporary: false,
    message: 'protocol version not supported',
    close: CloseCode.UNSUPPORTED_VERSION,
  },
  SLOW_CONSUMER: {
    status: 503,
    temporary: true,
    message: 'client reads too slowly: connection closed, messages kept in the offline queue',
    close: CloseCode.SLOW_CONSUMER,
  },
  HEARTBEAT_TIMEOUT: {
    status: 408,
    temporary: true,
    message: 'no heartbeat received in time',
    close: CloseCode.HEARTBEAT_TIMEOUT,
  },

  // --- auth ---
  UNAUTHORIZED: {
    status: 401,
    temporary: false,
    message: 'missing or invalid token',
    close: CloseCode.UNAUTHORIZED,
  },
  TOKEN_EXPIRED: {
    status: 401,
    temporary: false,
    message: 'token expired: renew it',
    close: CloseCode.TOKEN_EXPIRED,
  },
  /** The user holds MAX_DEVICES_PER_USER sockets on the node already (oldest win): retry later. */
  TOO_MANY_DEVICES: { status: 429, temporary: true, message: 'too many devices of this user are connected' },
  FORBIDDEN: { status: 403, temporary: false, message: 'not allowed' },
  /** A moderator suspended this user: logins, refreshes and sockets are refused. */
  USER_SUSPENDED: { status: 403, temporary: false, message: 'this account is suspended', close: CloseCode.UNAUTHORIZED },
  NOT_MEMBER: { status: 403, temporary: false, message: 'not a member of this conversation' },
  DEV_LOGIN_DISABLED: { status: 403, temporary: false, message: 'dev login is disabled' },
  WX_CODE_INVALID: { status: 401, temporary: false, message: 'wx.login code is invalid or used (40029)' },
  WX_RATE_LIMITED: { status: 429, temporary: true, message: 'WeChat login rate limit (45011)' },
  WX_USER_BLOCKED: { status: 403, temporary: false, message: 'WeChat flagged this user as high risk (40226)' },
  WX_UNAVAILABLE: { status: 502, temporary: true, message: 'WeChat login service unavailable' },

  // --- conversations and messages ---
  CONV_NOT_FOUND: { status: 404, temporary: false, message: 'conversation not found' },
  USER_NOT_FOUND: { status: 404, temporary: false, message: 'user not found' },
  SEQ_RANGE_INVALID: { status: 400, temporary: false, message: 'sequence number out of range' },
  LIMIT_INVALID: { status: 400, temporary: false, message: 'page size out of range' },
  FILE_NOT_FOUND: { status: 404, temporary: false, message: 'file not found' },
  FILE_NOT_READY: { status: 409, temporary: true, message: 'file upload is not complete' },
  /** A signed file URL that is missing, malformed, or signed for another file, variant or key. */
  FILE_URL_INVALID: { status: 403, temporary: false, message: 'file URL is not validly signed' },
  /** A signed file URL past its expiry: a history page or sync brings a fresh one. */
  FILE_URL_EXPIRED: { status: 403, temporary: false, message: 'file URL expired: page history or sync for a fresh one' },
  /** The file was withdrawn (by its uploader or by moderation): its URLs no longer open it. */
  FILE_WITHDRAWN: { status: 410, temporary: false, message: 'file was withdrawn' },

  /** msgSecCheck judged the text risky: it was not stored. `details.label` is WeChat's label (20002 porn, 20003 abuse...). */
  CONTENT_RISKY: { status: 422, temporary: false, message: 'message refused by content security' },
  /** Content security could not check the text (WeChat down or over its rate) and WX_SECCHECK_UNAVAILABLE is `refuse`. */
  SECCHECK_UNAVAILABLE: { status: 503, temporary: true, message: 'content check unavailable: retry later' },
  /** A report whose target, reason or text is not acceptable (see bff/README "Reports"). */
  REPORT_INVALID: { status: 400, temporary: false, message: 'report is malformed' },
  /** More than REPORTS_PER_HOUR reports from one user in the current hour. */
  REPORT_RATE_LIMITED: { status: 429, temporary: true, message: 'too many reports: try again later' },

  // --- relations (contacts, blocking) ---
  /** The other user blocked this one: sends into their 1:1, requests and new 1:1s are refused. */
  BLOCKED: { status: 403, temporary: false, message: 'this user does not accept messages or requests from you' },
  /** The other user lets only contacts open a 1:1 (or the operation needs a contact). */
  NOT_CONTACT: { status: 403, temporary: false, message: 'not a contact of this user' },
  /** A contact request to this user is pending already. */
  REQUEST_EXISTS: { status: 409, temporary: false, message: 'a contact request is pending already' },
  ALREADY_CONTACT: { status: 409, temporary: false, message: 'already a contact' },
  /** Accept or decline without a pending request from that user. */
  NO_REQUEST: { status: 404, temporary: false, message: 'no pending contact request from this user' },
  /** A request, block or other relation naming oneself. */
  SELF_RELATION: { status: 400, temporary: false, message: 'a relation needs another user' },
  /** One of the two users holds LIMITS.maxRelations relations already. */
  RELATIONS_FULL: { status: 409, temporary: false, message: 'too many contacts, requests or blocks' },
  /** Unblock of a user who is not blocked. */
  NOT_BLOCKED: { status: 404, temporary: false, message: 'this user is not blocked' },

  // --- groups ---
  /** A group operation on a 1:1 conversation. */
  NOT_GROUP: { status: 400, temporary: false, message: 'this conversation is not a group' },
  /** Only the owner or an admin may do this (an admin never acts on the owner or another admin). */
  NOT_ADMIN: { status: 403, temporary: false, message: 'only the group owner or an admin may do this' },
  /** Only the owner may do this (set admins, transfer ownership, dissolve). */
  NOT_OWNER: { status: 403, temporary: false, message: 'only the group owner may do this' },
  /** The group would hold more than LIMITS.maxGroupMembers members. */
  GROUP_FULL: { status: 409, temporary: false, message: 'the group is full' },
  /** The owner cannot leave: transfer ownership first (or dissolve). */
  OWNER_CANNOT_LEAVE: { status: 409, temporary: false, message: 'the owner must transfer ownership before leaving' },
  /** The group changed under this operation (another admin acted at the same time): retry. */
  GROUP_CONFLICT: { status: 409, temporary: true, message: 'the group changed meanwhile: retry' },

  // --- uploads ---
  UPLOAD_TOO_LARGE: { status: 413, temporary: false, message: 'file exceeds the maximum upload size' },
  UPLOAD_TYPE_REJECTED: { status: 415, temporary: false, message: 'file type not accepted' },
  /** A voice message whose audio, measured from its bytes, is shorter than LIMITS.minVoiceMs or longer than LIMITS.maxVoiceMs. */
  VOICE_DURATION_INVALID: { status: 422, temporary: false, message: 'voice recording is too short or too long' },
  UPLOAD_NOT_FOUND: { status: 404, temporary: false, message: 'upload not found' },
  UPLOAD_OFFSET_CONFLICT: { status: 409, temporary: false, message: 'upload offset does not match the server' },
  UPLOAD_TOO_MANY: { status: 429, temporary: true, message: 'too many uploads in progress' },
  UPLOAD_INVALID: { status: 400, temporary: false, message: 'upload request is malformed' },
  UPLOAD_EXPIRED: { status: 410, temporary: false, message: 'upload expired: start a new one' },

  // --- server ---
  STORE_UNAVAILABLE: { status: 503, temporary: true, message: 'storage unavailable: retry later' },
  SHUTTING_DOWN: {
    status: 503,
    temporary: true,
    message: 'server is shutting down: reconnect',
    close: CloseCode.SERVICE_RESTART,
  },
  /** The server holds as many connections as it may (open-file bound): try again, another node may take it. */
  SERVER_BUSY: { status: 503, temporary: true, message: 'server at capacity: retry later', close: CloseCode.TRY_AGAIN_LATER },
  INTERNAL: { status: 500, temporary: true, message: 'internal error', close: CloseCode.INTERNAL_ERROR },

  // --- recall ---
  /** Only the sender recalls a message (and a retraction's own event or tombstone is not recallable). */
  RECALL_NOT_ALLOWED: { status: 403, temporary: false, message: 'only its sender can recall this message' },
  /** The message is older than RECALL_WINDOW_MS. */
  RECALL_WINDOW_PASSED: { status: 409, temporary: false, message: 'too late to recall this message' },

  // --- conversation settings (mute, pin) and delete for me ---
  /** The user pinned LIMITS.maxPinned conversations already: unpin one first. */
  PINNED_FULL: { status: 409, temporary: false, message: 'too many pinned conversations' },
  /** The user deleted LIMITS.maxHiddenPerConv messages of this conversation for themself already. */
  HIDDEN_FULL: { status: 409, temporary: false, message: 'too many messages deleted in this conversation' },
  // --- reply and mentions ---
  /** A reply quotes a seq the conversation does not hold, or one before the sender joined. */
  REPLY_NOT_FOUND: { status: 404, temporary: false, message: 'the quoted message does not exist' },
  /** A reply quotes a message that cannot be quoted: a recalled one, a recall or membership event. */
  REPLY_NOT_ALLOWED: { status: 409, temporary: false, message: 'this message cannot be quoted' },
  /** A mention names someone who is not a member of the group (or mentions in a 1:1). */
  MENTION_INVALID: { status: 400, temporary: false, message: 'mentioned users must be members of the group' },
  /** @all from a plain member: only the owner or an admin may mention everyone. */
  MENTION_ALL_NOT_ALLOWED: { status: 403, temporary: false, message: 'only the group owner or an admin may mention everyone' },
  // --- forwarding ---
  /** A forward of a message that has no content to copy for the user: recalled, withdrawn, deleted for them, a voice or an event. */
  FORWARD_NOT_ALLOWED: { status: 409, temporary: false, message: 'this message cannot be forwarded' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[]

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value)
}

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERRORS[code]
}

/**
 * An error with a stable code from the table. A real Error (stack, cause), so it can be thrown
 * through any layer and turned into an error frame, an HTTP response or a close frame at one place.
 */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly temporary: boolean
  readonly status: number
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    const spec: ErrorSpec = ERRORS[code]
    super(message ?? spec.message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.temporary = spec.temporary
    this.status = spec.status
    if (options?.details) this.details = options.details
  }

  /** The close code when this error ends a WebSocket, or undefined for an error frame. */
  get closeCode(): number | undefined {
    return (ERRORS[this.code] as ErrorSpec).close
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError
}
