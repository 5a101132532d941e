/** Group membership changes as one line of the chat, in both languages. */
import { describe, expect, it } from 'vitest'
import { translate } from '../../i18n/i18n'
import { previewText, systemText } from '../../store/selectors'
import type { ChatMessage } from '../../store/types'

const names: Record<string, string> = { ann: '安', bob: 'Bob', cat: 'Cat' }
const nameOf = (id: string) => names[id] ?? id
const zh = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('zh-CN', key, params)
const en = (key: Parameters<typeof translate>[1], params?: Parameters<typeof translate>[2]) => translate('en', key, params)

function sys(from: string, body: Record<string, unknown>): ChatMessage {
  // Any object, as a newer server might send: systemText must cope with what it does not know.
  return { cid: 'sys-1', mid: 'm1', from, conv: 'g:x', seq: 3, ts: 1, kind: 'system', body: body as ChatMessage['body'] }
}

describe('systemText', () => {
  it('names who acted and whom it concerns, the user themself as you', () => {
    expect(systemText(sys('ann', { op: 'add', users: ['bob', 'cat'] }), zh, nameOf, 'cat')).toBe('安邀请Bob、你加入了群聊')
    expect(systemText(sys('ann', { op: 'add', users: ['bob', 'cat'] }), en, nameOf, 'ann')).toBe('You added Bob, Cat')
    expect(systemText(sys('ann', { op: 'remove', users: ['bob'] }), zh, nameOf)).toBe('安将Bob移出了群聊')
    expect(systemText(sys('bob', { op: 'leave' }), en, nameOf)).toBe('Bob left the group')
    expect(systemText(sys('ann', { op: 'rename', title: '周末' }), zh, nameOf)).toBe('安将群名称修改为“周末”')
    expect(systemText(sys('ann', { op: 'transfer', users: ['bob'] }), en, nameOf)).toBe('Ann made Bob the group owner'.replace('Ann', '安'))
  })

  it('says a title taken back by moderation was withdrawn, naming nobody as its renamer', () => {
    expect(systemText(sys('ann', { op: 'rename', by: 'moderation' }), zh, nameOf)).toBe('群名称因违反内容规范已被撤回')
    expect(systemText(sys('ann', { op: 'rename', by: 'moderation' }), en, nameOf)).toBe('The group name was withdrawn for violating content rules')
  })

  it('is the conversation list preview of a system message; other kinds are not system lines', () => {
    expect(previewText(sys('ann', { op: 'dissolve' }), zh, undefined, nameOf)).toBe('安解散了群聊')
    const text: ChatMessage = { cid: 'c-1', from: 'ann', conv: 'g:x', seq: 4, ts: 1, kind: 'text', body: { text: 'hi' } }
    expect(systemText(text, zh, nameOf)).toBe('')
  })
})
