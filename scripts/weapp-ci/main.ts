/**
 * npm run upload:weapp  [-- flags]   build for production, upload a version with miniprogram-ci
 * npm run preview:weapp [-- flags]   build for production, write a preview QR code
 *
 * Flags (each also read from the environment; a flag wins):
 *   --appid <wx...>            WEAPP_APPID (or TARO_APP_ID)   the mini-program's AppID
 *   --private-key <path>       WEAPP_PRIVATE_KEY_PATH         code upload key (private.<appid>.key)
 *   --bff-url <https://host>   TARO_APP_BFF_URL               BFF origin baked into the build
 *   --version <x.y.z>          WEAPP_VERSION                  default: package.json version
 *   --desc <text>              WEAPP_DESC                     default: "<version> (<git commit>)"
 *   --robot <1-30>             WEAPP_ROBOT                    default 1
 *   --proxy <http://host:port> WEAPP_PROXY                    proxy for requests to WeChat
 *   --no-build                                                upload dist/weapp as it is
 *   preview only:
 *   --qrcode <path>            WEAPP_QRCODE_PATH              default dist/preview-qrcode.jpg
 *   --qrcode-format <f>        WEAPP_QRCODE_FORMAT            image (default), base64, terminal
 *   --page <path>              WEAPP_PAGE                     page to open
 *   --query <a=1&b=2>          WEAPP_QUERY                    its query string
 *
 * Exit codes: 0 done; 2 settings invalid (nothing built or sent); 3 build failed or its output is
 * unusable (nothing sent); 1 miniprogram-ci / WeChat / network failure.
 */
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BuildError, errorText, publish, WeChatError } from './publish'
import { resolveSettings, SettingsError } from './settings'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() || undefined
  } catch {
    return undefined
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command !== 'upload' && command !== 'preview') {
    console.error('usage: main.ts upload|preview [flags]  (see the header of scripts/weapp-ci/main.ts)')
    return 2
  }
  // miniprogram-ci lets some rejections escape alongside the one it throws (seen with a refused
  // connection): keep them from crashing the process before the real error is reported.
  let leaked: unknown
  process.on('unhandledRejection', (reason) => {
    leaked ??= reason
  })
  const log = (line: string): void => console.log(`[weapp-ci] ${line}`)
  try {
    const settings = resolveSettings({ command, argv: rest, env: process.env, root, gitCommit: gitCommit() })
    const result = await publish(settings, { log })
    const full = result.packages.find((p) => p.name === '__FULL__')
    log(`${result.command} done: version ${result.version}${full ? `, package ${full.size} bytes` : ''}${result.qrcode ? `, QR code ${result.qrcode}` : ''}`)
    if (leaked !== undefined) log(`(miniprogram-ci also reported: ${errorText(leaked)})`)
    return 0
  } catch (err) {
    if (err instanceof SettingsError) {
      console.error(`[weapp-ci] ${err.message}\nNothing was built or sent.`)
      return 2
    }
    if (err instanceof BuildError) {
      console.error(`[weapp-ci] ${err.message}`)
      return 3
    }
    if (err instanceof WeChatError) {
      console.error(`[weapp-ci] ${err.message}`)
      return 1
    }
    console.error(`[weapp-ci] unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    return 1
  }
}

// miniprogram-ci keeps a compiler subprocess and sockets alive: exit explicitly.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
