/**
 * No BFF a test spawns outlives the test process: the kit runs each in a process group of its own
 * and kills the group when the test process exits, or, when it is killed outright, from the guard's
 * watchdog. Here a child process plays the test process and ends without stopping its BFF.
 */
import { execFile } from 'node:child_process'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { alive } from '../../bff/test/support/spawn'
import { dropPrefix, randomPrefix } from '../../bff/test/support/server'
import { until } from '../ops/support/proc'

const root = path.resolve(__dirname, '../..')
const runTs = path.join(root, 'scripts/run-ts.mjs')

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Run the miniature test process; its BFF's group and pids as it printed them before it ended. */
function runAndEnd(how: 'exit' | 'kill', prefix: string): Promise<{ pgid: number; pids: number[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [runTs, path.join(__dirname, 'support/spawn-then-end.ts'), how, prefix], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      // Its bundle of the BFF (spawn.ts `bundle`), which it had no chance to remove.
      rmSync(path.join(root, 'bff/.test-dist', String(child.pid)), { recursive: true, force: true })
      const line = stdout.split('\n').find((l) => l.startsWith('{'))
      if (!line) return reject(new Error(`no pids printed (${err?.message}):\n${stderr}`))
      const { pgid, pids } = JSON.parse(line) as { pgid: number; pids: number[] }
      resolve({ pgid, pids, signal: err && 'signal' in err ? ((err as { signal?: string }).signal ?? null) : null })
    })
  })
}

describe('spawned BFFs end with the test process', () => {
  const prefixes: string[] = []
  afterAll(async () => {
    await Promise.all(prefixes.map(dropPrefix))
  })

  it.each(['exit', 'kill'] as const)('when it ends by %s, the primary and both workers are gone', async (how) => {
    const prefix = randomPrefix()
    prefixes.push(prefix)
    const r = await runAndEnd(how, prefix)
    expect(r.signal).toBe(how === 'kill' ? 'SIGKILL' : null)
    // The primary and two workers, all in the BFF's own group.
    expect(r.pids).toContain(r.pgid)
    expect(r.pids.length).toBe(3)
    // exit: killed by the exit handler before the process was gone; kill: by the watchdog, which
    // looks once a second.
    await until('the BFF group gone', () => !groupAlive(r.pgid) && r.pids.every((p) => !alive(p)), 10_000)
  })
})
