/**
 * Values that no field of a frame or request body accepts in every position: wrong types, out of
 * range, over-long, malformed Unicode, path traversal and prototype keys (the bad-input suites).
 */
import { LIMITS } from '@chat/shared'

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

export const BAD_VALUES: readonly Json[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 31),
  '',
  'x'.repeat(LIMITS.maxTextChars + 1),
  '\ud800',
  '__proto__',
  'g:nosuchgroup',
  'd:fzann:fzann',
  '../../../etc/passwd',
  {},
  [],
  [null],
  [{}],
  { __proto__: { polluted: 1 } },
  { constructor: { prototype: { polluted: 1 } } },
]
