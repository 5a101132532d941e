// One esbuild setup for everything that runs the BFF's TypeScript under Node: the production
// build, the test processes, and the scripts and benchmarks (scripts/run-ts.mjs, which also keeps
// every other package external). shared/ (TypeScript source, a workspace package) is bundled in; every npm dependency of the BFF (optional ones too) stays external and is loaded
// from node_modules.
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const external = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }).filter((name) => !name.startsWith('@chat/'))

/** esbuild's `build` with the BFF's Node settings; `options` adds entry points, output and the rest. */
export function bundleBff(options) {
  return build({
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...external, ...external.map((name) => `${name}/*`)],
    logLevel: 'warning',
    ...options,
  })
}
