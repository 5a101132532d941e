/**
 * Every write to a socket goes through one bound (Connection.write): a client that stops reading
 * is cut with 4009 whatever fills its buffer (answers it asked for, or pushes from others), and the
 * server never holds more for it than SLOW_CONSUMER_BYTES plus one frame. On both engines.
 */
import { describe, expect, it } from 'vitest'
import { LIMITS, directConvId } from '@chat/shared'
import { TestClient, newCid } from './support/client'
import { useTestServer } from './support/server'
import { waitFor } from './support/wait'

const BOUND = 64 * 1024
/** The largest frame the server builds: a batch of about 256 KiB plus the one message that crossed it. */
const LARGEST_FRAME = 256 * 1024 + 4 * LIMITS.maxTextChars + 1024

type Paused = { pause(): void; resume(): void }
const socketOf = (c: TestClient) => (c.ws as unknown as { _socket: Paused })._socket

describe.each(['memory', 'redis'] as const)('bounded writes over the %s engine', (store) => {
  const t = useTestServer(store, { SLOW_CONSUMER_BYTES: String(BOUND), RATE_LIMIT_PER_SEC: '100000', RATE_LIMIT_BURST: '100000' })
  const uid = t.uid
  const user = async (name: string) => (await t.connect(name)).client


  const cuts = async () => (await t.server.metrics.slowConsumers.get()).values[0]?.value ?? 0
  /** The largest number of unsent bytes any cut connection held (histogram sum over cuts). */
  const heldAtCuts = async () => {
    const values = (await t.server.metrics.slowConsumerBytes.get()).values
    return { sum: values.find((v) => v.metricName === 'chat_slow_consumer_unsent_bytes_sum')?.value ?? 0 }
  }
  const sentOf = async (type: string) => (await t.server.metrics.framesOut.get()).values.find((v) => v.labels.type === type)?.value ?? 0

  it('answers asked for by a client that stopped reading: cut 4009, unsent bytes bounded, nothing stored lost', async () => {
    const a = uid('writer')
    const b = uid('reader')
    const conv = directConvId(a, b)
    const writer = await user(a)
    const reader = await user(b)
    const otherDevice = await user(b)
    const text = 'h'.repeat(LIMITS.maxTextChars)
    const cids = Array.from({ length: 200 }, () => newCid())
    for (const cid of cids) writer.send({ type: 'send', cid, conv, kind: 'text', body: { text } })
    await writer.nextOf('ack', (f) => f.cid === cids.at(-1))
    await waitFor(() => otherDevice.all('msg').length === 200 && reader.all('msg').length === 200)
    const cutsBefore = await cuts()
    const heldBefore = (await heldAtCuts()).sum
    const batchesBefore = await sentOf('messages')

    // 100 pages of ~300 KB asked for at once (30 MB unbounded, several times what the kernel's
    // socket buffers take); the reader takes none of it.
    // Count the pages read from the store (the real engine's own method, wrapped).
    const messages = t.server.engine.messages as { before: typeof t.server.engine.messages.before }
    const before = messages.before
    let reads = 0
    messages.before = (...args) => (reads++, before.apply(t.server.engine.messages, args))
    socketOf(reader).pause()
    for (let i = 0; i < 100; i++) reader.send({ type: 'history', rid: `h${i}`, conv, limit: 60 })
    await waitFor(async () => (await cuts()) === cutsBefore + 1, 20_000)
    const held = (await heldAtCuts()).sum - heldBefore
    expect(held).toBeGreaterThan(BOUND)
    expect(held).toBeLessThanOrEqual(BOUND + LARGEST_FRAME)
    const batches = (await sentOf('messages')) - batchesBefore
    expect(batches).toBeLessThan(100)

    socketOf(reader).resume()
    const closed = await reader.closed
    // The close frame waits behind what was unsent; a client that never takes it is destroyed (1006).
    expect([4009, 1006]).toContain(closed.code)
    // History requests run one at a time per connection: none reads a page once the socket is cut
    // (at most the one in progress at the cut), so the unanswered ones held no page in memory.
    expect(reads).toBeLessThanOrEqual(batches + 1)
    messages.before = before
    const pages = reader.all('messages')
    expect(pages.length).toBeLessThanOrEqual(batches)
    // Every page is at most one batch: the newest messages of the page that fit, `more` set.
    for (const p of pages) {
      expect(p.msgs.length).toBeGreaterThan(0)
      expect(p.more).toBe(true)
      expect(JSON.stringify(p).length).toBeLessThanOrEqual(LARGEST_FRAME)
    }
    // Nothing stored is lost, and the user's other device is untouched.
    const stored = await t.server.engine.messages.before(conv, undefined, LIMITS.maxPageSize)
    expect(stored).toHaveLength(200)
    otherDevice.send({ type: 'ping', ts: 1 })
    expect((await otherDevice.nextOf('pong')).ts).toBe(1)
    expect(await cuts()).toBe(cutsBefore + 1)
  })

  it('pushes from others to a client that stopped reading (typing): cut 4009, unsent bytes bounded', async () => {
    // Long ids make each typing frame ~170 bytes: fewer frames fill the kernel's buffers.
    const a = uid('typist'.padEnd(60, 't'))
    const b = uid('idle'.padEnd(60, 'i'))
    const conv = directConvId(a, b)
    const typist = await user(a)
    const idle = await user(b)
    const cid = newCid()
    typist.send({ type: 'send', cid, conv, kind: 'text', body: { text: 'hi' } })
    await typist.nextOf('ack', (f) => f.cid === cid)
    await idle.nextOf('msg', (f) => f.m.cid === cid)
    const cutsBefore = await cuts()
    const heldBefore = (await heldAtCuts()).sum

    socketOf(idle).pause()
    // Typing frames are small: the kernel's buffers take megabytes first. Paced by pings, bounded.
    let rounds = 0
    while ((await cuts()) === cutsBefore && rounds < 400) {
      for (let i = 0; i < 500; i++) typist.send({ type: 'typing', conv })
      typist.send({ type: 'ping', ts: rounds })
      await typist.nextOf('pong', (f) => f.ts === rounds)
      rounds++
    }
    expect(await cuts()).toBe(cutsBefore + 1)
    const held = (await heldAtCuts()).sum - heldBefore
    expect(held).toBeGreaterThan(BOUND)
    expect(held).toBeLessThanOrEqual(BOUND + 1024)
    socketOf(idle).resume()
    expect([4009, 1006]).toContain((await idle.closed).code)
    // The typist is not affected.
    typist.send({ type: 'ping', ts: 999_999 })
    expect((await typist.nextOf('pong', (f) => f.ts === 999_999)).ts).toBe(999_999)
  })
})
