import { describe, expect, it } from 'vitest'
import { AppError } from '@chat/shared'
import { FakeHttp } from '../../platform/fake'
import { Moderation, SUBSCRIBE_MAX_IDS } from '../../net/moderation'

const base = 'http://bff.test'

function setup(requestSubscribe?: (ids: string[]) => Promise<Record<string, string>>) {
  const http = new FakeHttp()
  const m = new Moderation({ baseUrl: base, http, getToken: async () => 'tok1', requestSubscribe })
  return { http, m }
}

describe('subscription prompt', () => {
  it('is absent on h5: no request, nothing to ask', async () => {
    const { http, m } = setup(undefined)
    expect(m.available).toBe(false)
    expect(await m.subscriptions()).toEqual({ templateIds: [], allowances: {} })
    expect(await m.subscribe(['t1'])).toEqual({})
    expect(http.calls).toEqual([])
  })

  it('asks WeChat for the offered templates (at most 3) and reports the answers with the session token', async () => {
    const asked: string[][] = []
    const { http, m } = setup(async (ids) => {
      asked.push(ids)
      return { t1: 'accept', t2: 'reject', errMsg: 'requestSubscribeMessage:ok' }
    })
    http.handler = (url, body, headers) => {
      expect(headers.authorization).toBe('Bearer tok1')
      if (url === `${base}/wechat/subscriptions` && body === undefined) return { status: 200, data: { templateIds: ['t1', 't2', 't3', 't4'], allowances: { t1: 0 } } }
      if (url === `${base}/wechat/subscriptions`) return { status: 200, data: { allowances: { t1: 1, t2: 0 } } }
      return { status: 404, data: {} }
    }
    const state = await m.subscriptions()
    expect(state).toEqual({ templateIds: ['t1', 't2', 't3', 't4'], allowances: { t1: 0 } })
    expect(await m.subscribe(state.templateIds)).toEqual({ t1: 1, t2: 0 })
    expect(asked).toEqual([['t1', 't2', 't3'].slice(0, SUBSCRIBE_MAX_IDS)])
    expect(http.calls[1]!.body).toEqual({ results: { t1: 'accept', t2: 'reject', errMsg: 'requestSubscribeMessage:ok' } })
  })
})

describe('reports', () => {
  it('posts a message report and answers its id', async () => {
    const { http, m } = setup(undefined)
    http.handler = () => ({ status: 201, data: { id: 'r42' } })
    expect(await m.report({ target: 'message', conv: 'd:a:b', seq: 7 }, 'spam', 'ads')).toBe('r42')
    expect(http.calls[0]).toEqual({ url: `${base}/reports`, body: { target: 'message', conv: 'd:a:b', seq: 7, reason: 'spam', text: 'ads' }, headers: { authorization: 'Bearer tok1' } })
  })

  it('throws the server code of a refused report (rate limit is temporary)', async () => {
    const { http, m } = setup(undefined)
    http.handler = () => ({ status: 429, data: { error: { code: 'REPORT_RATE_LIMITED', message: 'too many reports', temporary: true } } })
    const err = await m.report({ target: 'user', user: 'bob' }, 'abuse').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('REPORT_RATE_LIMITED')
    expect((err as AppError).temporary).toBe(true)
  })
})

describe('subscribe banner', () => {
  it('shows on weapp only while templates are offered and none is left to send', async () => {
    const { showSubscribePrompt } = await import('../../net/moderation')
    expect(showSubscribePrompt(false, { templateIds: ['t1'], allowances: {} })).toBe(false)
    expect(showSubscribePrompt(true, undefined)).toBe(false)
    expect(showSubscribePrompt(true, { templateIds: [], allowances: {} })).toBe(false)
    expect(showSubscribePrompt(true, { templateIds: ['t1'], allowances: {} })).toBe(true)
    expect(showSubscribePrompt(true, { templateIds: ['t1'], allowances: { t1: 0 } })).toBe(true)
    expect(showSubscribePrompt(true, { templateIds: ['t1'], allowances: { t1: 2 } })).toBe(false)
  })
})

