/*
 * The h5 app shell, offline: a reload without network shows the app (its cached state and outbox)
 * instead of the browser's error page. Registered by client/app.tsx only on h5, only in production
 * builds served by the BFF. The build (config/shell-sw.ts) puts the list of shell files and a
 * version, the hash of that list, in place of the two markers below.
 *
 * - Shell files (index.html, js/, css/, favicon) come from the cache first: their names carry a
 *   content hash, so a cached one is never stale; a page load goes to the network first and falls
 *   back to the cached index.html.
 * - Nothing else is touched: the API, the WebSocket, /files and /uploads go to the network as if
 *   there were no worker (they carry their own auth and must never be served stale).
 */
const VERSION = '__SHELL_VERSION__'
const SHELL = __SHELL_FILES__
const CACHE = `chat-shell-${VERSION}`

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('chat-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

const shellPaths = new Set(SHELL)

self.addEventListener('fetch', (event) => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  if (req.mode === 'navigate') {
    event.respondWith(fetch(req).catch(() => caches.match('/', { cacheName: CACHE }).then((hit) => hit || Response.error())))
    return
  }
  if (!shellPaths.has(url.pathname)) return
  event.respondWith(caches.match(url.pathname, { cacheName: CACHE }).then((hit) => hit || fetch(req)))
})
