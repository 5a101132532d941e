// Over 400 lines on purpose: every frame's schema in one module, so the unions and the type lists derive from one place.
/**
 * Schemas of every frame, in valibot: it needs no `eval`/`new Function` (forbidden in WeChat
 * mini-programs) and is modular, so the client bundle carries only the validators it uses.
 *
 * Objects are not strict: unknown keys are dropped, so a newer peer may add optional fields without
 * breaking an older one. Everything else (types, lengths, ranges) is checked.
 */
import * as v from 'valibot'
import { ERROR_CODES } from './errors'
import { LIMITS } from './protocol'

// ---------------------------------------------------------------- primitives

const ID_RE = /^[A-Za-z0-9_-]+$/
/** User ids: WeChat openids are 28 chars of [A-Za-z0-9_-]; dev logins use the same alphabet. */
export const UserId = v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxIdChars), v.regex(ID_RE))
/** Conversation ids: `d:<userA>:<userB>` (1:1, sorted) or `g:<random>` (group). */
export const ConvId = v.pipe(
  v.string(),
  v.minLength(3),
  v.maxLength(2 * LIMITS.maxIdChars + 3),
  v.regex(/^(d:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+|g:[A-Za-z0-9_-]+)$/),
)
/** Client message id: chosen by the sender, unique per sender; the idempotency key of `send`. */
export const ClientMsgId = v.pipe(v.string(), v.minLength(8), v.maxLength(LIMITS.maxIdChars), v.regex(ID_RE))
/** Server message id. */
export const ServerMsgId = v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxIdChars))
/** Request id: echoed in the reply so the client can match it. */
export const RequestId = v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxIdChars))
/** Per-conversation sequence number: 1, 2, 3, ... ; 0 means "before the first message". */
export const Seq = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(LIMITS.maxSeq))
/** Milliseconds since the Unix epoch, server clock. */
export const Timestamp = v.pipe(v.number(), v.integer(), v.minValue(0))
const PageSize = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(LIMITS.maxPageSize))
const Name = v.pipe(v.string(), v.maxLength(256))
const Mime = v.pipe(v.string(), v.maxLength(128))
const Url = v.pipe(v.string(), v.maxLength(2048))
const Size = v.pipe(v.number(), v.integer(), v.minValue(0))
const Dimension = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100_000))
const FileId = v.pipe(v.string(), v.minLength(1), v.maxLength(128), v.regex(ID_RE))

/**
 * The `type` literals of a frame union, in declaration order, without repeats. Options are objects
 * with a literal `type`, or variants of such objects (`send` is one variant per message kind).
 */
type FrameOption =
  | { readonly type: 'object'; readonly entries: { readonly type?: unknown } }
  | { readonly type: 'variant'; readonly options: readonly FrameOption[] }
function frameTypes<T extends string>(union: { readonly options: readonly FrameOption[] }): readonly T[] {
  const out: T[] = []
  const visit = (options: readonly FrameOption[]): void => {
    for (const option of options) {
      if (option.type === 'variant') {
        visit(option.options)
        continue
      }
      const literal = option.entries.type as { type?: string; literal?: unknown } | undefined
      if (literal?.type !== 'literal' || typeof literal.literal !== 'string') {
        throw new Error('frame schema without a literal "type"')
      }
      if (!out.includes(literal.literal as T)) out.push(literal.literal as T)
    }
  }
  visit(union.options)
  return out
}

// ---------------------------------------------------------------- domain objects

export const MessageKind = v.picklist(['text', 'image', 'file', 'recalled', 'recall', 'voice', 'hidden'])

/** Who took a message back: its sender (`recall`) or content security / the admin API (`moderation`). */
export const RetractedBy = v.picklist(['sender', 'moderation'])

export const TextBody = v.object({
  text: v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxTextChars)),
})
/** What a sender puts in an image/file message: the id of a finished upload; the server fills in the rest. */
export const FileRef = v.object({ fileId: FileId })

