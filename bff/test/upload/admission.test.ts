/**
 * Upload admission (issue 12, defect 6): UPLOAD_MAX_ACTIVE_PER_USER holds against simultaneous
 * creations, within one process on both engines and across processes sharing Redis; a slot is
 * given back when its upload finishes, is rejected or terminated, and frees itself when idle.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { directConvId } from '@chat/shared'
import type { RunningServer } from '../../src/app'
import { devLogin } from '../support/client'
import { dropPrefix, randomPrefix, startTestServer } from '../support/server'
import { waitFor } from '../support/wait'
import { create, patch, pdfBytes } from './harness'
import type { UploadHarness } from './harness'

const MAX = 4

describe.each(['memory', 'redis'] as const)('upload admission over the %s engine', (store) => {
  let dir: string
  let prefix: string
  const servers: RunningServer[] = []
  let conv: string
  let n = 0

  const start = async (env: Record<string, string> = {}) => {
    const s = await startTestServer({ STORE: store, REDIS_PREFIX: prefix, UPLOAD_DIR: dir, UPLOAD_SWEEP_INTERVAL_MS: '0', UPLOAD_MAX_ACTIVE_PER_USER: String(MAX), ...env })
    servers.push(s)
    return s
  }
  const at = (s: RunningServer) => ({ url: s.url }) as UploadHarness
  const terminate = async (s: RunningServer, token: string, id: string) =>
    (await fetch(`${s.url}/uploads/${id}`, { method: 'DELETE', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` } })).status

  /** A fresh user in a 1:1 on `s`: its token. */
  async function member(s: RunningServer): Promise<{ user: string; token: string }> {
    const user = `up${++n}`
    const token = (await devLogin(s.url, user)).token
    await devLogin(s.url, 'peer')
    conv = directConvId(user, 'peer')
    await s.engine.convs.create({ id: conv, kind: 'direct', members: [user, 'peer'].sort(), createdAt: Date.now() })
    return { user, token }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'chat-admission-'))
    prefix = randomPrefix()
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()))
    await rm(dir, { recursive: true, force: true })
    if (store === 'redis') await dropPrefix(prefix)
  })

  it('10 simultaneous creations against a limit of 4: exactly 4 admitted, 6 refused 429 UPLOAD_TOO_MANY', async () => {
    const s = await start()
    const { user, token } = await member(s)
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => create(at(s), token, 8000, { conv, filename: `${i}.pdf` })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(MAX)
    expect(results.filter((r) => r.status === 429).map((r) => r.code)).toEqual(Array(10 - MAX).fill('UPLOAD_TOO_MANY'))
    expect(await s.engine.uploadSlots.count(user)).toBe(MAX)

    // Each way an upload ends gives its slot back: terminated, finished, rejected.
    const [a, b, c] = results.filter((r) => r.status === 201)
    expect(await terminate(s, token, a!.id!)).toBe(204)
    expect(await s.engine.uploadSlots.count(user)).toBe(MAX - 1)
    expect((await patch(at(s), token, b!.id!, 0, pdfBytes(8000))).status).toBe(200)
    expect(await s.engine.uploadSlots.count(user)).toBe(MAX - 2)
    const elf = Buffer.alloc(8000)
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01]).copy(elf)
    expect(await patch(at(s), token, c!.id!, 0, elf)).toMatchObject({ status: 415, code: 'UPLOAD_TYPE_REJECTED' })
    expect(await s.engine.uploadSlots.count(user)).toBe(MAX - 3)
    // Three free again: the next simultaneous wave gets exactly three.
    const again = await Promise.all(Array.from({ length: 6 }, (_, i) => create(at(s), token, 8000, { conv, filename: `again${i}.pdf` })))
    expect(again.filter((r) => r.status === 201)).toHaveLength(3)
    expect(await s.engine.uploadSlots.count(user)).toBe(MAX)
    // A refused creation stored nothing and holds no slot; another user has slots of their own.
    const other = await member(s)
    expect((await create(at(s), other.token, 8000, { conv, filename: 'x.pdf' })).status).toBe(201)
  })

  it('a slot whose upload received nothing for UPLOAD_IDLE_MS frees itself', async () => {
    const s = await start({ UPLOAD_IDLE_MS: '1000' })
    const { user, token } = await member(s)
    const first = await Promise.all(Array.from({ length: MAX }, (_, i) => create(at(s), token, 8000, { conv, filename: `${i}.pdf` })))
    expect(first.every((r) => r.status === 201)).toBe(true)
    expect((await create(at(s), token, 8000, { conv, filename: 'late.pdf' })).code).toBe('UPLOAD_TOO_MANY')
    // An append keeps its slot; the others go idle. Time passing is the event here.
    await waitFor(async () => (await s.engine.uploadSlots.count(user)) === 0, 5000)
    expect((await create(at(s), token, 8000, { conv, filename: 'after.pdf' })).status).toBe(201)
  })

  it.runIf(store === 'redis')('two processes on one Redis admit 4 of 10 simultaneous creations between them', async () => {
    const s1 = await start()
    const s2 = await start()
    const { user, token } = await member(s1)
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => create(at(i % 2 ? s1 : s2), token, 8000, { conv, filename: `${i}.pdf` })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(MAX)
    expect(results.filter((r) => r.status === 429)).toHaveLength(10 - MAX)
    expect(await s2.engine.uploadSlots.count(user)).toBe(MAX)
  })
})
