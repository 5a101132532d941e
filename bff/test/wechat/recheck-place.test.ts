/**
 * Where a queued re-check's content is (recheck-place.ts), on the engines themselves: a message by
 * the dedup record of its cid and, past the dedup window, by its conversation's newest messages
 * (the window of 3 reaches into the archive); a group title by the group's revision and title.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ENGINES, runCleanups } from '../support/engines'
import { Places, RECHECK_SEND_GRACE_MS } from '../../src/wechat/recheck-place'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.each(['memory', 'memory + sqlite archive (window 3)', 'redis'])('where a queued re-check finds its content (%s)', (name) => {
  afterEach(runCleanups)

  it('finds a message by the dedup record of its cid; past the window, among the newest messages; not stored: waiting, then never', async () => {
    const { engine } = await ENGINES[name]!()
    const conv = 'd:ann:bob'
    await engine.convs.create({ id: conv, kind: 'direct', members: ['ann', 'bob'], createdAt: 1 })
    const at = Date.now()
    const append = (cid: string, dedupWindowMs: number) => engine.messages.append({ conv, from: 'ann', cid, mid: cid, ts: Date.now(), kind: 'text', body: { text: cid }, dedupWindowMs })
    await append('remembered', 60_000)
    await append('forgotten', 1)
    for (let i = 0; i < 5; i++) await append(`later-${i}`, 60_000)
    await sleep(20)
    const places = (dedupWindowMs: number) => new Places({ messages: engine.messages, convs: engine.convs, dedupWindowMs })
    const listed = (cid: string, from = 'ann') => ({ from, conv, cid, text: cid, at })

    expect(await places(60_000).message(listed('remembered'), at)).toBe(1)
    expect(await places(60_000).message(listed('remembered', 'bob'), at)).toBe('waiting')
    expect(await places(60_000).message(listed('nowhere'), at + RECHECK_SEND_GRACE_MS - 1)).toBe('waiting')
    expect(await places(60_000).message(listed('nowhere'), at + RECHECK_SEND_GRACE_MS + 1)).toBe('never')
    // The record of `forgotten` is gone: its window has passed, and the messages tell.
    const past = at + 2 * RECHECK_SEND_GRACE_MS
    expect(await places(1).message(listed('forgotten'), past)).toBe(2)
    expect(await places(1).message(listed('nowhere'), past)).toBe('never')
  })

  it('tells a title its group shows (at or past its revision) from one changed again, not yet applied, or never applied', async () => {
    const { engine } = await ENGINES[name]!()
    const places = new Places({ messages: engine.messages, convs: engine.convs, dedupWindowMs: 60_000 })
    const at = Date.now()
    const listed = (conv: string, text: string) => ({ from: 'ann', conv, cid: 'title', text, at })
    const group = { id: 'g:titled', kind: 'group' as const, title: 'first', members: ['ann', 'bob'], createdAt: 1, owner: 'ann', admins: [], joined: {}, rev: 0 }
    await engine.convs.create(group)
    expect(await places.title(listed(group.id, 'first'), 0, at)).toBe('shown')
    // A rename to revision 1 not applied yet: waiting, then never applied.
    expect(await places.title(listed(group.id, 'second'), 1, at)).toBe('waiting')
    expect(await places.title(listed(group.id, 'second'), 1, at + RECHECK_SEND_GRACE_MS + 1)).toBe('gone')
    expect(await engine.convs.update({ ...group, title: 'second', rev: 1 })).toBe(true)
    expect(await places.title(listed(group.id, 'second'), 1, at)).toBe('shown')
    expect(await places.title(listed(group.id, 'first'), 0, at)).toBe('gone')
    // A group whose creation never happened.
    expect(await places.title(listed('g:never', 'x'), 0, at)).toBe('waiting')
    expect(await places.title(listed('g:never', 'x'), 0, at + RECHECK_SEND_GRACE_MS + 1)).toBe('gone')
  })
})
