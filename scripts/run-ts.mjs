// The one TypeScript runner of the scripts and benchmarks: `node scripts/run-ts.mjs <file.ts> [args]`.
//
// Bundles <file.ts> with the BFF's esbuild setup (bff/bundle.mjs) into bff/node_modules/.cache/run-ts/
// and imports it in this process, so a child started with `fork(RUN_TS, [file, ...])` keeps its
// IPC channel. Why esbuild rather than a loader such as jiti: the bundle has Node's own ESM/CJS
// semantics, the same as the production build's (jiti's interop proxies broke express and helmet
// when bench:upload ran the BFF through it).
//
// - Every package import stays external and is loaded from node_modules (from bff/ first, then the
//   root, as the BFF's own bundle does); workspace sources (`@chat/shared`) and tsconfig paths
//   (`@/` for client/) are bundled.
// - `import.meta.url`, `import.meta.dirname`, `import.meta.filename`, `__dirname` and `__filename`
//   keep naming each source file, TypeScript or .mjs (the publish script, bench:archive's result path
//   and the e2e harness behind bench:client locate the repository from them).
// - process.argv is `[node, <file.ts>, ...args]` when the file runs, as if Node ran it directly.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { bundleBff } from '../bff/bundle.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [entryArg, ...args] = process.argv.slice(2)
if (!entryArg) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args]')
  process.exit(2)
}
const entry = path.resolve(entryArg)
const name = path.relative(root, entry).replace(/[\\/]/g, '__').replace(/\.[mc]?tsx?$/, '')
const outfile = path.join(root, 'bff/node_modules/.cache/run-ts', `${name}.mjs`)
mkdirSync(path.dirname(outfile), { recursive: true })

/** Package imports are external; workspace packages and the client's `@/` alias are bundled. */
const externalPackages = {
  name: 'external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@chat/') || args.path.startsWith('@/')) return undefined
      return { path: args.path, external: true }
    })
  },
}

/**
 * Each source file's own location for import.meta.* and __dirname/__filename: TypeScript and the
 * repository's .mjs modules (bff/bundle.mjs finds its package.json from import.meta.url).
 */
const ownLocation = {
  name: 'own-location',
  setup(build) {
    build.onLoad({ filter: /\.(?:[mc]?tsx?|mjs)$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined
      const source = readFileSync(args.path, 'utf8')
      const here = JSON.stringify(path.dirname(args.path))
      const self = JSON.stringify(args.path)
      const contents = source
        .replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href))
        .replace(/\bimport\.meta\.dirname\b/g, here)
        .replace(/\bimport\.meta\.filename\b/g, self)
        .replace(/(?<![.\w$])__dirname\b/g, here)
        .replace(/(?<![.\w$])__filename\b/g, self)
      const ext = path.extname(args.path)
      return { contents, loader: ext === '.mjs' ? 'js' : ext.endsWith('x') ? 'tsx' : 'ts', resolveDir: path.dirname(args.path) }
    })
  },
}

const { outputFiles } = await bundleBff({
  entryPoints: [entry],
  outfile,
  external: [],
  plugins: [externalPackages, ownLocation],
  absWorkingDir: root,
  write: false,
})
// Several processes may start the same file at once (the storm test's workers, bench:bff's load
// generators): each writes its own temporary file and renames it into place, so none imports
// another's half-written bundle.
for (const file of outputFiles) {
  const tmp = `${file.path}.${process.pid}.tmp`
  writeFileSync(tmp, file.contents)
  renameSync(tmp, file.path)
}
process.argv = [process.argv[0], entry, ...args]
await import(pathToFileURL(outfile).href)
