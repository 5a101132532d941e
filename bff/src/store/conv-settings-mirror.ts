/**
 * The archive's conversation settings and hidden messages with a hot copy in Redis (the Redis
 * engine over an archive): see RedisMirroredConvSettings.
 */
import { randomUUID } from 'node:crypto'
import { AppError } from '@chat/shared'
import type { ConvId, UserId } from '@chat/shared'
import { DEFAULT_SETTING, RedisConvSettings, decodeSetting, encodeSetting } from './conv-settings'
import type { Client, ConvSetting, ConvSettingsStore, HideOutcome, RedisConvSettingsOptions } from './conv-settings'

/** The member of a mirror set saying "filled from the archive: complete". Never a seq nor a conversation id. */
const COMPLETE = '~'
/** The field of a settings mirror holding the token of the fill under way (`~f`); `~` says it is complete. */
const FILLING = '~f'

/**
 * Before a settings mirror is filled (or refilled after a change): the filler's token, so that a
 * fill that read the archive before a later change cannot store what it read over that change.
 * The key gets the mirror's TTL if it has none (a filler that died leaves nothing for ever).
 * KEYS[1] the mirror; ARGV token, ttl ms.
 */
const BEGIN_FILL = `
redis.call('HSET', KEYS[1], '${FILLING}', ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`

/**
 * A fill's end: the settings it read (ARGV[3..], conv and value pairs) replace the mirror, marked
 * complete, when its token is still the last one set; otherwise another fill or a change began
 * since, which may have committed after this one read, so the mirror is deleted (the next read
 * fills it again) rather than left holding either. Returns 1 stored, 0 deleted.
 * KEYS[1] the mirror; ARGV token, ttl ms, pairs.
 */
