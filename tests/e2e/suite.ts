/**
 * What every h5 suite sets up: the built BFF in a process of its own (with `env`), one Chromium
 * (with `flags`), the screenshot folder, and the protocol peers a test opens, closed after the file.
 */
import { mkdirSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { startBffProcess, type TestBff } from './bff'
import { launchChromium } from './browser'
import type { Peer } from './peer'

export interface H5Suite {
  /** The BFF serving the h5 build (set once the file's first hook ran). */
  readonly bff: TestBff
  readonly browser: Browser
  /** Peers opened by the tests: closed after the file. */
  readonly peers: Peer[]
}

export function useH5Suite(shots: string, env: Record<string, string> = {}, flags: readonly string[] = []): H5Suite {
  let bff: TestBff | undefined
  let browser: Browser | undefined
  const peers: Peer[] = []
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true })
    bff = await startBffProcess(env)
    browser = await launchChromium(flags)
  })
  afterAll(async () => {
    for (const p of peers) p.close()
    await browser?.close()
    await bff?.close()
  })
  return {
    get bff() {
      if (!bff) throw new Error('the suite has not started: use it inside a test')
      return bff
    },
    get browser() {
      if (!browser) throw new Error('the suite has not started: use it inside a test')
      return browser
    },
    peers,
  }
}
