/**
 * Signed file URLs: `/files/<id>?e=<expiry>&k=<key id>&s=<signature>` (and `/files/<id>/thumb?...`).
 * The signature is HMAC-SHA256 over the file id, the variant (the bytes or the thumbnail) and the
 * expiry, so a URL opens exactly one variant of one file until it expires, for whoever holds it:
 * `<image src>`, `previewImage` and WeChat's media check (`media_check_async` fetches `media_url`
 * without any user's credentials, PLATFORM.md) load it directly, and no access token ever appears in
 * a URL (where logs, caches, referrers and screenshots would keep it).
 *
 * Who gets a URL is where the access check happens: messages (members only), history pages and
 * syncs (members only), `/files/<id>/info` (members, with `Authorization`). A URL stops working when
 * it expires or when its file is withdrawn (the file's record is checked on every request).
 *
 * Keys: each has an id carried in the URL (`k`); the first key signs, every key verifies. To rotate,
 * put the new key first and keep the old one for one TTL: live URLs keep working, new ones use the
 * new key. Expiries are rounded up to a quarter of the TTL, so the same file gets the same URL for a
 * while and a client's image cache (keyed by URL) keeps working across history pages.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '@chat/shared'

export type FileVariant = 'data' | 'thumb'

export interface UrlKey {
  /** Carried in the URL: 1 to 16 letters or digits. */
  readonly id: string
  readonly secret: string
}

export const URL_KEY_ID_RE = /^[A-Za-z0-9]{1,16}$/
/** Shortest accepted secret of FILE_URL_KEYS, characters. */
export const URL_KEY_MIN_CHARS = 32

/** The key used when FILE_URL_KEYS is not set: derived from the JWT secret (every process has the same). */
export function derivedUrlKey(jwtSecret: string): UrlKey {
  return { id: 'j', secret: createHmac('sha256', jwtSecret).update('chat file url key v1').digest('base64url') }
}

export interface VerifyQuery {
  readonly e?: unknown
  readonly k?: unknown
  readonly s?: unknown
}

export class FileUrlSigner {
  private readonly keys: ReadonlyMap<string, Buffer>
  private readonly signing: UrlKey
  /** Expiry granularity, seconds. */
  private readonly stepS: number

  constructor(
    keys: readonly UrlKey[],
    /** Lifetime of a URL, ms (it may live up to a quarter longer: expiries are rounded up). */
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (keys.length === 0) throw new Error('at least one URL key is needed')
    this.signing = keys[0]!
    this.keys = new Map(keys.map((k) => [k.id, Buffer.from(k.secret, 'utf8')]))
    this.stepS = Math.max(1, Math.floor(ttlMs / 4000))
  }

  /** The path and query of a signed URL for `variant` of file `id`. */
  sign(id: string, variant: FileVariant): string {
    const e = this.expiry()
    return `${pathOf(id, variant)}?e=${e}&k=${this.signing.id}&s=${this.mac(this.keys.get(this.signing.id)!, id, variant, e)}`
  }

  /** What every URL signed now shares: the signing key's id and the expiry (the same for a quarter of the TTL). */
  version(): string {
    return `${this.signing.id}:${this.expiry()}`
  }

  private expiry(): number {
    return Math.ceil((this.now() + this.ttlMs) / 1000 / this.stepS) * this.stepS
  }

  /**
   * Checks the query of a request for `variant` of file `id`. Throws AppError FILE_URL_INVALID
   * (missing, malformed, unknown key, or a signature for anything else) or FILE_URL_EXPIRED.
   */
  verify(id: string, variant: FileVariant, q: VerifyQuery): void {
    if (typeof q.e !== 'string' || !/^\d{1,12}$/.test(q.e) || typeof q.k !== 'string' || typeof q.s !== 'string') {
      throw new AppError('FILE_URL_INVALID', 'file URL is not signed')
    }
    const key = this.keys.get(q.k)
    if (!key) throw new AppError('FILE_URL_INVALID', 'file URL signed with an unknown key')
    const expected = Buffer.from(this.mac(key, id, variant, Number(q.e)))
    const given = Buffer.from(q.s)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AppError('FILE_URL_INVALID', 'file URL signature does not match')
    }
    // Checked after the signature: an attacker learns nothing from changing the expiry.
    if (Number(q.e) * 1000 <= this.now()) throw new AppError('FILE_URL_EXPIRED')
  }

  /**
   * The same JSON with every file URL of a message body (`"url"` and `"thumbUrl"` keys, which only the
   * server writes: a client sends `{fileId}` and text, whose quotes are escaped) signed afresh. Stored
   * messages keep the URL signed when they were sent; history pages and syncs go out through this.
   */
  refresh(json: string): string {
    if (!json.includes('"/files/')) return json
    return json.replace(FILE_URL_IN_JSON, (_m, key: string, id: string, thumb: string | undefined) => `"${key}":"${this.sign(id, thumb ? 'thumb' : 'data')}"`)
  }

  private mac(key: Buffer, id: string, variant: FileVariant, e: number): string {
    return createHmac('sha256', key).update(`v1\n${id}\n${variant}\n${e}`).digest('base64url')
  }
}

const FILE_URL_IN_JSON = /"(url|thumbUrl)":"\/files\/([0-9a-f]{44})(\/thumb)?(?:\?[^"\\]*)?"/g

function pathOf(id: string, variant: FileVariant): string {
  return variant === 'thumb' ? `/files/${id}/thumb` : `/files/${id}`
}

/** FILE_URL_KEYS: `id:secret,id:secret` (first signs). Returns an error message, or the keys. */
export function parseUrlKeys(raw: string): UrlKey[] | string {
  const keys: UrlKey[] = []
  for (const item of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = item.indexOf(':')
    const id = i > 0 ? item.slice(0, i) : ''
    const secret = i > 0 ? item.slice(i + 1) : ''
    if (!URL_KEY_ID_RE.test(id)) return `key id "${id}" must be 1 to 16 letters or digits (entries are id:secret)`
    if (secret.length < URL_KEY_MIN_CHARS) return `the secret of key "${id}" must be at least ${URL_KEY_MIN_CHARS} characters`
    if (keys.some((k) => k.id === id)) return `key id "${id}" appears twice`
    keys.push({ id, secret })
  }
  if (keys.length === 0) return 'must list at least one id:secret'
  return keys
}
