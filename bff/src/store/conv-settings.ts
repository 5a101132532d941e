/**
 * Each user's own settings of their conversations (muted, pinned) and the messages they deleted
 * for themself ("delete for me"). Per user, never seen by the other members. Three implementations
 * pass one contract (bff/test/store/conv-settings.test.ts): memory (one process, no archive),
 * Redis (the Redis engine without an archive: there Redis is their only home, like relations) and
 * the archive's SQL tables (bff/src/archive/conv-settings.ts: the system of record wherever there
 * is an archive, so they survive the loss of Redis like every other record).
 *
 * Both are bounded: a user's settings by their conversations (the chat domain stores them only for
 * conversations the user belongs to, and a setting back at its default is deleted), pinned ones by
 * LIMITS.maxPinned, hidden messages by LIMITS.maxHiddenPerConv per conversation; both limits are
 * checked in the same atomic step as the write (a Lua script; a transaction in SQL).
 *
 * Redis keys (P = REDIS_PREFIX):
 *   P{u:<id>}:cs          hash  conversation id -> `<muted 0|1> <pin time ms, 0: not pinned>`
 *   P{u:<id>}:hd:<conv>   set   seqs of <conv> the user deleted for themself
 *   P{u:<id>}:hdc         set   the conversations where the user deleted any (a sync reads only those)
 *
 * Folded into the chat engine's per-user summary (Redis only, store/redis.ts `P{u:<id>}:s`, the
 * same slot): once `fold` copied them there (a `convs` of a user whose summary lacks them), every
 * change writes both, in the same script, so a `convs` reads the settings and the newest hidden seq
 * of each conversation with the summary it reads anyway, no command of its own (issue 15):
 *   `c~` "1"  (SUMMARY_MARK) folded: the fields below are complete
 *   `c:<conv>` the setting as in `:cs`;  `h:<conv>` the newest seq of `:hd:<conv>`
 * The `:cs` hash and the `:hd`/`:hdc` sets stay the source for everything else (one setting, a
 * sync's hidden seqs) and for a summary without the mark (written before, or lost: read as before).
 */
import { openSideClient, type RedisSideOptions, type SideClient } from './redis-side'
import { AppError } from '@chat/shared'
import type { ConvId, UserId } from '@chat/shared'

/** One user's setting of one conversation. */
export interface ConvSetting {
  readonly muted: boolean
  /** When it was pinned, ms; 0: not pinned. */
  readonly pinned: number
}

export const DEFAULT_SETTING: ConvSetting = { muted: false, pinned: 0 }

/** `hide`: stored now, was stored already, or the conversation holds the most hidden seqs allowed. */
export type HideOutcome = 'done' | 'already' | 'full'

export interface ConvSettingsStore {
  /** Every setting of `user` that is not the default. */
  all(user: UserId): Promise<Map<ConvId, ConvSetting>>
  /** The setting of one conversation (the default when none is stored). */
  get(user: UserId, conv: ConvId): Promise<ConvSetting>
  /**
   * Store `setting` (the default deletes it). False, and nothing stored, when it pins a
   * conversation not pinned yet while `maxPinned` others are.
   */
  put(user: UserId, conv: ConvId, setting: ConvSetting, maxPinned: number): Promise<boolean>
  /** Remember that `user` deleted message `seq` of `conv` for themself, unless `max` are already. */
  hide(user: UserId, conv: ConvId, seq: number, max: number): Promise<HideOutcome>
  /** The seqs of `conv` that `user` deleted for themself. */
  hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>>
  /** The conversations in which `user` deleted any message for themself (one read per sync). */
  hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>>
  /** Which of `places` (one per conversation) `user` deleted for themself, as `<conv> <seq>` keys; one round trip. */
  hiddenAmong(user: UserId, places: readonly { readonly conv: ConvId; readonly seq: number }[]): Promise<Set<string>>
  /**
   * Optional, a store that folds `user`'s settings and newest hidden seqs into the chat engine's
   * summary (ConvSummary `setting`, `hiddenSeq`) and keeps them there from then on: copy them
   * (idempotent; a change racing with it leaves the summary unfolded, to be folded next time).
   * Only a store with it is trusted with a summary's folded fields.
   */
  fold?(user: UserId): Promise<void>
  close(): Promise<void>
}

export function isDefault(s: ConvSetting): boolean {
  return !s.muted && s.pinned === 0
}

// ------------------------------------------------------------------ memory

export class MemoryConvSettings implements ConvSettingsStore {
  private readonly settings = new Map<UserId, Map<ConvId, ConvSetting>>()
  private readonly hides = new Map<string, Set<number>>()
  private readonly hiddenIn = new Map<UserId, Set<ConvId>>()

  async all(user: UserId): Promise<Map<ConvId, ConvSetting>> {
    return new Map(this.settings.get(user))
  }

  async get(user: UserId, conv: ConvId): Promise<ConvSetting> {
    return this.settings.get(user)?.get(conv) ?? DEFAULT_SETTING
  }

