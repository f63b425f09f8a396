// Per-subscription events (sub.on "subscribed" | "gap" | "error") beside
// the client's, against the real gateway binary, and the one way to make
// a client.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { Client, connect, Subscription } from "../tickgate.js";
import { startProxy, waitFor, withGateway } from "./gateway.js";

function open(t, url) {
  const tg = connect(url, { WebSocket, backoff: { base: 50, cap: 500 } });
  t.after(() => tg.close());
  return tg;
}

/** record collects a subscription's events by name. */
function record(sub) {
  const seen = { subscribed: [], gap: [], error: [] };
  for (const name of Object.keys(seen)) sub.on(name, (x) => seen[name].push(x));
  return seen;
}

test("sub.on: subscribed per reply, reconnects included; error only on the call that failed", async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const tg = open(t, proxy.ws);
  const good = tg.subscribe(["AAPL"], () => {});
  const bad = tg.subscribe(["MSFT", "NOSUCH"], () => {});
  const g = record(good), b = record(bad);
  await good.ready;
  await assert.rejects(bad.ready, (e) => e.code === "unknown_symbol");
  assert.ok(g.subscribed.length >= 1 && g.subscribed.every((r) => r.type === "subscribed" && r.symbols.includes("AAPL")));
  assert.deepEqual(g.error, [], "the good call's subscription saw no error");
  assert.equal(b.error.length, 1);
  assert.equal(b.error[0].code, "unknown_symbol");
  assert.deepEqual(b.subscribed, []);

  // A reconnect resubscribes with since: the subscription hears the reply.
  await waitFor(() => tg.lastSeq("AAPL") !== undefined, 10000, "no AAPL tick");
  const before = g.subscribed.length;
  proxy.drop();
  await waitFor(() => g.subscribed.length > before, 10000, "no subscribed after the reconnect");
  assert.deepEqual(g.subscribed.at(-1).recovered, ["AAPL"]);
});

test("sub.on gap: each subscription hears the gap of its own symbols", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FANOUT_HISTORY: "0" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const tg = open(t, proxy.ws);
  const gaps = [];
  tg.on("gap", (x) => gaps.push(x));
  const a = tg.subscribe(["AAPL"], () => {});
  const m = tg.subscribe(["MSFT"], () => {});
  const sa = record(a), sm = record(m);
  await Promise.all([a.ready, m.ready]);
  await waitFor(() => tg.lastSeq("AAPL") !== undefined && tg.lastSeq("MSFT") !== undefined, 10000, "no ticks");
  // Keep the network down until both symbols have ticked past what the
  // client saw: a symbol with nothing missed is recovered, not a gap.
  const ref = open(t, gw.ws);
  const seen = new Set();
  const cut = { AAPL: tg.lastSeq("AAPL"), MSFT: tg.lastSeq("MSFT") };
  proxy.hold(true);
  proxy.drop();
  ref.subscribe(["AAPL", "MSFT"], (x) => { if (x.seq > cut[x.sym] + 1) seen.add(x.sym); });
  await waitFor(() => seen.size === 2, 10000, "the feed did not move on during the outage");
  proxy.hold(false);
  await waitFor(() => sa.gap.length && sm.gap.length, 10000, () => "no gap per subscription: " + JSON.stringify(gaps));
  assert.deepEqual(sa.gap[0].symbols, ["AAPL"]);
  assert.deepEqual(sm.gap[0].symbols, ["MSFT"]);
  assert.equal(sa.gap[0].reason, "history");
  assert.equal(sa.gap[0].stream, "ticks");
  assert.deepEqual(gaps.flatMap((x) => x.symbols).sort(), ["AAPL", "MSFT"], "the client-level event names them all");
});

test("one way to make a client: connect(); Client and Subscription are not constructed by hand", () => {
  assert.throws(() => new Client("ws://127.0.0.1:9/ws", { WebSocket }), /connect\(url, options\)/);
  assert.throws(() => new Subscription(), /client\.subscribe/);
});

test("the gateway serves every module the entry imports, byte for byte", async (t) => {
  const gw = await withGateway(t);
  const { readdir, readFile } = await import("node:fs/promises");
  const names = (await readdir(new URL("../tickgate/", import.meta.url))).filter((n) => n.endsWith(".js"));
  assert.ok(names.length > 5, "the modules of tickgate/");
  for (const name of names) {
    const res = await fetch(`${gw.http}/tickgate/${name}`);
    assert.equal(res.status, 200, name);
    assert.match(res.headers.get("content-type"), /^text\/javascript/, name);
    assert.equal(await res.text(), await readFile(new URL("../tickgate/" + name, import.meta.url), "utf8"), name);
  }
});
