/**
 * The handlers of `conv.settings` and `hide` (chat/settings.ts), merged into the one handler map
 * (chat/handlers.ts). Each answers with `rid`; the user's other devices get the same frame as a push.
 */
import type { ClientFrameOf, UserId } from '@chat/shared'
import { encode } from './frames'
import type { Outlet } from './outlet'
import type { ConvSettings } from './settings'

/** What these handlers use of the chat handlers' context. */
export interface SettingsContext {
  readonly conn: Outlet
  readonly user: UserId
  readonly settings: ConvSettings
}

type SettingsHandler<T extends 'conv.settings' | 'hide'> = (ctx: SettingsContext, frame: ClientFrameOf<T>) => Promise<void>

export const settingsHandlers: { readonly 'conv.settings': SettingsHandler<'conv.settings'>; readonly hide: SettingsHandler<'hide'> } = {
  async 'conv.settings'(ctx, frame) {
    const now = await ctx.settings.set(ctx.user, frame.conv, { muted: frame.muted, pinned: frame.pinned }, ctx.conn)
    ctx.conn.reply(encode.convSettings({ rid: frame.rid, ...now }), 'conv.settings')
  },

  async hide(ctx, frame) {
    await ctx.settings.hide(ctx.user, frame.conv, frame.seq, ctx.conn)
    ctx.conn.reply(encode.hide({ rid: frame.rid, conv: frame.conv, seq: frame.seq }), 'hide')
  },
}