  async put(user: UserId, conv: ConvId, setting: ConvSetting, maxPinned: number): Promise<boolean> {
    let mine = this.settings.get(user)
    if (isDefault(setting)) {
      mine?.delete(conv)
      return true
    }
    if (setting.pinned > 0 && !((mine?.get(conv)?.pinned ?? 0) > 0)) {
      let pinned = 0
      for (const s of mine?.values() ?? []) if (s.pinned > 0) pinned++
      if (pinned >= maxPinned) return false
    }
    if (!mine) this.settings.set(user, (mine = new Map<ConvId, ConvSetting>()))
    mine.set(conv, { muted: setting.muted, pinned: setting.pinned })
    return true
  }

  async hide(user: UserId, conv: ConvId, seq: number, max: number): Promise<HideOutcome> {
    const key = `${user}\u0000${conv}`
    let set = this.hides.get(key)
    if (set?.has(seq)) return 'already'
    if ((set?.size ?? 0) >= max) return 'full'
    if (!set) this.hides.set(key, (set = new Set()))
    set.add(seq)
    let convs = this.hiddenIn.get(user)
    if (!convs) this.hiddenIn.set(user, (convs = new Set()))
    convs.add(conv)
    return 'done'
  }

  async hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>> {
    return new Set(this.hiddenIn.get(user))
  }

  async hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>> {
    return new Set(this.hides.get(`${user}\u0000${conv}`))
  }

  async hiddenAmong(user: UserId, places: readonly { readonly conv: ConvId; readonly seq: number }[]): Promise<Set<string>> {
    return new Set(places.filter((p) => this.hides.get(`${user}\u0000${p.conv}`)?.has(p.seq)).map((p) => `${p.conv} ${p.seq}`))
  }

  async close(): Promise<void> {}
}

// ------------------------------------------------------------------ Redis

/** The summary field saying the user's settings are folded into it (store/redis.ts FOLDED_MARK). */
export const SUMMARY_MARK = 'c~'

/**
 * Store a setting, the pinned bound checked in the same step. KEYS[1] the user's hash, KEYS[2] the
 * user's summary (written too once folded); ARGV conv, value ('' deletes), pins (1 when the value
 * pins), maxPinned. Returns 1 stored, 0 full.
 */
const PUT_SETTING = `
local folded = redis.call('HEXISTS', KEYS[2], '${SUMMARY_MARK}') == 1
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if folded then redis.call('HDEL', KEYS[2], 'c:' .. ARGV[1]) end
  return 1
end
if ARGV[3] == '1' then
  local cur = redis.call('HGET', KEYS[1], ARGV[1])
  if not cur or string.match(cur, ' (%d+)$') == '0' then
    local n = 0
    local all = redis.call('HVALS', KEYS[1])
    for i = 1, #all do
      if string.match(all[i], ' (%d+)$') ~= '0' then n = n + 1 end
    end
    if n >= tonumber(ARGV[4]) then return 0 end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if folded then redis.call('HSET', KEYS[2], 'c:' .. ARGV[1], ARGV[2]) end
return 1
`

/**
 * KEYS[1] the hidden set, KEYS[2] the user's conversations with any, KEYS[3] the user's summary
 * (its newest hidden seq of the conversation moved up once folded); ARGV seq, max, conv.
 * Returns 1 done, 2 already, 0 full.
 */
const HIDE = `
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 2 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('HEXISTS', KEYS[3], '${SUMMARY_MARK}') == 1 then
  local f = 'h:' .. ARGV[3]
  if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[3], f) or '0') then redis.call('HSET', KEYS[3], f, ARGV[1]) end
end
return 1
`

/**
 * Fold the settings and the newest hidden seqs into the summary, and mark it, in one atomic step
 * (every later change then writes both). KEYS[1] the summary, KEYS[2] the settings hash, KEYS[3]
 * the conversations with hidden messages, KEYS[4..] their hidden sets, named in ARGV (as read
 * before the call). A hide into a conversation not named meanwhile: nothing written, 0 (the next
 * `convs` tries again). Returns 1 folded (or already).
 */
const FOLD = `
if redis.call('HEXISTS', KEYS[1], '${SUMMARY_MARK}') == 1 then return 1 end
if redis.call('SCARD', KEYS[3]) ~= #ARGV then return 0 end
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[3], ARGV[i]) == 0 then return 0 end
end
-- Folded fields left from an earlier fold whose mark was lost may be stale: dropped first.
local fields = redis.call('HKEYS', KEYS[1])
for i = 1, #fields do
  local k = string.sub(fields[i], 1, 2)
  if k == 'c:' or k == 'h:' then redis.call('HDEL', KEYS[1], fields[i]) end
end
for i = 1, #ARGV do
  local top = 0
  local seqs = redis.call('SMEMBERS', KEYS[3 + i])
  for j = 1, #seqs do
    local n = tonumber(seqs[j])
    if n and n > top then top = n end
  end
  if top > 0 then redis.call('HSET', KEYS[1], 'h:' .. ARGV[i], top) end
end
local cs = redis.call('HGETALL', KEYS[2])
for i = 1, #cs, 2 do redis.call('HSET', KEYS[1], 'c:' .. cs[i], cs[i + 1]) end
redis.call('HSET', KEYS[1], '${SUMMARY_MARK}', '1')
return 1
`

