import { describe, expect, it } from 'vitest'
import { Archive, insertChunks } from '../../src/archive/archive'
import { createTestDatabase } from '../support/mysql'
import { archiveContract } from './contract'

archiveContract('mysql', async () => {
  const db = await createTestDatabase()
  return { url: db.url, cleanup: () => db.drop() }
})

describe('mysql archive batches', () => {
  it('splits a batch into statements of 512 rows and powers of two: at most 10 distinct prepared INSERTs', () => {
    expect(insertChunks(0)).toEqual([])
    expect(insertChunks(1)).toEqual([1])
    expect(insertChunks(1000)).toEqual([512, 256, 128, 64, 32, 8])
    expect(insertChunks(1536)).toEqual([512, 512, 512])
    const sizes = new Set<number>()
    for (let n = 0; n <= 2048; n++) {
      const chunks = insertChunks(n)
      expect(chunks.reduce((x, y) => x + y, 0)).toBe(n)
      for (const c of chunks) sizes.add(c)
    }
    expect([...sizes].sort((x, y) => y - x)).toEqual([512, 256, 128, 64, 32, 16, 8, 4, 2, 1])
  })

  it('rolls a failed batch back whole (messages and marks) and writes the next one', async () => {
    const db = await createTestDatabase()
    const a = await Archive.create({ url: db.url })
    try {
      await a.migrate()
      const json = (seq: number) => `{"conv":"g:f","seq":${seq}}`
      const rows = [1, 2, 3].map((seq) => ({ conv: 'g:f', seq, sender: 'ann', cid: `c${seq}`, ts: seq, json: json(seq) }))
      // A read mark the schema refuses (a user id longer than its 64 characters, strict mode) after the messages.
      const err = await a.write(rows, [{ conv: 'g:f', user: 'x'.repeat(65), seq: 3 }]).catch((e: unknown) => e)
      expect((err as { code?: string }).code).toBe('ER_DATA_TOO_LONG')
      expect(await a.after('g:f', 0, 10)).toEqual([])
      await a.write(rows, [{ conv: 'g:f', user: 'ann', seq: 3 }])
      expect(await a.after('g:f', 0, 10)).toEqual(rows.map((r) => r.json))
      expect((await a.convState('g:f')).reads).toEqual(new Map([['ann', 3]]))
    } finally {
      await a.close()
      await db.drop()
    }
  })
})
