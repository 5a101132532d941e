/**
 * Per-user conversation settings (mute, pin) and "delete for me" (PROTOCOL.md, "Conversation
 * settings"). Plain objects in; frames out through `push` (Delivery.frame: every device of the
 * user on every node, through the bus) and the asking outlet. Nothing here reaches the other
 * members: a mute, a pin or a hidden message is the user's alone.
 *
 * Delete for me is carried as a per-user tombstone: history and sync return, to this user only, a
 * message of kind `hidden` (its place: mid, cid, seq, from, ts; no content) where the message was.
 * Seqs stay gap-free for the client (it fills holes by seq), and other members' pages are untouched.
 */
import { AppError, LIMITS } from '@chat/shared'
import type { ConvId, Conversation, Message, ServerFrameType, UserId } from '@chat/shared'
import { peekMessage } from '../store/message-json'
import { decodeSetting } from '../store/conv-settings'
import type { ConvSetting, ConvSettingsStore } from '../store/conv-settings'
import type { ConvSummary } from '../store/types'
import type { Outlet } from './outlet'
import { encode } from './frames'
import { lastMessage, lastPlace, peekPlace, replaceLast } from './conv-json'

export interface ConvSettingsDeps {
  readonly store: ConvSettingsStore
  /** The conversation's last seq and the user's floor (joining seq) if `user` is a member; throws NOT_MEMBER otherwise. */
  readonly range: (user: UserId, conv: ConvId) => Promise<{ readonly lastSeq: number; readonly floor: number }>
  /** An ephemeral frame to every device of `users` except the connection `except` (Delivery.frame). */
  readonly push: (users: readonly UserId[], type: ServerFrameType, json: string, except?: Outlet) => void
  /** MAX_PINNED; default LIMITS.maxPinned. */
  readonly maxPinned?: number
  /** MAX_HIDDEN_PER_CONV; default LIMITS.maxHiddenPerConv. */
  readonly maxHiddenPerConv?: number
}

/** What a `conv.settings` frame asks: each field left out keeps its value. */
export interface SettingsChange {
  readonly muted?: boolean | undefined
  readonly pinned?: boolean | undefined
}

export class ConvSettings {
  private readonly maxPinned: number
  private readonly maxHidden: number

  constructor(private readonly deps: ConvSettingsDeps) {
    this.maxPinned = deps.maxPinned ?? LIMITS.maxPinned
    this.maxHidden = deps.maxHiddenPerConv ?? LIMITS.maxHiddenPerConv
  }

  /**
   * Change `user`'s settings of `conv`. Refusals: NOT_MEMBER, PINNED_FULL (pinning one more than
   * MAX_PINNED). Pinning a pinned conversation keeps its pin time (its place in the list).
   * The user's other devices get the setting as a push; the answer is for the asking one.
   */
  async set(user: UserId, conv: ConvId, change: SettingsChange, out?: Outlet): Promise<ServerSettings> {
    await this.deps.range(user, conv)
    const before = await this.deps.store.get(user, conv)
    const next: ConvSetting = {
      muted: change.muted ?? before.muted,
      pinned: change.pinned === undefined ? before.pinned : change.pinned ? before.pinned || Date.now() : 0,
    }
    if (!(await this.deps.store.put(user, conv, next, this.maxPinned))) {
      throw new AppError('PINNED_FULL', `at most ${this.maxPinned} conversations can be pinned`)
    }
    const frame = settingsFrame(conv, next)
    this.deps.push([user], 'conv.settings', encode.convSettings(frame), out)
    return frame
  }

  /** Whether `user` muted `conv` (notifications are not sent for it). */
  async muted(user: UserId, conv: ConvId): Promise<boolean> {
    return (await this.deps.store.get(user, conv)).muted
  }

  /**
   * Delete message `seq` of `conv` for `user` on all their devices. Refusals: NOT_MEMBER,
   * SEQ_RANGE_INVALID (no such seq, or before the user joined), HIDDEN_FULL. Idempotent.
   */
  async hide(user: UserId, conv: ConvId, seq: number, out?: Outlet): Promise<void> {
    const { lastSeq, floor } = await this.deps.range(user, conv)
    if (seq > lastSeq || seq <= floor) throw new AppError('SEQ_RANGE_INVALID', `no message ${seq} of ${conv} for this user`)
    const outcome = await this.deps.store.hide(user, conv, seq, this.maxHidden)
    if (outcome === 'full') throw new AppError('HIDDEN_FULL', `at most ${this.maxHidden} messages of a conversation can be deleted`)
    if (outcome === 'done') this.deps.push([user], 'hide', encode.hide({ conv, seq }), out)
  }

