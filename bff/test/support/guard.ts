/**
 * Servers a test starts must not outlive it, even when its process is killed (a timed-out test
 * run, Ctrl-C, vitest tearing down its workers): no `exit` handler runs then. One watchdog shell per
 * test process waits for that process to end and then SIGKILLs everything still listed in its file.
 * `guard` lists a child (with `group`, its whole process group: a BFF and the workers it forks),
 * `release` takes it off once the test has stopped it itself (its pid may be reused later).
 */
import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

const guardFile = path.join(tmpdir(), `chat-test-guard-${process.pid}.pids`)
let watchdog = false

/** Entries are `kill` operands: a pid, or `-pgid` for a process group. */
function entries(): string[] {
  try {
    return readFileSync(guardFile, 'utf8').split('\n').filter((l) => /^-?\d+$/.test(l))
  } catch {
    return []
  }
}

function killNow(entry: string): void {
  try {
    process.kill(Number(entry), 'SIGKILL')
  } catch {
    // already gone
  }
}

export function guard(pid: number | undefined, options: { group?: boolean } = {}): void {
  if (pid === undefined) return
  if (!watchdog) {
    watchdog = true
    writeFileSync(guardFile, '')
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; [ -s "$0" ] && xargs -r kill -9 -- < "$0" 2>/dev/null; rm -f "$0"`
    spawn('sh', ['-c', script, guardFile], { detached: true, stdio: 'ignore' }).unref()
    process.once('exit', () => {
      // A normal end: kill what is left now (the watchdog then finds an empty file).
      for (const e of entries()) killNow(e)
      writeFileSync(guardFile, '')
    })
  }
  appendFileSync(guardFile, `${options.group ? -pid : pid}\n`)
}

export function release(pid: number | undefined): void {
  if (pid === undefined || !watchdog) return
  const left = entries().filter((e) => Math.abs(Number(e)) !== pid)
  writeFileSync(guardFile, left.length > 0 ? `${left.join('\n')}\n` : '')
}
