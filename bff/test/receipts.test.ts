/** Delivery receipts are coalesced: at most one per sender and conversation per window (chat/receipts.ts). */
import { describe, expect, it } from 'vitest'
import { ReceiptWindow } from '../src/chat/receipts'

describe('ReceiptWindow', () => {
  it('sends the first receipt at once and only the highest of the rest when the window ends', async () => {
    const w = new ReceiptWindow(30)
    const sent: number[] = []
    const send = (s: number) => void sent.push(s)
    w.offer('bob', 'd:alice:bob', 1, send)
    expect(sent).toEqual([1])
    for (const seq of [2, 5, 3, 4]) w.offer('bob', 'd:alice:bob', seq, send)
    expect(sent).toEqual([1])
    await waitUntil(() => w.size === 0)
    expect(sent).toEqual([1, 5])
  })

  it('keeps senders and conversations apart, and sends nothing more when nothing moved', async () => {
    const w = new ReceiptWindow(30)
    const sent: string[] = []
    w.offer('bob', 'd:alice:bob', 1, (s) => sent.push(`bob/ab/${s}`))
    w.offer('carol', 'd:alice:carol', 1, (s) => sent.push(`carol/ac/${s}`))
    w.offer('bob', 'd:bob:dave', 7, (s) => sent.push(`bob/bd/${s}`))
    w.offer('bob', 'd:alice:bob', 1, (s) => sent.push(`bob/ab/again${s}`))
    await waitUntil(() => w.size === 0)
    expect(sent).toEqual(['bob/ab/1', 'carol/ac/1', 'bob/bd/7'])
  })
})

/** The window's end has no event of its own: polled, bounded. */
async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5))
  if (!cond()) throw new Error('window never closed')
}
