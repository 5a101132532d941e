import { createMemoryEngine, openMemoryEngine } from '../../src/store/memory'
import { openArchive } from '../../src/archive/archive'
import { engineContract } from './contract'

engineContract('memory', async (options) => {
  const engine = createMemoryEngine(options)
  return { engine, cleanup: () => engine.close() }
})

// The embedded default: an archive under it, and a window of 3 so that every paging test reads
// across the window's edge into the archive.
engineContract('memory + sqlite archive (window 3)', async (options) => {
  const archive = await openArchive({ url: 'sqlite::memory:' })
  const engine = await openMemoryEngine(options, { archive, windowMessages: 3 })
  return { engine, cleanup: () => engine.close() }
})
