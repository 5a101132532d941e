/**
 * The conversation list's tag (PROTOCOL.md, Conversation list): the client sends back the tag of
 * the list it holds on every reconnect and refresh, keeps its list (with what it applied since)
 * when the answer is `same`, takes a new list and tag otherwise, and never sends a tag it did not
 * get for the user now logged in.
 */
import { describe, expect, it } from 'vitest'
import { AB, conv, msg } from '../fixtures'
import { settle, signedIn, welcomed as reconnect } from './harness'

describe('conversation list tag', () => {
  it('sends the tag it got on reconnect, keeps its list on `same`, and takes a new list and tag otherwise', async () => {
    const h = signedIn()
    const s1 = await reconnect(h)
    // The first list: no tag to send yet.
    const first = s1.framesOf('convs')[0]!
    expect(first.tag).toBeUndefined()
    s1.push({ type: 'convs', rid: String(first.rid), items: [conv({ lastSeq: 2, lastMsg: msg(2) })], tag: '1aaaaaaa' })
    const listed = h.store.getState().convs
    expect(listed[AB]!.lastSeq).toBe(2)

    // Back from the background: the same tag goes out; `same` leaves the list as it was.
    const s2 = await reconnect(h, s1)
    const second = s2.framesOf('convs').at(-1)!
    expect(second.tag).toBe('1aaaaaaa')
    s2.push({ type: 'convs', rid: String(second.rid), items: [], tag: '1aaaaaaa', same: true })
    await settle()
    expect(h.store.getState().convs).toBe(listed)
    expect(h.store.getState().convsLoaded).toBe(true)

    // Something changed meanwhile: the new list replaces it, and its tag is the one sent next.
    const s3 = await reconnect(h, s2)
    const third = s3.framesOf('convs').at(-1)!
    expect(third.tag).toBe('1aaaaaaa')
    s3.push({ type: 'convs', rid: String(third.rid), items: [conv({ lastSeq: 3, lastMsg: msg(3) })], tag: '1bbbbbbb' })
    expect(h.store.getState().convs[AB]!.lastSeq).toBe(3)
    const s4 = await reconnect(h, s3)
    expect(s4.framesOf('convs').at(-1)!.tag).toBe('1bbbbbbb')

    // A list without a tag (a server that gives none) is not answered with an old one.
    s4.push({ type: 'convs', rid: String(s4.framesOf('convs').at(-1)!.rid), items: [conv({ lastSeq: 3, lastMsg: msg(3) })] })
    const pulled = h.client.refreshConvs()
    const s5 = s4.framesOf('convs').at(-1)!
    expect(s5.tag).toBeUndefined()
    s4.push({ type: 'convs', rid: String(s5.rid), items: [conv({ lastSeq: 3, lastMsg: msg(3) })], tag: '1ccccccc' })
    await pulled
  })

  it('forgets the tag when the user logs out: the next user starts without one', async () => {
    const h = signedIn()
    const s1 = await reconnect(h)
    s1.push({ type: 'convs', rid: String(s1.framesOf('convs')[0]!.rid), items: [conv()], tag: '1aaaaaaa' })
    expect(h.store.getState().convsTag).toBe('1aaaaaaa')
    h.client.logout()
    expect(h.store.getState().convsTag).toBeUndefined()
  })
})
