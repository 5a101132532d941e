/**
 * One handler per client frame type, registered in one map (as tus registers one handler per
 * HTTP method). A handler gets a decoded, validated frame, maps it to the chat service's plain
 * inputs, and writes the reply through the outlet with a typed encoder (frames.ts). It may throw
 * an AppError: the gateway turns it into an error frame carrying the frame's rid/cid, or a close,
 * in one place.
 */
import { LIMITS, PROTOCOL_VERSION } from '@chat/shared'
import type { ClientFrameOf, ClientFrameType, UserId } from '@chat/shared'
import { encode } from './frames'
import { encodeConvs, encodeSameConvs } from './conv-json'
import type { Outlet } from './outlet'
import type { ChatService } from './service'
import type { Relations } from '../social/service'
import { relationHandlers } from '../social/handlers'
import type { ConvSettings } from './settings'
import { settingsHandlers } from './settings-handlers'

/**
 * Client frames that change nothing a `convs` list shows: the summary kept from `welcome` for the
 * first `convs` (`Outlet.listing`) survives them. Every other frame drops it (a type added later
 * too, until it is listed here).
 */
export const KEEPS_LISTING: ReadonlySet<ClientFrameType> = new Set<ClientFrameType>(['ping', 'sync', 'history', 'convs', 'users', 'members', 'typing', 'recv'])

export interface HandlerContext {
  readonly conn: Outlet
  readonly user: UserId
  readonly chat: ChatService
  /** Contacts and blocks (bff/src/social). */
  readonly relations: Relations
  /** Mute, pin and delete for me (chat/settings.ts). */
  readonly settings: ConvSettings
  /** Called with the ack latency once a send is acked (metrics). */
  readonly acked: (receivedAt: number) => void
  readonly receivedAt: number
}

export type Handler<T extends ClientFrameType> = (ctx: HandlerContext, frame: ClientFrameOf<T>) => void | Promise<unknown>

export type HandlerMap = { readonly [T in ClientFrameType]: Handler<T> }

export const handlers: HandlerMap = {
  ping(ctx, frame) {
    ctx.conn.reply(encode.pong(frame.ts !== undefined ? { serverTime: Date.now(), ts: frame.ts } : { serverTime: Date.now() }), 'pong')
  },

  send(ctx, frame) {
    // The decoded frame is a NewMessage plus its `type`: passed as it is on the hottest path (and
    // no async function: one frame and promise fewer per message).
    return ctx.chat.send(ctx.user, frame, ctx.conn).then(({ msg, dup }) => {
      const data = encode.ack(msg, dup)
      // A connection's acks go through its ack window (gateway/connection.ts), which observes them.
      if (ctx.conn.ack) ctx.conn.ack(data, ctx.receivedAt)
      else if (ctx.conn.reply(data, 'ack')) ctx.acked(ctx.receivedAt)
    })
  },

  recv(ctx, frame) {
    return ctx.chat.recv(ctx.user, { acks: frame.acks, q: frame.q }, ctx.conn)
  },

  read(ctx, frame) {
    return ctx.chat.read(ctx.user, { conv: frame.conv, seq: frame.seq }, ctx.conn)
  },

  sync(ctx, frame) {
    // One at a time per connection: each sync's batches and marks of what was sent stay whole.
    return ctx.conn.heavy(() => ctx.chat.sync(ctx.user, frame.rid, frame.cursors, ctx.conn))
  },

  history(ctx, frame) {
    return ctx.conn.heavy(async () => {
      const page = await ctx.chat.history(ctx.user, { conv: frame.conv, before: frame.before, limit: frame.limit })
      ctx.conn.reply(encode.messages(frame.rid, page.conv, page.msgs, page.more), 'messages')
    })
  },

  async convs(ctx, frame) {
    // Last messages spliced in as stored (chat/conv-json.ts): not parsed and encoded again.
    // Settings from the same summary when its store folds them into it, else read once for the
    // list and its tag (chat/list-tag.ts): a client's tag that still holds is answered `same`,
    // with no list built.
    // Protocol 3: a group names its first members and its count (PROTOCOL.md, Conversation list).
    const membersMax = (ctx.conn.protocol ?? PROTOCOL_VERSION) >= 3 ? LIMITS.listMembersMax : undefined
    const listing = await ctx.chat.listing(ctx.user, { raw: true, out: ctx.conn, tag: frame.tag, settings: (summary) => ctx.settings.forList(ctx.user, summary), membersMax })
    if (listing.same) return ctx.conn.reply(encodeSameConvs(frame.rid, listing.tag!), 'convs')
    const items = await ctx.settings.decorate(ctx.user, listing.items, listing.summary, listing.settings?.read)
    ctx.conn.reply(encodeConvs(frame.rid, items, listing.tag), 'convs')
  },

  async 'conv.create'(ctx, frame) {
    const input = { kind: frame.kind, members: frame.members, title: frame.title }
    const conv = await ctx.chat.create(await ctx.chat.profile(ctx.user), input, ctx.conn)
    ctx.conn.reply(encode.conv({ rid: frame.rid, conv }), 'conv')
  },

  async users(ctx, frame) {
    const items = await ctx.chat.searchUsers(frame.q, ctx.user)
    ctx.conn.reply(encode.users({ rid: frame.rid, items }), 'users')
  },

  typing(ctx, frame) {
    return ctx.chat.typing(ctx.user, frame.conv)
  },

  async recall(ctx, frame) {
    const { event } = await ctx.chat.recall(ctx.user, { conv: frame.conv, seq: frame.seq })
    ctx.conn.reply(encode.recall(event === undefined ? { rid: frame.rid, conv: frame.conv, seq: frame.seq } : { rid: frame.rid, conv: frame.conv, seq: frame.seq, event }), 'recall')
  },

  ...relationHandlers,

  ...settingsHandlers,

  async group(ctx, frame) {
    const m = await ctx.chat.group(ctx.user, { conv: frame.conv, op: frame.op, users: frame.users, title: frame.title }, ctx.conn)
    ctx.conn.reply(encode.group({ rid: frame.rid, m }), 'group')
  },

  async members(ctx, frame) {
    const page = frame.users ? await ctx.chat.membersNamed(ctx.user, frame.conv, frame.users) : await ctx.chat.members(ctx.user, frame.conv, frame.after ?? 0, frame.limit ?? LIMITS.defaultPageSize)
    ctx.conn.reply(encode.members({ rid: frame.rid, conv: frame.conv, ...page }), 'members')
  },
}
