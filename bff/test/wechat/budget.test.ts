import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryWeChatStore } from '../../src/store/wechat'
import { BUDGET_BLOCK, SharedBudget, SpentNotice } from '../../src/wechat/budget'

describe('shared per-minute budget', () => {
  it('grants exactly the limit over several processes, one store call per block', async () => {
    // The budget is a fixed minute window: start well inside one (the window is time itself).
    if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 10))
    const store = new MemoryWeChatStore()
    let storeCalls = 0
    const hit = store.hit.bind(store)
    store.hit = (key, windowMs, n) => (storeCalls++, hit(key, windowMs, n))
    const processes = [new SharedBudget(store, 'k', 120), new SharedBudget(store, 'k', 120), new SharedBudget(store, 'k', 120)]
    const granted = await Promise.all(Array.from({ length: 300 }, (_, i) => processes[i % 3]!.take()))
    expect(granted.filter(Boolean)).toHaveLength(120)
    // 120 in blocks of 50 (50, 50, 20) and one refusal per process, remembered for the minute.
    expect(BUDGET_BLOCK).toBe(50)
    expect(storeCalls).toBeLessThanOrEqual(6)
    // Once a process learnt the minute is spent, it asks the store no more.
    expect(await processes[0]!.take()).toBe(false)
    const before = storeCalls
    expect(await processes[0]!.take()).toBe(false)
    expect(await processes[1]!.take()).toBe(false)
    expect(storeCalls).toBeLessThanOrEqual(before + 1)
  })

  it('grants every concurrent caller while the minute has budget, beyond one block', async () => {
    if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 10))
    const store = new MemoryWeChatStore()
    let storeCalls = 0
    const hit = store.hit.bind(store)
    store.hit = (key, windowMs, n) => (storeCalls++, hit(key, windowMs, n))
    const budget = new SharedBudget(store, 'k', 1000)
    // 7 blocks' worth of callers at once, as a burst of sends does.
    const granted = await Promise.all(Array.from({ length: 7 * BUDGET_BLOCK }, () => budget.take()))
    expect(granted.filter(Boolean)).toHaveLength(7 * BUDGET_BLOCK)
    expect(storeCalls).toBe(7)
    // The rest of the minute's 1,000, then refusals.
    const rest = await Promise.all(Array.from({ length: 1000 }, () => budget.take()))
    expect(rest.filter(Boolean)).toHaveLength(1000 - 7 * BUDGET_BLOCK)
  })

  describe('spent notice', () => {
    afterEach(() => vi.useRealTimers())
    it('says a spent minute once, and how many refusals it kept quiet when the next minute says it', () => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(60_000 * 1000 + 5)
      const notice = new SpentNotice()
      expect(notice.first()).toEqual({ log: true, suppressed: 0 })
      for (let i = 0; i < 999; i++) expect(notice.first().log).toBe(false)
      vi.setSystemTime(60_000 * 1001 + 5)
      expect(notice.first()).toEqual({ log: true, suppressed: 999 })
      expect(notice.first().log).toBe(false)
    })
  })
})
