import { describe, expect, it } from 'vitest'
import { FALLBACK_NAME, MAX_NAME_CHARS, contentDisposition, sanitizeFileName } from '../../src/upload/names'

describe('sanitizeFileName', () => {
  it.each([
    ['report.pdf', 'report.pdf'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\Desktop\\plan.docx', 'plan.docx'],
    ['/var/mobile/tmp/wx123.jpg', 'wx123.jpg'],
    ['evil\r\nSet-Cookie: x=1.txt', 'evil Set-Cookie: x=1.txt'],
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['zero\u200Bwidth\uFEFF.txt', 'zerowidth.txt'],
    ['  ..hidden.txt  ', 'hidden.txt'],
    ['trailing dots...', 'trailing dots'],
    ['tab\tand   spaces.txt', 'tab and spaces.txt'],
    ['..', FALLBACK_NAME],
    ['/', FALLBACK_NAME],
    ['\u0000\u0001', FALLBACK_NAME],
    ['', FALLBACK_NAME],
    ['caf\u0065\u0301.txt', 'café.txt'],
    ['年度总结.xlsx', '年度总结.xlsx'],
  ])('%j -> %j', (raw, expected) => {
    expect(sanitizeFileName(raw)).toBe(expected)
  })

  it('keeps null and undefined to the fallback', () => {
    expect(sanitizeFileName(null)).toBe(FALLBACK_NAME)
    expect(sanitizeFileName(undefined)).toBe(FALLBACK_NAME)
  })

  it('bounds the length, keeps the extension, never splits a surrogate pair', () => {
    const long = `${'😀'.repeat(100)}.pdf`
    const out = sanitizeFileName(long)
    expect(out.length).toBeLessThanOrEqual(MAX_NAME_CHARS)
    expect(out.endsWith('.pdf')).toBe(true)
    expect(out).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/)
  })
})

describe('contentDisposition', () => {
  it('gives an ASCII fallback and the exact UTF-8 name', () => {
    expect(contentDisposition('attachment', '年度 "总结".xlsx')).toBe(
      `attachment; filename="__ ____.xlsx"; filename*=UTF-8''%E5%B9%B4%E5%BA%A6%20%22%E6%80%BB%E7%BB%93%22.xlsx`,
    )
    expect(contentDisposition('inline', "it's (1).png")).toBe(`inline; filename="it's (1).png"; filename*=UTF-8''it%27s%20%281%29.png`)
  })
})
