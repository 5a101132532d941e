/**
 * Mute, pin and delete for me through the chat client: a request answered by the server is applied
 * here, a push from another of our devices is applied without a request, a refusal rejects with
 * its code and changes nothing.
 */
import { describe, expect, it } from 'vitest'
import { AppError } from '@chat/shared'
import { AB, conv, msg } from '../fixtures'
import { signedIn, welcomed } from './harness'

async function online() {
  const h = signedIn()
  const { store, client } = h
  const s = await welcomed(h)
  s.push({ type: 'convs', rid: String(s.framesOf('convs')[0]!.rid), items: [conv({ lastSeq: 2, unread: 2, lastMsg: msg(2) })] })
  const sync = s.framesOf('sync').at(-1)!
  s.push({ type: 'messages', rid: String(sync.rid), conv: AB, msgs: [msg(1), msg(2)], more: false })
  s.push({ type: 'sync.done', rid: String(sync.rid) })
  return { s, store, client }
}

describe('conversation settings in the chat client', () => {
  it('applies the answer to its own request, and a push from another device without one', async () => {
    const { s, store, client } = await online()
    const pinning = client.setConvSettings(AB, { pinned: true })
    const sent = s.framesOf('conv.settings').at(-1)!
    expect(sent).toMatchObject({ type: 'conv.settings', conv: AB, pinned: true })
    expect(sent.muted).toBeUndefined()
    s.push({ type: 'conv.settings', rid: String(sent.rid), conv: AB, muted: false, pinned: 1234 })
    await pinning
    expect(store.getState().convs[AB]).toMatchObject({ pinned: 1234 })

    // Another device muted it.
    s.push({ type: 'conv.settings', conv: AB, muted: true, pinned: 1234 })
    expect(store.getState().convs[AB]).toMatchObject({ muted: true, pinned: 1234 })

    // Another device deleted message 1 for us.
    s.push({ type: 'hide', conv: AB, seq: 1 })
    expect(store.getState().messages[AB]!.map((m) => m.kind)).toEqual(['hidden', 'text'])

    // Our own delete: applied once the server answers.
    const hiding = client.hideMessage(AB, 2)
    const hide = s.framesOf('hide').at(-1)!
    expect(store.getState().messages[AB]![1]!.kind).toBe('text')
    s.push({ type: 'hide', rid: String(hide.rid), conv: AB, seq: 2 })
    await hiding
    expect(store.getState().messages[AB]!.map((m) => m.kind)).toEqual(['hidden', 'hidden'])
    expect(store.getState().convs[AB]!.lastMsg).toMatchObject({ seq: 2, kind: 'hidden' })
  })

  it('rejects with the server’s code and changes nothing', async () => {
    const { s, store, client } = await online()
    const before = store.getState().convs[AB]
    const pinning = client.setConvSettings(AB, { pinned: true })
    const sent = s.framesOf('conv.settings').at(-1)!
    s.push({ type: 'error', code: 'PINNED_FULL', message: 'too many pinned conversations', temporary: false, rid: String(sent.rid) })
    const err = await pinning.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('PINNED_FULL')
    expect(store.getState().convs[AB]).toBe(before)
  })
})
