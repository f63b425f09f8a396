// Stream integrity in the client, against the real gateway binary with the
// test proxy playing the gateway's epochs (epochs.js): the epoch kept per
// (stream, symbol) from `subscribed` and from reset notices, `since` sent
// with it, a reset and an upstream gap told as `gap` events with their
// reason, a `since` of another run told as reason "epoch", and bars judged
// by `prev`.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { connect } from "../tickgate.js";
import { playEpochs } from "./epochs.js";
import { firstBarBreak, firstBreak, startProxy, waitFor, withGateway } from "./gateway.js";

const E1 = "k3x9f0a1b2c4", E2 = "q7m2c0d9e8f1";

/** setup starts a gateway and a proxy in front of it, and a client through the proxy that records its events. */
async function setup(t, env = {}) {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_HISTORY: "16384", ...env });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const tg = connect(proxy.ws, { WebSocket, backoff: { base: 50, cap: 400 } });
  t.after(() => tg.close());
  const seen = { gaps: [], notices: [], errors: [] };
  tg.on("gap", (g) => seen.gaps.push(g));
  tg.on("notice", (n) => seen.notices.push(n));
  tg.on("error", (e) => seen.errors.push(e));
  return { gw, proxy, tg, seen };
}

/** sinceOf is the `since` the client last sent for sym on stream, or undefined. */
function sinceOf(proxy, sym, stream = "ticks") {
  const m = proxy.sent.filter((x) => x.op === "subscribe" && (x.stream || "ticks") === stream && x.since?.[sym] !== undefined).at(-1);
  return m?.since[sym];
}

/** outage cuts the network, waits until the feed has moved on by wait(), and lets it back. */
async function outage(proxy, tg, wait) {
  proxy.hold(true);
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  await wait();
  proxy.hold(false);
  await waitFor(() => tg.state === "open", 10000, "no reconnect");
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

test("epochs: kept per (stream, symbol) from subscribed; since carries {seq, epoch}; a drop recovers ticks and bucket bars", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  playEpochs(proxy, { first: E1, buckets: true });
  const ticks = [], bars = [], partials = [];
  const replies = [];
  const sub = tg.subscribe(["MSFT"], (x) => ticks.push(x));
  sub.on("subscribed", (r) => replies.push(r));
  await sub.ready;
  await tg.subscribe(["MSFT"], { stream: "bars.1s", partial: true }, (b) => (b.partial ? partials : bars).push(b)).ready;
  assert.deepEqual(replies[0].epochs, { MSFT: E1 });
  assert.equal(tg.epoch("MSFT"), E1);
  assert.equal(tg.epoch("MSFT", "bars.1s"), E1, "bars carry the symbol's epoch");
  assert.equal(tg.epoch("MSFT", "bars.1m"), undefined);
  await waitFor(() => bars.length >= 3 && ticks.length >= 50, 20000, "no bars");

  let cut;
  await outage(proxy, tg, () => {
    cut = { tick: tg.lastSeq("MSFT"), bar: tg.lastSeq("MSFT", "bars.1s") };
    return pause(2500);
  });
  await waitFor(() => bars.length && bars.at(-1).seq >= cut.bar + 3 && tg.lastSeq("MSFT") > cut.tick + 50, 20000, "nothing after the reconnect");

  assert.deepEqual(sinceOf(proxy, "MSFT"), { seq: cut.tick, epoch: E1 });
  assert.deepEqual(sinceOf(proxy, "MSFT", "bars.1s"), { seq: cut.bar, epoch: E1 }, "bars since: the bucket, with the epoch");
  assert.deepEqual(replies.at(-1).recovered, ["MSFT"]);
  assert.deepEqual(seen.gaps, [], "recovered: no gap");
  assert.equal(firstBreak(ticks), null, "every tick seq once across the drop");
  assert.equal(firstBarBreak(bars), null, "every bar once, each naming the one before as prev");
  for (const b of bars) assert.equal(b.seq, b.t / 1e9, "a bar's seq is its bucket");
  assert.ok(bars.slice(1).every((b) => b.prev !== undefined), "bars after the first name their prev");
  assert.ok(partials.length > 0, "partials of the forming bar");
  for (const p of partials) assert.equal(p.seq, p.t / 1e9, "a partial carries its bucket");
  assert.deepEqual(seen.notices, []);
  assert.deepEqual(seen.errors, []);
});

