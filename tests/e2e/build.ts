/**
 * Builds the e2e tests and the benchmark need, when missing or stale. A build is stale when any of
 * its input files changed (path, size or mtime) since the build that is on disk; the fingerprint of
 * that build is kept in node_modules/.cache/chat-e2e/.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export const ROOT = path.resolve(__dirname, '../..')

/** The BFF origin compiled into the harness builds; the fake host maps its host name to the test BFF. */
export const HARNESS_ORIGIN = 'http://bff.harness'

export interface BuildTarget {
  readonly name: string
  /** Files and folders (relative to the root) whose changes make the output stale. */
  readonly inputs: readonly string[]
  /** A file the build produces. */
  readonly output: string
  readonly command: readonly string[]
  readonly env?: Readonly<Record<string, string>>
}

const CLIENT_INPUTS = ['client', 'shared/src', 'config', 'types', 'babel.config.js', 'project.config.json', '.env.production', 'package.json']

export const TARGETS = {
  h5: { name: 'h5', inputs: CLIENT_INPUTS, output: 'dist/h5/index.html', command: ['npm', 'run', 'build:h5'] },
  /** What `npm run build:weapp` makes and WeChat DevTools opens (the size we report). */
  weapp: { name: 'weapp', inputs: CLIENT_INPUTS, output: 'dist/weapp/app.js', command: ['npm', 'run', 'build:weapp'] },
  /**
   * The weapp build the harness runs: the same code, with its BFF origin set to HARNESS_ORIGIN,
   * which the fake host resolves to the test's BFF (port 0), as a hosts file would.
   */
  weappHarness: {
    name: 'weapp-harness',
    inputs: CLIENT_INPUTS,
    output: 'dist/weapp-harness/app.js',
    command: ['npm', 'run', 'build:weapp'],
    env: { CHAT_OUTPUT_ROOT: 'dist/weapp-harness', TARO_APP_BFF_URL: 'http://bff.harness' },
  },
  /** The harness build plus the benchmark's naive baseline page. */
  weappBench: {
    name: 'weapp-bench',
    inputs: [...CLIENT_INPUTS, 'bench/client'],
    output: 'dist/weapp-bench/app.js',
    command: ['npm', 'run', 'build:weapp'],
    env: { CHAT_BENCH_PAGES: '1', CHAT_OUTPUT_ROOT: 'dist/weapp-bench', TARO_APP_BFF_URL: 'http://bff.harness' },
  },
  bff: { name: 'bff', inputs: ['bff/src', 'shared/src', 'bff/build.mjs', 'bff/package.json'], output: 'bff/dist/main.js', command: ['npm', 'run', 'build:bff'] },
} satisfies Record<string, BuildTarget>

function listFiles(rel: string, out: string[]): void {
  const abs = path.join(ROOT, rel)
  if (!existsSync(abs)) return
  const st = statSync(abs)
  if (st.isFile()) {
    if (!/\.test\.tsx?$/.test(rel)) out.push(`${rel}:${st.size}:${Math.floor(st.mtimeMs)}`)
    return
  }
  for (const entry of readdirSync(abs)) {
    if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue
    listFiles(path.join(rel, entry), out)
  }
}

function fingerprint(t: BuildTarget): string {
  const files: string[] = []
  for (const input of t.inputs) listFiles(input, files)
  files.sort()
  return createHash('sha1').update(files.join('\n')).update(JSON.stringify(t.env ?? {})).digest('hex')
}

const stampDir = path.join(ROOT, 'node_modules/.cache/chat-e2e')
const stampOf = (t: BuildTarget) => path.join(stampDir, `${t.name}.json`)

export function isFresh(t: BuildTarget): boolean {
  if (!existsSync(path.join(ROOT, t.output))) return false
  try {
    return (JSON.parse(readFileSync(stampOf(t), 'utf8')) as { fingerprint?: string }).fingerprint === fingerprint(t)
  } catch {
    return false
  }
}

/** Build `t` unless its output is fresh. Rejects with the build's output tail on failure. */
export async function ensureBuilt(t: BuildTarget, log: (msg: string) => void = console.log): Promise<void> {
  if (isFresh(t)) return
  const before = fingerprint(t)
  log(`building ${t.name} (${t.command.join(' ')})…`)
  const started = Date.now()
  await new Promise<void>((resolve, reject) => {
    const child = spawn(t.command[0]!, t.command.slice(1), {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production', ...t.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000)
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code === 0 && existsSync(path.join(ROOT, t.output))) resolve()
      else reject(new Error(`build ${t.name} failed (exit ${code}):\n${output.slice(-4000)}`))
    })
  })
  mkdirSync(stampDir, { recursive: true })
  writeFileSync(stampOf(t), JSON.stringify({ fingerprint: before, builtAt: new Date().toISOString() }))
  log(`built ${t.name} in ${((Date.now() - started) / 1000).toFixed(0)} s`)
}
