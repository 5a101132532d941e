/**
 * PROTOCOL.md, Connecting: `welcome` is the first frame a socket receives. A device is counted and
 * reachable (a contact's presence, a live message) while its subscription is still being set up:
 * whatever reaches it then waits and follows `welcome`, in order.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { RunningServer } from '../src/app'
import { createMemoryEngine } from '../src/store/memory'
import type { Engine } from '../src/store/types'
import { connectUser, devLogin, newCid, TestClient } from './support/client'
import { startTestServer } from './support/server'

/** A memory engine whose bus subscription of one user waits until the test lets it through. */
function gatedEngine(): { engine: Engine; gate(user: string): { entered: Promise<void>; open(): void } } {
  const engine = createMemoryEngine({ queueMaxLength: 100, queueRetentionMs: 60_000 })
  const gates = new Map<string, { entered: () => void; wait: Promise<void> }>()
  const subscribe = engine.bus.subscribe.bind(engine.bus)
  engine.bus.subscribe = async (user) => {
    const g = gates.get(user)
    if (g) {
      g.entered()
      await g.wait
    }
    return subscribe(user)
  }
  return {
    engine,
    gate(user) {
      let entered!: () => void
      let open!: () => void
      const enteredP = new Promise<void>((r) => (entered = r))
      const wait = new Promise<void>((r) => (open = r))
      gates.set(user, { entered, wait })
      return { entered: enteredP, open }
    },
  }
}

describe('welcome is the first frame', () => {
  let server: RunningServer
  const gated = gatedEngine()
  const open: TestClient[] = []
  beforeAll(async () => {
    server = await startTestServer({ STORE: 'memory' }, { engine: gated.engine })
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    await server?.close()
  })

  it('holds a contact\'s presence and a live message that reach a device before its welcome, and sends them after it, in order', async () => {
    const bobAuth = await devLogin(server.url, 'wfb')
    const alice = await connectUser(server.url, 'wfa')
    const carol = await connectUser(server.url, 'wfc')
    open.push(alice.client)
    const ab = directConvId('wfa', 'wfb')
    // Carol has a 1:1 with alice and one with bob; alice has one with bob. Bob is offline.
    for (const [c, conv] of [[carol.client, directConvId('wfc', 'wfa')], [carol.client, directConvId('wfc', 'wfb')], [alice.client, ab]] as const) {
      c.send({ type: 'send', cid: newCid(), conv, kind: 'text', body: { text: 'before' } })
      await c.nextOf('ack', (f) => f.conv === conv)
    }

    const gate = gated.gate('wfb')
    const bob = await TestClient.connect(server.url, bobAuth.token)
    open.push(bob)
    await gate.entered // bob's device is counted; its subscription is under way

    // Carol leaves: her presence goes to her contacts in one write per device on this node, bob's
    // first (alice sees it, so bob's socket was written too).
    await carol.client.close()
    await alice.client.nextOf('presence', (f) => f.user === 'wfc' && !f.online)
    // Alice writes: a live push to bob.
    alice.client.send({ type: 'send', cid: newCid(), conv: ab, kind: 'text', body: { text: 'during' } })
    await alice.client.nextOf('ack', (f) => f.conv === ab && f.seq === 2)

    gate.open()
    await bob.nextOf('welcome')
    const live = await bob.nextOf('msg', (f) => f.m.seq === 2)
    expect(live.m.body).toEqual({ text: 'during' })
    const types = bob.frames.map((f) => f.type)
    expect(types[0]).toBe('welcome')
    // What was held follows welcome in the order it was written: carol's presence, then the message.
    expect(bob.frames[1]).toMatchObject({ type: 'presence', user: 'wfc', online: false })
    expect(bob.frames[2]).toBe(live)
  })
})
