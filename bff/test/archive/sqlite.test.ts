import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { archiveContract } from './contract'

archiveContract('sqlite', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'chat-archive-'))
  return { url: `sqlite:${path.join(dir, 'nested', 'chat.sqlite')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
})
