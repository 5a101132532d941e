/**
 * `npm run upload:weapp` / `preview:weapp` up to the network call. There is no network here, and a
 * real upload needs WeChat's servers, so the tests point miniprogram-ci at a local proxy that records
 * and refuses every request: bad settings must fail with a named problem and leave the proxy
 * untouched; good settings must build for production and then make their first request to WeChat.
 */
import { spawn } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { resolveSettings, SettingsError, type Command } from '../../scripts/weapp-ci/settings'
import { copyProject, repoRoot, type ProjectCopy } from './support/project-copy'
import { startRecordingProxy, type RecordingProxy } from './support/recording-proxy'

const APPID = 'wx0123456789abcdef'
const BFF_URL = 'https://chat.example.com'

let keys: string
let rsaKey: string
beforeAll(() => {
  keys = mkdtempSync(path.join(tmpdir(), 'chat-keys-'))
  rsaKey = path.join(keys, `private.${APPID}.key`)
  // The code upload key WeChat hands out is a PKCS#1 RSA private key.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(rsaKey, rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }))
  writeFileSync(path.join(keys, 'public.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }))
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(path.join(keys, 'ec.pem'), ec.privateKey.export({ type: 'pkcs8', format: 'pem' }))
  writeFileSync(path.join(keys, 'garbage.key'), 'not a key\n')
})
afterAll(() => rmSync(keys, { recursive: true, force: true }))

function settingsProblems(command: Command, argv: string[], env: NodeJS.ProcessEnv): string[] {
  try {
    resolveSettings({ command, argv, env, root: repoRoot })
  } catch (err) {
    if (err instanceof SettingsError) return [...err.problems]
    throw err
  }
  return []
}

describe('publish settings', () => {
  const good = (): NodeJS.ProcessEnv => ({ WEAPP_APPID: APPID, WEAPP_PRIVATE_KEY_PATH: rsaKey, TARO_APP_BFF_URL: BFF_URL })

  it('reports every missing setting at once, naming the flag and the variable', () => {
    const problems = settingsProblems('upload', [], {})
    expect(problems).toHaveLength(3)
    expect(problems[0]).toMatch(/appid is not set: --appid \/ WEAPP_APPID/)
    expect(problems[1]).toMatch(/private key path is not set: --private-key \/ WEAPP_PRIVATE_KEY_PATH/)
    expect(problems[2]).toMatch(/BFF URL is not set: --bff-url \/ TARO_APP_BFF_URL/)
  })

  it('takes the environment, lets flags win, and defaults version, description and robot', () => {
    const pkgVersion = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version
    const s = resolveSettings({ command: 'upload', argv: [], env: good(), root: repoRoot, gitCommit: 'abc1234' })
    expect(s).toMatchObject({ appid: APPID, privateKeyPath: rsaKey, bffUrl: BFF_URL, version: pkgVersion, robot: 1, build: true })
    expect(s.desc).toBe(`${pkgVersion} (abc1234)`)

    const f = resolveSettings({
      command: 'preview',
      argv: ['--appid', 'wxfedcba9876543210', '--version=2.3.4', '--desc', 'release notes', '--robot', '7', '--no-build', '--bff-url', 'https://im.example.cn:8443'],
      env: { ...good(), WEAPP_VERSION: '9.9.9', WEAPP_ROBOT: '3' },
      root: repoRoot,
    })
    expect(f).toMatchObject({ appid: 'wxfedcba9876543210', version: '2.3.4', desc: 'release notes', robot: 7, build: false, bffUrl: 'https://im.example.cn:8443' })
    expect(f.qrcodeDest).toBe(path.join(repoRoot, 'dist', 'preview-qrcode.jpg'))
    // TARO_APP_ID (the build's appid variable) serves when WEAPP_APPID is absent.
    expect(resolveSettings({ command: 'upload', argv: [], env: { ...good(), WEAPP_APPID: undefined, TARO_APP_ID: APPID }, root: repoRoot }).appid).toBe(APPID)
  })

  it.each([
    ['touristappid', /appid "touristappid" is not a mini-program AppID/],
    ['wx0123456789ABCDEF', /is not a mini-program AppID/],
    ['wx0123', /is not a mini-program AppID/],
  ])('refuses the appid %s', (appid, message) => {
    expect(settingsProblems('upload', [], { ...good(), WEAPP_APPID: appid })).toEqual([expect.stringMatching(message)])
  })

  it.each([
    ['a missing file', 'nope.key', /cannot be read \(ENOENT\)/],
    ['a directory', '.', /cannot be read/],
    ['garbage', 'garbage.key', /is not a PEM private key/],
    ['the public key', 'public.pem', /is not a PEM private key/],
    ['an EC key', 'ec.pem', /is a ec key; WeChat's code upload key is RSA/],
  ])('refuses %s as private key', (_what, file, message) => {
    const problems = settingsProblems('upload', [], { ...good(), WEAPP_PRIVATE_KEY_PATH: path.join(keys, file) })
    expect(problems).toEqual([expect.stringMatching(message)])
    expect(problems[0]).toContain('WEAPP_PRIVATE_KEY_PATH')
  })

  it.each([
    ['http://chat.example.com', /must be https/],
    ['https://203.0.113.7', /must be a domain name, not an IP address/],
    ['https://[::1]:8443', /must be a domain name, not an IP address/],
    ['https://localhost:8080', /must not be localhost/],
    ['https://chat.example.com/api', /must be an origin only/],
    ['chat.example.com', /is not a URL/],
  ])('refuses the BFF URL %s', (url, message) => {
    const problems = settingsProblems('upload', [], { ...good(), TARO_APP_BFF_URL: url })
    expect(problems).toEqual([expect.stringMatching(message)])
    expect(problems[0]).toContain('--bff-url / TARO_APP_BFF_URL')
  })

  it('refuses to upload a build with the dev login (preview may have it)', () => {
    expect(settingsProblems('upload', [], { ...good(), TARO_APP_DEV_LOGIN: '1' })).toEqual([expect.stringMatching(/TARO_APP_DEV_LOGIN=1 would build the dev login into a released version/)])
    expect(settingsProblems('preview', [], { ...good(), TARO_APP_DEV_LOGIN: '1' })).toEqual([])
  })

  it('refuses a bad version, robot, proxy and unknown or misplaced flags', () => {
    expect(settingsProblems('upload', ['--version', '1.2'], good())).toEqual([expect.stringMatching(/version "1.2" is not x.y.z .*: --version \/ WEAPP_VERSION/)])
    expect(settingsProblems('upload', ['--robot', '31'], good())).toEqual([expect.stringMatching(/robot "31" must be an integer from 1 to 30/)])
    expect(settingsProblems('upload', [], { ...good(), WEAPP_ROBOT: 'two' })).toEqual([expect.stringMatching(/robot "two"/)])
    expect(settingsProblems('upload', ['--proxy', 'socks5://127.0.0.1:1080'], good())).toEqual([expect.stringMatching(/proxy .* is not an http\(s\) URL/)])
    expect(settingsProblems('upload', ['--appId', APPID], good())).toEqual([expect.stringMatching(/unknown argument "--appId"/)])
    expect(settingsProblems('upload', ['--qrcode', 'x.jpg'], good())).toEqual([expect.stringMatching(/--qrcode applies to preview only, not upload/)])
    expect(settingsProblems('upload', ['--desc'], good())).toEqual([expect.stringMatching(/--desc needs a value/)])
    expect(settingsProblems('upload', ['--desc', 'x'.repeat(201)], good())).toEqual([expect.stringMatching(/description is 201 characters/)])
  })

  it('refuses a QR code path inside dist/weapp or where nothing can be written', () => {
    expect(settingsProblems('preview', ['--qrcode', 'dist/weapp/qr.jpg'], good())).toEqual([expect.stringMatching(/inside dist\/weapp, which is uploaded/)])
    // Under a regular file: no directory can be made there.
    expect(settingsProblems('preview', ['--qrcode', path.join(rsaKey, 'qr.jpg')], good())).toEqual([expect.stringMatching(/cannot be written/)])
    expect(settingsProblems('preview', ['--qrcode-format', 'png'], good())).toEqual([expect.stringMatching(/format "png" must be image, base64 or terminal/)])
    // terminal prints the code: no file, so no path to check.
    expect(settingsProblems('preview', ['--qrcode-format', 'terminal', '--qrcode', 'dist/weapp/qr.jpg'], good())).toEqual([])
  })
})

interface Run {
  readonly code: number | null
  readonly out: string
}

/** The CLI exactly as `npm run upload:weapp -- <args>` runs it, in the project copy. */
function runCli(copy: ProjectCopy, command: Command, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const clean: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    // Nothing from the caller's environment may leak in: publish settings, build settings, proxies.
    if (/^(WEAPP_|TARO_APP_)|proxy$/i.test(k) || k === 'NODE_ENV' || k.startsWith('VITEST')) continue
    clean[k] = v
  }
  const child = spawn(process.execPath, [path.join(copy.root, 'scripts', 'run-ts.mjs'), path.join(copy.root, 'scripts', 'weapp-ci', 'main.ts'), command, ...args], {
    cwd: copy.root,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, out }))
  })
}

