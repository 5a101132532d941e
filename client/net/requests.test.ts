import { describe, expect, it } from 'vitest'
import { AppError, type ServerFrame } from '@chat/shared'
import { CLIENT_DEFAULTS } from '../config'
import { ManualTimers } from '../platform/fake'
import { createChatStore } from '../store/store'
import type { ClientContext } from './context'
import { RequestFailedError } from './errors'
import { Requests } from './requests'

type Sent = Parameters<ClientContext['connection']['send']>[0]

/** The requests on a manual clock; `connected` decides whether the connection takes a frame. */
function setup() {
  const timers = new ManualTimers()
  const sent: Sent[] = []
  const link = { connected: true }
  const ctx: ClientContext = {
    store: createChatStore(),
    timers,
    connection: {
      send: (f) => {
        if (!link.connected) return false
        sent.push(f)
        return true
      },
    },
    opts: CLIENT_DEFAULTS,
    me: () => 'alice',
  }
  return { timers, sent, link, requests: new Requests(ctx) }
}

const ridOf = (f: Sent | undefined): string => (f as { rid: string }).rid
const convs = (rid: string): ServerFrame => ({ type: 'convs', rid, items: [] })

describe('requests', () => {
  it('resolves with the answer of its rid, and the timeout is gone', async () => {
    const { timers, sent, requests } = setup()
    const p = requests.send<'convs'>('convs', (rid) => ({ type: 'convs', rid }))
    expect(sent).toHaveLength(1)
    expect(requests.settle('other', convs('other'))).toBe(false)
    expect(requests.settle(ridOf(sent[0]), convs(ridOf(sent[0])))).toBe(true)
    await expect(p).resolves.toEqual(convs(ridOf(sent[0])))
    expect(timers.size).toBe(0)
    // Answered once: a repeated answer settles nothing.
    expect(requests.settle(ridOf(sent[0]), convs(ridOf(sent[0])))).toBe(false)
  })

  it('rejects with the AppError of an error answer, by its code', async () => {
    const { sent, requests } = setup()
    const p = requests.send('users', (rid) => ({ type: 'users', rid, q: 'bo' }))
    const rid = ridOf(sent[0])
    expect(requests.settle(rid, { type: 'error', rid, code: 'RATE_LIMITED', message: 'slow down', temporary: true })).toBe(true)
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('RATE_LIMITED')
  })

  it('fails with "timeout" after requestTimeoutMs without an answer; a late answer settles nothing', async () => {
    const { timers, sent, requests } = setup()
    const p = requests.send('convs', (rid) => ({ type: 'convs', rid }))
    timers.advance(CLIENT_DEFAULTS.requestTimeoutMs - 1)
    timers.advance(1)
    const err = await p.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RequestFailedError)
    expect((err as RequestFailedError).reason).toBe('timeout')
    expect(requests.settle(ridOf(sent[0]), convs(ridOf(sent[0])))).toBe(false)
  })

  it('fails at once with "disconnected" when the frame cannot be sent, and starts no timer', async () => {
    const { timers, link, requests } = setup()
    link.connected = false
    const err = await requests.send('convs', (rid) => ({ type: 'convs', rid })).catch((e: unknown) => e)
    expect((err as RequestFailedError).reason).toBe('disconnected')
    expect(timers.size).toBe(0)
  })

  it('fails every waiting request when the connection drops', async () => {
    const { timers, sent, requests } = setup()
    const a = requests.send('convs', (rid) => ({ type: 'convs', rid })).catch((e: unknown) => e)
    const b = requests.send('users', (rid) => ({ type: 'users', rid, q: 'x' })).catch((e: unknown) => e)
    requests.failAll('disconnected')
    expect(((await a) as RequestFailedError).reason).toBe('disconnected')
    expect(((await b) as RequestFailedError).message).toBe('users: disconnected')
    expect(timers.size).toBe(0)
    expect(requests.settle(ridOf(sent[0]), convs(ridOf(sent[0])))).toBe(false)
  })

  it('tracks a frame sent elsewhere: answered, refused or timed out, each once', () => {
    const { timers, requests } = setup()
    const seen: string[] = []
    const tracked = (name: string) => ({
      kind: 'history' as const,
      resolve: () => seen.push(`${name}:answered`),
      reject: (e: Error) => seen.push(`${name}:refused:${(e as AppError).code}`),
      timeout: () => seen.push(`${name}:timeout`),
    })
    requests.track('r1', tracked('r1'))
    requests.track('r2', tracked('r2'))
    requests.track('r3', tracked('r3'))
    requests.settle('r1', { type: 'messages', rid: 'r1', conv: 'd:alice:bob', msgs: [], more: false })
    requests.settle('r2', { type: 'error', rid: 'r2', code: 'NOT_MEMBER', message: 'no', temporary: false })
    timers.advance(CLIENT_DEFAULTS.requestTimeoutMs)
    expect(seen).toEqual(['r1:answered', 'r2:refused:NOT_MEMBER', 'r3:timeout'])
  })
})
