/**
 * Pin and mute in the built mini-program (dist/weapp-harness) under the fake host, against a real
 * BFF: a long press on a row opens WeChat's action sheet and pins the chat to the top of the list;
 * a mute set on another of the user's devices reaches this one by the server's push: the row's
 * count becomes a dot with the struck bell, and the title's total leaves it out. A 1:1 chat's status
 * line opens its info page (聊天信息), whose mute switch does the same and whose 投诉 reports the person.
 * A group's navigation bar title carries its member count, as WeChat's does ("群名(3)"), cut to fit
 * beside the capsule with the count kept, and its line opens the group's info (群聊信息).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startBff, type TestBff } from './bff'
import { hostFor, waitFor } from './harness'
import { devLogin } from '../../bff/test/support/client'
import { randomId, type ServerFrame } from '@chat/shared'
import { Peer } from './peer'
import { en, zhCN } from '../../client/i18n/messages'
import { REPORT_REASONS } from '../../client/net/moderation'
import { capsuleOf, type MiniHost, type TaroNode } from './weapp-host'

let bff: TestBff
let host: MiniHost | undefined
const peers: Peer[] = []

beforeAll(async () => {
  bff = await startBff()
})
afterEach(() => {
  host?.close()
  host = undefined
  for (const p of peers.splice(0)) p.close()
})
afterAll(async () => {
  await bff?.close()
})

/** Whether a node with class `cls` is under `node`. */
function has(node: TaroNode | undefined, cls: string): boolean {
  if (!node) return false
  if (typeof node.cl === 'string' && node.cl.split(/\s+/).includes(cls)) return true
  return (node.cn ?? []).some((c) => has(c, cls))
}

