/** Shared steps of the weapp harness scenarios and the benchmark. */
import path from 'node:path'
import type { AuthResponse } from '@chat/shared'
import { HARNESS_ORIGIN, ROOT } from './build'
import { MiniHost, type HostOptions } from './weapp-host'

/** Poll `cond` until it holds (no fixed sleeps: it returns as soon as the condition is true). */
export async function waitFor<T>(cond: () => T | undefined | false, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = cond()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * A host running dist/weapp-harness against the BFF at `bffUrl`, with a logged-in user in its
 * storage, as after a previous login.
 */
export function hostFor(bffUrl: string, auth: AuthResponse, options: Partial<HostOptions> = {}): MiniHost {
  const storage = new Map<string, string>()
  // client/net/auth.ts stores { session, issuedAt } as JSON text under chat.auth.
  storage.set('chat.auth', JSON.stringify(JSON.stringify({ session: auth, issuedAt: Date.now() })))
  const real = new URL(bffUrl)
  const fake = new URL(HARNESS_ORIGIN)
  const resolve = (url: string) => url.replace(`//${fake.host}`, `//${real.host}`)
  return new MiniHost({ dist: path.join(ROOT, 'dist/weapp-harness'), storage, resolve, keepPayloads: true, ...options })
}
