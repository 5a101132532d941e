import path from 'node:path'
import { defineConfig, type UserConfigExport } from '@tarojs/cli'
import TsconfigPathsPlugin from 'tsconfig-paths-webpack-plugin'
import devConfig from './dev'
import prodConfig from './prod'
import { ShellServiceWorkerPlugin } from './shell-sw'

const root = path.resolve(__dirname, '..')

/** The part of webpack-chain's config that chainCommon uses (Taro hands one to `webpackChain`). */
interface ChainPart {
  resolve: { plugin(name: string): { use(plugin: unknown): unknown } }
  cache(options: Record<string, unknown>): unknown
}

// Taro's own persistent cache hard-codes <root>/src/app.config as a build dependency and never warms
// up with sourceRoot 'client' (see TARO.md): use webpack's filesystem cache directly instead.
function chainCommon(chain: ChainPart, platform: string): void {
  chain.resolve.plugin('tsconfig-paths').use(TsconfigPathsPlugin)
  chain.cache({
    type: 'filesystem',
    // One cache per output folder: the test and benchmark builds differ in pages and constants.
    cacheDirectory: path.join(
      root,
      'node_modules/.cache/webpack',
      `${platform}-${process.env.NODE_ENV ?? 'production'}-${path.basename(process.env.CHAT_OUTPUT_ROOT || platform)}`,
    ),
    buildDependencies: {
      config: [
        path.join(root, 'config/index.ts'),
        path.join(root, 'config/dev.ts'),
        path.join(root, 'config/prod.ts'),
        path.join(root, 'config/shell-sw.ts'),
        path.join(root, 'client/app.config.ts'),
        path.join(root, 'babel.config.js'),
      ],
    },
  })
}

/**
 * Measured trap: Taro emits the `custom-wrapper` component only if the JavaScript parser saw a
 * <CustomWrapper> during THIS build. With webpack's filesystem cache, a rebuild that re-parses some
 * modules but takes the page using CustomWrapper from the cache leaves it out (its cache fallback,
 * TaroNormalModulesPlugin's finishModules hook, runs only when no module was parsed at all): the
 * page then silently updates through the page's setData. The client always uses CustomWrapper, so
 * declare it up front.
 */
function keepCustomWrapper(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { componentConfig } = require('@tarojs/webpack5-runner/dist/utils/component') as {
    componentConfig: { thirdPartyComponents: Map<string, Set<string>> }
  }
  if (!componentConfig.thirdPartyComponents.has('custom-wrapper')) {
    componentConfig.thirdPartyComponents.set('custom-wrapper', new Set())
  }
}

export default defineConfig<'webpack5'>((merge) => {
  const outputRoot = process.env.CHAT_OUTPUT_ROOT || `dist/${process.env.TARO_ENV}`
  const h5 = process.env.TARO_ENV === 'h5'
  const baseConfig: UserConfigExport<'webpack5'> = {
    projectName: 'wechat-chat',
    date: '2026-11-27',
    designWidth: 750,
    deviceRatio: { 640: 2.34 / 2, 750: 1, 375: 2, 828: 1.81 / 2 },
    sourceRoot: 'client',
    // CHAT_OUTPUT_ROOT: another output folder (the benchmark's build with its baseline page).
    outputRoot,
    plugins: [],
    // Optional client settings: always defined, so an unset one is '' in the bundle rather than a
    // `process.env.X` reference (there is no `process` in a mini-program).
    defineConstants: {
      'process.env.TARO_APP_VIEW_BATCH_MS': JSON.stringify(process.env.TARO_APP_VIEW_BATCH_MS ?? ''),
      'process.env.TARO_APP_DEV_LOGIN': JSON.stringify(process.env.TARO_APP_DEV_LOGIN ?? ''),
      // '1' only in the benchmark's build (bench/client): exposes the store to the benchmark.
      'process.env.TARO_APP_BENCH': JSON.stringify(process.env.CHAT_BENCH_PAGES === '1' ? '1' : ''),
    },
    // h5: the icon browsers ask for at /favicon.ico (weapp has no use for it).
    copy: { patterns: h5 ? [{ from: 'client/assets/favicon.ico', to: `${outputRoot}/favicon.ico` }] : [], options: {} },
    framework: 'react',
    compiler: 'webpack5',
    cache: { enable: false },
    mini: {
      // shared/ is TypeScript source used through the workspace link: compile it like client code.
      compile: { include: [path.join(root, 'shared')] },
      postcss: {
        pxtransform: { enable: true, config: {} },
        cssModules: { enable: false, config: { namingPattern: 'module', generateScopedName: '[name]__[local]___[hash:base64:5]' } },
      },
      webpackChain(chain) {
        chainCommon(chain, 'weapp')
        keepCustomWrapper()
      },
    },
    h5: {
      publicPath: '/',
      staticDirectory: 'static',
      output: { filename: 'js/[name].[hash:8].js', chunkFilename: 'js/[name].[chunkhash:8].js' },
      miniCssExtractPluginOption: {
        ignoreOrder: true,
        filename: 'css/[name].[hash].css',
        chunkFilename: 'css/[name].[chunkhash].css',
      },
      compile: { include: [path.join(root, 'shared')] },
      router: { mode: 'hash' },
      devServer: { host: '127.0.0.1' },
      postcss: {
        autoprefixer: { enable: true, config: {} },
        cssModules: { enable: false, config: { namingPattern: 'module', generateScopedName: '[name]__[local]___[hash:base64:5]' } },
      },
      webpackChain(chain) {
        chainCommon(chain, 'h5')
        // The offline shell (client/sw.js), in production builds only: a worker in the dev server
        // would serve stale code between rebuilds.
        if (process.env.NODE_ENV !== 'development') {
          chain
            .plugin('shell-sw')
            .use(ShellServiceWorkerPlugin, [{ template: path.join(root, 'client/sw.js'), publicPath: '/', extra: ['/favicon.ico'] }])
        }
      },
    },
  }
  if (process.env.NODE_ENV === 'development') return merge({}, baseConfig, devConfig)
  return merge({}, baseConfig, prodConfig)
})
