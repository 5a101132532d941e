// bench/baseline.ts
import cluster from "node:cluster";
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
var workers = Number(process.env.WORKERS ?? 1);
var port = Number(process.env.PORT ?? 0);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let told = false;
  cluster.on("listening", (_w, address) => {
    if (told) return;
    told = true;
    console.log(JSON.stringify({ msg: "listening", port: address.port }));
  });
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const users = /* @__PURE__ */ new Map();
  const offline = /* @__PURE__ */ new Map();
  const groups = /* @__PURE__ */ new Map();
  const server = createServer();
  const wss = new WebSocketServer({ server, maxPayload: 64 * 1024, perMessageDeflate: false, clientTracking: false });
  wss.on("connection", (ws, req) => {
    const url = new URL(req.url ?? "/", "http://x");
    const user = url.searchParams.get("user") ?? "";
    const group = url.searchParams.get("group");
    users.set(user, ws);
    if (group) {
      let list = groups.get(group);
      if (!list) groups.set(group, list = []);
      list.push(ws);
    }
    const queued = offline.get(user);
    if (queued) {
      offline.delete(user);
      for (const text of queued) ws.send(text);
    }
    ws.on("error", () => {
    });
    ws.on("close", () => {
      if (users.get(user) === ws) users.delete(user);
    });
    ws.on("message", (data) => {
      const text = data.toString();
      const frame = JSON.parse(text);
      if (frame.group !== void 0) {
        const buf = Buffer.from(text);
        for (const member of groups.get(frame.group) ?? []) if (member !== ws) member.send(buf, { binary: false });
        return;
      }
      const to = users.get(frame.to ?? "");
      if (to) to.send(text);
      else {
        let q = offline.get(frame.to ?? "");
        if (!q) offline.set(frame.to ?? "", q = []);
        q.push(text);
      }
    });
  });
  server.listen(port, "127.0.0.1", () => {
    if (!cluster.isWorker) console.log(JSON.stringify({ msg: "listening", port: server.address().port }));
  });
  process.on("SIGTERM", () => process.exit(0));
}
