#!/usr/bin/env node
/**
 * What the test suites need outside node_modules, checked before vitest starts: on a machine where
 * only `npm ci` ran, `npm test` used to fail a dozen tests one by one and leave servers behind.
 * Prints one line per missing thing with how to get it, and exits 1 if anything is missing.
 *
 *   node scripts/test-prereqs.mjs         # what `npm test` needs (the fast suites)
 *   node scripts/test-prereqs.mjs ops     # what `npm run test:ops` needs (the failure suite)
 *
 * Environment: TEST_REDIS_URL (default redis://127.0.0.1:6379), TEST_MYSQL_URL (default
 * mysql://root@127.0.0.1:3306), CHROMIUM_PATH (a Chromium binary; otherwise the first of
 * chromium, chromium-browser, google-chrome-stable, google-chrome on PATH). Each check gives up
 * after CHECK_TIMEOUT_MS.
 */
import { accessSync, constants, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { connect } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** How long a server check waits for a connection and its first answer, ms. */
const CHECK_TIMEOUT_MS = 2000
/** Chromium's names on PATH, in the order looked for. */
export const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome']

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The full path of an executable `name` on `PATH` (a `:`-separated list), or undefined. */
export function which(name, PATH = process.env.PATH ?? '') {
  for (const dir of PATH.split(path.delimiter)) {
    if (!dir) continue
    const file = path.join(dir, name)
    try {
      if (!statSync(file).isFile()) continue
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // not here
    }
  }
  return undefined
}

/** CHROMIUM_PATH if set (it must then exist), otherwise the first Chromium on PATH. */
export function findChromium(env = process.env) {
  if (env.CHROMIUM_PATH) {
    try {
      accessSync(env.CHROMIUM_PATH, constants.X_OK)
      return { path: env.CHROMIUM_PATH }
    } catch {
      return { error: `CHROMIUM_PATH=${env.CHROMIUM_PATH} is not an executable file` }
    }
  }
  for (const name of CHROMIUM_NAMES) {
    const found = which(name, env.PATH)
    if (found) return { path: found }
  }
  return { error: `no Chromium on PATH (looked for ${CHROMIUM_NAMES.join(', ')})` }
}

/**
 * Connect to host:port, write `hello` if given, and resolve with the first bytes answered; reject
 * with a short reason (refused, timed out, closed).
 */
function firstAnswer(host, port, hello) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`))
    }, CHECK_TIMEOUT_MS)
    socket.once('connect', () => {
      if (hello) socket.write(hello)
    })
    socket.once('data', (data) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(data)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(err.code === 'ECONNREFUSED' ? 'connection refused' : err.message))
    })
    socket.once('close', () => {
      clearTimeout(timer)
      reject(new Error('closed without an answer'))
    })
  })
}

async function checkRedis(env) {
  const url = new URL(env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379')
  const where = `${url.hostname}:${url.port || 6379}`
  try {
    const answer = (await firstAnswer(url.hostname, Number(url.port || 6379), 'PING\r\n')).toString()
    // -NOAUTH and friends: a Redis that answers, but not to us without a password.
    if (answer.startsWith('+PONG')) return undefined
    return `Redis on ${where} answers "${answer.trim()}" to PING instead of PONG: set TEST_REDIS_URL to a Redis the tests may use`
  } catch (err) {
    return `Redis on ${where}: ${err.message}. Start one: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no (Debian: apt-get install redis-server), or set TEST_REDIS_URL`
  }
}

async function checkMysql(env) {
  const url = new URL(env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306')
  const where = `${url.hostname}:${url.port || 3306}`
  try {
    // A MySQL server speaks first: a handshake packet whose 5th byte is the protocol version 10.
    const greeting = await firstAnswer(url.hostname, Number(url.port || 3306))
    if (greeting[4] === 10) return undefined
    return `MariaDB on ${where} does not greet like a MySQL server: set TEST_MYSQL_URL to a MariaDB/MySQL the tests may use`
  } catch (err) {
    return `MariaDB on ${where} (for the archive tests): ${err.message}. Start one as .ci/run does (apt-get install mariadb-server; root without a password over TCP), or set TEST_MYSQL_URL`
  }
}

function checkChromium(env) {
  const r = findChromium(env)
  if (r.path) return undefined
  return `Chromium (for the browser tests): ${r.error}. Install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to its binary`
}

function checkBinary(env, name, forWhat, how) {
  return which(name, env.PATH) ? undefined : `${name} (${forWhat}) is not on PATH. ${how}`
}

function checkSqlite() {
  try {
    const require = createRequire(path.join(root, 'bff', 'package.json'))
    const Database = require('better-sqlite3')
    new Database(':memory:').close()
    return undefined
  } catch (err) {
    return `better-sqlite3 (the embedded engine) does not load: ${String(err.message).split('\n')[0]}. Build it: npm rebuild better-sqlite3`
  }
}

/** Every check for `suite` ('fast' or 'ops'): one line per problem, empty when all is there. */
export async function missing(suite, env = process.env) {
  const checks = [checkRedis(env), checkMysql(env), checkSqlite()]
  if (suite === 'fast') checks.push(checkChromium(env))
  if (suite === 'ops') {
    const redis = 'Debian: apt-get install redis-server'
    const mariadb = 'Debian: apt-get install mariadb-server (mariadbd is in /usr/sbin: add it to PATH)'
    checks.push(
      checkBinary(env, 'redis-server', 'the failure tests start their own Redis', redis),
      checkBinary(env, 'redis-cli', 'the Redis Cluster test creates its cluster with it', redis),
      checkBinary(env, 'mariadbd', 'the archive kill test starts its own MariaDB', mariadb),
      checkBinary(env, 'mariadb-install-db', 'the archive kill test initialises its MariaDB', mariadb),
    )
  }
  return (await Promise.all(checks)).filter((line) => line !== undefined)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const suite = process.argv[2] ?? 'fast'
  if (suite !== 'fast' && suite !== 'ops') {
    console.error(`usage: node scripts/test-prereqs.mjs [fast|ops] (got "${suite}")`)
    process.exit(2)
  }
  const lines = await missing(suite)
  if (lines.length > 0) {
    console.error(`npm ${suite === 'ops' ? 'run test:ops' : 'test'}: ${lines.length} prerequisite(s) missing (see README.md, Tests):`)
    for (const line of lines) console.error(`  - ${line}`)
    process.exit(1)
  }
}
