/**
 * Presence survives the death of a process (issue 15). Every PRESENCE_BEAT_MS this process says it
 * is alive (`PresenceStore.beat`) and reaps the processes that have not said so for
 * PRESENCE_NODE_DEAD_MS (`PresenceStore.reap`): a process killed with its sockets still counted
 * would otherwise show their users online for ever. Each user left with no device is announced
 * offline to its contacts, last seen at the dead process's last beat.
 *
 * A process reaped while alive (its event loop or its Redis stalled past the bound) learns it from
 * its next beat and counts its sockets again, announcing their users online.
 *
 * Bound: a user of a dead process is shown offline at most PRESENCE_NODE_DEAD_MS +
 * PRESENCE_BEAT_MS after the process's last beat (plus the reap's own work, one script per 500 users).
 */
import type { Presence } from '@chat/shared'
import type { Logger } from '../log'
import type { PresenceStore } from '../store/types'

export interface LivenessDeps {
  readonly presence: PresenceStore
  readonly node: string
  /** PRESENCE_BEAT_MS. */
  readonly beatMs: number
  /** PRESENCE_NODE_DEAD_MS. */
  readonly deadMs: number
  /** This process was reaped while alive: count its sockets again. */
  readonly recount: () => Promise<void>
  /** A user of a dead process has no device left: tell its contacts. */
  readonly announce: (p: Presence) => Promise<void>
  readonly log: Logger
  readonly now?: () => number
}

export class NodeLiveness {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor(private readonly deps: LivenessDeps) {}

  start(): void {
    if (this.timer) return
    void this.tick()
    this.timer = setInterval(() => void this.tick(), this.deps.beatMs)
    this.timer.unref()
  }

  /** One beat and reap; a tick still running when the next is due is not doubled. */
  tick(): Promise<void> {
    this.running ??= this.once().finally(() => (this.running = undefined))
    return this.running
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }

  private async once(): Promise<void> {
    const { presence, node, log } = this.deps
    const now = (this.deps.now ?? Date.now)()
    try {
      if (await presence.beat(node, now)) {
        log.warn({ node }, 'this process was reaped as dead: counting its sockets again')
        await this.deps.recount()
      }
      const offline = await presence.reap(now - this.deps.deadMs)
      if (offline.length > 0) log.info({ users: offline.length }, 'presence of dead processes reaped')
      for (const p of offline) {
        await this.deps.announce(p).catch((err: unknown) => log.warn({ err, user: p.user }, 'offline announcement failed'))
      }
    } catch (err) {
      // The next beat tries again (Redis away: nothing is lost, the dead stay reapable).
      log.warn({ err }, 'presence beat failed')
    }
  }
}
