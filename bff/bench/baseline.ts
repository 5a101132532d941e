/**
 * The benchmark's baseline (issue 3, "Benchmark"): a minimal `ws` server that routes 1:1 messages
 * by user id in memory, with no auth, storage or dedup. `?user=<id>` names the socket's user and
 * `?group=<name>` adds it to a group. A frame `{"to":<id>,...}` is forwarded as it is to that
 * user's socket (kept in an in-memory list while the user is offline, flushed on connect); a frame
 * `{"group":<name>,...}` is encoded once and sent to every other member. WORKERS > 1 runs that
 * many processes on one port (node:cluster), as the BFF does, for the idle-connection figure.
 * `{"type":"sync"}` is answered `{"type":"sync.done"}` once the user's offline list is flushed.
 *
 * RELAY=1 (issue 15): the naive ws+Redis relay instead. Routing goes through Redis (REDIS_URL,
 * keys under REDIS_PREFIX): every message is one PUBLISH to the recipient's channel and one RPUSH
 * to its list (durability); a socket SUBSCRIBEs its user's channel on connect (UNSUBSCRIBE on
 * close), and `sync` pops the list (one LPOP with a count) before `sync.done`. No seq, no dedup,
 * no acks, no presence: what the BFF's durable delivery is measured against.
 */
import cluster from 'node:cluster'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'

const workers = Number(process.env.WORKERS ?? 1)
const port = Number(process.env.PORT ?? 0)

if (workers > 1 && cluster.isPrimary) {
  // This file runs through scripts/run-ts.mjs (Node alone cannot load it): its workers too, else
  // each one dies at once on the .ts extension (the idle scenario's baseline never started).
  cluster.setupPrimary({ exec: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/run-ts.mjs'), args: [fileURLToPath(import.meta.url)] })
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
  const relay = process.env.RELAY === '1' ? relayOf(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', process.env.REDIS_PREFIX ?? 'relay:', users) : undefined
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
    relay?.join(user)
    const queued = relay ? undefined : offline.get(user)
    if (queued) {
      offline.delete(user)
      for (const text of queued) ws.send(text)
    }
    ws.on('error', () => {})
    ws.on('close', () => {
      if (users.get(user) !== ws) return
      users.delete(user)
      relay?.leave(user)
    })
    ws.on('message', (data) => {
      const text = (data as Buffer).toString() // ws's default binaryType: one Buffer
      const frame = JSON.parse(text) as { type?: string; to?: string; group?: string }
      if (frame.type === 'sync') {
        if (!relay) return ws.send('{"type":"sync.done"}')
        return relay.sync(user, ws)
      }
      if (frame.group !== undefined) {
        const buf = Buffer.from(text)
        for (const member of groups.get(frame.group) ?? []) if (member !== ws) member.send(buf, { binary: false })
        return
      }
      if (relay) return relay.send(frame.to ?? '', text)
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

/** The relay's Redis side: one command connection, one subscriber connection. */
function relayOf(url: string, prefix: string, users: Map<string, WebSocket>) {
  const pub = new Redis(url)
  const sub = new Redis(url)
  const channel = (user: string) => `${prefix}ch:${user}`
  const list = (user: string) => `${prefix}q:${user}`
  const strip = `${prefix}ch:`.length
  sub.on('message', (ch: string, text: string) => users.get(ch.slice(strip))?.send(text))
  const ignore = () => {}
  return {
    join(user: string) {
      sub.subscribe(channel(user)).catch(ignore)
    },
    leave(user: string) {
      sub.unsubscribe(channel(user)).catch(ignore)
    },
    send(to: string, text: string) {
      pub.publish(channel(to), text).catch(ignore)
      pub.rpush(list(to), text).catch(ignore)
    },
    sync(user: string, ws: WebSocket) {
      pub.lpop(list(user), 1000).then(
        (queued) => {
          for (const text of queued ?? []) ws.send(text)
          ws.send('{"type":"sync.done"}')
        },
        () => ws.send('{"type":"sync.done"}'),
      )
    },
  }
}