export const ImageBody = v.object({
  fileId: FileId,
  name: Name,
  size: Size,
  mime: Mime,
  width: Dimension,
  height: Dimension,
  /** Path of the file, relative to the BFF origin. */
  url: Url,
  /** Path of a small thumbnail, relative to the BFF origin. */
  thumbUrl: Url,
})
export const FileBody = v.object({
  fileId: FileId,
  name: Name,
  size: Size,
  mime: Mime,
  url: Url,
})
/** Length of a voice message, ms: 1 to LIMITS.maxVoiceMs. */
export const VoiceDuration = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(LIMITS.maxVoiceMs))
/** What a sender puts in a voice message: a finished upload of an audio type (VOICE_MIMES) and its length. */
export const VoiceRef = v.object({ fileId: FileId, duration: VoiceDuration })
/** A stored voice message: the file's fields, as a file message has them, and its length. */
export const VoiceBody = v.object({
  fileId: FileId,
  name: Name,
  size: Size,
  mime: Mime,
  url: Url,
  duration: VoiceDuration,
})
/**
 * What a retracted message holds in its place, in every tier (window, archive): no content and no
 * file reference, only who retracted it and when. History and sync return this, never the content.
 */
export const RecalledBody = v.object({ by: RetractedBy, at: Timestamp })
/**
 * The timeline event of a retraction, with its own seq: every member's devices (offline ones
 * through sync) learn from it that message `seq` became `recalled`.
 */
export const RecallBody = v.object({ seq: v.pipe(Seq, v.minValue(1)), by: RetractedBy, at: Timestamp })

/**
 * What history and sync return to one user in place of a message that user deleted for themself
 * (`hide`): no content, only its place. Other members still get the message.
 */
export const HiddenBody = v.pipe(
  v.strictObject({}),
  // Typed as an object with no keys: `{}` would let any object type-check as a hidden body.
  v.transform((body): Record<string, never> => body as Record<string, never>),
)
// ---------------------------------------------------------------- reply and mentions

/** What a sender names to quote: a message of the same conversation, by seq. */
export const ReplyRef = v.object({ seq: v.pipe(Seq, v.minValue(1)) })
/**
 * The quote the server stores in a reply (PROTOCOL.md, Reply): the original's seq and sender, its
 * kind and, for text, a snippet the server cut (LIMITS.replySnippetChars code points, "…" when
 * cut). `kind: retracted` and no snippet once the original was retracted: the quote is scrubbed
 * in every tier, so history never returns the recalled content through a reply either.
 */
// Not `recalled`: stored JSON holding `"kind":"recalled"` is a tombstone to every store (RECALLED_MARK).
export const ReplyQuote = v.object({
  seq: v.pipe(Seq, v.minValue(1)),
  from: UserId,
  kind: v.picklist(['text', 'image', 'file', 'voice', 'retracted']),
  snippet: v.optional(v.pipe(v.string(), v.maxLength(2 * LIMITS.replySnippetChars + 1))),
})
/** Who a text message mentions (groups): members by id, at most LIMITS.maxMentions; `mentionAll` (@all) from the owner or an admin. */
const MentionEntries = {
  mentions: v.optional(v.pipe(v.array(UserId), v.minLength(1), v.maxLength(LIMITS.maxMentions))),
  mentionAll: v.optional(v.literal(true)),
}
/** A text `send`'s body: the text, and optionally the message it quotes and whom it mentions. */
export const SendTextBody = v.object({ ...TextBody.entries, reply: v.optional(ReplyRef), ...MentionEntries })
/**
 * What a forward names (PROTOCOL.md, Forwarding): message `seq` of `conv`, one the sender may read.
 * The server stores a copy of its content (a text's text; an image's or file's file) as a message
 * of the kind of the original, in the conversation the `send` names.
 */
export const ForwardRef = v.object({ from: v.object({ conv: ConvId, seq: v.pipe(Seq, v.minValue(1)) }) })
/** A stored text message's body: the text, the server-made quote, the mentions as sent. */
export const StoredTextBody = v.object({ ...TextBody.entries, reply: v.optional(ReplyQuote), ...MentionEntries })

