// @tarojs/binding@4.2.1 lists optional per-platform packages that were never published to the npm
// registry (darwin-arm64, darwin-x64, linux-arm64-gnu, win32-x64-msvc: 404). `npm install` leaves
// them out of package-lock.json, and `npm ci` then refuses the lock as "out of sync". Recording them
// with their os/cpu constraints lets `npm ci` skip them on every platform they don't match, which is
// all of them here (linux-x64 has its real package). Run after `npm install` changes the lock;
// `npm run fix:lock` does. Idempotent.
import { readFileSync, writeFileSync } from 'node:fs'

const lockPath = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
const missing = {
  'binding-darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  'binding-darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  'binding-linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'] },
  'binding-win32-x64-msvc': { os: ['win32'], cpu: ['x64'] },
}
const binding = lock.packages['node_modules/@tarojs/binding']
let added = 0
if (binding) {
  for (const [name, constraints] of Object.entries(missing)) {
    const key = `node_modules/@tarojs/${name}`
    if (lock.packages[key]) continue
    lock.packages[key] = { version: binding.version, ...constraints, dev: true, optional: true, license: 'MIT' }
    added++
  }
}
if (added > 0) {
  lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))))
  writeFileSync(lockPath, JSON.stringify(lock, null, 2) + '\n')
}
console.log(`fix-lockfile: ${added} entr${added === 1 ? 'y' : 'ies'} added`)
