/**
 * What a file is, decided by its bytes (magic numbers via file-type), never by its name or the
 * type the client claims. Only the types below are accepted: images the client can show and
 * documents `wx.openDocument` can open, plus zip, RTF and plain text.
 *
 * Checked twice (see router.ts): on the first bytes that arrive (so a 100 MB executable is refused
 * after its first chunk, not after the whole transfer), and on the complete file before it is ever
 * served (authoritative: e.g. a zip only becomes "docx" once its entries can be read).
 */
import { createReadStream } from 'node:fs'
import { fileTypeFromBuffer, fileTypeFromFile } from 'file-type'
import type { FileTypeResult } from 'file-type'
import { VOICE_MIMES } from '@chat/shared'

export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const PPTX = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'

export const DOCUMENT_TYPES = [
  'application/pdf',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  DOCX,
  XLSX,
  PPTX,
  'application/zip',
  'application/rtf',
  'text/plain',
] as const

/** Recordings of voice messages: the shared VOICE_MIMES (shared/src/protocol.ts), as verdictOf names them. */
export const AUDIO_TYPES = VOICE_MIMES

export const ALL_TYPES = [...IMAGE_TYPES, ...DOCUMENT_TYPES, ...AUDIO_TYPES] as const

/** The accepted types as a refusal names them to the sender (keep in step with the lists above). */
export const ACCEPTED_TYPES_TEXT = 'JPEG, PNG, GIF or WebP images, PDF, Word, Excel, PowerPoint, ZIP, RTF or plain text, AAC, M4A, WebM, Ogg or MP3 audio'
export type AllowedMime = (typeof ALL_TYPES)[number]
export type ImageMime = (typeof IMAGE_TYPES)[number]

export function isImageMime(mime: string): mime is ImageMime {
  return (IMAGE_TYPES as readonly string[]).includes(mime)
}

export function isAudioMime(mime: string): boolean {
  return (AUDIO_TYPES as readonly string[]).includes(mime)
}

/**
 * WebM and MP4 are containers: file-type names them video/* from their header, which says nothing
 * about whether a picture track follows. Recorders write voice in them (Chromium's MediaRecorder:
 * Opus in WebM; WeChat's and iOS's AAC recorders: MP4/M4A), so they are accepted under their audio
 * names; what plays them here (a voice bubble, an <audio> element) uses only the sound.
 */
const AUDIO_CONTAINERS: Record<string, string> = { 'video/webm': 'audio/webm', 'video/mp4': 'audio/mp4' }

/** Bytes file-type reads for most formats; the early check waits until this many arrived (or the file ended). */
export const SNIFF_BYTES = 4100

/**
 * Legacy Office files are all OLE compound files ("cfb"): the bytes say "compound file", not which
 * application. Content decides that it is one; the name only picks among the three, and any other
 * compound file (msi, msg, ...) is refused.
 */
const CFB_BY_EXTENSION: Record<string, AllowedMime> = {
  doc: 'application/msword',
  xls: 'application/vnd.ms-excel',
  ppt: 'application/vnd.ms-powerpoint',
}

/** A zip whose entries were not all seen yet may still turn out to be docx/xlsx/pptx. */
const ZIP_FAMILY: readonly AllowedMime[] = ['application/zip', DOCX, XLSX, PPTX]

export type Verdict = { readonly ok: true; readonly mime: AllowedMime } | { readonly ok: false; readonly reason: string }

/**
 * Early check on the first bytes of an upload (`head`, at least SNIFF_BYTES of them unless the
 * file is shorter: then `complete`). A provisional answer: rejects what can already be seen to be
 * wrong and lets through what may still become an accepted type.
 */
export async function checkHead(head: Uint8Array, name: string, complete: boolean, allowed: readonly AllowedMime[]): Promise<Verdict> {
  const detected = await fileTypeFromBuffer(head)
  if (detected && (detected.ext === 'zip' || ZIP_FAMILY.includes(detected.mime as AllowedMime))) {
    return ZIP_FAMILY.some((m) => allowed.includes(m))
      ? { ok: true, mime: detected.mime as AllowedMime }
      : { ok: false, reason: 'zip-based files are not accepted' }
  }
  if (detected) return verdictOf(detected, name, allowed)
  return isPlainText(head, complete) && allowed.includes('text/plain')
    ? { ok: true, mime: 'text/plain' }
    : { ok: false, reason: 'unrecognised content' }
}

/** The authoritative check of a complete file on disk. */
export async function checkFile(filePath: string, name: string, allowed: readonly AllowedMime[]): Promise<Verdict> {
  const detected = await fileTypeFromFile(filePath)
  if (detected) return verdictOf(detected, name, allowed)
  if (!allowed.includes('text/plain')) return { ok: false, reason: 'unrecognised content' }
  return (await isPlainTextFile(filePath)) ? { ok: true, mime: 'text/plain' } : { ok: false, reason: 'unrecognised content' }
}

function verdictOf(detected: FileTypeResult, name: string, allowed: readonly AllowedMime[]): Verdict {
  let mime: string = detected.mime
  if (detected.ext === 'cfb') {
    const fromName = CFB_BY_EXTENSION[extensionOf(name)]
    if (!fromName) return { ok: false, reason: 'compound file that is not doc, xls or ppt' }
    mime = fromName
  }
  if (detected.ext === 'rtf') mime = 'application/rtf'
  mime = AUDIO_CONTAINERS[mime] ?? mime
  return (allowed as readonly string[]).includes(mime)
    ? { ok: true, mime: mime as AllowedMime }
    : { ok: false, reason: `${detected.mime} is not accepted` }
}

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.')
  return dot < 0 ? '' : name.slice(dot + 1).toLowerCase()
}

const TEXT_CONTROLS = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1b])

/**
 * Plain text: valid UTF-8 (an optional BOM) without control characters other than tab, line feed,
 * vertical tab, form feed, carriage return and escape. Unless `complete`, the bytes may stop inside
 * a multi-byte character (the decoder keeps the tail for the next call).
 */
function isPlainText(bytes: Uint8Array, complete: boolean, decoder = new TextDecoder('utf-8', { fatal: true })): boolean {
  for (const b of bytes) if (b < 0x20 && !TEXT_CONTROLS.has(b)) return false
  try {
    decoder.decode(bytes, { stream: !complete })
    return true
  } catch {
    return false
  }
}

async function isPlainTextFile(filePath: string): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  for await (const chunk of createReadStream(filePath, { highWaterMark: 256 * 1024 })) {
    if (!isPlainText(chunk as Buffer, false, decoder)) return false
  }
  try {
    decoder.decode()
    return true
  } catch {
    return false
  }
}