const MessageBase = {
  /** Server message id. */
  mid: ServerMsgId,
  /** The sender's client message id. */
  cid: ClientMsgId,
  conv: ConvId,
  seq: v.pipe(Seq, v.minValue(1)),
  from: UserId,
  /** Server time the message was stored. Display only: never a cursor. */
  ts: Timestamp,
}
/**
 * A membership change, as a message of the timeline (kind `system`, from the user who acted): it
 * has its own seq, so every device learns it by the same sync and order as everything else.
 * `users`: whom it concerns (added, removed, made admin, the new owner); `title`: a rename's title.
 * `by: moderation`: a rename of content security's, taking back a title judged risky after it was
 * let through unchecked: the group has no title again (no `title`), shown by its default name.
 */
export const GroupOp = v.picklist(['create', 'add', 'remove', 'leave', 'rename', 'admin', 'unadmin', 'transfer', 'dissolve'])
export const SystemBody = v.object({
  op: GroupOp,
  users: v.optional(v.pipe(v.array(UserId), v.maxLength(LIMITS.maxGroupMembers))),
  title: v.optional(v.pipe(v.string(), v.maxLength(LIMITS.maxTitleChars))),
  by: v.optional(v.literal('moderation')),
})

export const Message = v.variant('kind', [
  v.object({ ...MessageBase, kind: v.literal('text'), body: StoredTextBody }),
  v.object({ ...MessageBase, kind: v.literal('image'), body: ImageBody }),
  v.object({ ...MessageBase, kind: v.literal('file'), body: FileBody }),
  v.object({ ...MessageBase, kind: v.literal('system'), body: SystemBody }),
  v.object({ ...MessageBase, kind: v.literal('recalled'), body: RecalledBody }),
  v.object({ ...MessageBase, kind: v.literal('recall'), body: RecallBody }),
  v.object({ ...MessageBase, kind: v.literal('voice'), body: VoiceBody }),
  v.object({ ...MessageBase, kind: v.literal('hidden'), body: HiddenBody }),
])

export const ConvKind = v.picklist(['direct', 'group'])

export const User = v.object({
  id: UserId,
  name: v.pipe(v.string(), v.maxLength(64)),
  avatar: v.optional(Url),
})

export const Conversation = v.object({
  id: ConvId,
  kind: ConvKind,
  /** Group title; absent for 1:1 (the client shows the other member's name). */
  title: v.optional(v.pipe(v.string(), v.maxLength(LIMITS.maxTitleChars))),
  /**
   * Everyone in it; in a `convs` list of version 3, a group's first LIMITS.listMembersMax only
   * (`memberCount`: how many it has).
   */
  members: v.array(User),
  /** Groups in a `convs` list (version 3): how many members the group has. Absent: `members` is all of them. */
  memberCount: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(LIMITS.maxGroupMembers))),
  createdAt: Timestamp,
  /** Highest seq stored in the conversation (0: none yet). */
  lastSeq: Seq,
  lastMsg: v.optional(Message),
  /** Highest seq this user has marked read. */
  readSeq: Seq,
  /** Messages after readSeq not sent by this user. */
  unread: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /**
   * 1:1 only: the other member's read mark, so a new device or login shows what the peer read
   * (receipts pushed before it connected are gone). Absent for groups.
   */
  peerRead: v.optional(Seq),
  /** Groups: the owner and the admins (everyone else in `members` is a plain member). */
  owner: v.optional(UserId),
  admins: v.optional(v.array(UserId)),
  /** Groups: the seq at which this user joined; nothing before it is theirs to read. */
  joinedSeq: v.optional(Seq),
  /** This user muted the conversation (no notification, not in the total unread count). Absent: not muted. */
  muted: v.optional(v.boolean()),
  /** When this user pinned the conversation, ms (pinned ones first, latest pin first). Absent: not pinned. */
  pinned: v.optional(Timestamp),
  /**
   * Groups: the highest unread seq that mentions this user (or @all), computed by the BFF at
   * `convs` time (PROTOCOL.md, Mentions). Absent: no unread mention. Show "[@you]" while > readSeq.
   */
  mentionSeq: v.optional(v.pipe(Seq, v.minValue(1))),
})

export const Presence = v.object({
  user: UserId,
  online: v.boolean(),
  /** When the user was last connected; absent if never. */
  lastSeen: v.optional(Timestamp),
})

// ---------------------------------------------------------------- client -> server frames

