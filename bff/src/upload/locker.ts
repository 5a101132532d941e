/**
 * The per-process lock @tus/server takes around every append, HEAD and DELETE of an upload: the
 * behaviour of its MemoryLocker (2.4.5), without what that costs on every request. MemoryLocker
 * arms a 30 s timer and an AbortController per acquisition and aborts it when done (a DOMException
 * with a captured stack trace each time) even when nobody else holds the lock, which is nearly
 * always: our client sends one request at a time per upload.
 *
 * Same rules: the first request takes the lock at once; a later one asks the holder to let go (the
 * `requestRelease` the holder registered: @tus/server then ends the holder's request after its
 * `lockDrainTimeout`) and waits until it is released, its own request is aborted, or `timeoutMs`
 * passes (ERR_LOCK_TIMEOUT, as MemoryLocker).
 */
import { ERRORS } from '@tus/server'
import type { Lock, Locker, RequestRelease } from '@tus/server'

interface Holder {
  readonly requestRelease: RequestRelease
  readonly released: Promise<void>
  release(): void
}

export class ProcessLocker implements Locker {
  private readonly held = new Map<string, Holder>()

  constructor(private readonly timeoutMs = 30_000) {}

  newLock(id: string): Lock {
    return new ProcessLock(id, this.held, this.timeoutMs)
  }

  /** Upload ids locked right now (tests). */
  get lockedIds(): string[] {
    return [...this.held.keys()]
  }
}

class ProcessLock implements Lock {
  private mine: Holder | undefined

  constructor(
    private readonly id: string,
    private readonly held: Map<string, Holder>,
    private readonly timeoutMs: number,
  ) {}

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const deadline = Date.now() + this.timeoutMs
    while (true) {
      const holder = this.held.get(this.id)
      if (!holder) {
        let release!: () => void
        const released = new Promise<void>((resolve) => (release = resolve))
        this.mine = { requestRelease, released, release }
        this.held.set(this.id, this.mine)
        return
      }
      if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT
      await holder.requestRelease()
      if (!(await released(holder, signal, deadline - Date.now()))) throw ERRORS.ERR_LOCK_TIMEOUT
      // Released: try again (another waiter may have taken it first).
    }
  }

  async unlock(): Promise<void> {
    const holder = this.held.get(this.id)
    if (!holder || holder !== this.mine) throw new Error('Releasing an unlocked lock!')
    this.held.delete(this.id)
    this.mine = undefined
    holder.release()
  }
}

/** Whether `holder` let go within `ms` (false: timed out, or `signal` aborted first). */
function released(holder: Holder, signal: AbortSignal, ms: number): Promise<boolean> {
  if (ms <= 0 || signal.aborted) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = (): void => done(false)
    const timer = setTimeout(() => done(false), ms)
    signal.addEventListener('abort', onAbort, { once: true })
    void holder.released.then(() => done(true))
  })
}