describe('report action on a message', () => {
  it('files the chosen reason for another member’s stored message and says so', async () => {
    const { reportMessage, REPORT_REASONS } = await import('../../net/moderation')
    const { http, m } = setup(undefined)
    http.handler = () => ({ status: 201, data: { id: 'r1' } })
    const notices: string[] = []
    const offered: string[][] = []
    const ui = { choose: async (reasons: readonly string[]) => (offered.push([...reasons]), 3), notice: (t: string) => void notices.push(t) }
    expect(await reportMessage(m, ui, { conv: 'd:a:b', seq: 4, from: 'bob' }, 'ann')).toBe('r1')
    expect(offered).toEqual([[...REPORT_REASONS]])
    expect(http.calls[0]!.body).toEqual({ target: 'message', conv: 'd:a:b', seq: 4, reason: 'fraud' })
    expect(notices).toEqual(['reported'])
  })

  it('files nothing for one’s own or an unsent message, or when the choice is cancelled; says why a report was refused', async () => {
    const { reportMessage } = await import('../../net/moderation')
    const { http, m } = setup(undefined)
    const notices: string[] = []
    let choice: number | undefined
    const ui = { choose: async () => choice, notice: (t: string) => void notices.push(t) }
    expect(await reportMessage(m, ui, { conv: 'd:a:b', seq: 4, from: 'ann' }, 'ann')).toBeUndefined()
    expect(await reportMessage(m, ui, { conv: 'd:a:b', from: 'bob' }, 'ann')).toBeUndefined()
    expect(await reportMessage(m, ui, { conv: 'd:a:b', seq: 4, from: 'bob' }, 'ann')).toBeUndefined()
    expect(http.calls).toEqual([])
    choice = 0
    http.handler = () => ({ status: 429, data: { error: { code: 'REPORT_RATE_LIMITED', message: 'x' } } })
    expect(await reportMessage(m, ui, { conv: 'd:a:b', seq: 4, from: 'bob' }, 'ann')).toBeUndefined()
    expect(notices).toEqual(['rate-limited'])
  })
})

describe('report action on a user', () => {
  it('files the chosen reason against that user, with the same reasons as a message, and says so', async () => {
    const { reportUser, REPORT_REASONS } = await import('../../net/moderation')
    const { http, m } = setup(undefined)
    http.handler = () => ({ status: 201, data: { id: 'r7' } })
    const notices: string[] = []
    const offered: string[][] = []
    const ui = { choose: async (reasons: readonly string[]) => (offered.push([...reasons]), 1), notice: (t: string) => void notices.push(t) }
    expect(await reportUser(m, ui, 'bob', 'ann')).toBe('r7')
    expect(offered).toEqual([[...REPORT_REASONS]])
    expect(http.calls).toEqual([{ url: `${base}/reports`, body: { target: 'user', user: 'bob', reason: 'abuse' }, headers: { authorization: 'Bearer tok1' } }])
    expect(notices).toEqual(['reported'])
  })

  it('never reports oneself; files nothing when cancelled; says a refusal (rate limit, anything else)', async () => {
    const { reportUser } = await import('../../net/moderation')
    const { http, m } = setup(undefined)
    const notices: string[] = []
    const asked: string[] = []
    let choice: number | undefined
    const ui = { choose: async () => (asked.push('ask'), choice), notice: (t: string) => void notices.push(t) }
    expect(await reportUser(m, ui, 'ann', 'ann')).toBeUndefined()
    expect(asked).toEqual([])
    expect(await reportUser(m, ui, 'bob', 'ann')).toBeUndefined()
    expect(http.calls).toEqual([])
    expect(notices).toEqual([])
    choice = 5
    http.handler = () => ({ status: 429, data: { error: { code: 'REPORT_RATE_LIMITED', message: 'x', temporary: true } } })
    expect(await reportUser(m, ui, 'bob', 'ann')).toBeUndefined()
    http.handler = () => ({ status: 404, data: { error: { code: 'USER_NOT_FOUND', message: 'x' } } })
    expect(await reportUser(m, ui, 'bob', 'ann')).toBeUndefined()
    expect(http.calls.map((c) => c.body)).toEqual([
      { target: 'user', user: 'bob', reason: 'other' },
      { target: 'user', user: 'bob', reason: 'other' },
    ])
    expect(notices).toEqual(['rate-limited', 'failed'])
  })
})
