// `npm run bench:upload`: bundles bench/upload/main.ts (TypeScript, with the BFF and the client's
// uploader) with esbuild, as bff/build.mjs bundles the server, then runs it. The bundle lives under
// bff/node_modules so that it resolves the BFF's own dependencies; npm packages stay external.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const outfile = path.join(root, 'bff/node_modules/.cache/bench-upload/main.mjs')
mkdirSync(path.dirname(outfile), { recursive: true })
const pkg = JSON.parse(readFileSync(path.join(root, 'bff/package.json'), 'utf8'))
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => !name.startsWith('@chat/'))

await build({
  entryPoints: [path.join(root, 'bench/upload/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [...external, ...external.map((name) => `${name}/*`)],
  logLevel: 'warning',
})

const run = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root })
process.exit(run.status ?? 1)
