/**
 * Row heights before a row is measured, from its content, in px. Close estimates keep the scrollbar
 * steady and the corrections small; the real height replaces the estimate once the row is rendered.
 * Numbers mirror client/components/chat.css, written in design px (750 wide; 1 design px = 1 rpx).
 */
import type { ChatMessage } from '../store/types'

export const ROW = {
  /** Vertical padding of a row, design px (top + bottom). */
  rowPad: 28,
  avatar: 76,
  fontPx: 30,
  lineHeight: 1.45,
  bubblePadV: 36,
  bubblePadH: 44,
  bubbleMaxW: 490,
  /** Time separator above a row. */
  timeRow: 64,
  /** Sender's name above a bubble in groups. */
  nameRow: 34,
  /** Largest side of an image bubble, design px. */
  imageMax: 300,
  /**
   * Smallest side of an image bubble (a tap target), design px: 88 is 44 CSS px on a 375 px phone,
   * the smallest target iOS's guidelines allow. At 40 (20 CSS px) a tall photo was a thin strip a
   * finger could hardly hit and an eye could not read; the image is cropped to the box (aspectFill).
   */
  imageFloor: 88,
  fileCard: 150,
  /** A voice bubble (`.vc`): one line of text's height. */
  voice: 80,
  /** The one-line notice of a recalled message (`.rc`). */
  notice: 40,
  /** A reply's quote line under its bubble (`.qt`: 8 margin + 48). */
  quote: 56,
} as const

/** Show a time separator when this much time passed since the previous message, ms. */
export const TIME_GAP_MS = 5 * 60_000

export interface EstimateContext {
  /** px per design px: windowWidth / 750. */
  readonly scale: number
  readonly group: boolean
  readonly me?: string
}

/** Width of text in ems: CJK and emoji are about 1 em, Latin about 0.55. */
function ems(text: string): number {
  let w = 0
  for (const ch of text) w += ch.charCodeAt(0) > 0x2e7f ? 1 : 0.56
  return w
}

/**
 * The box of an image bubble, in design px, from the image's pixel size (known to the sender before
 * the upload and to everyone from the message body). An image shows at its real size, one CSS px
 * per image px, when it fits in `imageMax` design px; a larger one is scaled down to fit, keeping
 * its aspect ratio. `scale` is px per design px. Without a size: a square of `imageMax`.
 */
export function imageBox(width: number | undefined, height: number | undefined, scale: number): { w: number; h: number } {
  if (!width || !height || !(scale > 0)) return { w: ROW.imageMax, h: ROW.imageMax }
  // Real size in design px, then the fit: both sides within imageMax, aspect kept.
  const realW = width / scale
  const realH = height / scale
  const k = Math.min(ROW.imageMax / realW, ROW.imageMax / realH, 1)
  // A floor for a tap target only: a sliver of an image (1000x10) is cropped, not drawn 2 px high.
  return { w: Math.max(Math.round(realW * k), ROW.imageFloor), h: Math.max(Math.round(realH * k), ROW.imageFloor) }
}

/**
 * The row before `i` that a person sees, for the time separator: messages deleted for oneself
 * (`hidden`) render nothing, so the one before them counts.
 */
export function previousShown(list: readonly ChatMessage[], i: number): ChatMessage | undefined {
  let j = i - 1
  while (j >= 0 && list[j]!.kind === 'hidden') j--
  return j >= 0 ? list[j] : undefined
}

export function showTime(m: ChatMessage, prev: ChatMessage | undefined): boolean {
  // A `recall` event is no row of its own (its message shows the notice): no separator either.
  if (m.kind === 'recall') return false
  // Nor a message deleted for oneself (`hidden`): it renders nothing.
  if (m.kind === 'hidden') return false
  return !prev || m.ts - prev.ts >= TIME_GAP_MS
}

export function estimateRow(m: ChatMessage, prev: ChatMessage | undefined, ctx: EstimateContext): number {
  if (m.kind === 'recall' || m.kind === 'hidden') return 0
  if (m.kind === 'recalled') return Math.round((ROW.notice + ROW.rowPad + (showTime(m, prev) ? ROW.timeRow : 0)) * ctx.scale)
  let content: number
  if (m.kind === 'text') {
    const text = 'text' in m.body ? m.body.text : ''
    const perLine = (ROW.bubbleMaxW - ROW.bubblePadH) / ROW.fontPx
    const lines = text.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil(ems(line) / perLine)), 0)
    content = lines * ROW.fontPx * ROW.lineHeight + ROW.bubblePadV
  } else if (m.kind === 'image') {
    const b = m.body as { width?: number; height?: number }
    content = imageBox(b.width, b.height, ctx.scale).h
  } else if (m.kind === 'voice') {
    content = ROW.voice
  } else {
    content = ROW.fileCard
  }
  let h = Math.max(content, ROW.avatar) + ROW.rowPad
  if (ctx.group && m.from !== ctx.me) h += ROW.nameRow
  if (m.kind === 'text' && 'reply' in m.body && m.body.reply) h += ROW.quote
  if (showTime(m, prev)) h += ROW.timeRow
  return Math.round(h * ctx.scale)
}