test("epochs: a gateway that tells none gets since in the legacy form, a bare seq", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  const replies = [];
  const sub = tg.subscribe(["AAPL"], () => {});
  sub.on("subscribed", (r) => replies.push(r));
  await sub.ready;
  await waitFor(() => tg.lastSeq("AAPL") !== undefined, 10000, "no tick");
  proxy.drop();
  await waitFor(() => replies.length >= 2, 10000, "no resubscribe");
  const told = replies[0].epochs?.AAPL; // a gateway with epochs tells one; the binary before them does not
  assert.equal(tg.epoch("AAPL"), told);
  const since = sinceOf(proxy, "AAPL");
  if (told === undefined) assert.equal(typeof since, "number", "no epoch known: the bare seq");
  else assert.equal(since.epoch, told, "the epoch the gateway told");
  assert.deepEqual(replies.at(-1).recovered, ["AAPL"]);
  assert.deepEqual(seen.gaps, []);
});

test("reset notice: a gap of reason reset per stream, with the epoch; the new run's seqs from 1 are delivered; since names the new epoch", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  const run = playEpochs(proxy, { first: E1 });
  const ticks = [], bars = [], subGaps = [];
  const sub = tg.subscribe(["AAPL"], (x) => ticks.push(x));
  sub.on("gap", (g) => subGaps.push(g));
  await sub.ready;
  await tg.subscribe(["AAPL"], { stream: "bars.1s" }, (b) => bars.push(b)).ready;
  await waitFor(() => ticks.length >= 50 && bars.length >= 1, 20000, "no ticks and bars");

  const before = { tick: tg.lastSeq("AAPL"), bar: tg.lastSeq("AAPL", "bars.1s") };
  run.reset("AAPL", E2, ["ticks", "bars.1s"]);
  const barCut = bars.length;
  await waitFor(() => seen.gaps.length >= 2 && ticks.at(-1).seq >= 50 && bars.length >= barCut + 2, 20000,
    () => "no reset per stream: " + JSON.stringify(seen.gaps));
  // Ticks the proxy had already sent when the run changed come before the reset.
  const cut = ticks.findIndex((x, k) => k > 0 && x.seq < ticks[k - 1].seq);
  const byStream = Object.fromEntries(seen.gaps.map((g) => [g.stream, g]));
  assert.deepEqual(byStream.ticks, { stream: "ticks", symbols: ["AAPL"], reason: "reset", epoch: E2, last: ticks[cut - 1].seq });
  assert.ok(ticks[cut - 1].seq >= before.tick);
  assert.equal(byStream["bars.1s"].reason, "reset");
  assert.equal(byStream["bars.1s"].epoch, E2);
  assert.ok(byStream["bars.1s"].last >= before.bar);
  assert.equal(seen.gaps.length, 2, "one gap per stream, no seq gap beside it");
  assert.deepEqual(subGaps, [byStream.ticks], "the subscription hears the reset of its own stream");
  assert.equal(ticks[cut].seq, 1, "the new run starts at 1 and is delivered, not dropped as behind");
  assert.equal(firstBreak(ticks.slice(cut)), null, "the new run's ticks, every one");
  assert.equal(firstBarBreak(bars.slice(barCut)), null);
  assert.equal(tg.epoch("AAPL"), E2);
  assert.equal(tg.epoch("AAPL", "bars.1s"), E2);

  // A drop in the new run recovers with the new epoch.
  let seq;
  await outage(proxy, tg, () => { seq = tg.lastSeq("AAPL"); return pause(300); });
  await waitFor(() => tg.lastSeq("AAPL") > seq + 50, 10000, "no ticks after the reconnect");
  assert.deepEqual(sinceOf(proxy, "AAPL"), { seq, epoch: E2 });
  assert.equal(seen.gaps.length, 2, "recovered in the new run: no gap");
  assert.equal(firstBreak(ticks.slice(cut)), null);
  assert.deepEqual(seen.notices, [], "reset notices are gaps, not notices");
});

