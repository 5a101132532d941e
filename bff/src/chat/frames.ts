/**
 * One encoder per server frame type, typed from the shared schema's output type (shared/src/
 * schemas.ts, ServerFrame): a renamed or missing field is a compile error here, not a frame the
 * client drops. Every frame the BFF writes is built by one of these.
 *
 * The frames sent most (`ack`, `msg`, `messages`) have template fast paths: stored message JSON is
 * passed on byte for byte (store/message-json.ts), and ids are validated against [A-Za-z0-9_:-]
 * before they get here, so they need no escaping. test/frames.test.ts compares each fast path with
 * the generic encoding.
 */
import type { ConvId, ServerFrameOf, ServerFrameType } from '@chat/shared'

/** A frame's fields without its `type`. */
export type FrameBody<T extends ServerFrameType> = Omit<ServerFrameOf<T>, 'type'>

/** The generic encoding: `type` first, then the fields in the order given. */
export function encodeGeneric<T extends ServerFrameType>(type: T, body: FrameBody<T>): string {
  return JSON.stringify({ type, ...body })
}

export const encode = {
  welcome: (f: FrameBody<'welcome'>): string => encodeGeneric('welcome', f),
  pong: (f: FrameBody<'pong'>): string => encodeGeneric('pong', f),
  /**
   * Fast path: the frame answering every send, from the stored message itself (no object built per
   * ack); `dup` only when true.
   */
  ack(m: Omit<FrameBody<'ack'>, 'dup'>, dup: boolean): string {
    return `{"type":"ack","cid":"${m.cid}","mid":"${m.mid}","conv":"${m.conv}","seq":${m.seq},"ts":${m.ts}${dup ? ',"dup":true' : ''}}`
  },
  /** Fast path: a `msg` push around one stored message JSON, not parsed. */
  msg(messageJson: string): string {
    return `{"type":"msg","m":${messageJson}}`
  },
  /** Fast path: a `messages` batch around stored message JSON, not parsed. */
  messages(rid: string, conv: ConvId, msgsJson: readonly string[], more: boolean): string {
    return `{"type":"messages","rid":${JSON.stringify(rid)},"conv":"${conv}","msgs":[${msgsJson.join(',')}],"more":${more}}`
  },
  syncDone: (f: FrameBody<'sync.done'>): string => encodeGeneric('sync.done', f),
  convs: (f: FrameBody<'convs'>): string => encodeGeneric('convs', f),
  conv: (f: FrameBody<'conv'>): string => encodeGeneric('conv', f),
  users: (f: FrameBody<'users'>): string => encodeGeneric('users', f),
  receipt: (f: FrameBody<'receipt'>): string => encodeGeneric('receipt', f),
  typing: (f: FrameBody<'typing'>): string => encodeGeneric('typing', f),
  presence: (f: FrameBody<'presence'>): string => encodeGeneric('presence', f),
  presences: (f: FrameBody<'presences'>): string => encodeGeneric('presences', f),
  error: (f: FrameBody<'error'>): string => encodeGeneric('error', f),
  notice: (f: FrameBody<'notice'>): string => encodeGeneric('notice', f),
  group: (f: FrameBody<'group'>): string => encodeGeneric('group', f),
  members: (f: FrameBody<'members'>): string => encodeGeneric('members', f),
  recall: (f: FrameBody<'recall'>): string => encodeGeneric('recall', f),
  convSettings: (f: FrameBody<'conv.settings'>): string => encodeGeneric('conv.settings', f),
  hide: (f: FrameBody<'hide'>): string => encodeGeneric('hide', f),
}