  /** The seqs of `conv` that `user` deleted for themself. */
  hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>> {
    return this.deps.store.hidden(user, conv)
  }

  /** The conversations in which `user` deleted any message for themself. */
  hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>> {
    return this.deps.store.hiddenConvs(user)
  }

  /** One conversation of `user` with their settings (`muted`, `pinned`), as `decorate` gives a list. */
  async decorateOne(user: UserId, conv: Conversation): Promise<Conversation> {
    const s = await this.deps.store.get(user, conv.id)
    return s.muted || s.pinned > 0 ? { ...conv, ...(s.muted ? { muted: true } : {}), ...(s.pinned > 0 ? { pinned: s.pinned } : {}) } : conv
  }

  /**
   * The user's settings as a list built from `summary` shows them, for its tag (chat/list-tag.ts)
   * and for `decorate`: from the summary where the store folds them into it and it holds them
   * (nothing read), else read now, once: the settings, and which listed last messages the user hid.
   */
  async forList(user: UserId, summary: readonly ConvSummary[]): Promise<ListSettings> {
    const store = this.deps.store
    if (store.fold && summary.every((s) => s.setting !== undefined)) return FOLDED
    const places: { conv: ConvId; seq: number }[] = []
    for (const s of summary) {
      const seq = lastSeqOf(s)
      if (seq !== undefined) places.push({ conv: s.conv, seq })
    }
    const [all, hidden] = await Promise.all([store.all(user), places.length > 0 ? store.hiddenAmong(user, places) : Promise.resolve(new Set<string>())])
    return {
      read: { all, hidden },
      settingOf: (s) => {
        const seq = lastSeqOf(s)
        return shownSetting(all.get(s.conv), seq !== undefined && hidden.has(`${s.conv} ${seq}`))
      },
    }
  }

  /**
   * `user`'s list with their settings (`muted`, `pinned`), and a hidden last message as its
   * tombstone. `summary`: what the list was built from; when the store folds the settings into it
   * (`ConvSettingsStore.fold`) and it holds them, nothing is read; when it does not hold them yet,
   * they are read as before and folded for the next time. `read`: what `forList` read for the same
   * list, used instead of reading again.
   */
  async decorate(user: UserId, convs: Conversation[], summary?: readonly ConvSummary[], read?: ReadSettings): Promise<Conversation[]> {
    if (convs.length === 0) return convs
    const store = this.deps.store
    if (store.fold && summary) {
      if (!read && summary.every((s) => s.setting !== undefined)) return this.fromSummary(user, convs, summary)
      await this.read(user, convs, read)
      // Best effort: unfolded, the next list reads as this one did.
      await store.fold(user).catch(() => {})
      return convs
    }
    return this.read(user, convs, read)
  }

  /** `decorate` from the settings and newest hidden seqs folded into the summary. */
  private async fromSummary(user: UserId, convs: Conversation[], summary: readonly ConvSummary[]): Promise<Conversation[]> {
    // Only the few conversations with a setting or a hidden message are looked up.
    const of = new Map<ConvId, ConvSummary>()
    for (const s of summary) if (s.setting || s.hiddenSeq) of.set(s.conv, s)
    if (of.size === 0) return convs
    const unsure: { c: Conversation; seq: number }[] = []
    for (const c of convs) {
      const s = of.get(c.id)
      if (!s) continue
      if (s.setting) {
        const setting = decodeSetting(s.setting)
        if (setting.muted) c.muted = true
        if (setting.pinned > 0) c.pinned = setting.pinned
      }
      const place = s.hiddenSeq ? lastPlace(c) : undefined
      if (!place) continue
      // The newest hidden seq is the last message's own, or says nothing of an older last message
      // (never seen: the last message holds the last seq, and no seq past it can be hidden).
      if (place.seq === s.hiddenSeq) replaceLast(c, hiddenMessage(lastMessage(c)!))
      else if (place.seq < s.hiddenSeq!) unsure.push({ c, seq: place.seq })
    }
    if (unsure.length > 0) {
      const hidden = await this.deps.store.hiddenAmong(user, unsure.map(({ c, seq }) => ({ conv: c.id, seq })))
      for (const { c, seq } of unsure) if (hidden.has(`${c.id} ${seq}`)) replaceLast(c, hiddenMessage(lastMessage(c)!))
    }
    return convs
  }