test("since of another epoch: the gateway answers snapshot and the gap's reason is epoch; a symbol of the same run recovers", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  const run = playEpochs(proxy, { first: E1 });
  const ticks = { AAPL: [], MSFT: [] };
  const replies = [];
  const sub = tg.subscribe(["AAPL", "MSFT"], (x) => ticks[x.sym].push(x));
  sub.on("subscribed", (r) => replies.push(r));
  await sub.ready;
  await waitFor(() => ticks.AAPL.length >= 20 && ticks.MSFT.length >= 20, 20000, "no ticks");
  let cut, last;
  // The publisher restarts while the client is away: it never sees the notice.
  await outage(proxy, tg, async () => {
    [cut, last] = [ticks.AAPL.length, tg.lastSeq("AAPL")];
    await pause(300);
    run.reset("AAPL", E2, []);
    await pause(300);
  });
  await waitFor(() => seen.gaps.length >= 1 && ticks.AAPL.length > cut + 20, 10000, () => "no gap: " + JSON.stringify(seen.gaps));
  assert.deepEqual(seen.gaps, [{ stream: "ticks", symbols: ["AAPL"], reason: "epoch" }]);
  assert.deepEqual(sinceOf(proxy, "AAPL"), { seq: last, epoch: E1 });
  const r = replies.at(-1);
  assert.deepEqual(r.snapshot, ["AAPL"]);
  assert.deepEqual(r.recovered, ["MSFT"]);
  assert.equal(tg.epoch("AAPL"), E2, "the epoch of the reply");
  assert.equal(firstBreak(ticks.AAPL.slice(cut)), null, "the new run from its snapshot on");
  assert.equal(firstBreak(ticks.MSFT), null, "MSFT recovered, every seq once");
});

test("upstream gap notice: a gap of reason upstream with from and to, told once; the ticks after it continue", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  const run = playEpochs(proxy, { first: E1 });
  const ticks = { AAPL: [], MSFT: [] };
  const subGaps = [];
  const log = []; // AAPL's ticks and the gaps, in the order the client told them
  const sub = tg.subscribe(["AAPL", "MSFT"], (x) => { ticks[x.sym].push(x); if (x.sym === "AAPL") log.push(x.seq); });
  sub.on("gap", (g) => subGaps.push(g));
  tg.on("gap", (g) => log.push(g));
  await sub.ready;
  await waitFor(() => ticks.AAPL.length >= 20, 20000, "no ticks");
  run.hole("AAPL", 20, true);
  await waitFor(() => seen.gaps.length >= 1 && typeof log.at(-1) === "number" && log.at(-1) > seen.gaps[0].to + 20, 10000, "no gap notice");
  const [g] = seen.gaps;
  assert.deepEqual(seen.gaps, [{ stream: "ticks", symbols: ["AAPL"], reason: "upstream", from: g.from, to: g.from + 19 }]);
  assert.deepEqual(subGaps, seen.gaps);
  const i = log.indexOf(g);
  assert.equal(log[i - 1], g.from - 1, "the notice comes right after the last tick before the hole");
  assert.equal(log[i + 1], g.to + 1, "and right before the tick after it");
  assert.equal(firstBreak(ticks.AAPL.filter((x) => x.seq > g.to)), null);
  assert.equal(firstBreak(ticks.AAPL.filter((x) => x.seq < g.from)), null);

  // Without the notice the client finds the hole itself, by seq.
  run.hole("MSFT", 5, false);
  await waitFor(() => seen.gaps.length >= 2, 10000, "no seq gap");
  assert.equal(seen.gaps[1].reason, "seq");
  assert.equal(seen.gaps[1].seq, seen.gaps[1].last + 6, "5 ticks did not come");
  assert.deepEqual(seen.notices, [], "gap notices are gaps, not notices");
});

