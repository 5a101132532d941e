/**
 * The benchmark's baseline (issue 3, "Benchmark"): a minimal `ws` server that routes 1:1 messages
 * by user id in memory, with no auth, storage or dedup. `?user=<id>` names the socket's user and
 * `?group=<name>` adds it to a group. A frame `{"to":<id>,...}` is forwarded as it is to that
 * user's socket (kept in an in-memory list while the user is offline, flushed on connect); a frame
 * `{"group":<name>,...}` is encoded once and sent to every other member. WORKERS > 1 runs that
 * many processes on one port (node:cluster), as the BFF does, for the idle-connection figure.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'

const workers = Number(process.env.WORKERS ?? 1)
const port = Number(process.env.PORT ?? 0)

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork()
  let told = false
  cluster.on('listening', (_w, address) => {
    if (told) return
    told = true
    console.log(JSON.stringify({ msg: 'listening', port: address.port }))
  })
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill()
    process.exit(0)
  })
} else {
  const users = new Map<string, WebSocket>()
  const offline = new Map<string, string[]>()
  const groups = new Map<string, WebSocket[]>()
  const server = createServer()
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024, perMessageDeflate: false, clientTracking: false })
  wss.on('connection', (ws, req) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const user = url.searchParams.get('user') ?? ''
    const group = url.searchParams.get('group')
    users.set(user, ws)
    if (group) {
      let list = groups.get(group)
      if (!list) groups.set(group, (list = []))
      list.push(ws)
    }
    const queued = offline.get(user)
    if (queued) {
      offline.delete(user)
      for (const text of queued) ws.send(text)
    }
    ws.on('error', () => {})
    ws.on('close', () => {
      if (users.get(user) === ws) users.delete(user)
    })
    ws.on('message', (data) => {
      const text = (data as Buffer).toString() // ws's default binaryType: one Buffer
      const frame = JSON.parse(text) as { to?: string; group?: string }
      if (frame.group !== undefined) {
        const buf = Buffer.from(text)
        for (const member of groups.get(frame.group) ?? []) if (member !== ws) member.send(buf, { binary: false })
        return
      }
      const to = users.get(frame.to ?? '')
      if (to) to.send(text)
      else {
        let q = offline.get(frame.to ?? '')
        if (!q) offline.set(frame.to ?? '', (q = []))
        q.push(text)
      }
    })
  })
  server.listen(port, '127.0.0.1', () => {
    if (!cluster.isWorker) console.log(JSON.stringify({ msg: 'listening', port: (server.address() as AddressInfo).port }))
  })
  process.on('SIGTERM', () => process.exit(0))
}
