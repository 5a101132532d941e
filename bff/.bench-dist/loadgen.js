// bench/loadgen.ts
import { WebSocket } from "ws";
var sockets = /* @__PURE__ */ new Map();
var onFrame = () => {
};
var addressCursor = Number(process.env.ADDRESS_OFFSET ?? 0);
function nextAddress() {
  const a = `127.0.0.${1 + addressCursor % 250}`;
  addressCursor++;
  return a;
}
function open(base, mode, peer, group2) {
  const url = mode === "bff" ? `${base.replace(/^http/, "ws")}/ws?v=1&token=${peer.token}` : `${base.replace(/^http/, "ws")}/?user=${peer.id}${group2 ? `&group=${group2}` : ""}`;
  const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: nextAddress() });
  return new Promise((resolve, reject) => {
    let ready = false;
    ws.on("error", (err) => {
      if (!ready) reject(err);
    });
    ws.on("close", (code) => {
      if (!ready) reject(new Error(`closed ${code} before welcome`));
    });
    ws.on("message", (data) => {
      const text = data.toString();
      if (!ready && mode === "bff") {
        if (!text.startsWith('{"type":"welcome"')) return reject(new Error(`refused: ${text.slice(0, 100)}`));
        ready = true;
        return resolve(ws);
      }
      onFrame(peer.id, text);
    });
    ws.on("open", () => {
      if (mode === "base") {
        ready = true;
        resolve(ws);
      }
    });
  });
}
async function connect(cmd) {
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < cmd.peers.length) {
      const peer = cmd.peers[next++];
      try {
        sockets.set(peer.id, await open(cmd.url, cmd.mode, peer, cmd.group));
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency ?? 200 }, worker));
  return { connected: cmd.peers.length - failed, failed };
}
function percentiles(values) {
  const s = [...values].sort((a, b) => a - b);
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] ?? NaN;
  return { n: s.length, p50: at(50), p90: at(90), p99: at(99), max: s[s.length - 1] ?? NaN };
}
var cidRun = 0;
function frameFor(mode, from, to, text, n) {
  if (mode === "base") return JSON.stringify({ type: "send", to, text });
  const conv = from < to ? `d:${from}:${to}` : `d:${to}:${from}`;
  return JSON.stringify({ type: "send", cid: `c${process.pid}r${cidRun}x${from}x${n}`, conv, kind: "text", body: { text } });
}
function sentAt(mode, text) {
  const f = JSON.parse(text);
  if (mode === "base") return f.type === "send" ? Number(f.text) : void 0;
  return f.type === "msg" ? Number(f.m.body.text) : void 0;
}
async function rate(cmd) {
  cidRun++;
  const latencies = [];
  let received = 0;
  onFrame = (_user, text) => {
    const t = sentAt(cmd.mode, text);
    if (t === void 0 || Number.isNaN(t)) return;
    received++;
    latencies.push(performance.now() - t);
  };
  const total = Math.round(cmd.rate * cmd.durationMs / 1e3);
  const start = performance.now();
  let sent = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) * cmd.rate / 1e3));
      while (sent < due) {
        const [from, to] = cmd.pairs[sent % cmd.pairs.length];
        sockets.get(from).send(frameFor(cmd.mode, from, to, String(performance.now()), sent));
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const sendMs = performance.now() - start;
  const end = Date.now() + 1e4;
  while (received < sent && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  onFrame = () => {
  };
  return { sent, received, sendMs, ...percentiles(latencies) };
}
async function group(cmd) {
  cidRun++;
  const times = [];
  let incomplete = 0;
  const expected = cmd.members.filter((m) => m !== cmd.sender).length;
  for (let round = 0; round < cmd.rounds; round++) {
    let got = 0;
    const t0 = performance.now();
    const done = new Promise((resolve) => {
      setTimeout(() => {
        if (got < expected) {
          incomplete++;
          resolve();
        }
      }, 5e3);
      onFrame = (user, text) => {
        if (user === cmd.sender) return;
        const f = JSON.parse(text);
        const r = cmd.mode === "base" ? f.round : f.type === "msg" ? Number(f.m.body.text) : -1;
        if (r === round && ++got === expected) resolve();
      };
    });
    const ws = sockets.get(cmd.sender);
    if (cmd.mode === "base") ws.send(JSON.stringify({ type: "send", group: "g", round, text: "x".repeat(40) }));
    else ws.send(JSON.stringify({ type: "send", cid: `grp${process.pid}r${cidRun}x${round}`, conv: cmd.conv, kind: "text", body: { text: String(round) } }));
    await done;
    if (got >= expected) times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, cmd.gapMs));
  }
  onFrame = () => {
  };
  return { ...percentiles(times), incomplete };
}
async function blast(cmd) {
  cidRun++;
  const ws = sockets.get(cmd.from);
  let acked = 0;
  let sent = 0;
  await new Promise((resolve) => {
    const window = cmd.mode === "base" ? Infinity : cmd.window;
    const pump = () => {
      while (sent < cmd.count && sent - acked < window) {
        ws.send(frameFor(cmd.mode, cmd.from, cmd.to, `q${sent + 1}`, sent));
        sent++;
      }
      if (cmd.mode === "base" && sent >= cmd.count) resolve();
    };
    onFrame = (_u, text) => {
      if (text.startsWith('{"type":"ack"')) {
        acked++;
        if (acked >= cmd.count) resolve();
        else pump();
      }
    };
    pump();
  });
  onFrame = () => {
  };
  return { sent };
}
async function reconnect(cmd) {
  const seqs = [];
  const t0 = performance.now();
  let doneAt = 0;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reconnect: ${seqs.length} of ${cmd.expect} after 30 s`)), 3e4);
    const finish = () => {
      doneAt = performance.now();
      clearTimeout(timer);
      resolve();
    };
    onFrame = (_u, text) => {
      if (cmd.mode === "base") {
        seqs.push(Number(JSON.parse(text).text.slice(1)));
        if (seqs.length === cmd.expect) finish();
        return;
      }
      const f = JSON.parse(text);
      if (f.type === "messages") for (const m of f.msgs) seqs.push(m.seq);
      else if (f.type === "sync.done") finish();
    };
    open(cmd.url, cmd.mode, cmd.peer).then((ws) => {
      sockets.set(cmd.peer.id, ws);
      if (cmd.mode === "bff") ws.send(JSON.stringify({ type: "sync", rid: "bench", cursors: [{ conv: cmd.conv, seq: 0 }] }));
    }, reject);
  });
  onFrame = () => {
  };
  const inOrder = seqs.every((s, i) => i === 0 || s > seqs[i - 1]);
  return { ms: doneAt - t0, received: seqs.length, unique: new Set(seqs).size, inOrder };
}
async function closeAll() {
  const n = sockets.size;
  for (const ws of sockets.values()) ws.terminate();
  sockets.clear();
  return { closed: n };
}
var commands = { connect, rate, group, blast, reconnect, closeAll, alive: async () => ({ open: [...sockets.values()].filter((w) => w.readyState === WebSocket.OPEN).length }) };
process.on("message", (msg) => {
  const run = commands[msg.cmd];
  if (!run) return process.send({ id: msg.id, error: `unknown command ${msg.cmd}` });
  run(msg.args).then(
    (result) => process.send({ id: msg.id, result }),
    (err) => process.send({ id: msg.id, error: String(err) })
  );
});
process.send({ ready: true });
