import type { BuildOptions, BuildResult } from 'esbuild'

export function bundleBff(options: BuildOptions): Promise<BuildResult>
