/**
 * The relation frames' handlers, merged into the one handler map (chat/handlers.ts). Each answers
 * its request with `rid`; errors are AppErrors that the gateway turns into error frames.
 */
import type { ClientFrameOf, UserId } from '@chat/shared'
import type { Outlet } from '../chat/outlet'
import type { Relations } from './service'

/** What these handlers use of the chat handlers' context (chat/handlers.ts imports this file, not the other way). */
export interface RelationContext {
  readonly conn: Pick<Outlet, 'reply'>
  readonly user: UserId
  readonly relations: Relations
}

type RelationHandler<T extends 'contacts' | 'relation' | 'contacts.policy'> = (ctx: RelationContext, frame: ClientFrameOf<T>) => Promise<void>

export const relationHandlers: { readonly contacts: RelationHandler<'contacts'>; readonly relation: RelationHandler<'relation'>; readonly 'contacts.policy': RelationHandler<'contacts.policy'> } = {
  async contacts(ctx, frame) {
    const list = await ctx.relations.list(ctx.user)
    ctx.conn.reply(JSON.stringify({ type: 'contacts', rid: frame.rid, ...list }), 'contacts')
  },

  async relation(ctx, frame) {
    const entry = await ctx.relations.act(ctx.user, frame.op, frame.user, frame.op === 'request' ? frame.note : undefined, ctx.conn)
    ctx.conn.reply(JSON.stringify({ type: 'relation', rid: frame.rid, entry }), 'relation')
  },

  async 'contacts.policy'(ctx, frame) {
    await ctx.relations.setPolicy(ctx.user, frame.policy)
    const list = await ctx.relations.list(ctx.user)
    ctx.conn.reply(JSON.stringify({ type: 'contacts', rid: frame.rid, ...list }), 'contacts')
  },
}
