import { describe, expect, it } from 'vitest'
import { textDirection } from '../../format'
import { estimateRow, imageBox, previousShown, ROW, showTime } from '../../list/estimate'
import type { ChatMessage } from '../../store/types'

describe('image bubble box', () => {
  // 390 px wide phone: 0.52 px per design px.
  const scale = 390 / 750

  it('shows an image that fits at its real size in CSS px (a 120x80 image is 120x80, not 62x41)', () => {
    const box = imageBox(120, 80, scale)
    expect(Math.round(box.w * scale)).toBe(120)
    expect(Math.round(box.h * scale)).toBe(80)
  })

  it('scales a larger image down into imageMax design px, keeping its aspect ratio', () => {
    for (const [w, h] of [
      [4000, 3000],
      [1080, 1920],
      [800, 800],
      [300, 100],
    ] as const) {
      const box = imageBox(w, h, scale)
      expect(Math.max(box.w, box.h)).toBe(ROW.imageMax)
      expect(box.w / box.h).toBeCloseTo(w / h, 1)
    }
  })

  it('keeps a tap target for slivers and a square without a size', () => {
    expect(imageBox(1000, 10, scale)).toEqual({ w: ROW.imageMax, h: ROW.imageFloor })
    expect(imageBox(undefined, undefined, scale)).toEqual({ w: ROW.imageMax, h: ROW.imageMax })
    expect(imageBox(0, 50, scale)).toEqual({ w: ROW.imageMax, h: ROW.imageMax })
  })
})

describe('text direction (what dir="auto" decides)', () => {
  it('is right to left when the first letter is Arabic or Hebrew, whatever comes before it', () => {
    expect(textDirection('مرحبا بالعالم')).toBe('rtl')
    expect(textDirection('שלום עולם')).toBe('rtl')
    expect(textDirection('123 — שלום, hello')).toBe('rtl')
    expect(textDirection('hello שלום')).toBe('ltr')
    expect(textDirection('你好 مرحبا')).toBe('ltr')
    expect(textDirection('1234 !?')).toBe('ltr')
    expect(textDirection('')).toBe('ltr')
  })
})

describe('rows deleted for oneself', () => {
  it('render nothing, and the row after them gets the time separator the hidden one had', () => {
    const at = 1_800_000_000_000
    const text = (seq: number, ts: number): ChatMessage => ({ cid: `c${seq}xxxxxx`, from: 'bob', conv: 'd:a:b', kind: 'text', body: { text: `m${seq}` }, ts, seq })
    const hidden: ChatMessage = { cid: 'c1xxxxxx', from: 'bob', conv: 'd:a:b', kind: 'hidden', body: {}, ts: at, seq: 1 }
    const list = [hidden, text(2, at + 1000)]
    expect(estimateRow(hidden, undefined, { scale: 0.5, group: false })).toBe(0)
    expect(showTime(hidden, undefined)).toBe(false)
    expect(previousShown(list, 1)).toBeUndefined()
    expect(showTime(list[1]!, previousShown(list, 1))).toBe(true)
    const three = [text(1, at), hidden, text(3, at + 1000)]
    expect(previousShown(three, 2)).toBe(three[0])
  })
})
