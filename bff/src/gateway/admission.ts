/**
 * Admission control for reconnect storms (docs/SCALING.md, Limits): at most `maxInFlight` upgrades
 * are being worked on at once (token check, suspension check, handshake, subscription, `welcome`).
 * One beyond gets a fast 503 SERVER_BUSY with `Retry-After` instead of queueing behind the others
 * until it and they time out. The mini-program cannot read the status or the header (wx and
 * browsers report a refused upgrade as an abnormal close), so it retries after its own backoff
 * with full jitter (shared/src/backoff.ts); other clients may honour the header.
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { ERRORS } from '@chat/shared'

export interface AdmissionLimits {
  /** MAX_UPGRADES_IN_FLIGHT. */
  readonly maxInFlight: number
  /** UPGRADE_RETRY_AFTER_S: the `Retry-After` of a refusal, seconds. */
  readonly retryAfterS: number
}

export class Admission {
  private inFlight = 0
  /** Upgrades refused busy since start (metrics, tests). */
  refused = 0

  constructor(private readonly limits: AdmissionLimits) {}

  get size(): number {
    return this.inFlight
  }

  /**
   * A slot for one upgrade, or undefined when `maxInFlight` are taken (the caller refuses it with
   * `refuseBusy`). The returned release is idempotent: call it on every way the upgrade ends.
   */
  take(): (() => void) | undefined {
    if (this.inFlight >= this.limits.maxInFlight) {
      this.refused++
      return undefined
    }
    this.inFlight++
    let held = true
    return () => {
      if (!held) return
      held = false
      this.inFlight--
    }
  }

  /** 503 SERVER_BUSY with `Retry-After`, written and closed at once. */
  refuseBusy(socket: Duplex): void {
    if (socket.destroyed) return
    const spec = ERRORS.SERVER_BUSY
    const body = JSON.stringify({ error: { code: 'SERVER_BUSY', message: 'too many connections being set up: retry later', temporary: spec.temporary } })
    socket.end(
      `HTTP/1.1 503 ${STATUS_CODES[503]}\r\n` +
        `Retry-After: ${this.limits.retryAfterS}\r\n` +
        'Content-Type: application/json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    )
  }
}
