/**
 * Builds the mini-program for production and hands dist/weapp to miniprogram-ci (WeChat's own CI
 * package) for an upload (a new version in the admin console) or a preview (a QR code that opens
 * it in WeChat). Everything that can be checked locally is checked before miniprogram-ci is called:
 * its first act is a request to servicewechat.com (the signing challenge).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { PublishSettings } from './settings'

/** The build failed or produced something that must not be uploaded. Nothing was sent. */
export class BuildError extends Error {
  override name = 'BuildError'
}

/** miniprogram-ci or WeChat refused, or the network failed. */
export class WeChatError extends Error {
  override name = 'WeChatError'
}

export interface PublishIO {
  log(line: string): void
}

/** `npm run build:weapp` in production mode with the appid and BFF origin baked in. */
export async function buildWeapp(settings: PublishSettings, io: PublishIO): Promise<void> {
  io.log(`building dist/weapp for production (appid ${settings.appid}, BFF ${settings.bffUrl})`)
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: 'production',
    TARO_ENV: 'weapp',
    TARO_APP_ID: settings.appid,
    TARO_APP_BFF_URL: settings.bffUrl,
  }
  // Build switches of the benchmark (config/index.ts, client/app.config.ts): another output folder
  // would leave dist/weapp stale, and the bench page must not ship.
  delete env.CHAT_OUTPUT_ROOT
  delete env.CHAT_BENCH_PAGES
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'build:weapp'], { cwd: settings.root, env, stdio: ['ignore', 'inherit', 'inherit'] })
    child.on('error', reject)
    child.on('exit', (c) => resolve(c))
  })
  if (code !== 0) throw new BuildError(`npm run build:weapp failed (exit ${code}): nothing was uploaded`)
}

/**
 * dist/weapp must be a mini-program for this appid: project.config.json (Taro copies it and sets
 * TARO_APP_ID as appid) and app.json. A dist from `dev:weapp` or another appid is refused here
 * rather than after the upload.
 */
export function checkOutput(settings: PublishSettings): string {
  const dir = path.join(settings.root, 'dist', 'weapp')
  const configFile = path.join(dir, 'project.config.json')
  if (!existsSync(configFile)) throw new BuildError(`${configFile} is missing: build with npm run build:weapp (or drop --no-build)`)
  if (!existsSync(path.join(dir, 'app.json'))) throw new BuildError(`${dir}/app.json is missing: the build is incomplete`)
  let appid: unknown
  try {
    appid = (JSON.parse(readFileSync(configFile, 'utf8')) as { appid?: unknown }).appid
  } catch (err) {
    throw new BuildError(`${configFile} is not JSON: ${(err as Error).message}`)
  }
  if (appid !== settings.appid) {
    throw new BuildError(`dist/weapp was built for appid "${String(appid)}", not ${settings.appid}: rebuild (drop --no-build)`)
  }
  return dir
}

type MiniprogramCi = typeof import('miniprogram-ci')

function loadCi(root: string): MiniprogramCi {
  // Resolved from the project, like the build: the CLI works from any checkout of it.
  return createRequire(path.join(root, 'package.json'))('miniprogram-ci') as MiniprogramCi
}

export interface PublishResult {
  readonly command: PublishSettings['command']
  readonly version: string
  /** Package sizes reported by WeChat (`__FULL__`, `__APP__`, sub-packages), bytes. */
  readonly packages: readonly { name: string; size: number }[]
  readonly qrcode?: string
}

export async function publish(settings: PublishSettings, io: PublishIO): Promise<PublishResult> {
  if (settings.build) await buildWeapp(settings, io)
  const projectPath = checkOutput(settings)

  const ci = loadCi(settings.root)
  if (settings.proxy) ci.proxy(settings.proxy)
  const project = new ci.Project({
    appid: settings.appid,
    type: 'miniProgram',
    projectPath,
    privateKeyPath: settings.privateKeyPath,
    ignores: ['node_modules/**/*', '**/*.map', '**/*.LICENSE.txt'],
  })
  // Taro already transpiles and minifies; project.config.json's settings say so (useProjectConfig).
  const common = {
    project,
    desc: settings.desc,
    robot: settings.robot,
    setting: { useProjectConfig: true },
    onProgressUpdate: (task: unknown) => io.log(`miniprogram-ci: ${describeTask(task)}`),
  }
  try {
    if (settings.command === 'upload') {
      io.log(`uploading version ${settings.version} ("${settings.desc}") as robot ${settings.robot}`)
      const result = await ci.upload({ ...common, version: settings.version })
      return { command: 'upload', version: settings.version, packages: result.subPackageInfo ?? [] }
    }
    if (settings.qrcodeFormat !== 'terminal') mkdirSync(path.dirname(settings.qrcodeDest), { recursive: true })
    io.log(`making a preview QR code (${settings.qrcodeFormat}${settings.qrcodeFormat === 'terminal' ? '' : ` -> ${settings.qrcodeDest}`})`)
    const result = await ci.preview({
      ...common,
      version: settings.version,
      qrcodeFormat: settings.qrcodeFormat,
      qrcodeOutputDest: settings.qrcodeDest,
      ...(settings.pagePath ? { pagePath: settings.pagePath } : {}),
      ...(settings.searchQuery ? { searchQuery: settings.searchQuery } : {}),
    })
    return {
      command: 'preview',
      version: settings.version,
      packages: result.subPackageInfo ?? [],
      ...(settings.qrcodeFormat === 'terminal' ? {} : { qrcode: settings.qrcodeDest }),
    }
  } catch (err) {
    throw new WeChatError(`miniprogram-ci ${settings.command} failed: ${errorText(err)}`)
  }
}

function describeTask(task: unknown): string {
  if (typeof task === 'string') return task
  if (task && typeof task === 'object') {
    const t = task as { message?: unknown; status?: unknown; _msg?: unknown; _status?: unknown }
    const message = t.message ?? t._msg
    const status = t.status ?? t._status
    if (message !== undefined) return `${text(message)}${status ? ` [${text(status)}]` : ''}`
  }
  return JSON.stringify(task)
}

/** A field of miniprogram-ci's answers, as text: strings and numbers as they are, anything else as JSON. */
function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value)
}

/** miniprogram-ci throws CodeErrors whose message is sometimes an Error's toString(). */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return `${err.message.replace(/^Error: /, '')}${code !== undefined ? ` (code ${text(code)})` : ''}`
  }
  return String(err)
}
