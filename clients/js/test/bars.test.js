// Bar streams (bars.1s, bars.1m) against the real gateway binary: history
// then live bars with contiguous seqs, bars that agree with the ticks they
// come from, recovery with `since` per stream, gaps named by stream, and
// errors of the stream options.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect } from "../tickgate.js";
import { firstBar, firstBarBreak, firstBreak, intervalOf, startGateway, startProxy, waitFor, withGateway } from "./gateway.js";

const SEC = 1e9;

function open(t, url) {
  const tg = connect(url, { WebSocket, backoff: { base: 100, cap: 800 } });
  const seen = { gaps: [], errors: [] };
  tg.on("gap", (g) => seen.gaps.push(g));
  tg.on("error", (e) => seen.errors.push(e));
  t.after(() => tg.close());
  return { tg, seen };
}

/** barsOf computes 1 s bars from every tick of one symbol, for the buckets the ticks wholly cover. */
function barsOf(ticks) {
  const out = new Map();
  const first = Math.floor(ticks[0].ts / SEC) + 1, last = Math.floor(ticks.at(-1).ts / SEC) - 1;
  for (const x of ticks) {
    const k = Math.floor(x.ts / SEC);
    if (k < first || k > last) continue;
    // A double keeps ts to about 256 ns: a tick that close to a boundary could fall in the wrong bucket here.
    const edge = x.ts % SEC < 1000 || x.ts % SEC > SEC - 1000 || x.n > 1;
    const b = out.get(k);
    if (!b) out.set(k, { o: x.px, h: x.px, l: x.px, c: x.px, v: x.sz, n: 1, unsure: edge });
    else Object.assign(b, { h: Math.max(b.h, x.px), l: Math.min(b.l, x.px), c: x.px, v: b.v + x.sz, n: b.n + 1, unsure: b.unsure || edge });
  }
  return out;
}

test("bars.1s: history then live bars, contiguous seqs, the same bars on every client, ticks unchanged beside them", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  const { tg: a, seen } = open(t, gw.ws);
  const ticks = [], aBars = [], partials = [];
  a.subscribe(["AAPL"], (x) => ticks.push(x));
  const live = a.subscribe(["AAPL"], { stream: "bars.1s", partial: true }, (b) => {
    if (b.partial) partials.push({ b, last: a.lastSeq("AAPL", "bars.1s") });
    else aBars.push(b);
  });
  const r1 = await live.ready;
  assert.equal(r1.stream, "bars.1s");
  assert.deepEqual(r1.symbols, ["AAPL"]);
  await waitFor(() => aBars.length >= 5, 20000, "fewer than 5 bars.1s bars in 20 s");

  // A second client asks for history: every bar so far (fewer than 120), then live ones.
  const { tg: b, seen: bSeen } = open(t, gw.ws);
  const bBars = [];
  await b.subscribe(["AAPL"], { stream: "bars.1s", history: 120 }, (x) => bBars.push(x)).ready;
  const upTo = aBars.at(-1).seq;
  await waitFor(() => bBars.length && bBars.at(-1).seq >= upTo + 3, 20000, "no live bars after the history");
  t.diagnostic(`history + live: seqs ${bBars[0].seq}..${bBars.at(-1).seq}; A saw ${aBars.length} bars, ${partials.length} partials`);
  assert.ok(firstBar(bBars[0]), "the history reaches back to the gateway's first bar");
  assert.equal(firstBarBreak(bBars), null, "history and live are contiguous on seq");
  assert.ok(bBars.every((x) => !x.partial), "no partials without partial: true");
  const bySeq = new Map(bBars.map((x) => [x.seq, x]));
  for (const x of aBars) if (bySeq.has(x.seq)) assert.deepEqual(bySeq.get(x.seq), x, `bar ${x.seq} differs between clients`);

  // A second subscription of a topic already held gets the history from the client.
  const late = [];
  await b.subscribe(["AAPL"], { stream: "bars.1s", history: 3 }, (x) => late.push(x)).ready;
  assert.deepEqual(late, bBars.slice(-3), "a late joiner's history is the last 3 bars delivered");
  const lateUpTo = bBars.at(-1).seq;
  await waitFor(() => late.at(-1).seq >= lateUpTo + 1, 10000, "no live bars for the late joiner");
  assert.equal(firstBarBreak(late), null, "its history and live bars are contiguous");

  for (const [i, x] of bBars.entries()) {
    assert.equal(x.type, "bar");
    assert.equal(x.sym, "AAPL");
    assert.equal(x.t % SEC, 0, "t is the start of a second");
    assert.ok(x.h >= Math.max(x.o, x.c) && x.l <= Math.min(x.o, x.c), `bar ${x.seq}: OHLC out of order`);
    assert.ok(x.n >= 1 && x.v >= x.n, `bar ${x.seq}: v ${x.v}, n ${x.n}`);
    if (i) assert.ok(x.t >= bBars[i - 1].t + SEC, `bar ${x.seq} does not follow the bucket before`);
  }

  // The bars are the ticks' bars: OHLCV of each bucket the tick client wholly saw.
  const fromTicks = barsOf(ticks);
  let checked = 0;
  for (const x of aBars) {
    const want = fromTicks.get(x.t / SEC);
    if (!want || want.unsure) continue;
    const { unsure, ...ohlcvn } = want;
    assert.deepEqual({ o: x.o, h: x.h, l: x.l, c: x.c, v: x.v, n: x.n }, ohlcvn, `bar ${x.seq} vs its ticks`);
    checked++;
  }
  assert.ok(checked >= 2, `only ${checked} bars checked against ticks`);

  // Partials: the forming bar, with the seq it will have, never moving seq.
  assert.ok(partials.length > 0, "no partial updates with partial: true");
  for (const { b: p, last } of partials) {
    // Counted seqs: the next one; bucket seqs: its own bucket's, past the last final bar.
    assert.ok(p.seq === (last ?? p.seq - 1) + 1 || (p.seq === p.t / intervalOf(p.stream) && !(p.seq <= last)), "a partial carries the seq of its bar when final");
    assert.equal(p.partial, true);
  }

  // Ticks on the same symbol keep their own seqs and stream.
  assert.equal(firstBreak(ticks), null, "ticks contiguous beside the bars");
  assert.equal(a.lastSeq("AAPL"), ticks.at(-1).seq);
  assert.equal(a.lastSeq("AAPL", "bars.1s"), aBars.at(-1).seq);
  assert.deepEqual(await a.list(), ["AAPL"]);
  assert.deepEqual(await a.list("bars.1s"), ["AAPL"]);
  assert.deepEqual(await a.list("bars.1m"), []);
  assert.deepEqual([...seen.gaps, ...bSeen.gaps], []);
  assert.deepEqual([...seen.errors, ...bSeen.errors], []);
});