  /** `decorate` from the settings store, or from what `forList` read of it (`given`). */
  private async read(user: UserId, convs: Conversation[], given?: ReadSettings): Promise<Conversation[]> {
    // A hidden last message is shown as its tombstone: one lookup for the whole list, asked in the
    // same round trip as the settings. The last message may still be stored JSON
    // (chat/conv-json.ts): its seq is read without parsing it.
    const withLast = convs.flatMap((c) => {
      const place = lastPlace(c)
      return place ? [{ c, seq: place.seq }] : []
    })
    const [all, hidden] = given
      ? [given.all, given.hidden]
      : await Promise.all([this.deps.store.all(user), this.deps.store.hiddenAmong(user, withLast.map(({ c, seq }) => ({ conv: c.id, seq })))])
    for (const c of convs) {
      const s = all.get(c.id)
      if (s?.muted) c.muted = true
      if (s && s.pinned > 0) c.pinned = s.pinned
    }
    for (const { c, seq } of withLast) if (hidden.has(`${c.id} ${seq}`)) replaceLast(c, hiddenMessage(lastMessage(c)!))
    return convs
  }
}

/** The user's settings read for a list (`forList`), for `decorate`: the settings, and "<conv> <seq>" of each hidden last message. */
export interface ReadSettings {
  readonly all: ReadonlyMap<ConvId, ConvSetting>
  readonly hidden: ReadonlySet<string>
}

/** What a list shows of the user's settings: `settingOf` for its tag, `read` for `decorate` (absent: in the summary). */
export interface ListSettings {
  readonly settingOf: (s: ConvSummary) => string | undefined
  readonly read?: ReadSettings | undefined
}

/**
 * What a list shows of one conversation's setting, as its tag hashes it: "<muted 0|1> <pin time>",
 * and " h" when its last message is hidden. Both ways of knowing it give the same text (the
 * settings folded into the summary, or read beside it), so the tag of a list built before the
 * fold still holds after it: a user's first reconnect after their first list is answered `same`.
 */
function shownSetting(setting: ConvSetting | undefined, lastHidden: boolean): string {
  // Most conversations of a list have neither: one constant, no string built per conversation.
  if (!setting?.muted && !setting?.pinned && !lastHidden) return DEFAULT_SHOWN
  return `${setting?.muted ? 1 : 0} ${setting?.pinned ?? 0}${lastHidden ? ' h' : ''}`
}

/** `shownSetting` of a conversation with the default setting and its last message shown. */
const DEFAULT_SHOWN = '0 0'

/**
 * Settings folded into the summary: each entry's `setting` and newest hidden seq. A newest hidden
 * seq past the last message's (never seen, see `fromSummary`) says nothing of the last one: no tag.
 */
export const FOLDED: ListSettings = {
  settingOf: (s) => {
    if (s.setting === undefined) return undefined
    const hidden = s.hiddenSeq ?? 0
    const seq = hidden > 0 ? lastSeqOf(s) : undefined
    if (seq !== undefined && hidden > seq) return undefined
    return shownSetting(s.setting === '' ? undefined : decodeSetting(s.setting), seq !== undefined && hidden === seq)
  },
}

/** The seq of a summary entry's last message (the one a list shows), without parsing it. */
function lastSeqOf(s: ConvSummary): number | undefined {
  if (s.lastJson !== undefined) return peekPlace(s.lastJson)?.seq
  return s.lastMsg?.seq
}

function settingsFrame(conv: ConvId, s: ConvSetting): ServerSettings {
  return s.pinned > 0 ? { conv, muted: s.muted, pinned: s.pinned } : { conv, muted: s.muted }
}

/** The `conv.settings` frame's fields without `type` and `rid`. */
export interface ServerSettings {
  readonly conv: ConvId
  readonly muted: boolean
  readonly pinned?: number
}

/** The per-user tombstone of a hidden message: its place, no content. */
export function hiddenMessage(m: Pick<Message, 'mid' | 'cid' | 'conv' | 'seq' | 'from' | 'ts'>): Message {
  return { mid: m.mid, cid: m.cid, conv: m.conv, seq: m.seq, from: m.from, ts: m.ts, kind: 'hidden', body: {} }
}

/**
 * Stored message JSON with the messages whose seq is in `hidden` replaced by their tombstone (same
 * key order as stored JSON, message-json.ts). The page itself is returned when none is hidden.
 */
export function withHidden(page: readonly string[], hidden: ReadonlySet<number>): readonly string[] {
  if (hidden.size === 0) return page
  let out: string[] | undefined
  page.forEach((json, i) => {
    const seq = peekMessage(json)?.seq
    if (seq === undefined || !hidden.has(seq)) return
    out ??= [...page]
    out[i] = JSON.stringify(hiddenMessage(JSON.parse(json) as Message))
  })
  return out ?? page
}
