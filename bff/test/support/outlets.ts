/**
 * The outlets of a test's "process" by user, for driving the chat domain without sockets (the
 * gateway's LocalDevices plays this part in the BFF). `T` is the test's own recording outlet.
 */
import type { Outlet, Outlets } from '../../src/chat/outlet'
import type { SentSeqs } from '../../src/chat/sent-seqs'

export class HeldOutlets<T extends Outlet> implements Outlets {
  readonly byUser = new Map<string, T[]>()
  version = 0
  add(o: T): T {
    this.version++
    this.byUser.set(o.user, [...(this.byUser.get(o.user) ?? []), o])
    return o
  }
  /** A device gone (closed and counted out, as the gateway's LocalDevices.remove). */
  remove(o: T): void {
    this.version++
    const left = (this.byUser.get(o.user) ?? []).filter((x) => x !== o)
    if (left.length > 0) this.byUser.set(o.user, left)
    else this.byUser.delete(o.user)
  }
  of(user: string) {
    return this.byUser.get(user)
  }
  one(user: string) {
    const list = this.byUser.get(user)
    return list?.length === 1 ? list[0] : undefined
  }
  has(user: string) {
    return this.byUser.has(user)
  }
  users() {
    return this.byUser.keys()
  }
}

/** An outlet that keeps every frame written to it, parsed, in order (a device of the chat domain's tests). */
export class RecordingOutlet implements Outlet {
  readonly frames: Record<string, unknown>[] = []
  readonly open = true
  sent: SentSeqs | undefined
  delivered: Map<string, number> | undefined
  readMarks: Map<string, number> | undefined
  constructor(readonly user: string) {}
  write(data: Buffer | string): boolean {
    this.frames.push(JSON.parse(String(data)) as Record<string, unknown>)
    return true
  }
  reply(data: Buffer | string): boolean {
    return this.write(data)
  }
  backlogged(): boolean {
    return false
  }
  async replyAndDrain(data: Buffer | string): Promise<boolean> {
    return this.reply(data)
  }
  heavy(work: () => Promise<void>): Promise<void> {
    return work()
  }
}
