import { ERRORS } from '@tus/server'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ProcessLocker } from '../../src/upload/locker'

afterEach(() => {
  vi.useRealTimers()
})

describe('ProcessLocker (the lock @tus/server takes per request)', () => {
  it('takes a free lock at once and frees it on unlock', async () => {
    const locker = new ProcessLocker()
    const lock = locker.newLock('a')
    await lock.lock(new AbortController().signal, () => undefined)
    expect(locker.lockedIds).toEqual(['a'])
    await lock.unlock()
    expect(locker.lockedIds).toEqual([])
  })

  it('locks per upload id', async () => {
    const locker = new ProcessLocker()
    await locker.newLock('a').lock(new AbortController().signal, () => undefined)
    await locker.newLock('b').lock(new AbortController().signal, () => undefined)
    expect(locker.lockedIds.sort()).toEqual(['a', 'b'])
  })

  it('a second request asks the holder to let go and gets the lock once it is released', async () => {
    const locker = new ProcessLocker()
    const first = locker.newLock('a')
    const asked = vi.fn()
    await first.lock(new AbortController().signal, asked)
    const second = locker.newLock('a')
    let acquired = false
    const waiting = second.lock(new AbortController().signal, () => undefined).then(() => (acquired = true))
    await vi.waitFor(() => expect(asked).toHaveBeenCalledTimes(1))
    expect(acquired).toBe(false)
    await first.unlock()
    await waiting
    expect(acquired).toBe(true)
    await second.unlock()
    expect(locker.lockedIds).toEqual([])
  })

  it('gives up with ERR_LOCK_TIMEOUT when its own request is aborted while waiting', async () => {
    const locker = new ProcessLocker()
    await locker.newLock('a').lock(new AbortController().signal, () => undefined)
    const abort = new AbortController()
    const waiting = locker.newLock('a').lock(abort.signal, () => undefined)
    abort.abort()
    await expect(waiting).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT)
    expect(locker.lockedIds).toEqual(['a'])
  })

  it('gives up with ERR_LOCK_TIMEOUT when the holder does not let go in time', async () => {
    vi.useFakeTimers()
    const locker = new ProcessLocker(1000)
    await locker.newLock('a').lock(new AbortController().signal, () => undefined)
    const waiting = locker.newLock('a').lock(new AbortController().signal, () => undefined)
    const outcome = expect(waiting).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT)
    await vi.advanceTimersByTimeAsync(1000)
    await outcome
  })

  it('refuses to release a lock it does not hold', async () => {
    const locker = new ProcessLocker()
    await expect(locker.newLock('a').unlock()).rejects.toThrow('Releasing an unlocked lock!')
  })
})