test("network drop: bars and ticks both recover with since per stream, every bar seq once", async (t) => {
  // A tick ring deep enough for a few seconds of MSFT, so the ticks recover too.
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_HISTORY: "16384" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const { tg: ref } = open(t, gw.ws);
  const refBars = [];
  await ref.subscribe(["MSFT"], { stream: "bars.1s" }, (x) => refBars.push(x)).ready;
  const { tg, seen } = open(t, proxy.ws);
  const bars = [], ticks = [];
  await tg.subscribe(["MSFT"], { stream: "bars.1s", history: 120 }, (x) => bars.push(x)).ready;
  await tg.subscribe(["MSFT"], (x) => ticks.push(x)).ready;
  await waitFor(() => bars.length >= 3, 20000, "no bars");

  proxy.hold(true);
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  const cut = bars.at(-1).seq, cutTicks = ticks.length;
  await waitFor(() => refBars.at(-1).seq >= cut + 3, 20000, "the gateway made no bars during the outage");
  proxy.hold(false);
  await waitFor(() => tg.state === "open" && bars.at(-1).seq >= cut + 5 && ticks.length > cutTicks + 50, 20000, "no bars after the reconnect");

  assert.deepEqual(seen.gaps, [], "the gateway's bar history covers the outage: no gap");
  assert.equal(firstBarBreak(bars), null, "every bar seq exactly once across the drop");
  assert.equal(firstBreak(ticks), null, "every tick seq exactly once across the drop");
  const bySeq = new Map(refBars.map((x) => [x.seq, x]));
  for (const x of bars.filter((x) => x.seq > cut && bySeq.has(x.seq))) assert.deepEqual(x, bySeq.get(x.seq), `recovered bar ${x.seq}`);
});

