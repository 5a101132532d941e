/**
 * The client's module structure: no import cycle anywhere in client/ (its tests aside), resolved
 * by TypeScript's own module resolution with the client's tsconfig (the `@/` alias included).
 */
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { cycles, importGraph } from '../../bff/test/support/import-graph'

const root = path.resolve(__dirname, '../..')
const client = path.join(root, 'client')
const rel = (f: string) => path.relative(client, f)

describe('client imports', () => {
  const graph = new Map([...importGraph(client, path.join(root, 'tsconfig.json'))].filter(([f]) => !rel(f).startsWith('test/')))

  it('resolves the tree (the check sees real edges, .tsx and the @/ alias too)', () => {
    expect(graph.size).toBeGreaterThan(40)
    expect(graph.get(path.join(client, 'net/chat-client.ts'))!.map(rel)).toContain('net/requests.ts')
    expect([...graph.keys()].map(rel)).toContain('pages/chat/index.tsx')
  })

  it('has no import cycle', () => {
    expect(cycles(graph).map((c) => c.map(rel))).toEqual([])
  })
})
