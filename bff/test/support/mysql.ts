/** A MySQL/MariaDB database of its own per test: created empty, dropped after. */
import { randomBytes } from 'node:crypto'
import { createConnection } from 'mysql2/promise'

export const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306'

export interface TestDatabase {
  /** mysql://.../<database> */
  readonly url: string
  readonly name: string
  drop(): Promise<void>
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `chat_t${randomBytes(6).toString('hex')}`
  const admin = await createConnection(MYSQL_URL)
  try {
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
  } finally {
    await admin.end()
  }
  return {
    url: `${MYSQL_URL.replace(/\/+$/, '')}/${name}`,
    name,
    async drop() {
      const c = await createConnection(MYSQL_URL)
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``)
      } finally {
        await c.end()
      }
    },
  }
}