test("gateway restarted without history: a gap per stream, then bars of the new run", async (t) => {
  // No history of ticks or bars: a restarted gateway before epochs cannot
  // answer "recovered" with its own run's seqs (they carry no epoch).
  const env = { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_HISTORY: "0", TICKGATE_BARS_HISTORY: "0" };
  let gw = await startGateway(env);
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const { tg, seen } = open(t, gw.ws);
  const bars = [];
  const first = await tg.subscribe(["AAPL"], { stream: "bars.1s" }, (x) => bars.push(x)).ready;
  await tg.subscribe(["AAPL"], () => {}).ready;
  await waitFor(() => bars.length >= 3, 20000, "no bars");
  await gw.stop("SIGKILL");
  gw = await startGateway(env, port);
  await waitFor(() => seen.gaps.some((g) => g.stream === "bars.1s") && seen.gaps.some((g) => g.stream === "ticks"), 20000,
    () => "no gap per stream: " + JSON.stringify(seen.gaps));
  const g = seen.gaps.find((x) => x.stream === "bars.1s");
  assert.deepEqual(g.symbols, ["AAPL"]);
  // A gateway with epochs makes a new one per run: its since is from another run.
  assert.equal(g.reason, first.epochs?.AAPL ? "epoch" : "history");
  const cut = bars.length;
  await waitFor(() => bars.length >= cut + 2, 20000, "no bars from the new run");
  assert.equal(firstBarBreak(bars.slice(cut + 1)), null, "the new run's bars are contiguous");
});

test("stream options: unknown stream, partial on ticks and history out of range are refused; unsubscribe is per stream", async (t) => {
  const gw = await withGateway(t);
  const { tg, seen } = open(t, gw.ws);
  assert.throws(() => tg.subscribe(["AAPL"], { stream: "bars.1s", history: -1 }, () => {}), RangeError);
  assert.throws(() => tg.subscribe(["AAPL"], { stream: "bars.1s", partial: "yes" }, () => {}), RangeError);
  const bad = tg.subscribe(["AAPL"], { stream: "bars.5m" }, () => {});
  await assert.rejects(bad.ready, (e) => e.code === "unknown_stream");
  assert.deepEqual(bad.symbols, [], "a refused subscribe holds nothing");
  assert.throws(() => tg.subscribe(["AAPL"], { partial: true }, () => {}), /bar streams only/);
  await assert.rejects(tg.subscribe(["AAPL"], { stream: "bars.1m", history: 1e6 }, () => {}).ready, (e) => e.code === "invalid_request");
  assert.ok(seen.errors.some((e) => e.code === "unknown_stream"));

  const ticks = [];
  await tg.subscribe(["NVDA"], (x) => ticks.push(x)).ready;
  const bars = tg.subscribe(["NVDA"], { stream: "bars.1m", partial: true }, () => {});
  await bars.ready;
  assert.deepEqual(await tg.list("bars.1m"), ["NVDA"]);
  const reply = await bars.close();
  assert.equal(reply.type, "unsubscribed");
  assert.equal(reply.stream, "bars.1m");
  assert.deepEqual(await tg.list("bars.1m"), []);
  assert.deepEqual(await tg.list(), ["NVDA"], "the ticks of NVDA stay held");
  const n = ticks.length;
  await waitFor(() => ticks.length > n + 5, 10000, "ticks stopped with the bars");
  assert.equal(tg.lastSeq("NVDA", "bars.1m"), undefined, "an unsubscribed topic forgets its seq");
});

test("history for many symbols: the client splits it into requests the gateway takes", async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  const syms = (await (await fetch(gw.http + "/symbols")).json()).slice(0, 12);
  const { tg: ref } = open(t, gw.ws);
  const refBars = new Map(syms.map((s) => [s, []]));
  await ref.subscribe(syms, { stream: "bars.1s" }, (x) => refBars.get(x.sym).push(x)).ready;
  await waitFor(() => syms.every((s) => refBars.get(s).length >= 2), 20000, "not every symbol has 2 bars");
  // 12 symbols x 120 is past the 1024 messages one subscribe may ask for.
  const { tg, seen } = open(t, gw.ws);
  const bars = new Map(syms.map((s) => [s, []]));
  const reply = await tg.subscribe(syms, { stream: "bars.1s", history: 120 }, (x) => bars.get(x.sym).push(x)).ready;
  assert.equal(reply.type, "subscribed");
  assert.deepEqual((await tg.list("bars.1s")).sort(), [...syms].sort());
  await waitFor(() => syms.every((s) => bars.get(s).length >= 3), 20000, "not every symbol got its history and live bars");
  for (const s of syms) {
    assert.ok(firstBar(bars.get(s)[0]), `${s}: the history reaches back to the first bar`);
    assert.equal(firstBarBreak(bars.get(s)), null, `${s}: history and live contiguous`);
  }
  assert.deepEqual(seen.errors, []);
});