test("bars by prev: a bucket without trades is no gap; a bar that did not come is one", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  const run = playEpochs(proxy, { first: E1, buckets: true });
  const bars = [];
  await tg.subscribe(["AAPL"], { stream: "bars.1s" }, (b) => bars.push(b)).ready;
  await waitFor(() => bars.length >= 2, 20000, "no bars");
  run.dropBar("bars.1s", "AAPL", true);
  let n = bars.length;
  await waitFor(() => bars.length >= n + 2, 20000, "no bars after the quiet bucket");
  const q = bars.findIndex((b, k) => k >= n - 1 && k + 1 < bars.length && bars[k + 1].seq > b.seq + 1);
  assert.ok(q >= 0, "the seqs jump over the quiet bucket: " + bars.map((b) => b.seq));
  assert.equal(bars[q + 1].prev, bars[q].seq, "the bar after names the last one as prev");
  assert.deepEqual(seen.gaps, [], "a quiet bucket is no gap");

  run.dropBar("bars.1s", "AAPL", false);
  n = bars.length;
  await waitFor(() => seen.gaps.length >= 1 && bars.length >= n + 1, 20000, "no gap for the missing bar");
  const [g] = seen.gaps;
  assert.equal(g.reason, "seq");
  assert.equal(g.stream, "bars.1s");
  assert.equal(g.last, bars[n - 1].seq);
  assert.equal(g.seq, bars[n].seq);
  assert.ok(g.prev > g.last && g.prev < g.seq, "prev names the bar that did not come");
  assert.equal(seen.gaps.length, 1);
});

test("reset notices: a topic with no seqs yet takes the epoch without a gap; a known epoch and an unheld symbol change nothing", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  playEpochs(proxy, { first: E1 });
  await tg.subscribe(["AAPL"], { stream: "bars.1m" }, () => {}).ready; // no final 1-minute bar yet
  await tg.subscribe(["AAPL"], () => {}).ready;
  await waitFor(() => tg.lastSeq("AAPL") !== undefined, 10000, "no tick");
  const seq = tg.lastSeq("AAPL");
  assert.ok(proxy.inject({ type: "notice", code: "reset", sym: "AAPL", stream: "bars.1m", epoch: E2 }) >= 1);
  proxy.inject({ type: "notice", code: "reset", sym: "AAPL", epoch: E1 });
  proxy.inject({ type: "notice", code: "reset", sym: "NVDA", epoch: E2 });
  proxy.inject({ type: "notice", code: "gap", sym: "NVDA", from: 5, to: 9 });
  await waitFor(() => tg.epoch("AAPL", "bars.1m") === E2, 5000, "the reset's epoch not taken");
  await waitFor(() => tg.lastSeq("AAPL") > seq + 20, 10000, "ticks stopped");
  assert.equal(tg.lastSeq("AAPL", "bars.1m"), undefined);
  assert.equal(tg.epoch("AAPL"), E1);
  assert.equal(tg.epoch("NVDA"), undefined);
  assert.deepEqual(seen.gaps, []);
  assert.deepEqual(seen.notices, []);
});

test("epoch notice: names the epoch of a symbol subscribed before its first tick, no gap, no notice event; since then carries it", async (t) => {
  const { proxy, tg, seen } = await setup(t);
  await tg.subscribe(["AAPL"], { stream: "bars.1m" }, () => {}).ready; // no final 1-minute bar yet: no seq
  assert.ok(proxy.inject({ type: "notice", code: "epoch", sym: "AAPL", stream: "bars.1m", epoch: E2 }) >= 1);
  await waitFor(() => tg.epoch("AAPL", "bars.1m") === E2, 5000, "the epoch notice's epoch not taken");
  assert.deepEqual(seen.gaps, []);
  assert.deepEqual(seen.notices, [], "an epoch notice is no notice event");
});
