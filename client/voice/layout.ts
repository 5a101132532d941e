/**
 * How a voice bubble is laid out: its width grows with the duration, as WeChat's does (fast over
 * the first seconds, slowly after), so lengths can be told apart at a glance; the duration label
 * is whole seconds with WeChat's ″ mark.
 */
import { LIMITS } from '@chat/shared'

/** Bubble width of the shortest voice and of the longest, design px (750 wide; a text bubble is at most 490). */
export const VOICE_WIDTH = { min: 130, max: 440 } as const
/** Up to this many seconds the width grows by most of its range; after, by the rest up to the longest. */
const FAST_SECONDS = 10
const FAST_SHARE = 0.6

/** The bubble's width for `durationMs`, in design px. */
export function voiceWidth(durationMs: number): number {
  const s = Math.min(LIMITS.maxVoiceMs, Math.max(0, durationMs)) / 1000
  const maxS = LIMITS.maxVoiceMs / 1000
  const share = s <= FAST_SECONDS ? (Math.max(0, s - 1) / (FAST_SECONDS - 1)) * FAST_SHARE : FAST_SHARE + ((s - FAST_SECONDS) / (maxS - FAST_SECONDS)) * (1 - FAST_SHARE)
  return Math.round(VOICE_WIDTH.min + (VOICE_WIDTH.max - VOICE_WIDTH.min) * share)
}

/** Whole seconds shown for `durationMs` (at least 1: a sent voice is at least LIMITS.minVoiceMs). */
export function voiceSeconds(durationMs: number): number {
  return Math.max(1, Math.round(durationMs / 1000))
}