export const PingFrame = v.object({ type: v.literal('ping'), ts: v.optional(Timestamp) })

export const SendFrame = v.variant('kind', [
  v.object({ type: v.literal('send'), cid: ClientMsgId, conv: ConvId, kind: v.literal('text'), body: SendTextBody }),
  v.object({ type: v.literal('send'), cid: ClientMsgId, conv: ConvId, kind: v.literal('image'), body: FileRef }),
  v.object({ type: v.literal('send'), cid: ClientMsgId, conv: ConvId, kind: v.literal('file'), body: FileRef }),
  v.object({ type: v.literal('send'), cid: ClientMsgId, conv: ConvId, kind: v.literal('voice'), body: VoiceRef }),
  v.object({ type: v.literal('send'), cid: ClientMsgId, conv: ConvId, kind: v.literal('forward'), body: ForwardRef }),
])

/** Cumulative delivery ack: this device holds every message of `conv` up to `seq`. */
export const RecvFrame = v.object({
  type: v.literal('recv'),
  /** Per conversation: highest seq held without a gap. */
  acks: v.pipe(v.array(v.object({ conv: ConvId, seq: Seq })), v.maxLength(LIMITS.maxSyncConversations)),
  /** Offline-queue cursor from `sync.done`: every queue entry up to it may be dropped. */
  q: v.optional(v.pipe(v.string(), v.maxLength(64))),
})

/** Read mark: the user has read `conv` up to `seq` (cumulative, never goes back). */
export const ReadFrame = v.object({ type: v.literal('read'), conv: ConvId, seq: Seq })

/**
 * Catch-up after (re)connect: for every conversation of the user, send everything after the
 * client's cursor. Conversations without a cursor get only their newest page (older: `history`).
 */
export const SyncFrame = v.object({
  type: v.literal('sync'),
  rid: RequestId,
  cursors: v.pipe(
    v.array(v.object({ conv: ConvId, seq: Seq })),
    v.maxLength(LIMITS.maxSyncConversations),
  ),
})

/** One page of older messages: seq < before, newest first in storage, returned in ascending seq. */
export const HistoryFrame = v.object({
  type: v.literal('history'),
  rid: RequestId,
  conv: ConvId,
  /** Exclusive upper bound; omit for the newest page. */
  before: v.optional(v.pipe(Seq, v.minValue(1))),
  limit: v.optional(PageSize),
})

/**
 * A `convs` list's tag (PROTOCOL.md, Conversation list): what the list was built from, as a short
 * text. A client that holds a list and its tag sends the tag; the answer is `same` while nothing the
 * list shows changed since.
 */
export const LIST_TAG_RE = /^[0-9a-z]{1,32}$/
export const ListTag = v.pipe(v.string(), v.regex(LIST_TAG_RE))

export const ConvsFrame = v.object({ type: v.literal('convs'), rid: RequestId, tag: v.optional(ListTag) })

export const ConvCreateFrame = v.object({
  type: v.literal('conv.create'),
  rid: RequestId,
  kind: ConvKind,
  /** Other members (the creator is added). 1:1: exactly one. */
  members: v.pipe(v.array(UserId), v.minLength(1), v.maxLength(LIMITS.maxGroupMembers - 1)),
  title: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxTitleChars))),
})

/** Find users to start a chat with: prefix of name or id. */
export const UsersFrame = v.object({
  type: v.literal('users'),
  rid: RequestId,
  q: v.pipe(v.string(), v.maxLength(64)),
})

export const TypingFrame = v.object({ type: v.literal('typing'), conv: ConvId })

// ---------------------------------------------------------------- relations (contacts, blocking)

/** A short note sent with a contact request ("I'm Li from the design team"). */
const Note = v.pipe(v.string(), v.maxLength(LIMITS.maxNoteChars))
/**
 * How one user stands to another, from the first one's side: `contact` (both ways), `incoming`
 * (the other asked to be a contact), `outgoing` (this user asked), `blocked` (this user blocked the
 * other), `none` (nothing: sent when an entry goes away).
 */
export const RelationState = v.picklist(['contact', 'incoming', 'outgoing', 'blocked', 'none'])
/** Who may open a 1:1 with the user: `anyone` (the default) or `contacts` only. */
export const DirectPolicy = v.picklist(['anyone', 'contacts'])

