import { describe, expect, it } from 'vitest'
import { MemoryWeChatStore } from '../../src/store/wechat'
import { BUDGET_BLOCK, SharedBudget } from '../../src/wechat/budget'

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
})
