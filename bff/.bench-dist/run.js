// bench/run.ts
import { execFileSync, fork, spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { SignJWT } from "jose";
var here = path.dirname(fileURLToPath(import.meta.url));
var repo = path.resolve(here, "../..");
var BFF_MAIN = path.join(repo, "bff/dist/main.js");
var BASELINE = path.join(here, "baseline.js");
var LOADGEN = path.join(here, "loadgen.js");
var JWT_SECRET = "bench-secret-bench-secret-bench-secret-0123";
var OWN_REDIS = process.env.REDIS_URL === void 0;
var REDIS_PORT = Number(process.env.BENCH_REDIS_PORT ?? 6391);
var REDIS_URL = process.env.REDIS_URL ?? `redis://127.0.0.1:${REDIS_PORT}`;
var REDIS_CORE = process.env.BENCH_REDIS_CORE ?? process.env.BENCH_LOAD_CORE ?? "1";
var PER_GENERATOR = 16e3;
var SERVER_CORE = process.env.BENCH_SERVER_CORE ?? "0";
var LOAD_CORE = process.env.BENCH_LOAD_CORE ?? "1";
var env = (name, fallback) => Number(process.env[name] ?? fallback);
var IDLE = env("BENCH_IDLE", 1e5);
var RATE = env("BENCH_RATE", 5e3);
var SECONDS = env("BENCH_SECONDS", 10);
var GROUP = env("BENCH_GROUP", 1e3);
var GROUP_ROUNDS = env("BENCH_GROUP_ROUNDS", 200);
var QUEUED = env("BENCH_QUEUED", 1e4);
var IDLE_WORKERS = env("BENCH_WORKERS_IDLE", 6);
var ONLY = new Set((process.env.BENCH_ONLY ?? "idle,one2one,group,reconnect").split(","));
var started = /* @__PURE__ */ new Set();
process.on("exit", () => {
  for (const c of started) c.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));
async function startServer(kind, workers, extraEnv = {}) {
  const prefix = `bench${Date.now().toString(36)}:`;
  const main2 = kind === "bff" ? BFF_MAIN : BASELINE;
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn("taskset", ["-c", SERVER_CORE, process.execPath, ...nodeArgs, main2], {
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      WORKERS: String(workers),
      STORE: "redis",
      REDIS_URL,
      REDIS_PREFIX: prefix,
      JWT_SECRET,
      LOG_LEVEL: "info",
      // The production default: every idle socket is pinged twice before memory is measured.
      HEARTBEAT_INTERVAL_MS: "30000",
      RATE_LIMIT_PER_SEC: "1000000",
      RATE_LIMIT_BURST: "1000000",
      QUEUE_MAX_LENGTH: String(Math.max(QUEUED, 1e4)),
      SLOW_CONSUMER_BYTES: String(64 * 1024 * 1024),
      MAX_CONNECTIONS: "19500",
      STATIC_DIR: "bff/bench",
      ...kind === "bff" && process.env.BENCH_ARCHIVE_URL ? { ARCHIVE_URL: process.env.BENCH_ARCHIVE_URL } : {},
      ...extraEnv
    },
    stdio: ["ignore", "pipe", "inherit"]
  });
  started.add(child);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${kind} did not start`));
    }, 3e4);
    const last = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      last.push(line);
      if (last.length > 5) last.shift();
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).port);
      }
    });
    child.once("exit", (code) => reject(new Error(`${kind} exited ${code}: ${last.join("\n")}`)));
  });
  if (workers > 1) await waitForWorkers(child.pid, workers);
  return { kind, url: `http://127.0.0.1:${port}`, child, prefix };
}
async function waitForWorkers(pid, n) {
  for (let i = 0; i < 200 && descendants(pid).length < n; i++) await sleep(50);
  await sleep(500);
}
async function stopServer(s) {
  const pids = serverPids(s);
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  await Promise.race([exited, sleep(15e3)]);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
    }
  }
  if (s.kind === "bff") await dropPrefix(s.prefix);
}
var Generator = class {
  constructor(child) {
    this.child = child;
    this.ready = new Promise((resolve) => {
      child.on("message", (msg) => {
        if (msg.ready) return resolve();
        const w = this.waiting.get(msg.id);
        if (!w) return;
        this.waiting.delete(msg.id);
        if (msg.error) w.reject(new Error(msg.error));
        else w.resolve(msg.result);
      });
    });
  }
  nextId = 0;
  waiting = /* @__PURE__ */ new Map();
  ready;
  call(cmd, args = {}) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, cmd, args });
    });
  }
  stop() {
    this.child.kill();
  }
};
async function generators(n) {
  const gens = Array.from({ length: n }, (_, i) => {
    const child = fork(LOADGEN, [], { env: { ...process.env, ADDRESS_OFFSET: String(i * 41) }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    started.add(child);
    execFileSync("taskset", ["-a", "-p", "-c", LOAD_CORE, String(child.pid)], { stdio: "ignore" });
    return new Generator(child);
  });
  await Promise.all(gens.map((g) => g.ready));
  return gens;
}
async function startRedis() {
  const child = spawn("taskset", ["-c", REDIS_CORE, "redis-server", "--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"], {
    stdio: ["ignore", "ignore", "inherit"]
  });
  started.add(child);
  child.once("exit", (code) => {
    if (code !== null && code !== 0) console.error(`redis-server exited ${code}`);
  });
  for (let i = 0; i < 100; i++) {
    const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on("error", () => {
    });
    try {
      await r.connect();
      await r.ping();
      return;
    } catch {
      await sleep(100);
    } finally {
      r.disconnect();
    }
  }
  throw new Error(`redis-server on port ${REDIS_PORT} did not start`);
}
function descendants(pid) {
  const out = [];
  const walk = (p) => {
    for (const task of safeReaddir(`/proc/${p}/task`)) {
      const kids = safeRead(`/proc/${p}/task/${task}/children`).trim();
      for (const k of kids ? kids.split(/\s+/).map(Number) : []) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(pid);
  return out;
}
function serverPids(s) {
  return [s.child.pid, ...descendants(s.child.pid)];
}
function rssBytes(pids) {
  let kb = 0;
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(safeRead(`/proc/${pid}/status`));
    if (m) kb += Number(m[1]);
  }
  return kb * 1024;
}
function cpuSplit(pids) {
  const hz = 100;
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const stat = safeRead(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    user += Number(fields[11] ?? 0);
    system += Number(fields[12] ?? 0);
  }
  return { user: user / hz, system: system / hz };
}
async function redisCpuSeconds() {
  const r = new Redis(REDIS_URL);
  try {
    const info = await r.info("cpu");
    const get = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return get("used_cpu_sys") + get("used_cpu_user");
  } finally {
    r.disconnect();
  }
}
function safeRead(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
function safeReaddir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
var sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function tokens(ids) {
  const key = new TextEncoder().encode(JWT_SECRET);
  const exp = Math.floor(Date.now() / 1e3) + 3600;
  return Promise.all(
    ids.map(async (id) => ({ id, token: await new SignJWT({ name: id }).setProtectedHeader({ alg: "HS256" }).setSubject(id).setIssuer("chat-bff").setExpirationTime(exp).sign(key) }))
  );
}
async function devLogin(url, ids) {
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map(async (user) => {
        const res = await fetch(`${url}/auth/dev-login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user }) });
        if (!res.ok) throw new Error(`dev-login ${user}: ${res.status}`);
      })
    );
  }
}
async function dropPrefix(prefix) {
  const r = new Redis(REDIS_URL);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 5e3);
      cursor = next;
      if (keys.length > 0) await r.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}
async function idle(kind) {
  const server = await startServer(kind, IDLE_WORKERS);
  const gens = await generators(Math.ceil(IDLE / PER_GENERATOR));
  try {
    await sleep(1e3);
    const rssBefore = rssBytes(serverPids(server));
    const ids = Array.from({ length: IDLE }, (_, i) => `i${i}`);
    const peers = kind === "bff" ? await tokens(ids) : ids.map((id) => ({ id }));
    const t0 = Date.now();
    const results = await Promise.all(gens.map((g, i) => g.call("connect", { url: server.url, mode: kind, peers: peers.slice(i * PER_GENERATOR, (i + 1) * PER_GENERATOR), concurrency: 400 })));
    const connectMs = Date.now() - t0;
    const connected = results.reduce((s, r) => s + r.connected, 0);
    await sleep(65e3);
    const rssAfter = rssBytes(serverPids(server));
    const alive = (await Promise.all(gens.map((g) => g.call("alive")))).reduce((s, r) => s + r.open, 0);
    await Promise.all(gens.map((g) => g.call("closeAll")));
    return { connected, alive, connectMs, rssBeforeMB: rssBefore / 2 ** 20, rssAfterMB: rssAfter / 2 ** 20, bytesPerConnection: (rssAfter - rssBefore) / Math.max(1, connected), processes: serverPids(server).length };
  } finally {
    for (const g of gens) g.stop();
    await stopServer(server);
  }
}
async function fakeWeChat(delayMs) {
  const script = `
    let checks = 0
    const server = require('node:http').createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        res.setHeader('content-type', 'application/json')
        if (req.url.startsWith('/count')) return void res.end(String(checks))
        if (req.url.startsWith('/cgi-bin/stable_token')) return void res.end(JSON.stringify({ access_token: 'BENCH', expires_in: 7200 }))
        checks++
        setTimeout(() => res.end(JSON.stringify({ errcode: 0, result: { suggest: 'pass', label: 100 } })), ${delayMs})
      })
    })
    server.keepAliveTimeout = 60000
    server.listen(0, '127.0.0.1', () => console.log(server.address().port))`;
  const child = spawn("taskset", ["-c", LOAD_CORE, process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  started.add(child);
  const port = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", (line) => resolve(Number(line)));
    child.once("exit", (code) => reject(new Error(`fake WeChat exited ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return { url, checks: async () => Number(await (await fetch(`${url}/count`)).text()), close: () => void child.kill() };
}
async function one2one(kind, extraEnv = {}) {
  const server = await startServer(kind, 1, extraEnv);
  const [gen] = await generators(1);
  try {
    const pairsCount = 100;
    const ids = Array.from({ length: pairsCount * 2 }, (_, i) => `p${i}`);
    if (kind === "bff") await devLogin(server.url, ids);
    const peers = kind === "bff" ? await tokens(ids) : ids.map((id) => ({ id }));
    await gen.call("connect", { url: server.url, mode: kind, peers });
    const pairs = Array.from({ length: pairsCount }, (_, i) => [ids[2 * i], ids[2 * i + 1]]);
    await gen.call("rate", { mode: kind, pairs, rate: RATE, durationMs: 2e3 });
    const pids = serverPids(server);
    const cpu0 = cpuSplit(pids);
    const redis0 = await redisCpuSeconds();
    const r = await gen.call("rate", { mode: kind, pairs, rate: RATE, durationMs: SECONDS * 1e3 });
    const cpu1 = cpuSplit(pids);
    const redisCpu = await redisCpuSeconds() - redis0;
    const user = cpu1.user - cpu0.user;
    const system = cpu1.system - cpu0.system;
    const perMessage = (s) => s / Math.max(1, r.received) * 1e6;
    return {
      ...r,
      rate: RATE,
      serverCpuS: user + system,
      cpuUsPerMessage: perMessage(user + system),
      userUsPerMessage: perMessage(user),
      systemUsPerMessage: perMessage(system),
      redisCpuUsPerMessage: perMessage(redisCpu)
    };
  } finally {
    gen.stop();
    await stopServer(server);
  }
}
async function group(kind) {
  const server = await startServer(kind, 1);
  const [gen] = await generators(1);
  try {
    const ids = Array.from({ length: GROUP }, (_, i) => `m${i}`);
    let conv;
    if (kind === "bff") {
      await devLogin(server.url, ids);
      conv = await createGroup(server.url, ids);
    }
    const peers = kind === "bff" ? await tokens(ids) : ids.map((id) => ({ id }));
    await gen.call("connect", { url: server.url, mode: kind, peers, group: "g" });
    await gen.call("group", { mode: kind, sender: ids[0], members: ids, conv, rounds: 20, gapMs: 5 });
    return await gen.call("group", { mode: kind, sender: ids[0], members: ids, conv, rounds: GROUP_ROUNDS, gapMs: 5 });
  } finally {
    gen.stop();
    await stopServer(server);
  }
}
async function createGroup(url, ids) {
  const { WebSocket } = await import("ws");
  const [peer] = await tokens([ids[0]]);
  const ws = new WebSocket(`${url.replace("http", "ws")}/ws?v=1&token=${peer.token}`);
  return new Promise((resolve, reject) => {
    ws.on("error", reject);
    ws.on("message", (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === "welcome") ws.send(JSON.stringify({ type: "conv.create", rid: "g", kind: "group", members: ids.slice(1), title: "bench" }));
      else if (f.type === "conv" && f.rid === "g") {
        ws.close();
        resolve(f.conv.id);
      } else if (f.type === "error") reject(new Error(f.code));
    });
  });
}
async function reconnect(kind) {
  const server = await startServer(kind, 1);
  const [gen] = await generators(1);
  try {
    const [sender, receiver] = ["rs", "rr"];
    if (kind === "bff") await devLogin(server.url, [sender, receiver]);
    const [s, r] = kind === "bff" ? await tokens([sender, receiver]) : [{ id: sender }, { id: receiver }];
    await gen.call("connect", { url: server.url, mode: kind, peers: [s] });
    await gen.call("blast", { mode: kind, from: sender, to: receiver, count: QUEUED, window: 200 });
    if (kind === "bff") {
      const redis = new Redis(REDIS_URL);
      for (let i = 0; i < 500 && await redis.xlen(`${server.prefix}{u:${receiver}}:q`) < QUEUED; i++) await sleep(20);
      redis.disconnect();
    } else await sleep(500);
    return await gen.call("reconnect", { url: server.url, mode: kind, peer: r, conv: `d:${receiver}:${sender}`, expect: QUEUED });
  } finally {
    gen.stop();
    await stopServer(server);
  }
}
async function main() {
  if (OWN_REDIS) await startRedis();
  const redisNote = OWN_REDIS ? `Redis started by the run, pinned to core ${REDIS_CORE}` : `Redis at ${REDIS_URL}, unpinned`;
  const results = { when: (/* @__PURE__ */ new Date()).toISOString(), machine: { cores: 2, note: `servers on core ${SERVER_CORE}, generators on core ${LOAD_CORE}; ${redisNote}` } };
  const rows = [];
  const fmt = (n, d = 1) => Number.isFinite(n) ? n.toFixed(d) : "n/a";
  if (ONLY.has("idle")) {
    const base = await idle("base");
    const bff = await idle("bff");
    results.idle = { target: `${IDLE} connections, <= 1.5x baseline memory per connection`, bff, baseline: base, ratio: bff.bytesPerConnection / base.bytesPerConnection };
    rows.push([`idle connections (${IDLE}, heartbeats)`, `${bff.alive} alive, ${fmt(bff.bytesPerConnection / 1024, 2)} KB/conn`, `${base.alive} alive, ${fmt(base.bytesPerConnection / 1024, 2)} KB/conn`, fmt(bff.bytesPerConnection / base.bytesPerConnection, 2), "<= 1.5x"]);
    console.log("idle", JSON.stringify(results.idle));
  }
  if (ONLY.has("one2one")) {
    const base = await one2one("base");
    const bff = await one2one("bff");
    results.one2one = { target: `1:1 at ${RATE}/s, Redis engine: CPU per delivered message <= 2x baseline; p99 <= 10 ms`, bff, baseline: base, cpuRatio: bff.cpuUsPerMessage / base.cpuUsPerMessage };
    rows.push([`1:1 CPU per delivered msg (${RATE}/s)`, `${fmt(bff.cpuUsPerMessage)} us (+Redis ${fmt(bff.redisCpuUsPerMessage)} us)`, `${fmt(base.cpuUsPerMessage)} us`, fmt(bff.cpuUsPerMessage / base.cpuUsPerMessage, 2), "<= 2x"]);
    rows.push([`1:1 latency at ${RATE}/s p50/p99`, `${fmt(bff.p50, 2)} / ${fmt(bff.p99, 2)} ms (${bff.received}/${bff.sent})`, `${fmt(base.p50, 2)} / ${fmt(base.p99, 2)} ms`, fmt(bff.p99 / base.p99, 2), "p99 <= 10 ms"]);
    console.log("one2one", JSON.stringify(results.one2one));
  }
  if (ONLY.has("group")) {
    const base = await group("base");
    const bff = await group("bff");
    results.group = { target: `one message to ${GROUP} members: p99 until the last has it <= 1.2x baseline`, bff, baseline: base, ratio: bff.p99 / base.p99 };
    rows.push([`group of ${GROUP}: last member p50/p99`, `${fmt(bff.p50, 2)} / ${fmt(bff.p99, 2)} ms`, `${fmt(base.p50, 2)} / ${fmt(base.p99, 2)} ms`, fmt(bff.p99 / base.p99, 2), "<= 1.2x"]);
    console.log("group", JSON.stringify(results.group));
  }
  if (ONLY.has("reconnect")) {
    const base = await reconnect("base");
    const bff = await reconnect("bff");
    results.reconnect = { target: `${QUEUED} queued: all delivered in order once within 0.5 s`, bff, baseline: base };
    rows.push([`reconnect with ${QUEUED} queued`, `${fmt(bff.ms, 0)} ms, ${bff.unique}/${QUEUED} once, ${bff.inOrder ? "in order" : "OUT OF ORDER"}`, `${fmt(base.ms, 0)} ms, ${base.unique}/${QUEUED}`, fmt(bff.ms / base.ms, 2), "<= 500 ms"]);
    console.log("reconnect", JSON.stringify(results.reconnect));
  }
  if (ONLY.has("secure")) {
    const delayMs = env("BENCH_WX_DELAY_MS", 20);
    const fake = await fakeWeChat(delayMs);
    try {
      const plain = await one2one("bff");
      const secure = await one2one("bff", { WX_APPID: "wxbench", WX_SECRET: "bench", WX_API_BASE: fake.url, WX_TEXT_CHECKS_PER_MIN: "1000000" });
      results.secure = { target: `1:1 at ${RATE}/s with msgSecCheck (fake answers in ${delayMs} ms): within 10% of the same BFF without`, plain, secure, checks: await fake.checks(), cpuRatio: secure.cpuUsPerMessage / plain.cpuUsPerMessage };
      rows.push([`1:1 CPU per msg, checks on (${RATE}/s)`, `${fmt(secure.cpuUsPerMessage)} us`, `${fmt(plain.cpuUsPerMessage)} us (checks off)`, fmt(secure.cpuUsPerMessage / plain.cpuUsPerMessage, 2), "<= 1.1x"]);
      rows.push([`1:1 delivered, checks on`, `${secure.received}/${secure.sent}`, `${plain.received}/${plain.sent}`, fmt(secure.received / Math.max(1, plain.received), 2), ">= 0.9x"]);
      rows.push([`1:1 send-to-receive p50/p99, checks on`, `${fmt(secure.p50, 2)} / ${fmt(secure.p99, 2)} ms`, `${fmt(plain.p50, 2)} / ${fmt(plain.p99, 2)} ms`, fmt(secure.p50 / plain.p50, 2), `+${delayMs} ms expected`]);
      console.log("secure", JSON.stringify(results.secure));
    } finally {
      fake.close();
    }
  }
  const out = path.join(repo, "bench/results/bff.json");
  mkdirSync(path.dirname(out), { recursive: true });
  let previous = {};
  try {
    previous = JSON.parse(readFileSync(out, "utf8"));
  } catch {
  }
  writeFileSync(out, JSON.stringify({ ...previous, ...results }, null, 2) + "\n");
  const head = ["target", "BFF", "baseline (minimal ws router)", "ratio", "goal"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join(" | ");
  console.log(`
${line(head)}
${widths.map((w) => "-".repeat(w)).join("-|-")}
${rows.map(line).join("\n")}

written to ${path.relative(repo, out)}`);
}
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  }
);
