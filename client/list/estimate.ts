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
  imageMax: 300,
  imageMin: 120,
  fileCard: 150,
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

export function imageBox(width?: number, height?: number): { w: number; h: number } {
  if (!width || !height) return { w: ROW.imageMax, h: ROW.imageMax }
  const k = Math.min(ROW.imageMax / width, ROW.imageMax / height, 1)
  let w = Math.round(width * k)
  let h = Math.round(height * k)
  if (w < ROW.imageMin && h < ROW.imageMin) {
    const up = ROW.imageMin / Math.max(w, h)
    w = Math.round(w * up)
    h = Math.round(h * up)
  }
  return { w: Math.max(w, 40), h: Math.max(h, 40) }
}

export function showTime(m: ChatMessage, prev: ChatMessage | undefined): boolean {
  return !prev || m.ts - prev.ts >= TIME_GAP_MS
}

export function estimateRow(m: ChatMessage, prev: ChatMessage | undefined, ctx: EstimateContext): number {
  let content: number
  if (m.kind === 'text') {
    const text = 'text' in m.body ? m.body.text : ''
    const perLine = (ROW.bubbleMaxW - ROW.bubblePadH) / ROW.fontPx
    const lines = text.split('\n').reduce((n, line) => n + Math.max(1, Math.ceil(ems(line) / perLine)), 0)
    content = lines * ROW.fontPx * ROW.lineHeight + ROW.bubblePadV
  } else if (m.kind === 'image') {
    const b = m.body as { width?: number; height?: number }
    content = imageBox(b.width, b.height).h
  } else {
    content = ROW.fileCard
  }
  let h = Math.max(content, ROW.avatar) + ROW.rowPad
  if (ctx.group && m.from !== ctx.me) h += ROW.nameRow
  if (showTime(m, prev)) h += ROW.timeRow
  return Math.round(h * ctx.scale)
}
