// `npm run bench:upload`: bundles bench/upload/main.ts (TypeScript, with the BFF and the client's
// uploader) with esbuild, as bff/build.mjs bundles the server, then runs it. The bundle lives under
// bff/node_modules so that it resolves the BFF's own dependencies; npm packages stay external.
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleBff } from '../../bff/bundle.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const outfile = path.join(root, 'bff/node_modules/.cache/bench-upload/main.mjs')
mkdirSync(path.dirname(outfile), { recursive: true })

await bundleBff({ entryPoints: [path.join(root, 'bench/upload/main.ts')], outfile })

const run = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: 'inherit', cwd: root })
process.exit(run.status ?? 1)