export const RelationEntry = v.object({
  user: User,
  state: RelationState,
  /** The request's note (`incoming`, `outgoing`). */
  note: v.optional(Note),
  /** When the entry took this state, ms. */
  at: Timestamp,
  /** Presence, for `contact` entries. */
  online: v.optional(v.boolean()),
  lastSeen: v.optional(Timestamp),
})

/** The user's relations (contacts with presence, requests both ways, blocked users) and setting. */
export const ContactsFrame = v.object({ type: v.literal('contacts'), rid: RequestId })

/** One operation on the relation with `user`. `note` only with `request`. */
export const RelationFrame = v.object({
  type: v.literal('relation'),
  rid: RequestId,
  op: v.picklist(['request', 'accept', 'decline', 'remove', 'block', 'unblock']),
  user: UserId,
  note: v.optional(Note),
})

/** Set who may open a 1:1 with this user. */
export const ContactsPolicyFrame = v.object({ type: v.literal('contacts.policy'), rid: RequestId, policy: DirectPolicy })

// ---------------------------------------------------------------- groups

/**
 * One operation on a group (PROTOCOL.md, Groups): `add` (`users`), `remove` (`users`: one),
 * `leave`, `rename` (`title`), `admin` / `unadmin` (`users`: one), `transfer` (`users`: the new
 * owner), `dissolve`. Each is stored as a `system` message of the group.
 */
export const GroupFrame = v.object({
  type: v.literal('group'),
  rid: RequestId,
  conv: ConvId,
  op: v.picklist(['add', 'remove', 'leave', 'rename', 'admin', 'unadmin', 'transfer', 'dissolve']),
  users: v.optional(v.pipe(v.array(UserId), v.minLength(1), v.maxLength(LIMITS.maxGroupMembers - 1))),
  title: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(LIMITS.maxTitleChars))),
})

/**
 * One page of a group's members, owner and admins first, then in joining order; `after`: the cursor
 * of the previous page. With `users`: those of them who are members, in the order asked, in one
 * answer without `next` (`after` and `limit` unused): how a client names a sender or a mention
 * its list does not (version 3 lists name a group's first members only).
 */
export const MembersFrame = v.object({
  type: v.literal('members'),
  rid: RequestId,
  conv: ConvId,
  after: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(LIMITS.maxGroupMembers))),
  limit: v.optional(PageSize),
  users: v.optional(v.pipe(v.array(UserId), v.minLength(1), v.maxLength(LIMITS.maxPageSize))),
})
/**
 * Take back one of the user's own messages within RECALL_WINDOW_MS of its send: its content is
 * replaced by a `recalled` tombstone everywhere and a `recall` event goes to every member.
 */
export const RecallFrame = v.object({ type: v.literal('recall'), rid: RequestId, conv: ConvId, seq: v.pipe(Seq, v.minValue(1)) })

// ---------------------------------------------------------------- conversation settings, delete for me

/**
 * Change this user's own settings of `conv` (every device of the user agrees): `muted`, and
 * `pinned` (true pins it now, at most LIMITS.maxPinned; false unpins). A field left out keeps its value.
 */
export const ConvSettingsFrame = v.object({
  type: v.literal('conv.settings'),
  rid: RequestId,
  conv: ConvId,
  muted: v.optional(v.boolean()),
  pinned: v.optional(v.boolean()),
})

/** Delete message `seq` of `conv` for this user only (all of their devices); other members keep it. */
export const HideFrame = v.object({ type: v.literal('hide'), rid: RequestId, conv: ConvId, seq: v.pipe(Seq, v.minValue(1)) })

export const ClientFrame = v.variant('type', [
  PingFrame,
  SendFrame,
  RecvFrame,
  ReadFrame,
  SyncFrame,
  HistoryFrame,
  ConvsFrame,
  ConvCreateFrame,
  UsersFrame,
  TypingFrame,
  ContactsFrame,
  RelationFrame,
  ContactsPolicyFrame,
  GroupFrame,
  MembersFrame,
  RecallFrame,
  ConvSettingsFrame,
  HideFrame,
])
/** Every `type` a client may send, read from `ClientFrame` (a new frame schema adds its type here). */
export const CLIENT_FRAME_TYPES = frameTypes<v.InferOutput<typeof ClientFrame>['type']>(ClientFrame)

