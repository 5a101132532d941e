/**
 * The BFF's module structure: no import cycle anywhere in bff/src, and the chat domain never
 * imports the gateway (it writes to an Outlet the gateway implements, bff/src/chat/outlet.ts).
 * Resolved by TypeScript's own module resolution (support/import-graph.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cycles, importGraph } from './support/import-graph'

const bff = path.resolve(__dirname, '..')
const src = path.join(bff, 'src')
const tsconfig = path.join(bff, 'tsconfig.json')
const rel = (f: string) => path.relative(src, f)

describe('bff/src imports', () => {
  const graph = importGraph(src, tsconfig)

  it('resolves the tree (the check sees real edges)', () => {
    expect(graph.size).toBeGreaterThan(40)
    expect(graph.get(path.join(src, 'app.ts'))!.map(rel)).toContain('chat/service.ts')
  })

  it('has no import cycle', () => {
    expect(cycles(graph).map((c) => c.map(rel))).toEqual([])
  })

  it('chat/ imports nothing from gateway/', () => {
    const wrong = [...graph].flatMap(([from, tos]) => (rel(from).startsWith('chat/') ? tos.filter((t) => rel(t).startsWith('gateway/')).map((t) => `${rel(from)} -> ${rel(t)}`) : []))
    expect(wrong).toEqual([])
  })
})

describe('the cycle check', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'imports-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('finds a cycle through type-only imports and a file importing itself, and nothing in a tree', () => {
    writeFileSync(path.join(dir, 'tsconfig.json'), '{"compilerOptions":{"module":"esnext","moduleResolution":"bundler"}}')
    writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b'\nexport const a = b\n")
    writeFileSync(path.join(dir, 'b.ts'), "import type { C } from './c'\nexport const b: C = 1\n")
    writeFileSync(path.join(dir, 'c.ts'), "import { a } from './a'\nexport type C = typeof a\n")
    writeFileSync(path.join(dir, 'd.ts'), "import { a } from './a'\nexport * from './d'\nexport const d = a\n")
    writeFileSync(path.join(dir, 'e.ts'), "import { d } from './d'\nexport const e = d\n")
    const found = cycles(importGraph(dir, path.join(dir, 'tsconfig.json'))).map((c) => c.map((f) => path.basename(f)))
    expect(found.sort()).toEqual([['a.ts', 'b.ts', 'c.ts'], ['d.ts']])
  })
})