const END_FILL = `
if redis.call('HGET', KEYS[1], '${FILLING}') ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('DEL', KEYS[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], '${COMPLETE}', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

/** A change the archive refused: its token taken back if it is still the last (the mirror is usable again). */
const ABORT_FILL = `
if redis.call('HGET', KEYS[1], '${FILLING}') == ARGV[1] then redis.call('HDEL', KEYS[1], '${FILLING}') end
return 1
`

type MirrorScripts = {
  chatBeginFill(key: string, token: string, ttlMs: number): Promise<number>
  chatEndFill(key: string, token: string, ttlMs: number, ...pairs: string[]): Promise<number>
  chatAbortFill(key: string, token: string): Promise<number>
}

/**
 * The archive's settings with a hot copy in Redis, for the Redis engine over an archive. The
 * archive stays their system of record; Redis answers the reads, so that a user's list (`convs`:
 * mute and pin of every conversation, which last messages they hid), `sync` and a page keep being
 * answered while the archive (MySQL) is away, for every user whose copy is in Redis.
 *
 * Mute and pin (P{u:<id>}:csm, a hash conv -> `<muted> <pinned>`, `~` when complete): filled from
 * the archive on a miss. A change is written to the archive first and then refilled from it
 * (write-through): the mirror is replaced only by a filler whose token (`~f`, set before it read
 * or wrote the archive) is still the last, and a mirror with a token in it is not read from (a
 * fill or a change is under way: the archive answers). A fill that lost its token deletes the
 * mirror instead. So a mirror, when read, holds every change committed before its filler read,
 * and none committed later is missing from it without a token or a deletion saying so. While the
 * archive is away a change is refused with the temporary STORE_UNAVAILABLE (the client retries);
 * nothing is kept to be written later.
 *
 * Hidden messages only ever grow (nothing un-hides), so their mirrors are unions: filled from the
 * archive on a miss, with the member `~` saying complete; a hide adds to them after the archive
 * stored it. However a fill and a hide interleave, the union holds both. Keys:
 * P{u:<id>}:hdm:<conv> (seqs), P{u:<id>}:hdcm (conversations with any). A conversation absent
 * from a complete hdcm has nothing hidden: no per-conversation read (nor mirror) for it.
 *
 * Every mirror lives ttlMs (SETTINGS_MIRROR_TTL_MS) from its fill: Redis holds the copies of the
 * users seen within it, bounded by their settings and hides; lost with Redis, they are filled
 * again from the archive.
 */
export class RedisMirroredConvSettings implements ConvSettingsStore {
  private constructor(
    private readonly inner: ConvSettingsStore,
    private readonly redis: RedisConvSettings,
    private readonly client: Client,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {}

  static async open(inner: ConvSettingsStore, options: RedisConvSettingsOptions & { readonly ttlMs?: number }): Promise<RedisMirroredConvSettings> {
    const redis = await RedisConvSettings.open(options)
    const client = (redis as unknown as { client: Client }).client
    client.defineCommand('chatBeginFill', { numberOfKeys: 1, lua: BEGIN_FILL })
    client.defineCommand('chatEndFill', { numberOfKeys: 1, lua: END_FILL })
    client.defineCommand('chatAbortFill', { numberOfKeys: 1, lua: ABORT_FILL })
    return new RedisMirroredConvSettings(inner, redis, client, options.prefix, options.ttlMs ?? MIRROR_TTL_MS)
  }

  private get scripts(): MirrorScripts {
    return this.client as unknown as MirrorScripts
  }

  private settingsKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:csm`
  }
  private seqsKey(user: UserId, conv: ConvId): string {
    return `${this.prefix}{u:${user}}:hdm:${conv}`
  }
  private convsKey(user: UserId): string {
    return `${this.prefix}{u:${user}}:hdcm`
  }

  async all(user: UserId): Promise<Map<ConvId, ConvSetting>> {
    let raw: Record<string, string> | undefined
    try {
      raw = await this.client.hgetall(this.settingsKey(user))
    } catch {
      // Redis away: the archive answers.
    }
    if (raw && raw[COMPLETE] !== undefined && raw[FILLING] === undefined) {
      return new Map(Object.entries(raw).flatMap(([conv, v]) => (conv === COMPLETE ? [] : [[conv, decodeSetting(v)] as const])))
    }
    return this.fill(user)
  }

  async get(user: UserId, conv: ConvId): Promise<ConvSetting> {
    let fields: (string | null)[] | undefined
    try {
      fields = await this.client.hmget(this.settingsKey(user), conv, COMPLETE, FILLING)
    } catch {
      // Redis away: the archive answers.
    }
    if (fields && fields[1] !== null && fields[2] === null) return fields[0] ? decodeSetting(fields[0]) : DEFAULT_SETTING
    return (await this.fill(user)).get(conv) ?? DEFAULT_SETTING
  }

  async put(user: UserId, conv: ConvId, setting: ConvSetting, maxPinned: number): Promise<boolean> {
    const key = this.settingsKey(user)
    const token = randomUUID()
    // Before the archive: a mirror read from now on until the refill below is not trusted.
    try {
      await this.scripts.chatBeginFill(key, token, this.ttlMs)
    } catch (err) {
      throw new AppError('STORE_UNAVAILABLE', undefined, { cause: err })
    }
    let ok: boolean
    try {
      ok = await this.inner.put(user, conv, setting, maxPinned)
    } catch (err) {
      await this.scripts.chatAbortFill(key, token).catch(() => {})
      throw err
    }
    // Refilled from the archive, which now has the change (and any committed before it).
    await this.fill(user, token).catch(() => {})
    return ok
  }

  /**
   * Read `user`'s settings from the archive and store them as the mirror, unless a later fill or
   * change took the token meanwhile; `token`: one already set (a change's). Redis away: the archive's answer alone.
   */
  private async fill(user: UserId, token?: string): Promise<Map<ConvId, ConvSetting>> {
    const key = this.settingsKey(user)
    let mine = token
    if (mine === undefined) {
      const t = randomUUID()
      mine = await this.scripts.chatBeginFill(key, t, this.ttlMs).then(
        () => t,
        () => undefined,
      )
    }
    let settings: Map<ConvId, ConvSetting>
    try {
      settings = await this.inner.all(user)
    } catch (err) {
      // A reader's token taken back: what it found (a copy a failing change left marked) is
      // answered again while the archive is away. Not a change's: its copy lacks the change.
      if (token === undefined && mine !== undefined) await this.scripts.chatAbortFill(key, mine).catch(() => {})
      throw err
    }
    if (mine !== undefined) {
      const pairs = [...settings].flatMap(([conv, s]) => [conv, encodeSetting(s)])
      await this.scripts.chatEndFill(key, mine, this.ttlMs, ...pairs).catch(() => {})
    }
    return settings
  }

  async hide(user: UserId, conv: ConvId, seq: number, max: number): Promise<HideOutcome> {
    const outcome = await this.inner.hide(user, conv, seq, max)
    if (outcome !== 'full') {
      // With the TTL again: an add to a copy not filled yet makes the key (incomplete: read as a miss), and it must not stay.
      await this.client
        .pipeline()
        .sadd(this.seqsKey(user, conv), String(seq))
        .pexpire(this.seqsKey(user, conv), this.ttlMs)
        .sadd(this.convsKey(user), conv)
        .pexpire(this.convsKey(user), this.ttlMs)
        .exec()
        .catch(() => {})
    }
    return outcome
  }

  /** The mirror at `key`, filled from `read` when it is not complete; the archive alone when Redis is away. */
  private async mirrored(key: string, read: () => Promise<Iterable<string | number>>): Promise<Set<string>> {
    let members: string[] | undefined
    try {
      members = await this.client.smembers(key)
    } catch {
      // Redis away: the archive answers.
    }
    if (members?.includes(COMPLETE)) return new Set(members.filter((m) => m !== COMPLETE))
    const fromArchive = [...(await read())].map(String)
    await this.client
      .pipeline()
      .sadd(key, COMPLETE, ...fromArchive)
      .pexpire(key, this.ttlMs)
      .exec()
      .catch(() => {})
    return new Set([...fromArchive, ...(members ?? [])])
  }

  async hidden(user: UserId, conv: ConvId): Promise<ReadonlySet<number>> {
    // Most conversations have nothing hidden: the user's one set says so, no read of the conversation's.
    if (!(await this.hiddenConvs(user)).has(conv)) return new Set()
    const seqs = await this.mirrored(this.seqsKey(user, conv), () => this.inner.hidden(user, conv))
    return new Set([...seqs].map(Number))
  }

  hiddenConvs(user: UserId): Promise<ReadonlySet<ConvId>> {
    return this.mirrored(this.convsKey(user), () => this.inner.hiddenConvs(user))
  }

  async hiddenAmong(user: UserId, places: readonly { readonly conv: ConvId; readonly seq: number }[]): Promise<Set<string>> {
    if (places.length === 0) return new Set()
    const convs = await this.hiddenConvs(user)
    const out = new Set<string>()
    for (const p of places) {
      if (!convs.has(p.conv)) continue
      const seqs = await this.mirrored(this.seqsKey(user, p.conv), () => this.inner.hidden(user, p.conv))
      if (seqs.has(String(p.seq))) out.add(`${p.conv} ${p.seq}`)
    }
    return out
  }

  close(): Promise<void> {
    return this.redis.close()
  }
}

/** SETTINGS_MIRROR_TTL_MS' default: how long a mirror lives after its fill from the archive, ms. */
export const MIRROR_TTL_MS = 86_400_000
