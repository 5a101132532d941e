/** Structured JSON logs (pino) on stdout: one line per event, for the platform's log collector. */
import { pino } from 'pino'
import type { Logger } from 'pino'

export type { Logger }

export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid } })
}
