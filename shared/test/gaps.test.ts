import { describe, expect, it } from 'vitest'
import { contiguousUpTo, findGaps } from '../src'

describe('findGaps', () => {
  it('finds nothing when every seq is held', () => {
    expect(findGaps([1, 2, 3], 0, 3)).toEqual([])
  })
  it('finds holes in the middle and at the end', () => {
    expect(findGaps([1, 2, 5, 6, 9], 0, 11)).toEqual([
      { from: 3, to: 4 },
      { from: 7, to: 8 },
      { from: 10, to: 11 },
    ])
  })
  it('counts from the cursor and ignores seqs outside the window', () => {
    expect(findGaps([3, 4, 8, 20], 4, 9)).toEqual([
      { from: 5, to: 7 },
      { from: 9, to: 9 },
    ])
  })
  it('tolerates duplicates', () => {
    expect(findGaps([1, 1, 2, 2, 4], 0, 4)).toEqual([{ from: 3, to: 3 }])
  })
  it('reports the whole window when nothing is held', () => {
    expect(findGaps([], 10, 12)).toEqual([{ from: 11, to: 12 }])
  })
})

describe('contiguousUpTo', () => {
  it('stops before the first hole', () => {
    expect(contiguousUpTo([5, 6, 8], 4)).toBe(6)
  })
  it('stays at the cursor when the next seq is missing', () => {
    expect(contiguousUpTo([7, 8], 4)).toBe(4)
  })
  it('skips seqs at or below the cursor', () => {
    expect(contiguousUpTo([1, 2, 3, 4, 5], 3)).toBe(5)
  })
})
