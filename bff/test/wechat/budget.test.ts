import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryWeChatStore } from '../../src/store/wechat'
import { BUDGET_AHEAD, BUDGET_BLOCK, SharedBudget, SpentNotice } from '../../src/wechat/budget'

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
    // 7 blocks, and the 8th asked for ahead while the 7th was being spent.
    expect(storeCalls).toBe(8)
    // The rest of the minute's 1,000, then refusals.
    const rest = await Promise.all(Array.from({ length: 1000 }, () => budget.take()))
    expect(rest.filter(Boolean)).toHaveLength(1000 - 7 * BUDGET_BLOCK)
  })

  it('asks for the next block while BUDGET_AHEAD calls are left: a caller does not wait for the store while the minute has budget', async () => {
    if (Date.now() % 60_000 > 55_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 10))
    const store = new MemoryWeChatStore()
    // The store answers only when told to: what waits for it is seen.
    const answers: Array<() => void> = []
    const hit = store.hit.bind(store)
    store.hit = (key, windowMs, n) => new Promise((resolve, reject) => answers.push(() => void hit(key, windowMs, n).then(resolve, reject)))
    const budget = new SharedBudget(store, 'k', 1000)
    const first = budget.take()
    expect(answers).toHaveLength(1)
    answers[0]!()
    expect(await first).toBe(true)
    // Down to BUDGET_AHEAD left: the next block is asked for, nobody waiting for it.
    for (let i = 1; i < BUDGET_BLOCK - BUDGET_AHEAD; i++) expect(await budget.take()).toBe(true)
    expect(answers).toHaveLength(1)
    expect(await budget.take()).toBe(true)
    expect(answers).toHaveLength(2)
    answers[1]!()
    await new Promise((r) => setImmediate(r))
    // The rest of the first block and all of the second: none waits for the store (a take that
    // did would not resolve: the store answers only when told to).
    for (let i = 0; i < BUDGET_BLOCK; i++) expect(await budget.take()).toBe(true)
    // One ahead again, for the third block.
    expect(answers).toHaveLength(3)
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