describe('publish CLI up to the network call', () => {
  let copy: ProjectCopy
  let proxy: RecordingProxy
  beforeAll(async () => {
    copy = copyProject()
    proxy = await startRecordingProxy()
  })
  afterAll(async () => {
    await proxy?.close()
    copy?.remove()
  })
  const env = (): NodeJS.ProcessEnv => ({ WEAPP_APPID: APPID, WEAPP_PRIVATE_KEY_PATH: rsaKey, TARO_APP_BFF_URL: BFF_URL, WEAPP_PROXY: proxy.url })
  const dist = (): string => path.join(copy.root, 'dist', 'weapp')

  it('stops on bad settings with exit 2 and a named problem: nothing built, nothing sent', async () => {
    const run = await runCli(copy, 'upload', ['--robot', '0'], { ...env(), TARO_APP_BFF_URL: 'http://10.0.0.5:8080' })
    expect(run.code).toBe(2)
    expect(run.out).toMatch(/robot "0" must be an integer from 1 to 30: --robot \/ WEAPP_ROBOT/)
    expect(run.out).toMatch(/BFF URL "http:\/\/10.0.0.5:8080" must be https, must be a domain name/)
    expect(run.out).toContain('Nothing was built or sent.')
    expect(existsSync(dist())).toBe(false)
    expect(proxy.seen).toEqual([])
  })

  it('upload: builds for production with the appid and BFF origin, then its first request goes to WeChat', async () => {
    // The benchmark's build switches in the caller's environment do not leak into the build.
    const run = await runCli(copy, 'upload', ['--version', '1.4.2', '--desc', 'ops test'], { ...env(), CHAT_OUTPUT_ROOT: 'dist/elsewhere', CHAT_BENCH_PAGES: '1' })
    expect(run.out).toContain(`building dist/weapp for production (appid ${APPID}, BFF ${BFF_URL})`)
    expect(existsSync(path.join(copy.root, 'dist', 'elsewhere'))).toBe(false)
    expect((JSON.parse(readFileSync(path.join(dist(), 'app.json'), 'utf8')) as { pages: string[] }).pages).not.toContain('bench/naive/index')
    // The build is the production one for this appid, with the BFF origin in the bundle.
    expect((JSON.parse(readFileSync(path.join(dist(), 'project.config.json'), 'utf8')) as { appid: string }).appid).toBe(APPID)
    const bundle = (readdirSync(dist(), { recursive: true }) as string[])
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(path.join(dist(), f), 'utf8'))
      .join('\n')
    // Booleans, not toContain: a failure would print the whole minified bundle.
    expect(bundle.includes(BFF_URL)).toBe(true)
    expect(bundle.includes('127.0.0.1:8080')).toBe(false)
    expect(run.out).toContain('uploading version 1.4.2 ("ops test") as robot 1')
    // miniprogram-ci's first request: WeChat's signing challenge, over https, through the proxy.
    expect(proxy.seen[0]).toBe('CONNECT servicewechat.com:443')
    expect(proxy.seen.every((s) => s === 'CONNECT servicewechat.com:443')).toBe(true)
    expect(run.code).toBe(1)
    expect(run.out).toMatch(/miniprogram-ci upload failed: .*tunneling socket could not be established, statusCode=502/)
  })

  it('preview --no-build: uses dist/weapp as built and stops at the same first request; no QR code', async () => {
    const sentBefore = proxy.seen.length
    const builtAt = statSync(path.join(dist(), 'app.js')).mtimeMs
    const qrcode = path.join(copy.root, 'out', 'qr.jpg')
    const run = await runCli(copy, 'preview', ['--no-build', '--qrcode', qrcode], env())
    expect(run.out).not.toContain('building dist/weapp')
    expect(statSync(path.join(dist(), 'app.js')).mtimeMs).toBe(builtAt)
    expect(run.out).toContain(`making a preview QR code (image -> ${qrcode})`)
    expect(proxy.seen.slice(sentBefore)[0]).toBe('CONNECT servicewechat.com:443')
    expect(run.code).toBe(1)
    expect(run.out).toMatch(/miniprogram-ci preview failed: /)
    expect(existsSync(qrcode)).toBe(false)
  })

  it('--no-build refuses a dist/weapp built for another appid with exit 3, before any request', async () => {
    const sentBefore = proxy.seen.length
    const run = await runCli(copy, 'upload', ['--no-build', '--appid', 'wxfedcba9876543210'], env())
    expect(run.code).toBe(3)
    expect(run.out).toContain(`dist/weapp was built for appid "${APPID}", not wxfedcba9876543210`)
    expect(proxy.seen.length).toBe(sentBefore)
    // And a missing build is named as such.
    rmSync(dist(), { recursive: true, force: true })
    mkdirSync(dist())
    const missing = await runCli(copy, 'upload', ['--no-build'], env())
    expect(missing.code).toBe(3)
    expect(missing.out).toMatch(/project\.config\.json is missing: build with npm run build:weapp/)
    expect(proxy.seen.length).toBe(sentBefore)
  })
})
