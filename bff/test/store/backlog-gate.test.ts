/** The archive's backlog bound, read at most once per interval instead of once per send. */
import { describe, expect, it } from 'vitest'
import { BacklogGate } from '../../src/store/backlog-gate'

function stream(length = 0) {
  const s = { length, reads: 0, failing: false }
  const read = async () => {
    s.reads++
    if (s.failing) throw new Error('redis away')
    return s.length
  }
  return { s, read }
}

describe('backlog gate', () => {
  it('admits on a fresh reading, then on the cached one until it is older than the interval', async () => {
    const { s, read } = stream(0)
    const gate = new BacklogGate(read, 10, 60_000)
    await gate.admit()
    s.length = 10
    // Within the interval: the reading of 0 still stands, no command.
    await gate.admit()
    expect(s.reads).toBe(1)
  })

  it('refuses as temporary at the bound, and admits again once a reading is below it', async () => {
    const { s, read } = stream(10)
    const gate = new BacklogGate(read, 10, 0)
    await expect(gate.admit()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    s.length = 9
    await gate.admit()
    expect(s.reads).toBe(2)
  })

  it('shares one reading among the sends waiting for it', async () => {
    const { s, read } = stream(3)
    const gate = new BacklogGate(read, 10, 60_000)
    await Promise.all([gate.admit(), gate.admit(), gate.admit()])
    expect(s.reads).toBe(1)
  })

  it('fails the send when the length cannot be read, and reads again on the next one', async () => {
    const { s, read } = stream(0)
    s.failing = true
    const gate = new BacklogGate(read, 10, 60_000)
    await expect(gate.admit()).rejects.toThrow('redis away')
    s.failing = false
    await gate.admit()
    expect(s.reads).toBe(2)
  })
})
