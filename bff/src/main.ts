import { createServer } from 'node:http'
import path from 'node:path'
import express from 'express'
import { PROTOCOL_VERSION } from '@chat/shared'

const port = Number(process.env.PORT ?? 8080)
const host = process.env.HOST ?? '127.0.0.1'
const app = express()
app.get('/healthz', (_req, res) => {
  res.json({ ok: true, protocol: PROTOCOL_VERSION })
})
app.use(express.static(path.resolve(process.env.STATIC_DIR ?? 'dist/h5')))
createServer(app).listen(port, host, () => {
  console.log(`listening on http://${host}:${port}`)
})
