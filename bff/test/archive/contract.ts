/**
 * The one contract of every archive (SQLite and MySQL/MariaDB): a fresh, empty database per test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Migrator, sql } from 'kysely'
import { Archive, ArchiveSchemaError } from '../../src/archive/archive'
import type { ArchivedMessage } from '../../src/archive/archive'
import { migrations } from '../../src/archive/migrations'
import { ArchiveConvSettings } from '../../src/archive/conv-settings'
import type { Message, TextBody } from '@chat/shared'

export interface ArchiveFixture {
  /** URL of a new, empty database. */
  readonly url: string
  cleanup(): Promise<void>
}

function msg(conv: string, seq: number, sender = 'ann', text = `m${seq}`): ArchivedMessage {
  const json = `{"mid":"x${seq}","cid":"cid-${seq}-xxxx","conv":"${conv}","seq":${seq},"from":"${sender}","ts":${1000 + seq},"kind":"text","body":${JSON.stringify({ text })}}`
  return { conv, seq, sender, cid: `cid-${seq}-xxxx`, ts: 1000 + seq, json }
}

export function archiveContract(name: string, make: () => Promise<ArchiveFixture>): void {
  describe(`${name} archive contract`, () => {
    let fx: ArchiveFixture
    let a: Archive
    beforeEach(async () => {
      fx = await make()
      a = await Archive.create({ url: fx.url })
      await a.migrate()
    })
    afterEach(async () => {
      await a.close()
      await fx.cleanup()
    })

    describe('migrations', () => {
      it('runs every migration once from an empty database and nothing on the next start', async () => {
        expect(await a.appliedMigrations()).toEqual(a.knownMigrations())
        const again = await Archive.create({ url: fx.url })
        try {
          expect(await again.migrate()).toEqual([])
          expect(await again.appliedMigrations()).toEqual(a.knownMigrations())
        } finally {
          await again.close()
        }
      })

      it('from a database at 0001 with users stored, 0002 fills their search terms: pinyin and initials find them', async () => {
        const old = await make()
        const b = await Archive.create({ url: old.url })
        try {
          const all = migrations(b.dialect)
          const provider = { getMigrations: async () => all }
          const to0001 = await new Migrator({ db: b.db, provider }).migrateTo('0001_init')
          expect(to0001.error).toBeUndefined()
          expect(await b.appliedMigrations()).toEqual(['0001_init'])
          // Users written by a BFF at 0001: the users table alone (no user_terms yet).
          const at = 1000
          const users = [
            { id: 'u1', name: '张伟' },
            { id: 'u2', name: '单田芳' },
            { id: 'u3', name: 'Ann' },
          ]
          for (const u of users) {
            await sql`insert into users (id, id_lc, name, name_lc, avatar, updated_at) values (${u.id}, ${u.id.toLowerCase()}, ${u.name}, ${u.name.toLowerCase()}, ${null}, ${at})`.execute(b.db)
          }
          expect(await b.migrate()).toEqual(b.knownMigrations().filter((m) => m > '0001_init'))
          expect(await b.appliedMigrations()).toEqual(b.knownMigrations())
          expect((await b.searchUsers('zhangwei', 10)).map((u) => u.id)).toEqual(['u1'])
          expect((await b.searchUsers('zw', 10)).map((u) => u.id)).toEqual(['u1'])
          expect((await b.searchUsers('zhang', 10)).map((u) => u.id)).toEqual(['u1'])
          // A surname read as a surname: 单 is "shan" here.
          expect((await b.searchUsers('shantianfang', 10)).map((u) => u.id)).toEqual(['u2'])
          expect((await b.searchUsers('stf', 10)).map((u) => u.id)).toEqual(['u2'])
          expect((await b.searchUsers('张', 10)).map((u) => u.id)).toEqual(['u1'])
          expect((await b.searchUsers('an', 10)).map((u) => u.id)).toEqual(['u3'])
          expect(await b.getUsers(['u1', 'u2', 'u3'])).toEqual(users)
          // Renaming after the migration replaces the backfilled terms.
          await b.upsertUser({ id: 'u1', name: '李娜' })
          expect(await b.searchUsers('zhangwei', 10)).toEqual([])
          expect((await b.searchUsers('ln', 10)).map((u) => u.id)).toEqual(['u1'])
        } finally {
          await b.close()
          await old.cleanup()
        }
      })

      it('refuses a schema newer than the code, naming the unknown migration, and changes nothing', async () => {
        await sql`insert into kysely_migration (name, timestamp) values ('9999_from_the_future', '2030-01-01T00:00:00.000Z')`.execute(a.db)
        const older = await Archive.create({ url: fx.url })
        try {
          const err = await older.migrate().catch((e: unknown) => e)
          expect(err).toBeInstanceOf(ArchiveSchemaError)
          expect((err as Error).message).toMatch(/newer than this code: it ran 9999_from_the_future/)
          expect(await older.appliedMigrations()).toEqual([...a.knownMigrations(), '9999_from_the_future'])
        } finally {
          await older.close()
        }
      })
    })

    describe('users', () => {
      it('upserts, gets in the order asked, searches id and name prefixes case-insensitively', async () => {
        await a.upsertUser({ id: 'ann', name: 'Ann' })
        await a.upsertUser({ id: 'bob', name: 'Bobby', avatar: 'https://x/b.png' })
        await a.upsertUser({ id: 'Zed_1', name: 'annie' })
        await a.upsertUser({ id: 'ann', name: 'Ann B' })
        expect(await a.getUsers(['bob', 'nobody', 'ann'])).toEqual([
          { id: 'bob', name: 'Bobby', avatar: 'https://x/b.png' },
          { id: 'ann', name: 'Ann B' },
        ])
        expect((await a.searchUsers('ANN', 10)).map((u) => u.id)).toEqual(['Zed_1', 'ann'].sort())
        expect((await a.searchUsers('zed', 10)).map((u) => u.id)).toEqual(['Zed_1'])
        expect(await a.searchUsers('ann', 1)).toHaveLength(1)
        // LIKE wildcards in the prefix are literal.
        expect(await a.searchUsers('%', 10)).toEqual([])
        expect(await a.searchUsers('_', 10)).toEqual([])
        expect(await a.searchUsers('!', 10)).toEqual([])
      })
    })

    describe('users, at once', () => {
      it('upserts many users at once (a burst of logins): every one stored and found, renames replace their terms', async () => {
        const ids = Array.from({ length: 60 }, (_, i) => `burst${i}`)
        await Promise.all(ids.map((id, i) => a.upsertUser({ id, name: i % 2 ? `张${i}` : `Name ${i}` })))
        await Promise.all(ids.map((id, i) => a.upsertUser({ id, name: i % 2 ? `张${i}` : `Name ${i}` })))
        await Promise.all(ids.slice(0, 20).map((id, i) => a.upsertUser({ id, name: `李${i}` })))
        expect((await a.getUsers(ids)).map((u) => u.id)).toEqual(ids)
        expect(await a.searchUsers('burst', 100)).toHaveLength(60)
        // 李 is "li": the 20 renamed, and none of them by their old terms any more.
        expect(await a.searchUsers('li', 100)).toHaveLength(20)
        expect((await a.searchUsers('zhang', 100)).map((u) => u.id).sort()).toEqual(ids.filter((_, i) => i % 2 === 1 && i >= 20).sort())
        expect((await a.searchUsers('name ', 100)).map((u) => u.id).sort()).toEqual(ids.filter((_, i) => i % 2 === 0 && i >= 20).sort())
      })
    })

    describe('conversations', () => {
      it('creates once, keeps member order, lists per member oldest first', async () => {
        const g = { id: 'g:one', kind: 'group' as const, title: 'T', members: ['cat', 'ann', 'bob'], createdAt: 20 }
        const d = { id: 'd:ann:bob', kind: 'direct' as const, members: ['ann', 'bob'], createdAt: 10 }
        expect(await a.createConv(g)).toEqual({ record: g, created: true })
        expect(await a.createConv(d)).toEqual({ record: d, created: true })
        expect(await a.createConv({ ...g, title: 'other', members: ['ann'] })).toEqual({ record: g, created: false })
        expect(await a.getConv('g:one')).toEqual(g)
        expect(await a.getConv('g:none')).toBeUndefined()
        expect(await a.listConvs('ann')).toEqual(['d:ann:bob', 'g:one'])
        expect(await a.listConvs('cat')).toEqual(['g:one'])
        expect(await a.listConvs('dan')).toEqual([])
        expect(await a.allConvs()).toEqual([d, g])
      })
    })

    describe('messages', () => {
      it('stores batches once by (conv, seq) and pages after and before a seq, ascending', async () => {
        const rows = Array.from({ length: 10 }, (_, i) => msg('d:ann:bob', i + 1))
        await a.insertMessages(rows.slice(0, 6))
        // A retried batch overlapping the first: the stored rows stay as they are, none doubled.
        await a.insertMessages([{ ...rows[4]!, json: '{"changed":true}' }, ...rows.slice(5)])
        await a.insertMessages([msg('d:ann:cat', 1)])
        const all = rows.map((r) => r.json)
        expect(await a.after('d:ann:bob', 0, 100)).toEqual(all)
        expect(await a.after('d:ann:bob', 3, 4)).toEqual(all.slice(3, 7))
        expect(await a.after('d:ann:bob', 10, 4)).toEqual([])
        expect(await a.before('d:ann:bob', undefined, 3)).toEqual(all.slice(7))
        expect(await a.before('d:ann:bob', 5, 3)).toEqual(all.slice(1, 4))
        expect(await a.before('d:ann:bob', 1, 10)).toEqual([])
        expect(await a.after('d:none', 0, 10)).toEqual([])
        const count = await a.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
        expect(Number(count.n)).toBe(11)
      })

      it('keeps any text exactly (utf8mb4: emoji, CJK, quotes) and messages larger than 64 KiB', async () => {
        const text = '表情 😀🎉 "quoted" \\ back\u0000slash ' + 'x'.repeat(70_000)
        await a.insertMessages([msg('d:ann:bob', 1, 'ann', text)])
        const [json] = await a.after('d:ann:bob', 0, 1)
        expect(((JSON.parse(json!) as Message).body as TextBody).text).toBe(text)
      })

      it('inserts thousands in one call (chunked statements)', async () => {
        const rows = Array.from({ length: 1234 }, (_, i) => msg('g:big', i + 1))
        await a.insertMessages(rows)
        expect((await a.convState('g:big')).lastSeq).toBe(1234)
        expect(await a.before('g:big', undefined, 2)).toEqual([rows[1232]!.json, rows[1233]!.json])
        // Every row once, in order: 512 + 512 + 128 + 64 + 16 + 2 rows, no chunk lost or doubled.
        expect(await a.after('g:big', 0, 2000)).toEqual(rows.map((r) => r.json))
      })

      it('writes a batch of large messages past the server packet limit in smaller statements', async () => {
        // 280 messages of 66,000 characters: 256 of them in one statement would be 16.9 MB, past MariaDB's default 16 MiB packet.
        const rows = Array.from({ length: 280 }, (_, i) => msg('g:large', i + 1, 'ann', String.fromCharCode(97 + (i % 26)).repeat(66_000)))
        await a.write(rows, [])
        const back = await a.after('g:large', 0, 1000)
        expect(back).toHaveLength(280)
        expect(back).toEqual(rows.map((r) => r.json))
      })

      it('writes messages and read marks in one batch, and a batch written again changes nothing', async () => {
        const rows = Array.from({ length: 700 }, (_, i) => msg('g:w', i + 1, i % 2 ? 'bob' : 'ann'))
        const marks = [
          { conv: 'g:w', user: 'ann', seq: 699 },
          { conv: 'g:w', user: 'bob', seq: 700 },
        ]
        await a.write(rows, marks)
        await a.write(rows.slice(300), [{ conv: 'g:w', user: 'ann', seq: 1 }])
        await a.write([], [])
        expect(await a.after('g:w', 0, 1000)).toEqual(rows.map((r) => r.json))
        // Every column where it belongs (the INSERTs' parameters are laid out by hand).
        const stored = await a.db.selectFrom('messages').select(['conv', 'seq', 'sender', 'cid', 'ts', 'json']).where('conv', '=', 'g:w').orderBy('seq').execute()
        expect(stored.map((r) => ({ ...r, seq: Number(r.seq), ts: Number(r.ts) }))).toEqual(rows)
        const s = await a.convState('g:w')
        expect(s.lastSeq).toBe(700)
        expect(s.reads).toEqual(new Map([['ann', 699], ['bob', 700]]))
      })
    })

    describe('conversation state and read marks', () => {
      it('answers last seq, last message and read marks, marks moving forward only', async () => {
        expect(await a.convState('d:ann:bob')).toEqual({ lastSeq: 0, lastJson: undefined, reads: new Map() })
        await a.insertMessages([msg('d:ann:bob', 1), msg('d:ann:bob', 2, 'bob')])
        await a.markRead([
          { conv: 'd:ann:bob', user: 'bob', seq: 2 },
          { conv: 'd:ann:bob', user: 'ann', seq: 1 },
          { conv: 'd:ann:bob', user: 'bob', seq: 1 },
        ])
        await a.markRead([{ conv: 'd:ann:bob', user: 'bob', seq: 1 }])
        await a.markRead([])
        const s = await a.convState('d:ann:bob')
        expect(s.lastSeq).toBe(2)
        expect(s.lastJson).toBe(msg('d:ann:bob', 2, 'bob').json)
        expect(s.reads).toEqual(new Map([['bob', 2], ['ann', 1]]))
      })
    })

    describe('conversation settings (0005)', () => {
      it('from a database at 0004 with conversations stored, 0005 adds the settings and hidden-message tables, empty, and nothing else changes', async () => {
        const old = await make()
        const b = await Archive.create({ url: old.url })
        try {
          const all = migrations(b.dialect)
          const to0004 = await new Migrator({ db: b.db, provider: { getMigrations: async () => all } }).migrateTo('0004_groups')
          expect(to0004.error).toBeUndefined()
          expect(await b.appliedMigrations()).toEqual(['0001_init', '0002_user_terms', '0003_relations', '0004_groups'])
          const d = { id: 'd:ann:bob', kind: 'direct' as const, members: ['ann', 'bob'], createdAt: 10 }
          await b.createConv(d)
          await b.insertMessages([msg('d:ann:bob', 1), msg('d:ann:bob', 2, 'bob')])
          // Before 0005 the tables do not exist.
          expect(await new ArchiveConvSettings(b).get('ann', d.id).catch(() => 'no table')).toBe('no table')

          expect(await b.migrate()).toEqual(['0005_conv_settings'])
          expect(await b.appliedMigrations()).toEqual(b.knownMigrations())
          const settings = new ArchiveConvSettings(b)
          expect(await settings.all('ann')).toEqual(new Map())
          expect(await settings.put('ann', d.id, { muted: true, pinned: 1_800_000_000_000 }, 20)).toBe(true)
          expect(await settings.hide('ann', d.id, 2, 10)).toBe('done')
          expect(await settings.get('ann', d.id)).toEqual({ muted: true, pinned: 1_800_000_000_000 })
          expect(await settings.hidden('ann', d.id)).toEqual(new Set([2]))
          // What 0004 held is as it was.
          expect(await b.getConv(d.id)).toMatchObject(d)
          expect(await b.after(d.id, 0, 10)).toEqual([msg('d:ann:bob', 1).json, msg('d:ann:bob', 2, 'bob').json])
        } finally {
          await b.close()
          await old.cleanup()
        }
      })
    })
  })
}
