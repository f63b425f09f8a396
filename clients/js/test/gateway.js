// Test kit: the real gateway binary, started per test on loopback, and a
// TCP proxy in front of it that can cut the network. No mocks: every test
// talks WebSocket to the gateway built from this repository.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
 * @returns {Promise<Gateway>}
 */
export async function startGateway(env = {}, port = 0) {
  const proc = spawn(gatewayBinary(), [], {
    env: {
      ...process.env,
      TICKGATE_LISTEN: `127.0.0.1:${port}`,
      TICKGATE_FEED_SIM_RATE: "2000",
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
 */
export async function startProxy(targetPort) {
  const socks = new Set();
  const requests = [];
  let refuse = null;
  let greeting = null;
  let held = false;
  let attempts = 0;
  const server = net.createServer((client) => {
    attempts++;
    if (held) return client.destroy();
    const upstream = net.connect(targetPort, "127.0.0.1");
    socks.add(client); socks.add(upstream);
    const done = () => { client.destroy(); upstream.destroy(); socks.delete(client); socks.delete(upstream); };
    client.on("error", done); upstream.on("error", done);
    client.on("close", done); upstream.on("close", done);
    let head = "";
    let reject = false;
    let greet = greeting;
    client.once("data", (b) => {
      const line = b.toString("latin1").split("\r\n")[0];
      requests.push(line);
      reject = refuse ? refuse(line) : false;
      upstream.write(b);
      client.pipe(upstream);
    });
    upstream.on("data", (b) => {
      if (!reject && !greet) return client.write(b);
      head += b.toString("latin1");
      const end = head.indexOf("\r\n\r\n") + 4;
      if (end < 4) return;
      client.write(head.slice(0, end), "latin1");
      if (reject) {
        client.end(closeFrame(4003, "token rejected"));
        upstream.destroy();
        return;
      }
      if (head.startsWith("HTTP/1.1 101")) client.write(textFrame(greet));
      client.write(head.slice(end), "latin1");
      greet = null;
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    ws: `ws://127.0.0.1:${server.address().port}/ws`,
    requests,
    attempts: () => attempts,
    drop() { for (const s of socks) s.destroy(); socks.clear(); },
    reject4003(fn) { refuse = fn; },
    greet(text) { greeting = text; },
    hold(on) { held = on; },
    close() { this.drop(); server.close(); },
  };
}

/** textFrame is an unmasked server-to-client WebSocket text frame. */
function textFrame(text) {
  const t = Buffer.from(text);
  const ext = t.length < 126 ? 0 : 2;
  const f = Buffer.alloc(2 + ext + t.length);
  f[0] = 0x81;
  if (ext) { f[1] = 126; f.writeUInt16BE(t.length, 2); } else f[1] = t.length;
  t.copy(f, 2 + ext);
  return f;
}

/** closeFrame is an unmasked server-to-client WebSocket close frame. */
function closeFrame(code, reason) {
  const r = Buffer.from(reason);
  const f = Buffer.alloc(4 + r.length);
  f[0] = 0x88; f[1] = 2 + r.length;
  f.writeUInt16BE(code, 2);
  r.copy(f, 4);
  return f;
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
 * each continues the last, a conflated one (span) covering the jump. It
 * returns the first violation, or null.
 */
export function firstBarBreak(bars) {
  for (let i = 1; i < bars.length; i++) {
    const prev = bars[i - 1].seq, b = bars[i];
    if (b.seq - (b.span || 1) !== prev) return { i, prev, seq: b.seq, span: b.span };
  }
  return null;
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
