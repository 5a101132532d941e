import type { ChildProcess } from 'node:child_process'

/**
 * Stop a child process the BFF started (the persister, the checker): SIGTERM so it finishes what
 * it holds, SIGKILL after `graceMs` if it has not exited; resolves once it has. Nothing to do for
 * one already gone.
 */
export async function stopChild(c: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!c || c.exitCode !== null || c.signalCode !== null) return
  const exited = new Promise((r) => c.once('exit', r))
  c.kill('SIGTERM')
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
