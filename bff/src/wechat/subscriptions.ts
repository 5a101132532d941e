/**
 * Subscription messages for users whose mini-program is closed (PLATFORM.md, Subscription
 * messages). The client asks `wx.requestSubscribeMessage` on a tap and reports what was accepted
 * (`grant`): each acceptance of the one-time template is one notification the BFF may send, counted
 * per user and template in the store (bounded by WX_SUBSCRIBE_MAX).
 *
 * `noticed` is called where the chat service finds a message it could not hand to any device of a
 * recipient (it goes to the offline queue). After WX_SUBSCRIBE_GRACE_MS the user's presence is
 * read: online, or seen since the message arrived (a quick app switch), sends nothing. Otherwise the
 * conversation is claimed for this absence (one notification per conversation until the user has
 * been back: `back` clears the claims) and one allowance is spent on `subscribeMessage.send`.
 * 43101 (refused or used up) zeroes the count. Sending never delays or fails a chat message: it
 * runs after the message is stored and acked, and its failures are metrics and logs. A process
 * that dies holds its grace timers with it: those absences notify nothing (never twice).
 */
import type { ConvId, Message, UserId } from '@chat/shared'
import { Counter } from 'prom-client'
import type { Registry } from 'prom-client'
import type { Logger } from '../log'
import type { PresenceStore, UserStore } from '../store/types'
import type { WeChatStore } from '../store/wechat'
import { WxError } from './api'
import type { WxApi } from './api'

export interface SubscriptionOptions {
  readonly templateId: string
  readonly fields: readonly [string, string, string]
  readonly graceMs: number
  readonly maxAllowances: number
  readonly miniprogramState: 'formal' | 'trial' | 'developer'
}

/** WeChat's limit of a `thing` value, characters. */
const THING_MAX_CHARS = 20
/** Pending grace timers per process, at most (beyond, new absences are not tracked: a metric says so). */
const PENDING_MAX = 100_000

export class Subscriptions {
  readonly outcomes: Counter<'outcome'>
  private readonly pending = new Map<string, NodeJS.Timeout>()
  private readonly running = new Set<Promise<void>>()
  /** Set by the composition: whether `user` muted `conv` (then nothing is sent for it). */
  muted: ((user: UserId, conv: ConvId) => Promise<boolean>) | undefined

  constructor(
    private readonly api: WxApi,
    private readonly store: WeChatStore,
    private readonly presence: PresenceStore,
    private readonly users: UserStore,
    private readonly options: SubscriptionOptions,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.outcomes = new Counter({
      name: 'wechat_notifications_total',
      help: 'Offline notifications by outcome (sent, online, back, muted, claimed, no_allowance, refused, failed, overflow)',
      labelNames: ['outcome'],
      registers: [registry],
    })
  }

  /** The template ids the client may ask for (none when notifications are off). */
  get templateIds(): string[] {
    return this.options.templateId ? [this.options.templateId] : []
  }

