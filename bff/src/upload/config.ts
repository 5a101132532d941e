/**
 * The uploads section of the BFF's configuration: read from the same environment as the rest
 * (bff/src/config.ts merges it as `config.uploads`), validated, with documented defaults. Every
 * limit of the upload endpoint is named here; bff/README.md ("Uploads") has the same table.
 */
import os from 'node:os'
import path from 'node:path'
import { ConfigError } from '../env'
import { ALL_TYPES, type AllowedMime } from './content'
import { parseUrlKeys, type UrlKey } from './signed'

export interface UploadConfig {
  /**
   * UPLOAD_DIR: root of the upload storage. `tus/` below it holds uploads in progress (data and tus
   * info JSON), `files/` the finished, checked files with their record and thumbnail. Both must be on
   * one file system (a finished file is hard-linked, not copied) and shared by every BFF process
   * (a tus upload may resume on another process or replica). Default `<os tmpdir>/chat-uploads`:
   * production sets a persistent volume (the Docker image: /data/uploads).
   */
  readonly dir: string
  /** UPLOAD_MAX_BYTES: largest file, bytes. Checked at creation (Upload-Length) and on every append. Default 100 MiB. */
  readonly maxFileBytes: number
  /**
   * UPLOAD_MAX_ACTIVE_PER_USER: uploads one user may have in progress at once; creating one more is
   * refused with 429 UPLOAD_TOO_MANY. Default 4 (the client runs at most 2).
   */
  readonly maxActivePerUser: number
  /**
   * UPLOAD_IDLE_MS: an unfinished upload that received no byte for this long stops counting as in
   * progress (an app killed mid-upload must not block its user until the upload expires). It can
   * still be resumed until it expires. Default 10 min.
   */
  readonly idleMs: number
  /** UPLOAD_EXPIRY_MS: an unfinished upload expires this long after its creation (tus expiration extension). Default 24 h. */
  readonly expiryMs: number
  /** UPLOAD_SWEEP_INTERVAL_MS: how often expired uploads are deleted from disk; 0 turns the timer off. Default 10 min. */
  readonly sweepIntervalMs: number
  /** UPLOAD_THUMB_MAX_PX: longest side of an image thumbnail, pixels. Default 400 (a bubble is ~200 CSS px at 2x). */
  readonly thumbMaxPx: number
  /** UPLOAD_MAX_IMAGE_PIXELS: images with more pixels are refused (415) rather than decoded. Default 100 million. */
  readonly maxImagePixels: number
  /** UPLOAD_ALLOWED_TYPES: comma list of accepted MIME types (a subset of content.ts's table). Default all of them. */
  readonly allowedTypes: readonly AllowedMime[]
  /**
   * FILE_URL_TTL_MS: lifetime of a signed file URL (signed.ts), ms; expiries are rounded up to a
   * quarter of it, so a URL lives between 1 and 1.25 times this. Default 2 h: long enough for a
   * conversation left open and for WeChat's media check, short enough that a leaked URL soon dies.
   */
  readonly urlTtlMs: number
  /**
   * FILE_URL_KEYS: `id:secret,...` HMAC keys of file URLs (secrets of at least 32 characters); the
   * first signs, all verify (rotation: prepend the new key, drop the old one a TTL later). Unset: one
   * key derived from JWT_SECRET (app.ts).
   */
  readonly urlKeys: readonly UrlKey[] | undefined
}

export function loadUploadConfig(env: NodeJS.ProcessEnv): UploadConfig {
  const rawDir = env.UPLOAD_DIR?.trim()
  return {
    dir: path.resolve(rawDir || path.join(os.tmpdir(), 'chat-uploads')),
    maxFileBytes: int(env, 'UPLOAD_MAX_BYTES', 100 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
    maxActivePerUser: int(env, 'UPLOAD_MAX_ACTIVE_PER_USER', 4, 1, 1000),
    idleMs: int(env, 'UPLOAD_IDLE_MS', 10 * 60_000, 1000, 7 * 24 * 3600_000),
    expiryMs: int(env, 'UPLOAD_EXPIRY_MS', 24 * 3600_000, 1000, 365 * 24 * 3600_000),
    sweepIntervalMs: int(env, 'UPLOAD_SWEEP_INTERVAL_MS', 10 * 60_000, 0, 24 * 3600_000),
    thumbMaxPx: int(env, 'UPLOAD_THUMB_MAX_PX', 400, 16, 4096),
    maxImagePixels: int(env, 'UPLOAD_MAX_IMAGE_PIXELS', 100_000_000, 1, 1_000_000_000),
    allowedTypes: types(env, 'UPLOAD_ALLOWED_TYPES'),
    urlTtlMs: int(env, 'FILE_URL_TTL_MS', 2 * 3600_000, 1000, 7 * 24 * 3600_000),
    urlKeys: urlKeys(env, 'FILE_URL_KEYS'),
  }
}

function urlKeys(env: NodeJS.ProcessEnv, name: string): UrlKey[] | undefined {
  const raw = env[name]?.trim()
  if (!raw) return undefined
  const keys = parseUrlKeys(raw)
  if (typeof keys === 'string') throw new ConfigError(name, keys)
  return keys
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be a non-negative integer, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`)
  return n
}

function types(env: NodeJS.ProcessEnv, name: string): AllowedMime[] {
  const raw = env[name]?.trim()
  if (!raw) return [...ALL_TYPES]
  const out: AllowedMime[] = []
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(ALL_TYPES as readonly string[]).includes(item)) {
      throw new ConfigError(name, `lists "${item}", which is not one of ${ALL_TYPES.join(', ')}`)
    }
    out.push(item as AllowedMime)
  }
  if (out.length === 0) throw new ConfigError(name, 'must list at least one type')
  return out
}
