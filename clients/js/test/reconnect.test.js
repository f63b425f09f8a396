// Reconnect, recovery and gaps against the real gateway binary.
//
// How each outage is produced, and why:
// - "the ring covers the outage": the gateway process keeps running and the
//   network between client and gateway is cut (a TCP proxy drops both
//   sockets). The gateway's per-symbol history then still holds every tick
//   the client missed, so a resubscribe with `since` must recover them all.
// - "it does not": the gateway process is killed and started again on the
//   same port. The sim feed restarts its seqs and the new process has no
//   history of the old one, so the client must see a snapshot and a gap.
//   (A restart that keeps history needs a durable feed, NATS JetStream,
//   which these tests do not run.) The same gateway with fanout.history: 0
//   gives the second case without a restart.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect } from "../tickgate.js";
import { firstBreak, startGateway, startProxy, waitFor, withGateway } from "./gateway.js";

const base = 100, cap = 800;

function open(t, url) {
  const tg = connect(url, { WebSocket, backoff: { base, cap } });
  const seen = { states: [], gaps: [], errors: [] };
  tg.on("state", (s, info) => seen.states.push({ s, ...info }));
  tg.on("gap", (g) => seen.gaps.push(g));
  tg.on("error", (e) => seen.errors.push(e));
  t.after(() => tg.close());
  return { tg, seen };
}

// Needs `since` recovery from CONTRACT.md; a gateway without it answers
// with a snapshot, and the seqs jump.
test("network drop, ring covers it: reconnects, recovers with since, no gap, every seq once", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const { tg, seen } = open(t, proxy.ws);
  const ticks = [];
  await tg.subscribe(["AAPL"], (x) => ticks.push(x)).ready;
  await waitFor(() => ticks.length >= 100, 20000, "no ticks");
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  const cut = ticks.length;
  await waitFor(() => tg.state === "open" && ticks.length >= cut + 200, 20000, "no ticks after reconnect");
  assert.ok(proxy.requests.length >= 2, "client connected again");
  assert.deepEqual(seen.gaps, [], "no gap when the ring covers the outage");
  assert.equal(firstBreak(ticks), null, "every seq exactly once across the drop");
});

// Needs `since` (the reply's `snapshot` list) from CONTRACT.md.
test("network drop with history off: the gateway answers snapshot and the client emits gap", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FANOUT_HISTORY: "0" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const { tg, seen } = open(t, proxy.ws);
  const ticks = [];
  await tg.subscribe(["AAPL", "MSFT"], (x) => ticks.push(x)).ready;
  await waitFor(() => ticks.length >= 50, 20000, "no ticks");
  proxy.drop();
  await waitFor(() => seen.gaps.length > 0, 20000, "no gap event");
  assert.equal(seen.gaps[0].reason, "history", JSON.stringify(seen.gaps));
  assert.deepEqual([...seen.gaps[0].symbols].sort(), ["AAPL", "MSFT"]);
});

test("gateway killed and restarted on the same port: backoff while down, then a gap and live ticks", async (t) => {
  let gw = await startGateway();
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const { tg, seen } = open(t, gw.ws);
  const ticks = [];
  await tg.subscribe(["AAPL"], (x) => ticks.push(x)).ready;
  await waitFor(() => ticks.length >= 300, 20000, "no ticks");
  await gw.stop("SIGKILL");
  // While the port refuses, each failed attempt waits longer: full jitter
  // under a ceiling that doubles, never below 20 ms, never in a tight loop.
  await waitFor(() => seen.states.filter((x) => x.s === "reconnecting").length >= 5, 20000, "no retries");
  const waits = seen.states.filter((x) => x.s === "reconnecting");
  waits.forEach((w, k) => {
    assert.equal(w.ceiling, Math.min(cap, base * 2 ** k), `attempt ${k}'s ceiling`);
    assert.ok(w.delay >= 20 && w.delay <= w.ceiling, `attempt ${k} waited ${w.delay} ms`);
  });
  // The restarted gateway keeps no history: its sim feed begins its seqs
  // again, and with a ring it could already have passed the client's seq
  // and answer "recovered" with ticks of the new run (docs/protocol.md,
  // "Recovery": seqs carry no feed epoch). Without one it answers snapshot.
  gw = await startGateway({ TICKGATE_FANOUT_HISTORY: "0" }, port);
  const cut = ticks.length;
  await waitFor(() => tg.state === "open" && ticks.length >= cut + 50, 20000, "no ticks after restart");
  assert.ok(seen.gaps.length >= 1, "a restart without history is a gap");
  assert.deepEqual(seen.gaps[0].symbols, ["AAPL"]);
  assert.equal(firstBreak(ticks.slice(cut + 1)), null, "live again after the new snapshot");
  assert.ok(waits.length < 40, `${waits.length} attempts: a tight loop`);
});

