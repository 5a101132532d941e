/**
 * The uploads section of the BFF's configuration: read from the same environment as the rest
 * (bff/src/config.ts merges it as `config.uploads`), validated, with documented defaults. Every
 * limit of the upload endpoint is named here; bff/README.md ("Uploads") has the same table.
 */
import os from 'node:os'
import path from 'node:path'
import { ConfigError, type Env } from '../env'
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

/** The upload section, from the environment read by env.ts (defaults and limits there). */
export function loadUploadConfig(e: Env): UploadConfig {
  return {
    dir: path.resolve(e.UPLOAD_DIR ?? path.join(os.tmpdir(), 'chat-uploads')),
    maxFileBytes: e.UPLOAD_MAX_BYTES,
    maxActivePerUser: e.UPLOAD_MAX_ACTIVE_PER_USER,
    idleMs: e.UPLOAD_IDLE_MS,
    expiryMs: e.UPLOAD_EXPIRY_MS,
    sweepIntervalMs: e.UPLOAD_SWEEP_INTERVAL_MS,
    thumbMaxPx: e.UPLOAD_THUMB_MAX_PX,
    maxImagePixels: e.UPLOAD_MAX_IMAGE_PIXELS,
    allowedTypes: types('UPLOAD_ALLOWED_TYPES', e.UPLOAD_ALLOWED_TYPES),
    urlTtlMs: e.FILE_URL_TTL_MS,
    urlKeys: urlKeys('FILE_URL_KEYS', e.FILE_URL_KEYS),
  }
}

// The two lists below are checked here rather than in env.ts: they need this component's tables.

function urlKeys(name: string, raw: string | undefined): UrlKey[] | undefined {
  if (!raw) return undefined
  const keys = parseUrlKeys(raw)
  if (typeof keys === 'string') throw new ConfigError(name, keys)
  return keys
}

function types(name: string, raw: string | undefined): AllowedMime[] {
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