describe('pin and mute in the weapp build', () => {
  it('a long press pins a chat to the top; a mute from another device shows a dot and leaves the total', async () => {
    const auth = await devLogin(bff.url, 'wsann', 'Ann')
    const [bob, cat, otherDevice] = await Promise.all([Peer.connect(bff.url, 'wsbob', 'Bob'), Peer.connect(bff.url, 'wscat', 'Cat'), Peer.connect(bff.url, 'wsann', 'Ann')])
    peers.push(bob, cat, otherDevice)
    const toBob = (await bob.direct('wsann')).id
    await bob.say(toBob, 'from Bob')
    const toCat = (await cat.direct('wsann')).id
    await cat.say(toCat, 'from Cat 1')
    await cat.say(toCat, 'from Cat 2')
    const h = (host = hostFor(bff.url, auth))
    h.launch()
    h.open('pages/index/index')
    const order = () => h.byClass('cr').map((n) => n.uid)
    await waitFor(() => order().join() === [`conv-${toCat}`, `conv-${toBob}`].join(), 'newest activity first')
    await waitFor(() => h.titles.at(-1) === 'Chats (3)', 'the total in the title')

    // A long press on Bob's row, "Pin to top" in the sheet.
    h.sheetTaps.push(0)
    h.fire(`conv-${toBob}`, 'longpress')
    await waitFor(() => order()[0] === `conv-${toBob}`, 'Bob pinned first')
    expect(h.sheets.at(-1)).toEqual(['Pin to top', 'Mute notifications'])
    expect(h.byId(`conv-${toBob}`)!.cl).toContain('cr-pin')
    expect(h.byId(`conv-${toCat}`)!.cl).not.toContain('cr-pin')
    // The long press opened no chat.
    expect(h.top?.route).toBe('pages/index/index')

    // Ann's other device mutes Cat's chat: the push reaches this one.
    otherDevice.raw({ type: 'conv.settings', rid: 'mute', conv: toCat, muted: true })
    await waitFor(() => has(h.byId(`conv-${toCat}`), 'dot'), 'the dot on the muted row')
    expect(has(h.byId(`conv-${toCat}`), 'badge')).toBe(false)
    expect(has(h.byId(`conv-${toCat}`), 'cr-mute')).toBe(true)
    expect(has(h.byId(`conv-${toBob}`), 'badge')).toBe(true)
    await waitFor(() => h.titles.at(-1) === 'Chats (1)', 'the total without the muted chat')
  })

  it('a 1:1 chat’s status line opens its info page (聊天信息): the person, mute for the list’s row, report', async () => {
    const auth = await devLogin(bff.url, 'wdann', 'Ann')
    const dan = await Peer.connect(bff.url, 'wddan', 'Dan')
    peers.push(dan)
    const toDan = (await dan.direct('wdann')).id
    await dan.say(toDan, 'from Dan')
    const h = (host = hostFor(bff.url, auth))
    h.launch()
    h.open('pages/index/index')
    await waitFor(() => h.byId(`conv-${toDan}`) !== undefined, 'Dan’s row')
    h.tap(`conv-${toDan}`)
    // No native navigation bar of ours on weapp: the line under it is the way in.
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.byId('dm-info') !== undefined, 'the chat’s line')
    h.tap('dm-info')
    await waitFor(() => h.top?.route === 'pages/dm/index' && h.text(h.tree()).includes('Dan'), 'the info page with Dan')
    for (const id of ['dm-mute', 'dm-pin', 'dm-report']) expect(h.byId(id), id).toBeDefined()
    // (The weapp template names a Switch's `checked` p0.)
    expect(h.byId('dm-mute')?.p0).toBe(false)
    h.fire('dm-mute', 'change', { value: true })
    await waitFor(() => h.byId('dm-mute')?.p0 === true, 'the switch on')
    h.sheetTaps.push(0)
    h.tap('dm-report')
    await waitFor(() => h.toasts.includes(en['report.done']), 'the report notice')
    expect(h.sheets.at(-1)).toEqual(REPORT_REASONS.map((r) => en[`report.reason.${r}`]))
    h.back()
    h.back()
    await waitFor(() => has(h.byId(`conv-${toDan}`), 'cr-mute'), 'the muted mark on Dan’s row')
  })

  it('a group’s navigation bar title is "群名(3)", then "(4)" when one joins; a long name is cut with "…", the count kept', async () => {
    const auth = await devLogin(bff.url, 'wgann', '安安')
    const [bob, cat, dan, eve] = await Promise.all([Peer.connect(bff.url, 'wgbob', '波波'), Peer.connect(bff.url, 'wgcat', '猫猫'), Peer.connect(bff.url, 'wgdan', '丹丹'), Peer.connect(bff.url, 'wgeve', '小伊')])
    peers.push(bob, cat, dan, eve)
    const name = '周末一起去香山爬山然后吃火锅再看电影最后唱歌到深夜不回家的快乐小分队全体成员们好'
    const rid = randomId(10)
    const from = bob.frames.length
    bob.raw({ type: 'conv.create', rid, kind: 'group', members: ['wgann', 'wgcat'], title: name })
    const conv = (await bob.next<Extract<ServerFrame, { type: 'conv' }>>((f) => f.type === 'conv' && f.rid === rid, 10_000, from)).conv.id
    await bob.say(conv, '大家好')
    const width = 320
    const h = (host = hostFor(bff.url, auth, { language: 'zh_CN', windowWidth: width }))
    h.launch()
    h.open('pages/index/index')
    await waitFor(() => h.byId(`conv-${conv}`) !== undefined, 'the group’s row')
    h.tap(`conv-${conv}`)
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.titles.at(-1)?.endsWith('(3)'), 'the title with the count')
    const title = h.titles.at(-1)!
    // The name's start, cut with "…", then the count: the platform cuts a long title at its end.
    const shown = title.slice(0, -'…(3)'.length)
    expect(title).toBe(`${shown}…(3)`)
    expect(name.startsWith(shown)).toBe(true)
    expect([...shown].length).toBeGreaterThanOrEqual(4)
    // It fits the bar's title, centred, clear of the capsule: at 17 px a Chinese character is
    // 17 px wide, "…" at most, and a digit or a parenthesis at most 0.6 of it.
    const capsule = capsuleOf(width)
    const drawn = [...title].reduce((px, ch) => px + (ch.codePointAt(0)! >= 0x2000 ? 17 : 0.6 * 17), 0)
    expect(drawn).toBeLessThanOrEqual(2 * (capsule.left - width / 2))
    // No members line under the bar ("3位成员"); the line there opens the group's info.
    // (The view follows through batched setData: the bar's title, an API call, can come first.)
    await waitFor(() => h.text(h.byId('group-info')) === zhCN['group.info'], 'the line into the group’s info')
    expect(h.text()).not.toContain('3位成员')

    // Bob adds Dan: the count follows.
    bob.raw({ type: 'group', rid: randomId(10), conv, op: 'add', users: ['wgdan'] })
    await waitFor(() => h.titles.at(-1) === `${shown}…(4)`, 'the title with four members')
    // Someone typing: the line says who, as a 1:1 chat's says it, and still opens the info.
    cat.raw({ type: 'typing', conv })
    await waitFor(() => h.text(h.byId('group-info')) === zhCN['chat.groupTyping'].replace('{names}', '猫猫'), 'the typing line')
    h.tap('group-info')
    await waitFor(() => h.top?.route === 'pages/group/index', 'the group’s info page')
    // Titled as WeChat titles a group's info: "聊天信息(4)".
    const infoTitle = (n: number) => zhCN['title.groupCount'].replace('{n}', String(n))
    await waitFor(() => h.titles.at(-1) === infoTitle(4), 'the info page titled with the count')
    // One more joins while the info is on top: the bar (the top page's) follows the info page's
    // count, and the chat under it, not rendered in the background, puts no title of its own
    // there; back in the chat, its title has the new count.
    const since = h.titles.length
    bob.raw({ type: 'group', rid: randomId(10), conv, op: 'add', users: ['wgeve'] })
    await waitFor(() => h.byId('member-wgeve') !== undefined && h.titles.at(-1) === infoTitle(5), 'the info page titled with five')
    expect(h.titles.slice(since)).toEqual([infoTitle(5)])
    h.back()
    await waitFor(() => h.top?.route === 'pages/chat/index' && h.titles.at(-1) === `${shown}…(5)`, 'the chat titled with five once shown')
  })
})