test("after a drain (1001) the client reconnects at once plus jitter, not on the backoff ladder", async (t) => {
  let gw = await startGateway();
  const port = gw.port;
  await gw.stop("SIGKILL");
  // Start the client while nothing listens, so its backoff climbs.
  const { tg, seen } = open(t, gw.ws);
  await waitFor(() => seen.states.filter((x) => x.s === "reconnecting").length >= 4, 20000, "no retries");
  gw = await startGateway({}, port);
  t.after(() => gw.stop("SIGKILL"));
  const ticks = [];
  await tg.subscribe(["MSFT"], (x) => ticks.push(x)).ready;
  await waitFor(() => ticks.length >= 20, 20000, "no ticks");
  await new Promise((r) => setTimeout(r, 1100)); // only a connection that had settled is sent away at once
  const before = seen.states.length;
  const stopped = gw.stop("SIGTERM");
  await waitFor(() => seen.states.slice(before).some((x) => x.s === "reconnecting"), 10000, "no reconnect after SIGTERM");
  const drained = seen.states.slice(before).find((x) => x.s === "reconnecting");
  assert.equal(drained.code, 1001);
  assert.ok(drained.attempt >= 4, "the ladder was high");
  assert.equal(drained.ceiling, base, "1001: jitter under base, not under the ladder's ceiling");
  assert.ok(drained.delay <= base);
  await stopped;
  gw = await startGateway({}, port);
  const cut = ticks.length;
  await waitFor(() => tg.state === "open" && ticks.length >= cut + 10, 20000, "no ticks after restart");
  assert.ok(seen.gaps.some((g) => g.symbols.includes("MSFT")), "new process, no history: gap");
});

test("a restart that drops a symbol: the resubscribe is narrowed, the rest stay held", async (t) => {
  let gw = await startGateway({ TICKGATE_FEED_SIM_SYMBOLS: "AAPL,MSFT,NVDA" });
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const { tg, seen } = open(t, gw.ws);
  const ticks = [];
  const sub = tg.subscribe(["AAPL", "MSFT", "NVDA"], (x) => ticks.push(x));
  await sub.ready;
  await waitFor(() => new Set(ticks.map((x) => x.sym)).size === 3, 20000, "not every symbol ticked");
  await gw.stop("SIGKILL");
  gw = await startGateway({ TICKGATE_FEED_SIM_SYMBOLS: "AAPL,NVDA" }, port);
  // The whole resubscribe is rejected (MSFT is unknown now); the client
  // asks again per symbol and keeps AAPL and NVDA.
  await waitFor(() => seen.errors.some((e) => e.code === "unknown_symbol"), 20000, "no unknown_symbol error");
  await waitFor(async () => tg.state === "open" && (await tg.list()).length === 2, 20000, "AAPL and NVDA not held again");
  assert.deepEqual((await tg.list()).sort(), ["AAPL", "NVDA"]);
  assert.deepEqual(sub.symbols.sort(), ["AAPL", "NVDA"], "MSFT dropped from the subscription");
  const cut = ticks.length;
  await waitFor(() => ticks.slice(cut).some((x) => x.sym === "AAPL"), 20000, "no AAPL ticks after the restart");
});

test("default backoff: at most 5 s between attempts, and live at the first attempt after the gateway is back", async (t) => {
  let gw = await startGateway();
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const tg = connect(gw.ws, { WebSocket }); // the defaults, as the page uses them
  t.after(() => tg.close());
  const states = [];
  tg.on("state", (s, info) => states.push({ s, ...info }));
  await tg.subscribe(["AAPL"], () => {}).ready;
  await gw.stop("SIGKILL");
  // Refused connects fail at once, so the ladder climbs to its cap within
  // seconds; the cap is what bounds the wait once the gateway is back.
  await waitFor(() => states.some((x) => x.ceiling === 5000), 30000, () => "the ladder never reached its cap: " + JSON.stringify(states));
  const waits = states.filter((x) => x.s === "reconnecting");
  for (const w of waits) assert.ok(w.ceiling <= 5000 && w.delay <= w.ceiling, JSON.stringify(w));
  gw = await startGateway({}, port);
  const back = states.length;
  await waitFor(() => tg.state === "open", 15000, "not open again");
  // Every dial made once the gateway listens succeeds: at most the one
  // already refused while it was starting is told after it.
  const failedAfter = states.slice(back).filter((x) => x.s === "reconnecting");
  assert.ok(failedAfter.length <= 1, "attempts failed after the gateway was back: " + JSON.stringify(failedAfter));
});

test("retry() dials at once instead of waiting out the backoff", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const random = Math.random;
  Math.random = () => 0.99; // every wait is 99 % of its ceiling: 59.4 s
  t.after(() => { Math.random = random; });
  const tg = connect(proxy.ws, { WebSocket, backoff: { base: 60000, cap: 60000 } });
  t.after(() => tg.close());
  const states = [];
  tg.on("state", (s, info) => states.push({ s, ...info }));
  await waitFor(() => tg.state === "open", 10000, "never opened");
  assert.equal(tg.retry(), false, "nothing to retry while open");
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  assert.ok(states.at(-1).delay > 59000, "a long wait ahead: " + JSON.stringify(states.at(-1)));
  assert.equal(tg.retry(), true);
  assert.equal(tg.retry(), false, "the dial is under way: nothing left to retry");
  await waitFor(() => tg.state === "open", 10000, "retry() did not reconnect");
  assert.equal(proxy.requests.length, 2);
  assert.deepEqual(states.map((x) => x.s), ["connecting", "open", "reconnecting", "open"]);
});
