// Bundles the BFF into dist/ (see bundle.mjs for what is bundled and what stays external).
import { bundleBff } from './bundle.mjs'

await bundleBff({
  entryPoints: ['src/main.ts', 'src/migrate.ts', 'src/persister.ts', 'src/checker.ts'],
  outdir: 'dist',
  sourcemap: true,
  absWorkingDir: new URL('.', import.meta.url).pathname,
})