// ---------------------------------------------------------------- server -> client frames

export const WelcomeFrame = v.object({
  type: v.literal('welcome'),
  v: v.number(),
  user: User,
  /** Id of this connection (logs, support). */
  session: v.string(),
  serverTime: Timestamp,
  /** The client should ping this often when idle. */
  heartbeatMs: v.number(),
  limits: v.object({
    maxFrameBytes: v.number(),
    maxTextChars: v.number(),
    maxPageSize: v.number(),
    /** How long after its send a message may be recalled, ms (the BFF's RECALL_WINDOW_MS). Absent from older servers: LIMITS.recallWindowMs. */
    recallWindowMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  }),
})

export const PongFrame = v.object({ type: v.literal('pong'), ts: v.optional(Timestamp), serverTime: Timestamp })

/** The message is durably stored. Repeated `send` with the same cid gets the same ack (`dup: true`). */
export const AckFrame = v.object({
  type: v.literal('ack'),
  cid: ClientMsgId,
  mid: ServerMsgId,
  conv: ConvId,
  seq: v.pipe(Seq, v.minValue(1)),
  ts: Timestamp,
  dup: v.optional(v.boolean()),
})

/** A new message, pushed to every member's devices (the sender's other devices too). */
export const MsgFrame = v.object({ type: v.literal('msg'), m: Message })

/** Reply to `sync` (possibly several frames, then `sync.done`) or `history` (one frame). */
export const MessagesFrame = v.object({
  type: v.literal('messages'),
  rid: RequestId,
  conv: ConvId,
  /** Ascending seq. */
  msgs: v.array(Message),
  /** history: older messages exist. sync: messages after the batch exist beyond what was sent. */
  more: v.boolean(),
})

export const SyncDoneFrame = v.object({
  type: v.literal('sync.done'),
  rid: RequestId,
  /** Offline-queue cursor to echo in `recv.q` once the batches are applied. */
  q: v.optional(v.string()),
})

/**
 * The user's conversations with their `tag`. `same`: the request's tag is still the list's: `items`
 * is empty and the list the client holds stands (with whatever it applied since).
 */
export const ConvsReplyFrame = v.object({
  type: v.literal('convs'),
  rid: RequestId,
  items: v.array(Conversation),
  tag: v.optional(ListTag),
  same: v.optional(v.literal(true)),
})

/** A conversation was created or changed; `rid` set when it answers this client's `conv.create`. */
export const ConvFrame = v.object({ type: v.literal('conv'), rid: v.optional(RequestId), conv: Conversation })

export const UsersReplyFrame = v.object({ type: v.literal('users'), rid: RequestId, items: v.array(User) })

/** Another member's device holds (`delivered`) or the member read (`read`) `conv` up to `seq`. */
export const ReceiptFrame = v.object({
  type: v.literal('receipt'),
  kind: v.picklist(['delivered', 'read']),
  conv: ConvId,
  user: UserId,
  seq: Seq,
})

export const TypingPushFrame = v.object({ type: v.literal('typing'), conv: ConvId, user: UserId })

export const PresenceFrame = v.object({ type: v.literal('presence'), ...Presence.entries })

/**
 * The presence of several users at once: what a device gets right after `welcome` (its user's
 * 1:1 peers and contacts), one frame instead of one `presence` per peer. Later changes come as
 * `presence`.
 */
export const PresencesFrame = v.object({ type: v.literal('presences'), items: v.array(Presence) })

export const ErrorFrame = v.object({
  type: v.literal('error'),
  code: v.picklist(ERROR_CODES),
  message: v.string(),
  temporary: v.boolean(),
  /** The request it answers: rid of a request, or cid of a `send`. */
  rid: v.optional(v.string()),
  cid: v.optional(v.string()),
})

/** Sent before the server closes: reconnect after about `retryAfterMs` (plus jitter). */
export const NoticeFrame = v.object({
  type: v.literal('notice'),
  code: v.picklist(ERROR_CODES),
  message: v.string(),
  retryAfterMs: v.optional(v.number()),
})

