// Entry of `npm run bench:bff`: bundles the benchmark (run.ts, its load generator and the baseline
// server) into bff/.bench-dist with esbuild, npm deps external, then runs it. The BFF itself is the
// production bundle bff/dist/main.js, built by the npm script before this.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const bff = new URL('..', import.meta.url).pathname
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const external = Object.keys(pkg.dependencies ?? {}).filter((name) => !name.startsWith('@chat/'))
await build({
  entryPoints: ['bench/run.ts', 'bench/loadgen.ts', 'bench/baseline.ts'],
  outdir: '.bench-dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [...external, ...external.map((name) => `${name}/*`)],
  logLevel: 'warning',
  absWorkingDir: bff,
})
const run = spawnSync(process.execPath, ['.bench-dist/run.js'], { cwd: bff, stdio: 'inherit', env: process.env })
process.exit(run.status ?? 1)
