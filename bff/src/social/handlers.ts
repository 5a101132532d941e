/**
 * The relation frames' handlers, merged into the one handler map (chat/handlers.ts). Each answers
 * its request with `rid`; errors are AppErrors that the gateway turns into error frames.
 */
import type { Handler } from '../chat/handlers'

export const relationHandlers: { readonly contacts: Handler<'contacts'>; readonly relation: Handler<'relation'>; readonly 'contacts.policy': Handler<'contacts.policy'> } = {
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
