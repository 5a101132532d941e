/**
 * The outlets of a test's "process" by user, for driving the chat domain without sockets (the
 * gateway's LocalDevices plays this part in the BFF). `T` is the test's own recording outlet.
 */
import type { Outlet, Outlets } from '../../src/chat/outlet'

export class HeldOutlets<T extends Outlet> implements Outlets {
  readonly byUser = new Map<string, T[]>()
  add(o: T): T {
    this.byUser.set(o.user, [...(this.byUser.get(o.user) ?? []), o])
    return o
  }
  of(user: string) {
    return this.byUser.get(user)
  }
  has(user: string) {
    return this.byUser.has(user)
  }
  users() {
    return this.byUser.keys()
  }
}
