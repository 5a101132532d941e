/**
 * BFF processes for the ops suites, started with the BFF's own test helper (bff/test/support/
 * spawn.ts) and guarded: if one of several fails to start, the others are stopped, and every one
 * dies with the test process whatever ends it (support/proc.ts `guard`).
 */
import { spawnBff, type BffProcess } from '../../../bff/test/support/spawn'
import { guard, release } from './proc'

export async function startBff(env: Record<string, string>): Promise<BffProcess> {
  const node = await spawnBff(env)
  guard(node.child.pid)
  void node.exited.then(() => release(node.child.pid))
  return node
}

export async function startBffs(count: number, env: Record<string, string>): Promise<BffProcess[]> {
  const results = await Promise.allSettled(Array.from({ length: count }, () => startBff(env)))
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    for (const n of started) n.kill('SIGKILL')
    await Promise.all(started.map((n) => n.exited))
    throw failed.reason
  }
  return started
}