  /**
   * The client's `wx.requestSubscribeMessage` result: `{ [templateId]: 'accept' | 'reject' | 'ban' | 'filter' }`.
   * Returns the allowances now held per configured template.
   */
  async grant(user: UserId, results: Record<string, unknown>): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const id of this.templateIds) {
      out[id] = results[id] === 'accept' ? await this.store.grant(user, id, 1, this.options.maxAllowances) : await this.store.allowances(user, id)
    }
    return out
  }

  async allowances(user: UserId): Promise<Record<string, number>> {
    const out: Record<string, number> = {}
    for (const id of this.templateIds) out[id] = await this.store.allowances(user, id)
    return out
  }

  /** A stored message reached no device of `user` (it was queued). */
  noticed(user: UserId, msgJson: string): void {
    if (!this.options.templateId) return
    let msg: Message
    try {
      msg = JSON.parse(msgJson) as Message
    } catch {
      return
    }
    if (msg.from === user) return
    const key = `${user}\0${msg.conv}`
    // The first waiting message of a conversation is the one that notifies.
    if (this.pending.has(key)) return
    if (this.pending.size >= PENDING_MAX) return void this.outcomes.inc({ outcome: 'overflow' })
    const at = Date.now()
    const timer = setTimeout(() => {
      this.pending.delete(key)
      const run = this.fire(user, msg, at).finally(() => this.running.delete(run))
      this.running.add(run)
    }, this.options.graceMs)
    timer.unref()
    this.pending.set(key, timer)
  }

  /** `user` has a device connected again: the next absence may notify every conversation again. */
  back(user: UserId): void {
    if (!this.options.templateId) return
    for (const [key, timer] of this.pending) {
      if (key.startsWith(`${user}\0`)) {
        clearTimeout(timer)
        this.pending.delete(key)
      }
    }
    this.store.clearNotices(user).catch((err: unknown) => this.log.warn({ err: String(err), user }, 'notification marks not cleared'))
  }

  /** Stop the timers; wait for sends under way. */
  async close(): Promise<void> {
    for (const timer of this.pending.values()) clearTimeout(timer)
    this.pending.clear()
    await Promise.allSettled([...this.running])
  }

  private async fire(user: UserId, msg: Message, at: number): Promise<void> {
    const templateId = this.options.templateId
    try {
      const [p] = await this.presence.get([user])
      if (p?.online) return void this.outcomes.inc({ outcome: 'online' })
      if (p?.lastSeen !== undefined && p.lastSeen > at) return void this.outcomes.inc({ outcome: 'back' })
      // Muted conversations send nothing (checked when the grace ends: a mute set meanwhile counts).
      if (this.muted && (await this.muted(user, msg.conv))) return void this.outcomes.inc({ outcome: 'muted' })
      if (!(await this.store.claimNotice(user, msg.conv))) return void this.outcomes.inc({ outcome: 'claimed' })
      if (!(await this.store.spend(user, templateId))) return void this.outcomes.inc({ outcome: 'no_allowance' })
      const [sender] = await this.users.get([msg.from])
      const [fName, fPreview, fTime] = this.options.fields
      try {
        await this.api.call('subscribe_send', '/cgi-bin/message/subscribe/send', {
          touser: user,
          template_id: templateId,
          page: `pages/chat/index?conv=${encodeURIComponent(msg.conv)}`,
          miniprogram_state: this.options.miniprogramState,
          lang: 'zh_CN',
          data: {
            [fName]: { value: clip(sender?.name ?? msg.from) },
            [fPreview]: { value: clip(preview(msg)) },
            [fTime]: { value: timeOf(msg.ts) },
          },
        })
        this.outcomes.inc({ outcome: 'sent' })
      } catch (err) {
        if (err instanceof WxError && err.errcode === 43101) {
          await this.store.zero(user, templateId)
          this.outcomes.inc({ outcome: 'refused' })
        } else {
          // Not WeChat's "no allowance": the allowance was not used, give it back.
          await this.store.grant(user, templateId, 1, this.options.maxAllowances)
          this.outcomes.inc({ outcome: 'failed' })
        }
        this.log.warn({ user, conv: msg.conv, errcode: err instanceof WxError ? err.errcode : undefined }, 'notification not sent')
      }
    } catch (err) {
      this.outcomes.inc({ outcome: 'failed' })
      this.log.warn({ err: String(err), user }, 'notification failed')
    }
  }
}

function preview(msg: Message): string {
  if (msg.kind === 'text') return msg.body.text.replace(/\s+/g, ' ').trim()
  return msg.kind === 'image' ? '[图片]' : '[文件]'
}

function clip(s: string): string {
  const chars = Array.from(s)
  return chars.length <= THING_MAX_CHARS ? s : `${chars.slice(0, THING_MAX_CHARS - 1).join('')}…`
}

/** A `time` value as WeChat reads it ("2026-11-28 18:01"), in China's time zone where its users are. */
function timeOf(ts: number): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(ts)
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? ''
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`
}

export type { ConvId }
