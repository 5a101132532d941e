/**
 * A test process in miniature, for tests/kit/no-orphans.test.ts: starts a BFF with two workers
 * through the kit (bff/test/support/spawn.ts), prints the group and the pids, then ends the way
 * named by argv[2] without stopping the BFF: `exit` (a normal end, exit handlers run) or `kill`
 * (SIGKILL to itself: nothing runs, only the guard's watchdog is left to clean up).
 */
import { pidsOf, spawnBff } from '../../../bff/test/support/spawn'

const how = process.argv[2]
if (how !== 'exit' && how !== 'kill') throw new Error(`usage: spawn-then-end.ts exit|kill (got ${how})`)
const node = await spawnBff({ STORE: 'redis', REDIS_PREFIX: process.argv[3] ?? 'orphans:', WORKERS: '2' })
// The primary logs "listening" with its first worker; wait for the second's "worker started".
while (node.logs.filter((l) => l.includes('"msg":"worker started"')).length < 2) await new Promise((r) => setTimeout(r, 20))
process.stdout.write(`${JSON.stringify({ pgid: node.child.pid, pids: pidsOf(node.logs) })}\n`, () => {
  if (how === 'exit') process.exit(0)
  process.kill(process.pid, 'SIGKILL')
})
