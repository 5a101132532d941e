import { createTestDatabase } from '../support/mysql'
import { archiveContract } from './contract'

archiveContract('mysql', async () => {
  const db = await createTestDatabase()
  return { url: db.url, cleanup: () => db.drop() }
})
