/**
 * A 1:1's record on the reconnect path (chat/service.ts `directRecord`, `floor`): a 1:1 never
 * changes, and its id and creation time (the Redis list's score, `ConvSummary.createdAt`) are the
 * whole of it. A process whose record cache holds none of a user's 1:1s (a fresh one, or one
 * serving more users' conversations than its cache holds) lists them and syncs them without
 * reading a single 1:1 record, and lists them exactly as a process with every record cached: the
 * same items and the same tag; and finds whom the user's presence goes to from the 1:1s' ids.
 * Groups are still read. The list on every engine whose summary has the creation times (the Redis
 * ones); on the others its records are read, as before, and it is the same.
 */
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Delivery } from '../src/chat/delivery'
import { noFiles } from '../src/chat/files'
import { FOLDED } from '../src/chat/settings'
import { ChatService } from '../src/chat/service'
import { Metrics } from '../src/ops/metrics'
import type { ConvSummary, Engine } from '../src/store/types'
import { ENGINES, cleanups, runCleanups } from './support/engines'
import { HeldOutlets, RecordingOutlet } from './support/outlets'

afterEach(runCleanups)

/** A ChatService of its own (empty process caches) over `engine`. */
function service(engine: Engine): ChatService {
  const delivery = new Delivery('n1', new HeldOutlets<RecordingOutlet>(), engine.bus, engine.queue, new Metrics(), pino({ level: 'silent' }))
  cleanups.push(() => delivery.settle())
  return new ChatService(engine, delivery, noFiles, { dedupWindowMs: 60_000, queueMaxLength: 100, presenceFanoutMax: 100, syncPauseBytes: 1 << 20 })
}

/** Settings as a store that folds them into the summary gives them, default for every conversation (a tag needs them). */
const settings = { settings: async () => ({ settingOf: (s: ConvSummary) => FOLDED.settingOf({ ...s, setting: s.setting ?? '' }) }) }

for (const [name, make] of Object.entries(ENGINES)) {
  describe(`a reconnect's 1:1 records on the ${name} engine`, () => {
    it('lists, syncs and tells the presence of a user\'s 1:1s without reading their records, as a process that has them cached', async () => {
      const { engine } = await make()
      const warm = service(engine)
      const peers = Array.from({ length: 12 }, (_, i) => `p${String(i).padStart(2, '0')}`)
      for (const id of ['ann', ...peers]) await engine.users.upsert({ id, name: id.toUpperCase() })
      const ann = { id: 'ann', name: 'ANN' }
      const directs: string[] = []
      for (const p of peers) directs.push((await warm.createDirect(ann, p)).id)
      // A note to self, a group, and messages both ways in some of the 1:1s (one read by ann).
      const self = (await warm.createDirect(ann, 'ann')).id
      const group = (await warm.create(ann, { kind: 'group', members: ['p00', 'p01'], title: 'trio' })).id
      for (let i = 0; i < directs.length; i += 3) {
        await warm.send(peers[i]!, { cid: `cid-in-${i}-xxxx`, conv: directs[i]!, kind: 'text', body: { text: `from ${peers[i]}` } })
        await warm.send('ann', { cid: `cid-out-${i}-xxxx`, conv: directs[i]!, kind: 'text', body: { text: `to ${peers[i]}` } })
      }
      await warm.send('ann', { cid: 'cid-self-0-xxxx', conv: self, kind: 'text', body: { text: 'note' } })
      await warm.send('p01', { cid: 'cid-group-0-xxxx', conv: group, kind: 'text', body: { text: 'hi all' } })
      await warm.read('ann', { conv: directs[3]!, seq: 2 })

      const before = await warm.listing('ann', { raw: true, ...settings })
      expect(before.tag).toBeDefined()
      expect(before.items.map((c) => c.id).sort()).toEqual([...directs, self, group].sort())

      // Every record read the engine is asked for, by conversation.
      const reads: string[] = []
      const get = engine.convs.get.bind(engine.convs)
      engine.convs.get = (conv) => (reads.push(conv), get(conv))
      const fresh = service(engine)
      const after = await fresh.listing('ann', { raw: true, ...settings })
      const summarised = (await engine.convs.overview('ann')).every((s) => s.createdAt !== undefined)
      // Redis: the summary has each conversation's creation time; the group alone is read.
      if (summarised) expect(reads).toEqual([group])
      else expect(reads.filter((c) => c.startsWith('d:')).length).toBeGreaterThan(0)
      expect(after.items).toEqual(before.items)
      expect(after.tag).toBe(before.tag)
      // The same list for ann's peer, whose records this process never cached.
      reads.length = 0
      const peer = await fresh.listing('p03', { raw: true, ...settings })
      if (summarised) expect(reads).toEqual([])
      expect(peer.items).toEqual((await warm.listing('p03', { raw: true, ...settings })).items)

      // Whom ann's presence goes to (at every connect and disconnect): her peers from the 1:1s'
      // ids on every engine, the group's members from its record; nobody for the note to self.
      reads.length = 0
      const audience = await service(engine).presenceAudience('ann')
      expect(reads).toEqual([group])
      expect([...audience].sort()).toEqual([...(await warm.presenceAudience('ann'))].sort())
      expect([...audience].sort()).toEqual(peers)

      // A sync with something to send in every conversation reads no 1:1 record either (nothing to join late).
      reads.length = 0
      const out = new RecordingOutlet('ann')
      await service(engine).sync('ann', 'rid-sync-0001', [...directs, self, group].map((conv) => ({ conv, seq: 0 })), out)
      if (summarised) expect(reads.filter((c) => c.startsWith('d:'))).toEqual([])
      const sent = out.frames.filter((f) => f.type === 'messages').flatMap((f) => (f.msgs as { conv: string; seq: number }[]).map((m) => `${m.conv}#${m.seq}`))
      const want = before.items.flatMap((c) => Array.from({ length: c.lastSeq }, (_, i) => `${c.id}#${i + 1}`))
      expect(want).toHaveLength(4 * 2 + 1 + 1)
      expect(sent.sort()).toEqual(want.sort())
    })
  })
}
