/**
 * One place for unit tests per package: `<package>/test/`, mirroring the source folders
 * (shared/test, bff/test, client/test). Suites spanning packages live in tests/. A test file
 * anywhere else would not be run by its package's vitest project (vitest.config.mts).
 */
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(__dirname, '../..')
const SKIP = new Set(['node_modules', 'dist', '.test-dist', '.git'])

function testFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue
    const rel = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...testFiles(rel))
    else if (/\.test\.tsx?$/.test(e.name)) out.push(rel)
  }
  return out
}

describe('test layout', () => {
  it.each(['shared', 'bff', 'client'])('every unit test of %s is under %s/test/', (pkg) => {
    const files = testFiles(pkg)
    expect(files.length).toBeGreaterThan(0)
    expect(files.filter((f) => !f.startsWith(`${pkg}/test/`))).toEqual([])
  })
})
