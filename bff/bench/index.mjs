// Entry of `npm run bench:bff`: bundles the benchmark (run.ts, its load generator and the baseline
// server) into bff/.bench-dist with esbuild, npm deps external, then runs it. The BFF itself is the
// production bundle bff/dist/main.js, built by the npm script before this.
import { spawnSync } from 'node:child_process'
import { bundleBff } from '../bundle.mjs'

const bff = new URL('..', import.meta.url).pathname
await bundleBff({
  entryPoints: ['bench/run.ts', 'bench/loadgen.ts', 'bench/baseline.ts'],
  outdir: '.bench-dist',
  absWorkingDir: bff,
})
const run = spawnSync(process.execPath, ['.bench-dist/run.js'], { cwd: bff, stdio: 'inherit', env: process.env })
process.exit(run.status ?? 1)
