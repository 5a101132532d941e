// Copies into <out> exactly the installed packages the bundled BFF can load at run time: the
// closure of bff/package.json's `dependencies` (and installed `optionalDependencies`) over `dependencies`, installed `optionalDependencies`
// and required `peerDependencies`, resolved the way Node resolves them (nearest node_modules up the
// tree) and laid out at the same relative paths so resolution in the image is unchanged.
//
// Why not just `npm ci --omit=dev -w @chat/bff`: that still installs
//  - `typescript` (23 MB): valibot declares it as an optional peer and the root package lists it as
//    a devDependency, so the lockfile marks it `devOptional` and --omit=dev keeps it;
//  - `@chat/shared` and valibot: esbuild bundles them into bff/dist/main.js (bff/build.mjs keeps
//    only the BFF's own npm dependencies external), so they are dead weight at run time.
// Workspace links (symlinks into the repository) are skipped for the same reason.
//
// usage: node runtime-deps.mjs <repo root> <workspace dir, e.g. bff> <out dir>
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

const [root, workspace, out] = process.argv.slice(2)
if (!root || !workspace || !out) {
  console.error('usage: node runtime-deps.mjs <repo root> <workspace dir> <out dir>')
  process.exit(2)
}
const absRoot = path.resolve(root)
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

/** Node's lookup: <dir>/node_modules/<name> for <dir> and each parent not itself named
 * node_modules, up to the repository root. */
function resolve(fromDir, name) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    if (path.basename(dir) !== 'node_modules') {
      const candidate = path.join(dir, 'node_modules', name)
      if (existsSync(path.join(candidate, 'package.json'))) return candidate
    }
    if (dir === absRoot || dir === path.dirname(dir)) return undefined
  }
}

const wanted = new Set()
const missing = []
const queue = []
function need(fromDir, name, { optional }) {
  const dir = resolve(fromDir, name)
  if (!dir) {
    // Optional dependencies for other platforms (e.g. sharp's @img/sharp-darwin-*) are never installed.
    if (!optional) missing.push(`${name} (needed by ${path.relative(absRoot, fromDir) || '.'})`)
    return
  }
  if (lstatSync(dir).isSymbolicLink()) return // a workspace package: bundled into dist/main.js
  if (wanted.has(dir)) return
  wanted.add(dir)
  queue.push(dir)
}

const wsDir = path.join(absRoot, workspace)
const wsPkg = readJson(path.join(wsDir, 'package.json'))
for (const name of Object.keys(wsPkg.dependencies ?? {})) need(wsDir, name, { optional: false })
// better-sqlite3 (the embedded archive): copied when it built, left out when it could not.
for (const name of Object.keys(wsPkg.optionalDependencies ?? {})) need(wsDir, name, { optional: true })
while (queue.length > 0) {
  const dir = queue.shift()
  const pkg = readJson(path.join(dir, 'package.json'))
  for (const name of Object.keys(pkg.dependencies ?? {})) need(dir, name, { optional: false })
  for (const name of Object.keys(pkg.optionalDependencies ?? {})) need(dir, name, { optional: true })
  for (const name of Object.keys(pkg.peerDependencies ?? {})) {
    // An optional peer is the host's choice; the BFF's own dependencies name what it uses.
    if (pkg.peerDependenciesMeta?.[name]?.optional) continue
    need(dir, name, { optional: false })
  }
}
if (missing.length > 0) {
  console.error(`runtime-deps: not installed: ${missing.join(', ')}`)
  process.exit(1)
}

const absOut = path.resolve(out)
mkdirSync(absOut, { recursive: true })
for (const dir of wanted) {
  // Nested node_modules are copied only through the closure (they may hold dev-only packages).
  const nested = path.join(dir, 'node_modules')
  cpSync(dir, path.join(absOut, path.relative(absRoot, dir)), {
    recursive: true,
    filter: (src) => src !== nested,
  })
}
console.log(`runtime-deps: ${wanted.size} packages copied to ${absOut}`)
