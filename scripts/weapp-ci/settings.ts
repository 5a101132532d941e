/**
 * Settings of `npm run upload:weapp` / `npm run preview:weapp`: read from flags and the environment
 * (a flag wins), validated as a whole, so that every wrong or missing setting is reported at once,
 * by name, before anything is built or sent to WeChat.
 */
import { constants, createPrivateKey, privateEncrypt, type KeyObject } from 'node:crypto'
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs'
import { isIP } from 'node:net'
import path from 'node:path'
import { parseArgs } from 'node:util'

export type Command = 'upload' | 'preview'
export type QrcodeFormat = 'image' | 'base64' | 'terminal'

export interface PublishSettings {
  readonly command: Command
  /** Repository root: where `npm run build:weapp` runs and dist/weapp is produced. */
  readonly root: string
  /** The mini-program's appid (wx + 16 hex digits). */
  readonly appid: string
  /** Code upload key downloaded from mp.weixin.qq.com (PEM, RSA). */
  readonly privateKeyPath: string
  /** Version shown in the WeChat admin console. Default: package.json `version`. */
  readonly version: string
  /** Description shown with the version. Default: `<version> (<git commit>)`. */
  readonly desc: string
  /** miniprogram-ci robot 1-30: each robot is a separate uploader in the console. Default 1. */
  readonly robot: number
  /** https origin of the BFF baked into the build (TARO_APP_BFF_URL); must be on the domain whitelist. */
  readonly bffUrl: string
  /** Build before uploading. Default true; --no-build uploads dist/weapp as it is. */
  readonly build: boolean
  /** HTTP(S) proxy for miniprogram-ci's requests (WeChat only accepts whitelisted uploader IPs). */
  readonly proxy: string | undefined
  /** preview only: where and how the QR code is written. */
  readonly qrcodeFormat: QrcodeFormat
  readonly qrcodeDest: string
  /** preview only: page to open and its query string. */
  readonly pagePath: string | undefined
  readonly searchQuery: string | undefined
}

/** Every problem found, each naming the flag and variable to fix. Nothing was built or sent. */
export class SettingsError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid publish settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'SettingsError'
  }
}

interface Option {
  readonly flag: string
  readonly env?: string
  readonly boolean?: boolean
  readonly commands?: readonly Command[]
}

// One table: the parser refuses anything not listed, and the messages name both spellings.
const OPTIONS = {
  appid: { flag: '--appid', env: 'WEAPP_APPID' },
  privateKey: { flag: '--private-key', env: 'WEAPP_PRIVATE_KEY_PATH' },
  version: { flag: '--version', env: 'WEAPP_VERSION' },
  desc: { flag: '--desc', env: 'WEAPP_DESC' },
  robot: { flag: '--robot', env: 'WEAPP_ROBOT' },
  bffUrl: { flag: '--bff-url', env: 'TARO_APP_BFF_URL' },
  proxy: { flag: '--proxy', env: 'WEAPP_PROXY' },
  noBuild: { flag: '--no-build', boolean: true },
  qrcode: { flag: '--qrcode', env: 'WEAPP_QRCODE_PATH', commands: ['preview'] },
  qrcodeFormat: { flag: '--qrcode-format', env: 'WEAPP_QRCODE_FORMAT', commands: ['preview'] },
  page: { flag: '--page', env: 'WEAPP_PAGE', commands: ['preview'] },
  query: { flag: '--query', env: 'WEAPP_QUERY', commands: ['preview'] },
} as const satisfies Record<string, Option>
type Key = keyof typeof OPTIONS

const byFlag = new Map<string, Key>(Object.entries(OPTIONS).map(([key, o]) => [o.flag, key as Key]))

function label(key: Key): string {
  const o: Option = OPTIONS[key]
  return o.env ? `${o.flag} / ${o.env}` : o.flag
}

/**
 * `--name value`, `--name=value` and boolean `--name`, read by node:util's parseArgs. Unknown flags
 * are problems, not ignored, and every problem is reported (parseArgs' strict mode stops at the
 * first), so it runs non-strict and this checks its tokens.
 */
