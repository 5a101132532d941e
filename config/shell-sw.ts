/**
 * Emits `sw.js` (client/sw.js) into the h5 build with the list of the build's shell files: every
 * emitted .js and .css (page chunks included: pages load on demand), the favicon, and `/` for
 * index.html. Its version is the hash of that list, so a new build installs a new cache and the
 * activate step drops the old one. Runs after webpack named and hashed the files.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Compiler } from 'webpack'

export class ShellServiceWorkerPlugin {
  constructor(private readonly options: { template: string; publicPath: string; extra: readonly string[] }) {}

  apply(compiler: Compiler): void {
    const { webpack } = compiler
    compiler.hooks.thisCompilation.tap('ShellServiceWorkerPlugin', (compilation) => {
      compilation.hooks.processAssets.tap(
        { name: 'ShellServiceWorkerPlugin', stage: webpack.Compilation.PROCESS_ASSETS_STAGE_REPORT },
        (assets) => {
          const files = Object.keys(assets)
            .filter((name) => /\.(js|css)$/.test(name) && name !== 'sw.js')
            .sort()
            .map((name) => `${this.options.publicPath}${name}`)
          const shell = ['/', ...this.options.extra, ...files]
          const version = createHash('sha256').update(shell.join('\n')).digest('hex').slice(0, 16)
          const source = readFileSync(this.options.template, 'utf8')
            .replace('__SHELL_VERSION__', version)
            .replace('__SHELL_FILES__', JSON.stringify(shell))
          compilation.emitAsset('sw.js', new webpack.sources.RawSource(source))
        },
      )
    })
  }
}
