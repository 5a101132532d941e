import { createMemoryEngine } from '../../src/store/memory'
import { engineContract } from './contract'

engineContract('memory', async (options) => {
  const engine = createMemoryEngine(options)
  return { engine, cleanup: () => engine.close() }
})