export function parseFlags(argv: readonly string[], command: Command): { values: Partial<Record<Key, string>>; problems: string[] } {
  const values: Partial<Record<Key, string>> = {}
  const problems: string[] = []
  const options = Object.fromEntries(
    Object.values(OPTIONS).map((o: Option) => [o.flag.slice(2), { type: o.boolean ? ('boolean' as const) : ('string' as const) }]),
  )
  let args = [...argv]
  parse: while (args.length > 0) {
    const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true })
    const reported = new Set<number>()
    for (let t = 0; t < tokens.length; t++) {
      const token = tokens[t]!
      if (token.kind !== 'option') {
        if (!reported.has(token.index)) problems.push(`unknown argument "${args[token.index]}" ${known()}`)
        reported.add(token.index)
        continue
      }
      const key = token.rawName.startsWith('--') ? byFlag.get(token.rawName) : undefined
      if (!key) {
        if (!reported.has(token.index)) problems.push(`unknown argument "${args[token.index]}" ${known()}`)
        reported.add(token.index)
        // `--typo value`: the value belongs to the unknown flag, report the flag once.
        const next = tokens[t + 1]
        if (token.rawName.startsWith('--') && token.inlineValue === undefined && next?.kind === 'positional' && next.index === token.index + 1) t++
        continue
      }
      const o: Option = OPTIONS[key]
      if (o.commands && !o.commands.includes(command)) {
        problems.push(`${o.flag} applies to ${o.commands.join('/')} only, not ${command}`)
        continue
      }
      if (o.boolean) {
        if (token.inlineValue) problems.push(`${o.flag} takes no value`)
        values[key] = 'true'
        continue
      }
      if (token.value === undefined) {
        problems.push(`${o.flag} needs a value`)
        continue
      }
      if (!token.inlineValue && token.value.startsWith('--')) {
        // parseArgs took the next flag as this one's value: report it, and read on from that flag.
        problems.push(`${o.flag} needs a value`)
        args = args.slice(token.index + 1)
        continue parse
      }
      values[key] = token.value
    }
    break
  }
  return { values, problems }
}

function known(): string {
  return `(known: ${[...byFlag.keys()].join(', ')})`
}

export interface ResolveInput {
  readonly command: Command
  readonly argv: readonly string[]
  readonly env: NodeJS.ProcessEnv
  readonly root: string
  /** Commit to name in the default description; undefined outside a git checkout. */
  readonly gitCommit?: string
}

/** Flags, then environment, then defaults; throws SettingsError listing every problem. */
export function resolveSettings(input: ResolveInput): PublishSettings {
  const { command, env, root } = input
  const { values, problems } = parseFlags(input.argv, command)
  const get = (key: Key): string | undefined => {
    const o: Option = OPTIONS[key]
    const raw = values[key] ?? (o.env ? env[o.env] : undefined)
    const trimmed = raw?.trim()
    return trimmed === '' ? undefined : trimmed
  }

  // appid: TARO_APP_ID (the build-time appid) is accepted too, so one variable can serve both.
  const appid = get('appid') ?? env.TARO_APP_ID?.trim() ?? ''
  if (!appid) {
    problems.push(`appid is not set: ${label('appid')} (the mini-program's AppID, mp.weixin.qq.com > 开发 > 开发管理 > 开发设置)`)
  } else if (!/^wx[0-9a-f]{16}$/.test(appid)) {
    problems.push(`appid "${appid}" is not a mini-program AppID (wx followed by 16 hex digits): ${label('appid')}`)
  }

  const privateKeyPath = checkPrivateKey(get('privateKey'), root, problems)

  const version = get('version') ?? packageVersion(root, problems)
  if (version !== undefined && !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
    problems.push(`version "${version}" is not x.y.z (optionally -suffix): ${label('version')}`)
  }

  const desc = get('desc') ?? `${version ?? '?'}${input.gitCommit ? ` (${input.gitCommit})` : ''}`
  if (desc.length > 200) problems.push(`description is ${desc.length} characters, keep it to 200: ${label('desc')}`)

  const robotRaw = get('robot') ?? '1'
  const robot = Number(robotRaw)
  if (!/^\d+$/.test(robotRaw) || robot < 1 || robot > 30) {
    problems.push(`robot "${robotRaw}" must be an integer from 1 to 30: ${label('robot')}`)
  }

  const bffUrl = checkBffUrl(get('bffUrl'), problems)
  // The client shows its dev login on weapp when built with TARO_APP_DEV_LOGIN=1 (local preview
  // builds): never in a version uploaded for release.
  if (command === 'upload' && env.TARO_APP_DEV_LOGIN?.trim() === '1') {
    problems.push('TARO_APP_DEV_LOGIN=1 would build the dev login into a released version: unset it for an upload')
  }

  const proxy = get('proxy')
  if (proxy !== undefined) {
    let ok = false
    try {
      ok = ['http:', 'https:'].includes(new URL(proxy).protocol)
    } catch {
      // not a URL: reported below
    }
    if (!ok) problems.push(`proxy "${proxy}" is not an http(s) URL: ${label('proxy')}`)
  }

  const qrcodeFormat = (get('qrcodeFormat') ?? 'image') as QrcodeFormat
  if (!['image', 'base64', 'terminal'].includes(qrcodeFormat)) {
    problems.push(`QR code format "${qrcodeFormat}" must be image, base64 or terminal: ${label('qrcodeFormat')}`)
  }
  const qrcodeDest = path.resolve(root, get('qrcode') ?? 'dist/preview-qrcode.jpg')
  if (command === 'preview' && qrcodeFormat !== 'terminal') checkQrcodeDest(qrcodeDest, root, problems)

  if (problems.length > 0) throw new SettingsError(problems)
  return {
    command,
    root,
    appid,
    privateKeyPath: privateKeyPath!,
    version: version!,
    desc,
    robot,
    bffUrl: bffUrl!,
    build: values.noBuild === undefined,
    proxy,
    qrcodeFormat,
    qrcodeDest,
    pagePath: get('page'),
    searchQuery: get('query'),
  }
}

