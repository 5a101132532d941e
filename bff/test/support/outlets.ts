/**
 * The outlets of a test's "process" by user, for driving the chat domain without sockets (the
 * gateway's LocalDevices plays this part in the BFF). `T` is the test's own recording outlet.
 */
import type { Outlet, Outlets } from '../../src/chat/outlet'

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
