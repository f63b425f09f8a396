// Requests and the tick stream against the real gateway binary.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect, TickgateError } from "../tickgate.js";
import { firstBreak, startProxy, waitFor, withGateway } from "./gateway.js";

const fast = { base: 50, cap: 500 };

function open(t, url, opts = {}) {
  const tg = connect(url, { WebSocket, backoff: fast, ...opts });
  t.after(() => tg.close());
  return tg;
}

test("subscribe: subscribed, then a snapshot, then live ticks with contiguous seq", async (t) => {
  const gw = await withGateway(t);
  const tg = open(t, gw.ws);
  const gaps = [];
  tg.on("gap", (g) => gaps.push(g));
  const ticks = { AAPL: [], MSFT: [] };
  const sub = tg.subscribe(["AAPL", "MSFT"], (tick) => ticks[tick.sym].push(tick));
  const reply = await sub.ready;
  assert.equal(reply.type, "subscribed");
  assert.deepEqual(reply.symbols, ["AAPL", "MSFT"]);
  await waitFor(() => ticks.AAPL.length >= 200 && ticks.MSFT.length >= 50, 20000, "too few ticks");
  for (const sym of ["AAPL", "MSFT"]) {
    assert.equal(firstBreak(ticks[sym]), null, `${sym} seqs not contiguous`);
    for (const k of ["px", "bid", "ask", "sz", "ts"]) assert.equal(typeof ticks[sym][0][k], "number", k);
  }
  assert.equal(tg.lastSeq("AAPL"), ticks.AAPL.at(-1).seq);
  assert.deepEqual(gaps, []);
  assert.deepEqual(await tg.list(), ["AAPL", "MSFT"]);
});

test("errors reject the promise of the request that caused them, and only that one", async (t) => {
  const gw = await withGateway(t);
  const tg = open(t, gw.ws);
  const errors = [];
  tg.on("error", (e) => errors.push(e));
  await tg.subscribe(["AAPL"], () => {}).ready;
  // Three calls in one turn of the event loop go out as one batch; the
  // gateway rejects it whole, so the client asks again call by call.
  const a = tg.subscribe(["MSFT"], () => {});
  const b = tg.subscribe(["NVDA", "NOSUCH"], () => {});
  const c = tg.subscribe(["TSLA"], () => {});
  const [ra, rb, rc] = await Promise.allSettled([a.ready, b.ready, c.ready]);
  assert.equal(ra.status, "fulfilled");
  assert.equal(rc.status, "fulfilled");
  assert.equal(rb.status, "rejected");
  assert.ok(rb.reason instanceof TickgateError);
  assert.equal(rb.reason.code, "unknown_symbol");
  assert.match(rb.reason.message, /NOSUCH/);
  assert.deepEqual(b.symbols, [], "a rejected subscribe adds nothing");
  assert.deepEqual((await tg.list()).sort(), ["AAPL", "MSFT", "TSLA"]);
  assert.ok(errors.some((e) => e.code === "unknown_symbol" && e.id === rb.reason.id));

  // A later add on a live subscription: the rejection names its own id.
  const sub = tg.subscribe(["GOOGL"], () => {});
  await sub.ready;
  const bad = sub.add(["META", "ALSO.NOT"]);
  await assert.rejects(bad, (e) => e.code === "unknown_symbol" && typeof e.id === "number");
  assert.deepEqual(sub.symbols, ["GOOGL"]);
});

test("a subscribe made while disconnected is sent on connect", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const tg = open(t, proxy.ws);
  await waitFor(() => tg.state === "open", 10000, "never opened");
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  const ticks = [];
  const sub = tg.subscribe(["AMZN"], (x) => ticks.push(x)); // made while disconnected
  const reply = await sub.ready;
  assert.deepEqual(reply.symbols, ["AMZN"]);
  await waitFor(() => ticks.length >= 5, 20000, "no AMZN ticks after connect");
  assert.equal(firstBreak(ticks), null);
});

test("close: requests waiting for a connection reject with code closed", async (t) => {
  const tg = connect("ws://127.0.0.1:9/ws", { WebSocket, backoff: fast }); // nothing listens on port 9
  const sub = tg.subscribe(["AAPL"], () => {});
  const listed = tg.list();
  tg.close();
  await assert.rejects(sub.ready, (e) => e.code === "closed");
  await assert.rejects(listed, (e) => e.code === "closed");
  assert.equal(tg.state, "closed");
});

test("close while connected: requests in flight reject with code closed, and nothing throws", async (t) => {
  const gw = await withGateway(t);
  const tg = open(t, gw.ws);
  await waitFor(() => tg.state === "open", 10000, "never opened");
  const sub = tg.subscribe(["AAPL"], () => {});
  await null; // let the batch go out: the subscribe is now in flight
  const listed = tg.list();
  tg.close();
  await assert.rejects(sub.ready, (e) => e.code === "closed");
  await assert.rejects(listed, (e) => e.code === "closed");
  // Closing while the socket is still connecting must not throw either.
  const early = connect(gw.ws, { WebSocket });
  await new Promise((r) => setTimeout(r, 0));
  early.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(early.state, "closed");
});

// Needs the max_rate support of CONTRACT.md ("dashboard-grade delivery");
// a gateway without it ignores max_rate and sends every tick.
test("maxRate is honoured: at most that many updates/s, conflated ticks carry n", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "5000" });
  const tg = open(t, gw.ws);
  const slow = [], all = [];
  const sub = tg.subscribe(["AAPL"], { maxRate: 4 }, (x) => slow.push(x));
  const reply = await sub.ready;
  const probe = open(t, gw.ws);
  probe.subscribe(["AAPL"], (x) => all.push(x));
  await waitFor(() => slow.length >= 13, 20000, "too few rate-limited ticks");
  assert.equal(reply.max_rate, 4, "reply names the effective class rate");
  // Timed by the ticks' feed timestamps (a conflated tick carries its newest
  // one's), so a stall in this process cannot make the rate look higher.
  const span = (slow.at(-1).ts - slow[1].ts) / 1e9; // after the snapshot
  const perSec = (slow.length - 2) / span;
  t.diagnostic(`maxRate 4: ${perSec.toFixed(2)} updates/s over ${span.toFixed(1)} s; every-tick probe got ${all.length}`);
  assert.ok(perSec <= 4 * 1.25, `${perSec.toFixed(1)} updates/s for maxRate 4`);
  assert.ok(all.length > slow.length * 5, "feed is much faster than the cap");
  assert.ok(slow.slice(1).some((x) => x.n > 1), "conflated ticks carry n");
  assert.equal(firstBreak(slow), null, "conflated seqs continue the snapshot under the n rule");

  // Changing the rate of a held symbol sends no second snapshot.
  const before = slow.length;
  const r2 = await sub.setMaxRate(1);
  assert.equal(r2.max_rate, 1);
  await waitFor(() => slow.length >= before + 2, 10000, "no ticks after setMaxRate");
  assert.equal(firstBreak(slow), null, "no snapshot resent: seqs still continue");
});

test("the gateway serves this module at /tickgate.js, byte for byte", async (t) => {
  const gw = await withGateway(t);
  const res = await fetch(gw.http + "/tickgate.js");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/javascript/);
  const { readFile } = await import("node:fs/promises");
  assert.equal(await res.text(), await readFile(new URL("../tickgate.js", import.meta.url), "utf8"));
});