function packageVersion(root: string, problems: string[]): string | undefined {
  try {
    const v = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: unknown }).version
    if (typeof v === 'string') return v
  } catch {
    // unreadable package.json: reported below
  }
  problems.push(`version is not set and package.json has none: ${label('version')}`)
  return undefined
}

/**
 * The key must be readable and usable for what miniprogram-ci does with it: an RSA PKCS#1 v1.5
 * private-key encryption of WeChat's challenge (utils/sign.js). Trying exactly that here turns a
 * wrong file (the public key, a truncated copy, another format) into a named error before any request.
 */
function checkPrivateKey(raw: string | undefined, root: string, problems: string[]): string | undefined {
  const where = label('privateKey')
  if (raw === undefined) {
    problems.push(`private key path is not set: ${where} (the code upload key, mp.weixin.qq.com > 开发 > 开发管理 > 开发设置 > 小程序代码上传)`)
    return undefined
  }
  const file = path.resolve(root, raw)
  let pem: string
  try {
    if (!statSync(file).isFile()) throw new Error('not a file')
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    problems.push(`private key ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${where}`)
    return undefined
  }
  let key: KeyObject
  try {
    key = createPrivateKey(pem)
  } catch {
    problems.push(`private key ${file} is not a PEM private key (expected "-----BEGIN RSA PRIVATE KEY-----"): ${where}`)
    return undefined
  }
  if (key.asymmetricKeyType !== 'rsa') {
    problems.push(`private key ${file} is a ${key.asymmetricKeyType} key; WeChat's code upload key is RSA: ${where}`)
    return undefined
  }
  try {
    privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('{"appid":"probe","rand_str":"probe"}'))
  } catch (err) {
    problems.push(`private key ${file} cannot sign (${(err as Error).message}): ${where}`)
    return undefined
  }
  return file
}

/**
 * The mini-program reaches only https hosts listed in its domain whitelist: no IP addresses, no
 * localhost (../shared/PLATFORM.md, "Network"). A production build with anything else cannot connect.
 */
function checkBffUrl(raw: string | undefined, problems: string[]): string | undefined {
  const where = label('bffUrl')
  if (raw === undefined) {
    problems.push(`BFF URL is not set: ${where} (the https origin of the BFF, listed in the mini-program's request/socket domain whitelist)`)
    return undefined
  }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    problems.push(`BFF URL "${raw}" is not a URL: ${where}`)
    return undefined
  }
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const bad: string[] = []
  if (url.protocol !== 'https:') bad.push('must be https')
  if (isIP(host) !== 0) bad.push('must be a domain name, not an IP address')
  if (host === 'localhost' || host.endsWith('.localhost')) bad.push('must not be localhost')
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    bad.push('must be an origin only (https://host[:port])')
  }
  if (bad.length > 0) {
    problems.push(`BFF URL "${raw}" ${bad.join(', ')} (WeChat only connects to whitelisted https domains): ${where}`)
    return undefined
  }
  return url.origin
}

function checkQrcodeDest(dest: string, root: string, problems: string[]): void {
  const where = label('qrcode')
  // Inside dist/weapp the image would be packed into the next upload.
  if (dest.startsWith(path.join(root, 'dist', 'weapp') + path.sep)) {
    problems.push(`QR code path ${dest} is inside dist/weapp, which is uploaded: ${where}`)
    return
  }
  // The first existing ancestor must be a writable directory (missing ones are created).
  let dir = path.dirname(dest)
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`)
    accessSync(dir, fsConstants.W_OK)
  } catch (err) {
    problems.push(`QR code path ${dest} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${where}`)
  }
}
