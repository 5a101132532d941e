/**
 * File names as the client sends them are display text only: a file is stored under its random
 * id, never under its name, so no name can reach the file system. The name is still cleaned before
 * it is stored, shown to other members and put in a Content-Disposition header: no directories
 * (a name like `../../etc/passwd` becomes `passwd`), no control characters (header injection,
 * broken layout), no bidirectional overrides (`invoice\u202Efdp.exe` displayed as `invoiceexe.pdf`),
 * no leading dots (hidden files once saved), bounded length with the extension kept.
 */

/** Longest stored name, in UTF-16 code units (the message schema allows 256). */
export const MAX_NAME_CHARS = 128
export const FALLBACK_NAME = 'file'

// C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, zero-width and BOM characters,
// line and paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g

export function sanitizeFileName(raw: string | null | undefined): string {
  if (!raw) return FALLBACK_NAME
  // Whitespace controls become spaces (a tab between words stays a gap), every other unsafe one goes.
  let name = raw.normalize('NFC').replace(/[\t\n\v\f\r]/g, ' ').replace(UNSAFE, '')
  // Last path segment, for either separator: the client may send a full path (some pickers do).
  name = name.split(/[/\\]/).pop() ?? ''
  name = name.replace(/[\s]+/g, ' ').trim()
  name = name.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '')
  if (name.length === 0) return FALLBACK_NAME
  if (name.length > MAX_NAME_CHARS) name = truncateKeepingExtension(name, MAX_NAME_CHARS)
  return name
}

function truncateKeepingExtension(name: string, max: number): string {
  const dot = name.lastIndexOf('.')
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : ''
  const stem = Array.from(name.slice(0, name.length - ext.length))
  // Cut on code points, so a surrogate pair is never split in half.
  let out = ''
  for (const ch of stem) {
    if (out.length + ch.length + ext.length > max) break
    out += ch
  }
  return out.trimEnd() + ext
}

/**
 * Content-Disposition value for `name` (RFC 6266): an ASCII fallback in `filename` for old
 * clients, and the exact name in `filename*` (RFC 8187, UTF-8, percent-encoded).
 */
export function contentDisposition(type: 'inline' | 'attachment', name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%]/g, '_')
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  return `${type}; filename="${ascii}"; filename*=UTF-8''${encoded}`
}