/** Reply to `contacts` and `contacts.policy`: every relation of the user (contacts first) and the setting. */
export const ContactsReplyFrame = v.object({
  type: v.literal('contacts'),
  rid: RequestId,
  policy: DirectPolicy,
  items: v.array(RelationEntry),
})

/**
 * A relation changed: the answer to a `relation` frame (with `rid`), and a push to the user's other
 * devices and to the other user (a request arrived, was accepted, declined or removed). A block is
 * never pushed to the blocked user.
 */
export const RelationPushFrame = v.object({ type: v.literal('relation'), rid: v.optional(RequestId), entry: RelationEntry })

/** Answer to `group`: the stored `system` message that records the change (it also reaches every member as `msg`). */
export const GroupReplyFrame = v.object({ type: v.literal('group'), rid: RequestId, m: Message })

/** A page of `members`: each with its role; `next` is the cursor of the next page (absent: the last page). */
export const MembersReplyFrame = v.object({
  type: v.literal('members'),
  rid: RequestId,
  conv: ConvId,
  items: v.array(v.object({ user: User, role: v.picklist(['owner', 'admin', 'member']) })),
  next: v.optional(v.number()),
})

/**
 * Answer to `recall`: message `seq` of `conv` is recalled (also when it was already: idempotent).
 * `event` is the seq of the `recall` event (absent when it was recalled before).
 */
export const RecallReplyFrame = v.object({
  type: v.literal('recall'),
  rid: RequestId,
  conv: ConvId,
  seq: v.pipe(Seq, v.minValue(1)),
  event: v.optional(v.pipe(Seq, v.minValue(1))),
})

/**
 * This user's settings of `conv` as they are now: the answer to `conv.settings` (with `rid`), and
 * a push to the user's other devices (without). `pinned`: the pin time, absent when not pinned.
 */
export const ConvSettingsPushFrame = v.object({
  type: v.literal('conv.settings'),
  rid: v.optional(RequestId),
  conv: ConvId,
  muted: v.boolean(),
  pinned: v.optional(Timestamp),
})

/** Message `seq` of `conv` is deleted for this user: the answer to `hide` (with `rid`) and a push to the user's other devices. */
export const HidePushFrame = v.object({ type: v.literal('hide'), rid: v.optional(RequestId), conv: ConvId, seq: v.pipe(Seq, v.minValue(1)) })

export const ServerFrame = v.variant('type', [
  WelcomeFrame,
  PongFrame,
  AckFrame,
  MsgFrame,
  MessagesFrame,
  SyncDoneFrame,
  ConvsReplyFrame,
  ConvFrame,
  UsersReplyFrame,
  ReceiptFrame,
  TypingPushFrame,
  PresenceFrame,
  PresencesFrame,
  ErrorFrame,
  NoticeFrame,
  ContactsReplyFrame,
  RelationPushFrame,
  GroupReplyFrame,
  MembersReplyFrame,
  RecallReplyFrame,
  ConvSettingsPushFrame,
  HidePushFrame,
])
/** Every `type` the server may send, read from `ServerFrame`. */
export const SERVER_FRAME_TYPES = frameTypes<v.InferOutput<typeof ServerFrame>['type']>(ServerFrame)

// ---------------------------------------------------------------- HTTP bodies

export const WxLoginRequest = v.object({ code: v.pipe(v.string(), v.minLength(1), v.maxLength(128)) })
export const DevLoginRequest = v.object({
  user: UserId,
  name: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64))),
})
export const RefreshRequest = v.object({ refreshToken: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)) })
export const AuthResponse = v.object({
  user: User,
  /** Short-lived JWT for the socket and the API (Authorization: Bearer). */
  token: v.string(),
  /** When `token` expires, ms since the epoch. */
  expiresAt: Timestamp,
  /** Long-lived opaque token for POST /auth/refresh. */
  refreshToken: v.string(),
  refreshExpiresAt: Timestamp,
})
export const ErrorResponse = v.object({
  error: v.object({ code: v.picklist(ERROR_CODES), message: v.string(), temporary: v.boolean() }),
})
