import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, envDefaults, readEnv } from '../src/env'

/**
 * bff/README.md's variable tables (header `| variable | default | ...`): each row's variables (one
 * or more backticked names in the first cell) and its default cell.
 */
function readmeRows(): Map<string, string> {
  const lines = readFileSync(path.join(__dirname, '../README.md'), 'utf8').split('\n')
  const rows = new Map<string, string>()
  let inTable = false
  for (const line of lines) {
    if (/^\| variable \| default \|/.test(line)) {
      inTable = true
      continue
    }
    if (!line.startsWith('|')) inTable = false
    if (!inTable || line.startsWith('|---')) continue
    const [names = '', shown = ''] = line.split('|').slice(1).map((cell) => cell.trim())
    for (const m of names.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      if (rows.has(m[1]!)) throw new Error(`README lists ${m[1]} twice`)
      rows.set(m[1]!, shown.replaceAll('`', ''))
    }
  }
  return rows
}

describe('the environment schema', () => {
  const defaults = envDefaults()
  const rows = readmeRows()

  it('has a README row for every variable, and a variable for every README row', () => {
    expect(rows.size).toBeGreaterThan(50)
    expect([...rows.keys()].sort()).toEqual(Object.keys(defaults).sort())
  })

  it.each(Object.entries(defaults).filter(([, shown]) => shown !== undefined))('%s: the README states the default %s', (name, shown) => {
    expect(rows.get(name)?.startsWith(shown!), `README default of ${name}: "${rows.get(name)}"`).toBe(true)
  })

  it('names the variable of a bad value, with the reader\'s message', () => {
    expect(() => readEnv({ UPLOAD_MAX_BYTES: '-1' })).toThrow(new ConfigError('UPLOAD_MAX_BYTES', 'must be a non-negative integer, got "-1"'))
    expect(() => readEnv({ WX_RETRY_MAX: '11' })).toThrow(new ConfigError('WX_RETRY_MAX', 'must be between 0 and 10, got 11'))
    expect(() => readEnv({ LOG_LEVEL: 'loud' })).toThrow(/^config: LOG_LEVEL must be one of fatal, error/)
  })

  it('reads unset and empty values as their defaults', () => {
    const e = readEnv({ PORT: '', UPLOAD_THUMB_MAX_PX: '  ', HOST: '' })
    expect(e).toMatchObject({ PORT: 8080, UPLOAD_THUMB_MAX_PX: 400, HOST: '', STORE: 'memory', WX_SECCHECK: true })
    expect(e.WORKERS).toBeUndefined()
  })
})