/** Where the store's Redis is (redis-side.ts). */
export type RedisConvSettingsOptions = RedisSideOptions

export type Client = SideClient
type Scripts = {
  chatPutSetting(key: string, summaryKey: string, conv: string, value: string, pins: string, max: number): Promise<number>
  chatHide(key: string, convsKey: string, summaryKey: string, seq: number, max: number, conv: string): Promise<number>
  chatFoldSettings(numberOfKeys: number, ...keysThenConvs: string[]): Promise<number>
}

export function encodeSetting(s: ConvSetting): string {
  return `${s.muted ? 1 : 0} ${s.pinned}`
}

export function decodeSetting(v: string): ConvSetting {
  const [m, p] = v.split(' ')
  return { muted: m === '1', pinned: Number(p) || 0 }
}

export class RedisConvSettings implements ConvSettingsStore {
  private constructor(
    private readonly client: Client,
    private readonly prefix: string,
  ) {}

  static async open(options: RedisConvSettingsOptions): Promise<RedisConvSettings> {
    const client = await openSideClient(
      options,
      { chatPutSetting: { numberOfKeys: 2, lua: PUT_SETTING }, chatHide: { numberOfKeys: 3, lua: HIDE }, chatFoldSettings: { lua: FOLD } },
      'conversation settings',
    )
    return new RedisConvSettings(client, options.prefix)
  }

  private get scripts(): Scripts {
    return this.client as unknown as Scripts
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work()
    } catch (err) {
      throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err })
    }
  }

  private settingsKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:cs`
  }
  private hiddenKey(user: UserId, conv: ConvId): string {
    return `${this.prefix}{u:${user}}:hd:${conv}`
  }
  /** The chat engine's summary of the user (store/redis.ts Keys.summary: same prefix, same slot). */
  private summaryKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:s`
  }

  async all(user: UserId): Promise<Map<ConvId, ConvSetting>> {
    const raw = await this.run(() => this.client.hgetall(this.settingsKey(user)))
    return new Map(Object.entries(raw).map(([conv, v]) => [conv, decodeSetting(v)]))
  }

  async get(user: UserId, conv: ConvId): Promise<ConvSetting> {
    const v = await this.run(() => this.client.hget(this.settingsKey(user), conv))
    return v ? decodeSetting(v) : DEFAULT_SETTING
  }

  async put(user: UserId, conv: ConvId, setting: ConvSetting, maxPinned: number): Promise<boolean> {
    const value = isDefault(setting) ? '' : encodeSetting(setting)
    const ok = await this.run(() => this.scripts.chatPutSetting(this.settingsKey(user), this.summaryKey(user), conv, value, setting.pinned > 0 ? '1' : '0', maxPinned))
    return ok === 1
  }

  async hide(user: UserId, conv: ConvId, seq: number, max: number): Promise<HideOutcome> {
    const r = await this.run(() => this.scripts.chatHide(this.hiddenKey(user, conv), `${this.prefix}{u:${user}}:hdc`, this.summaryKey(user), seq, max, conv))
    return r === 1 ? 'done' : r === 2 ? 'already' : 'full'
  }

  async hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>> {
    const seqs = await this.run(() => this.client.smembers(this.hiddenKey(user, conv)))
    return new Set(seqs.map(Number))
  }

  async hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>> {
    return new Set(await this.run(() => this.client.smembers(`${this.prefix}{u:${user}}:hdc`)))
  }

  async hiddenAmong(user: UserId, places: readonly { readonly conv: ConvId; readonly seq: number }[]): Promise<Set<string>> {
    if (places.length === 0) return new Set()
    // Only the conversations in which the user hid anything are asked (one SMEMBERS first): a
    // conversation list of a user who hid nothing costs one command, not one per conversation
    // (issue 15: a reconnect's commands must not grow with its conversations).
    const convs = await this.hiddenConvs(user)
    const asked = places.filter((p) => convs.has(p.conv))
    if (asked.length === 0) return new Set()
    // One pipeline: the keys share the user's hash tag (one Cluster slot).
    const pipeline = this.client.pipeline()
    for (const p of asked) pipeline.sismember(this.hiddenKey(user, p.conv), p.seq)
    const results = await this.run(() => pipeline.exec())
    return new Set(asked.filter((_, i) => results?.[i]?.[1] === 1).map((p) => `${p.conv} ${p.seq}`))
  }

  async fold(user: UserId): Promise<void> {
    const convs = [...(await this.hiddenConvs(user))]
    const keys = [this.summaryKey(user), this.settingsKey(user), `${this.prefix}{u:${user}}:hdc`, ...convs.map((c) => this.hiddenKey(user, c))]
    await this.run(() => this.scripts.chatFoldSettings(keys.length, ...keys, ...convs))
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => {})
    this.client.disconnect()
  }
}
