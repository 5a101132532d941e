/**
 * One handler per client frame type, registered in one map (as tus registers one handler per
 * HTTP method). A handler gets a decoded, validated frame and may throw an AppError: the gateway
 * turns it into an error frame carrying the frame's rid/cid, or a close, in one place.
 */
import type { ClientFrameOf, ClientFrameType, UserId } from '@chat/shared'
import type { Connection } from '../gateway/connection'
import type { ChatService } from './service'
import type { Relations } from '../social/service'
import { relationHandlers } from '../social/handlers'

export interface HandlerContext {
  readonly conn: Connection
  readonly user: UserId
  readonly chat: ChatService
  /** Contacts and blocks (bff/src/social). */
  readonly relations: Relations
  /** Called with the ack latency once a send is acked (metrics). */
  readonly acked: (receivedAt: number) => void
  readonly receivedAt: number
}

export type Handler<T extends ClientFrameType> = (ctx: HandlerContext, frame: ClientFrameOf<T>) => void | Promise<unknown>

export type HandlerMap = { readonly [T in ClientFrameType]: Handler<T> }

export const handlers: HandlerMap = {
  ping(ctx, frame) {
    const pong: { type: 'pong'; serverTime: number; ts?: number } = { type: 'pong', serverTime: Date.now() }
    if (frame.ts !== undefined) pong.ts = frame.ts
    ctx.conn.reply(JSON.stringify(pong), 'pong')
  },

  async send(ctx, frame) {
    const ack = await ctx.chat.send(ctx.user, frame, ctx.conn)
    const m = ack.msg
    const json = `{"type":"ack","cid":"${m.cid}","mid":"${m.mid}","conv":"${m.conv}","seq":${m.seq},"ts":${m.ts}${ack.dup ? ',"dup":true' : ''}}`
    ctx.conn.reply(json, 'ack')
    ctx.acked(ctx.receivedAt)
  },

  recv(ctx, frame) {
    return ctx.chat.recv(ctx.user, frame, ctx.conn)
  },

  read(ctx, frame) {
    return ctx.chat.read(ctx.user, frame, ctx.conn)
  },

  sync(ctx, frame) {
    // One at a time per connection: each sync's batches and marks of what was sent stay whole.
    return ctx.conn.heavy(() => ctx.chat.sync(ctx.user, frame, ctx.conn))
  },

  history(ctx, frame) {
    return ctx.conn.heavy(async () => void ctx.conn.reply(await ctx.chat.history(ctx.user, frame), 'messages'))
  },

  async convs(ctx, frame) {
    const items = await ctx.chat.list(ctx.user)
    ctx.conn.reply(JSON.stringify({ type: 'convs', rid: frame.rid, items }), 'convs')
  },

  async 'conv.create'(ctx, frame) {
    const conv = await ctx.chat.create(await ctx.chat.profile(ctx.user), frame, ctx.conn)
    ctx.conn.reply(JSON.stringify({ type: 'conv', rid: frame.rid, conv }), 'conv')
  },

  async users(ctx, frame) {
    const items = await ctx.chat.searchUsers(frame.q, ctx.user)
    ctx.conn.reply(JSON.stringify({ type: 'users', rid: frame.rid, items }), 'users')
  },

  typing(ctx, frame) {
    return ctx.chat.typing(ctx.user, frame)
  },

  ...relationHandlers,
}
