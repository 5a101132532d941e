/**
 * ARCHIVE_PERSISTER=process (the default with STORE=redis and an archive): the BFF's main process
 * starts the persister (dist/persister.js, beside dist/main.js) as a child process and keeps it
 * running: a child that dies is started again after a full-jitter backoff. One per instance
 * whatever WORKERS is (the cluster primary starts it, the workers run none).
 *
 * Why a process and not a worker_thread: a thread would leave the event loop but share the
 * process' CPU accounting, its memory limit and its crash; a process can be pinned (taskset),
 * measured on its own, killed -9 on its own (tests/ops/archive-kill.test.ts), and the same entry
 * runs as a deployment of its own. The child holds an IPC channel to this process: when the BFF
 * dies, even by kill -9, the channel closes and the persister finishes its batches and exits.
 */
import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { backoffDelay } from '@chat/shared'
import type { Logger } from './log'
import { stopChild } from './stop-child'

/** Restart backoff of a persister that died: full jitter between these, ms. */
const RESTART_BACKOFF = { minDelayMs: 250, maxDelayMs: 10_000 }
/** A persister up this long resets the backoff, ms. */
const RESTART_STABLE_MS = 30_000
/** The persister's entry, built beside this bundle (build.mjs). */
const ENTRY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'persister.js')

export interface PersisterChild {
  /** The running child's pid (undefined between a death and its restart). */
  pid(): number | undefined
  /** SIGTERM to the child (it finishes the batches it read); resolves when it has exited, at most `graceMs` later (then SIGKILL). */
  stop(graceMs: number): Promise<void>
}

/**
 * Why the persister cannot be started from here (its entry was not built beside this one: the BFF
 * run from source), or undefined. Checked before the server starts: a BFF acking into a stream
 * nobody drains would only find out when the backlog refuses sends.
 */
export function persisterChildMissing(): string | undefined {
  if (existsSync(ENTRY)) return undefined
  return `ARCHIVE_PERSISTER=process needs ${ENTRY} (npm run build:bff builds it): build it, or set ARCHIVE_PERSISTER=inline or none`
}

export function startPersisterChild(log: Logger): PersisterChild {
  let child: ChildProcess | undefined
  let stopping = false
  let attempt = 0
  let startedAt = 0
  const start = () => {
    startedAt = Date.now()
    // The inspector's flags are not passed on: the child would want the same port.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'))
    const c = fork(ENTRY, [], { env: process.env, execArgv, stdio: 'inherit' })
    child = c
    log.info({ persister: c.pid }, 'persister process started')
    c.once('exit', (code, signal) => {
      if (child === c) child = undefined
      if (stopping) return
      if (Date.now() - startedAt > RESTART_STABLE_MS) attempt = 0
      const delayMs = backoffDelay(attempt++, RESTART_BACKOFF)
      log.error({ persister: c.pid, code, signal, delayMs }, 'persister process died: starting another')
      setTimeout(() => {
        if (!stopping) start()
      }, delayMs).unref()
    })
  }
  start()
  return {
    pid: () => child?.pid,
    async stop(graceMs) {
      stopping = true
      await stopChild(child, graceMs)
    },
  }
}
