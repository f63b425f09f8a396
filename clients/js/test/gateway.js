// Test kit: the real gateway binary, started per test on loopback, and a
// TCP proxy in front of it that can cut the network. No mocks: every test
// talks WebSocket to the gateway built from this repository.

import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { closeFrame, CONT, FrameReader, TEXT, textFrame } from "./frames.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
let binary;

/** gatewayBinary builds cmd/gateway once per test process (go's build cache makes later builds cheap). */
export function gatewayBinary() {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), "tickgate-js-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  binary = join(dir, "gateway");
  execFileSync("go", ["build", "-o", binary, "./cmd/gateway"], { cwd: repo, stdio: "inherit" });
  return binary;
}

/**
 * startGateway runs the gateway with env overrides (TICKGATE_* keys) on
 * 127.0.0.1:port (0 = any free port) and waits until /readyz answers 200.
 * The simulator starts without its synthetic past (feed.sim.backfill 0s),
 * so seqs and bars begin with the run, as these tests count them; a test
 * of the backfill asks for one.
 * @returns {Promise<Gateway>}
 */
export async function startGateway(env = {}, port = 0) {
  const proc = spawn(gatewayBinary(), [], {
    env: {
      ...process.env,
      TICKGATE_LISTEN: `127.0.0.1:${port}`,
      TICKGATE_FEED_SIM_RATE: "2000",
      TICKGATE_FEED_SIM_BACKFILL: "0s",
      TICKGATE_SERVER_DRAIN_WINDOW: "100ms",
      TICKGATE_SERVER_SHUTDOWN_TIMEOUT: "3s",
      TICKGATE_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  proc.stdout.on("data", (b) => { log += b; });
  proc.stderr.on("data", (b) => { log += b; });
  const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
  let addr;
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error("gateway exited:\n" + log);
    addr = /msg="tickgate listening" addr=(\S+)/.exec(log)?.[1];
    return addr;
  }, 15000, () => "no listening line in the gateway log:\n" + log);
  const http = `http://${addr}`;
  await waitFor(async () => (await fetch(http + "/readyz").catch(() => ({ ok: false }))).ok, 10000, "gateway not ready");
  return {
    port: Number(addr.split(":").pop()),
    http,
    ws: `ws://${addr}/ws`,
    log: () => log,
    /** stop sends sig (SIGTERM drains with 1001; SIGKILL is a crash) and waits for the exit. */
    async stop(sig = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      return exited;
    },
  };
}

/** withGateway starts a gateway for one test and stops it when the test ends. */
export async function withGateway(t, env = {}, port = 0) {
  const gw = await startGateway(env, port);
  t.after(() => gw.stop("SIGKILL"));
  return gw;
}

/**
 * startProxy forwards TCP from a loopback port to the gateway's. drop()
 * cuts every connection at once, as a network failure would; requests
 * records each HTTP request line seen (the WebSocket upgrade, with its
 * query). reject4003(fn) stands in for an authenticating layer in front of
 * the gateway: for an upgrade whose request line fn rejects, it lets the
 * handshake through, then closes the WebSocket with 4003. greet(text) sends
 * text as a message ahead of the gateway's first, on every new WebSocket:
 * a gateway's welcome, told before the gateway itself tells it. hold(true)
 * keeps the network down: new connections are cut at once until hold(false).
 *
 * After the handshake it reads whole frames (frames.js), so a test can
 * stand in for a gateway feature the binary does not have yet, on the real
 * stream: sent records every message the client sent; up(fn) and down(fn)
 * rewrite each message the client sends and each one the gateway sends (fn
 * returns the message to pass, for down also an array of messages, null
 * to drop it, or undefined to pass it as it came); inject(m) sends m to
 * every open WebSocket between two of the gateway's frames.
 */
export async function startProxy(targetPort) {
  const socks = new Set();
  const live = new Set(); // open WebSockets: {client, frag, queue}
  const requests = [];
  const sent = [];
  let refuse = null;
  let greeting = null;
  let held = false;
  let attempts = 0;
  let upFn = null, downFn = null;

  /** fromClient is what to send on for one client frame: rewritten by upFn when it is a message, null to drop it. */
  const fromClient = (f) => {
    if (f.op !== TEXT || !f.fin) return f.raw;
    let m;
    try { m = JSON.parse(f.payload.toString()); } catch { return f.raw; }
    sent.push(m);
    if (!upFn) return f.raw;
    const r = upFn(m);
    return r === null ? null : textFrame(JSON.stringify(r === undefined ? m : r), true);
  };
  /** rewrite applies downFn to each message of one gateway frame. */
  const rewrite = (text) => {
    const out = [];
    for (const line of text.split("\n")) {
      if (!line) continue;
      const m = JSON.parse(line), r = downFn(m);
      if (r === undefined) out.push(m);
      else if (Array.isArray(r)) out.push(...r);
      else if (r !== null) out.push(r);
    }
    return out.map((m) => JSON.stringify(m)).join("\n");
  };
  /** fromGateway writes the gateway's frames to the client, and what was injected between them. */
  const fromGateway = (c, frames) => {
    for (const f of frames) {
      if (f.op === TEXT && f.fin && !c.frag && downFn) {
        const text = rewrite(f.payload.toString());
        if (text) c.client.write(textFrame(text));
      } else c.client.write(f.raw);
      if (f.op === TEXT || f.op === 2) c.frag = !f.fin;
      else if (f.op === CONT && f.fin) c.frag = false;
      if (!c.frag) for (const q of c.queue.splice(0)) c.client.write(q);
    }
  };

  const server = net.createServer((client) => {
    attempts++;
    if (held) return client.destroy();
    const upstream = net.connect(targetPort, "127.0.0.1");
    const c = { client, frag: false, queue: [] };
    socks.add(client); socks.add(upstream);
    const done = () => { client.destroy(); upstream.destroy(); socks.delete(client); socks.delete(upstream); live.delete(c); };
    client.on("error", done); upstream.on("error", done);
    client.on("close", done); upstream.on("close", done);
    const up = new FrameReader(), down = new FrameReader();
    let head = "";
    let reject = false;
    let open = false, raw = false;
    const greet = greeting;
    client.once("data", (b) => {
      const line = b.toString("latin1").split("\r\n")[0];
      requests.push(line);
      reject = refuse ? refuse(line) : false;
      upstream.write(b);
      client.on("data", (b) => {
        if (!open) return upstream.write(b); // plain HTTP (keep-alive): not frames
        for (const f of up.push(b)) {
          const out = fromClient(f);
          if (out) upstream.write(out);
        }
      });
    });
    upstream.on("data", (b) => {
      if (open) return fromGateway(c, down.push(b));
      if (raw) return client.write(b);
      head += b.toString("latin1");
      const end = head.indexOf("\r\n\r\n") + 4;
      if (end < 4) return;
      client.write(head.slice(0, end), "latin1");
      if (reject) {
        client.end(closeFrame(4003, "token rejected"));
        upstream.destroy();
        return;
      }
      if (!head.startsWith("HTTP/1.1 101")) {
        raw = true;
        client.write(head.slice(end), "latin1");
        return;
      }
      open = true;
      live.add(c);
      if (greet) client.write(textFrame(greet));
      fromGateway(c, down.push(Buffer.from(head.slice(end), "latin1")));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    ws: `ws://127.0.0.1:${server.address().port}/ws`,
    requests,
    sent,
    attempts: () => attempts,
    drop() { for (const s of socks) s.destroy(); socks.clear(); live.clear(); },
    reject4003(fn) { refuse = fn; },
    greet(text) { greeting = text; },
    hold(on) { held = on; },
    up(fn) { upFn = fn; },
    down(fn) { downFn = fn; },
    /** inject sends m (a message, or its JSON) to every open WebSocket and returns how many. */
    inject(m) {
      const f = textFrame(typeof m === "string" ? m : JSON.stringify(m));
      for (const c of live) if (c.frag) c.queue.push(f); else c.client.write(f);
      return live.size;
    },
    close() { this.drop(); server.close(); },
  };
}

/** waitFor polls cond (sync or async) until it is truthy, or fails after timeoutMs. */
export async function waitFor(cond, timeoutMs, msg) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(typeof msg === "function" ? msg() : msg);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * firstBarBreak checks the seq rule over one (stream, symbol)'s final bars:
 * each continues the last. A bar with prev (bucket seqs) continues it when
 * prev is the last bar's seq; one without (a gateway before bucket seqs)
 * when seq - 1 is; a conflated one (span) covers the jump either way. It
 * returns the first violation, or null.
 */
export function firstBarBreak(bars) {
  for (let i = 1; i < bars.length; i++) {
    const prev = bars[i - 1].seq, b = bars[i];
    const ok = b.prev !== undefined ? b.prev === prev || (b.span > 1 && b.seq > prev) : b.seq - (b.span || 1) === prev;
    if (!ok) return { i, prev, seq: b.seq, span: b.span, barPrev: b.prev };
  }
  return null;
}

/** intervalOf is the bucket length of a bar stream in nanoseconds: bars.1s 1e9, bars.1m 60e9. */
export function intervalOf(stream) {
  const [, n, unit] = /^bars\.(\d+)([sm])$/.exec(stream);
  return Number(n) * (unit === "m" ? 60e9 : 1e9);
}

/**
 * firstBar says whether b is the first bar of its gateway's run: seq 1
 * where bars are counted, or, with bucket seqs (seq = t / interval), a
 * bar with no prev.
 */
export function firstBar(b) {
  return b.seq === 1 || (b.seq === b.t / intervalOf(b.stream) && !b.prev);
}

/**
 * firstBreak checks the seq rule over one symbol's delivered ticks:
 * each tick continues the last, a conflated one (n) covering the jump.
 * It returns the first violation, or null.
 */
export function firstBreak(ticks) {
  for (let i = 1; i < ticks.length; i++) {
    const prev = ticks[i - 1].seq, t = ticks[i];
    if (t.seq - (t.n || 1) !== prev) return { i, prev, seq: t.seq, n: t.n };
  }
  return null;
}

/** hs256 signs claims with secret into a JWT, as `gateway token` does; tests use it for tokens the command will not make (expired, forged). */
export function hs256(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

/** mintToken runs `gateway token` with args against a gateway whose HMAC secret is secret, and returns the token it prints. */
export function mintToken(secret, args) {
  return execFileSync(gatewayBinary(), ["token", ...args], { env: { ...process.env, TICKGATE_AUTH_HMAC_SECRET: secret } }).toString().trim();
}
