/** Answers to an upgrade the gateway does not take: the JSON error body of the table, then the socket ends. */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '@chat/shared'
import { errorJson } from '../http/errors'

/** Refuse an upgrade with an HTTP status and the JSON error body of the table. */
export function refuse(socket: Duplex, status: number, code: ErrorCode, message?: string): void {
  if (socket.destroyed) return
  const body = errorJson(code, message)
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  )
}

/** Until ws takes an upgrading socket over, its errors end it (ws has its own handling from then on). */
export function destroySocket(this: Duplex): void {
  this.destroy()
}
