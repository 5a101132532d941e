/**
 * A throwaway copy of the mini-program project (client, config, shared, publish scripts) for tests
 * that run the production build: it writes its own dist/weapp and webpack cache, never the
 * repository's, which other suites and a developer's `dev:weapp` use at the same time.
 * node_modules is a farm of symlinks to the repository's packages, except the workspace links,
 * which point into the copy (Taro compiles shared/ only under the project's own root).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '')

// scripts/run-ts.mjs with the BFF's esbuild setup it uses: the runner of the publish script.
const FILES = ['package.json', 'babel.config.js', 'tsconfig.json', 'tsconfig.base.json', 'project.config.json', '.env.production', '.env.development', 'scripts/run-ts.mjs', 'bff/bundle.mjs', 'bff/package.json']
const DIRS = ['config', 'client', 'shared', 'types', 'scripts/weapp-ci']

export interface ProjectCopy {
  readonly root: string
  remove(): void
}

export function copyProject(): ProjectCopy {
  const root = mkdtempSync(path.join(tmpdir(), 'chat-weapp-'))
  for (const file of FILES) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true })
    cpSync(path.join(repoRoot, file), path.join(root, file))
  }
  for (const dir of DIRS) {
    cpSync(path.join(repoRoot, dir), path.join(root, dir), {
      recursive: true,
      filter: (src) => !src.split(path.sep).includes('node_modules'),
    })
  }
  const modules = path.join(root, 'node_modules')
  mkdirSync(path.join(modules, '@chat'), { recursive: true })
  for (const name of readdirSync(path.join(repoRoot, 'node_modules'))) {
    // .cache: the copy keeps its own webpack cache; @chat: workspace links, re-pointed below.
    if (name === '.cache' || name === '@chat' || name === '.package-lock.json') continue
    symlinkSync(path.join(repoRoot, 'node_modules', name), path.join(modules, name))
  }
  symlinkSync(path.join(root, 'shared'), path.join(modules, '@chat', 'shared'))
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) }
}
