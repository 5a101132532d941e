/**
 * A file's fingerprint for resuming its upload after the app restarts.
 *
 * PLATFORM.md: peers' users report resume failing after a restart because the fingerprint changed.
 * On weapp the path of a picked file is a temp path that differs on every pick, and names of
 * images are made up from it; an mtime is not available everywhere. So the fingerprint is made of
 * what stays: the size and a hash of the first and last 64 KiB of the content (two ranged reads,
 * never the whole file), scoped by the destination (the conversation), because an upload is bound
 * to one conversation on the server.
 */
import type { FileSource } from './platform'

const SAMPLE = 64 * 1024

export async function fingerprintOf(source: FileSource, scope: string): Promise<string> {
  const head = new Uint8Array(await source.read(0, Math.min(SAMPLE, source.size)))
  const tailStart = Math.max(head.length, source.size - SAMPLE)
  const tail = tailStart < source.size ? new Uint8Array(await source.read(tailStart, source.size)) : new Uint8Array(0)
  let h = fnv1a(head, 0x811c9dc5)
  h = fnv1a(tail, h)
  // A second hash with another seed: 64 bits in all, so unrelated files do not collide in practice.
  let g = fnv1a(tail, 0x01000193 ^ source.size)
  g = fnv1a(head, g)
  return `${scope}:${source.size}:${hex(h)}${hex(g)}`
}

/** 32-bit FNV-1a (Math.imul keeps it in 32 bits without BigInt, which old base libraries lack). */
function fnv1a(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0')
}
