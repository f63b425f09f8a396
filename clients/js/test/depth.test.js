// The book and status streams through the client, against the real
// gateway binary: every book message applied and every checksum proved, at
// every message and at max_rate (merged updates, n), the copies of the two
// equal seq for seq; a network drop recovered with since; a gateway
// restart (a new run: a gap, then the new run's snapshot); a copy the test
// corrupts (the client finds it at the next message and resyncs); trading
// status kept per symbol, halts included; the README's example, as written.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { bookChecksum, connect } from "../tickgate.js";
import { firstBreak, startGateway, startProxy, waitFor, withGateway } from "./gateway.js";

const DEPTH = 10; // book.depth, the gateway's default

function open(t, url) {
  const tg = connect(url, { WebSocket, backoff: { base: 100, cap: 800 } });
  const seen = { gaps: [], resyncs: [], errors: [], statuses: [] };
  tg.on("gap", (g) => seen.gaps.push(g));
  tg.on("resync", (r) => seen.resyncs.push(r));
  tg.on("error", (e) => seen.errors.push(e));
  tg.on("status", (s) => seen.statuses.push(s));
  t.after(() => tg.close());
  return { tg, seen };
}

/**
 * faults checks one delivered book message against the copy it left,
 * independently of the client's own check: the checksum recomputed, sides
 * sorted strictly best first, sizes positive, not crossed, within depth.
 */
function faults(m, book) {
  const out = [];
  if (!book.synced) out.push("delivered while not synced");
  if (bookChecksum(book.bids, book.asks) !== m.checksum) out.push(`checksum ${m.checksum} is not the copy's`);
  if (book.seq !== m.seq) out.push(`copy at seq ${book.seq}, message ${m.seq}`);
  const sorted = (side, better) => side.every((l, i) => l[1] > 0 && (i === 0 || better(side[i - 1][0], l[0])));
  if (!sorted(book.bids, (a, b) => a > b)) out.push("bids not strictly best first");
  if (!sorted(book.asks, (a, b) => a < b)) out.push("asks not strictly best first");
  if (book.bids.length && book.asks.length && book.bids[0][0] >= book.asks[0][0]) out.push("crossed");
  if (book.bids.length > DEPTH || book.asks.length > DEPTH) out.push("deeper than book.depth");
  return out.map((f) => `${m.sym} seq ${m.seq}: ${f}`);
}

/**
 * watchBooks subscribes tg to the books of syms and records, per symbol,
 * every message delivered with the copy it left (as JSON), and every fault:
 * a check that failed, or an update whose seq does not follow the last.
 */
function watchBooks(tg, syms, opts = {}) {
  const w = { msgs: new Map(syms.map((s) => [s, []])), faults: [] };
  w.sub = tg.subscribe(syms, { stream: "book", ...opts }, (m, book) => {
    const got = w.msgs.get(m.sym);
    const last = got.at(-1);
    if (m.type === "book_update" && last && m.seq - (m.n || 1) !== last.seq) w.faults.push(`${m.sym}: update ${m.seq} (n ${m.n}) after ${last.seq}`);
    w.faults.push(...faults(m, book));
    got.push({ type: m.type, seq: m.seq, n: m.n, json: JSON.stringify([book.bids, book.asks]) });
  });
  w.count = (sym) => w.msgs.get(sym).length;
  return w;
}

/**
 * seqBreak checks that every message of one symbol after the first follows
 * the one before (seq - n), snapshots included: no snapshot came but the
 * feed's, none was missed or repeated. It returns the first break, or null.
 */
function seqBreak(msgs) {
  for (let i = 1; i < msgs.length; i++) {
    if (msgs[i].seq - (msgs[i].n || 1) !== msgs[i - 1].seq) return { i, prev: msgs[i - 1].seq, seq: msgs[i].seq, n: msgs[i].n };
  }
  return null;
}

test("every book message applied and proved, at every message and at max_rate 4: merged updates leave the book the full stream has at that seq", { timeout: 90000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  const syms = ["AAPL", "MSFT", "NVDA", "TSLA"];
  const full = open(t, gw.ws), rated = open(t, gw.ws);
  const all = watchBooks(full.tg, syms);
  const some = watchBooks(rated.tg, syms, { maxRate: 4 });
  const reply = await some.sub.ready;
  assert.equal(reply.max_rate, 4);
  await all.sub.ready;
  const merged = () => some.msgs.get("AAPL").filter((x) => x.n > 1).length;
  await waitFor(() => all.count("AAPL") >= 400 && merged() >= 15, 60000, () => `AAPL: ${all.count("AAPL")} messages, ${merged()} merged`);
  rated.tg.close();
  full.tg.close();

  assert.deepEqual([...all.faults, ...some.faults].slice(0, 5), []);
  for (const c of [full, rated]) {
    assert.deepEqual(c.seen.resyncs, [], "no copy ever went wrong");
    assert.deepEqual(c.seen.gaps, []);
    assert.deepEqual(c.seen.errors, []);
  }
  // The rate-limited copy equals the full one wherever both stand at one seq.
  let compared = 0;
  for (const sym of syms) {
    const bySeq = new Map(all.msgs.get(sym).map((x) => [x.seq, x.json]));
    for (const x of some.msgs.get(sym)) {
      if (!bySeq.has(x.seq)) continue;
      assert.equal(x.json, bySeq.get(x.seq), `${sym} seq ${x.seq} (n ${x.n})`);
      compared++;
    }
  }
  assert.ok(compared >= 20, `only ${compared} seqs to compare`);
  assert.ok(some.count("AAPL") < all.count("AAPL") / 2, "max_rate merged the stream");
});

test("a network drop: the book is resubscribed with since and recovered, every seq once, no gap, no resync", { timeout: 60000 }, async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const { tg, seen } = open(t, proxy.ws);
  const w = watchBooks(tg, ["AAPL", "MSFT"]);
  const replies = [];
  w.sub.on("subscribed", (m) => replies.push(m));
  await w.sub.ready;
  await waitFor(() => w.count("AAPL") >= 100, 20000, "no book messages");
  proxy.drop();
  await waitFor(() => tg.state === "reconnecting", 5000, "drop not noticed");
  const cut = w.count("AAPL");
  await waitFor(() => tg.state === "open" && w.count("AAPL") >= cut + 100, 20000, "no book messages after the reconnect");

  const resub = proxy.sent.filter((m) => m.op === "subscribe" && m.stream === "book").at(-1);
  assert.deepEqual(Object.keys(resub.since).sort(), ["AAPL", "MSFT"]);
  assert.equal(typeof resub.since.AAPL.seq, "number");
  assert.equal(resub.since.AAPL.epoch, tg.epoch("AAPL", "book"));
  assert.deepEqual(replies.at(-1).recovered.sort(), ["AAPL", "MSFT"]);
  assert.deepEqual(w.faults.slice(0, 5), []);
  assert.equal(seqBreak(w.msgs.get("AAPL")), null, "every seq once across the drop, no snapshot sent again");
  assert.equal(seqBreak(w.msgs.get("MSFT")), null);
  assert.deepEqual([seen.gaps, seen.resyncs, seen.errors], [[], [], []]);
});

test("a gateway restart: a new run, so a gap (epoch), the copy waits, then the new run's snapshot, exact again", { timeout: 90000 }, async (t) => {
  let gw = await startGateway();
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const { tg, seen } = open(t, gw.ws);
  const w = watchBooks(tg, ["AAPL"]);
  await w.sub.ready;
  await waitFor(() => w.count("AAPL") >= 50, 20000, "no book messages");
  const before = tg.epoch("AAPL", "book");
  const book = tg.book("AAPL");
  await gw.stop("SIGKILL");
  await waitFor(() => tg.state === "reconnecting", 5000, "restart not noticed");
  const cut = w.count("AAPL");
  gw = await startGateway({}, port);
  await waitFor(() => seen.gaps.length > 0, 20000, "no gap after the restart");
  assert.deepEqual(seen.gaps[0], { stream: "book", symbols: ["AAPL"], reason: "epoch" });
  await waitFor(() => w.count("AAPL") >= cut + 50, 20000, "no book messages after the restart");

  const after = w.msgs.get("AAPL").slice(cut);
  assert.equal(after[0].type, "book", "the new run starts with its snapshot");
  assert.notEqual(tg.epoch("AAPL", "book"), before);
  assert.equal(tg.book("AAPL"), book, "the same Book, carried across");
  assert.ok(book.synced);
  assert.equal(seqBreak(after), null, "the new run's messages follow its snapshot");
  assert.deepEqual(w.faults, []);
  assert.deepEqual([seen.resyncs, seen.errors], [[], []]);
});

test("a corrupted copy: the next message's checksum differs, the client resyncs (event, unsubscribe, subscribe, snapshot) and is exact again; ticks beside it go on", { timeout: 60000 }, async (t) => {
  const gw = await withGateway(t);
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const { tg, seen } = open(t, proxy.ws);
  const w = watchBooks(tg, ["AAPL", "MSFT"]);
  const subResyncs = [];
  w.sub.on("resync", (r) => subResyncs.push(r));
  const ticks = [];
  await tg.subscribe(["AAPL"], (x) => ticks.push(x)).ready;
  await w.sub.ready;
  await waitFor(() => w.count("AAPL") >= 30, 20000, "no book messages");

  // A level the feed never has (prices are in cents), second best: only a
  // snapshot takes it away. The feed's own (every 256 messages or 10 s) may
  // come first and mend it: then corrupt the copy again.
  const book = tg.book("AAPL");
  let fake, cut;
  for (let i = 0; i < 3 && !seen.resyncs.length; i++) {
    fake = book.bids[0][0] - 0.001;
    book.bids.splice(1, 0, [fake, 7]);
    cut = w.count("AAPL");
    await waitFor(() => seen.resyncs.length > 0 || w.msgs.get("AAPL").slice(cut).some((x) => x.type === "book"), 10000, "the corruption was neither found nor mended");
  }
  const r = seen.resyncs[0];
  assert.deepEqual(r.symbols, ["AAPL"]);
  assert.equal(r.reason, "checksum");
  assert.notEqual(r.computed, r.checksum);
  assert.deepEqual(subResyncs, [r], "the subscription is told too");

  await waitFor(() => w.count("AAPL") >= cut + 30, 20000, "no book messages after the resync");
  const after = w.msgs.get("AAPL").slice(cut);
  assert.equal(after[0].type, "book", "a fresh snapshot first");
  assert.ok(!JSON.parse(after.at(-1).json)[0].some(([p]) => p === fake), "the fake level is gone");
  assert.deepEqual(w.faults, [], "the message that found it was not delivered; every one since is proved");
  assert.equal(seen.resyncs.length, 1);

  const unsub = proxy.sent.findIndex((m) => m.op === "unsubscribe" && m.stream === "book");
  assert.deepEqual(proxy.sent[unsub].symbols, ["AAPL"]);
  const resub = proxy.sent.slice(unsub).find((m) => m.op === "subscribe" && m.stream === "book");
  assert.deepEqual([resub.symbols, resub.since], [["AAPL"], undefined], "subscribed again without since: for the snapshot");
  assert.ok(w.count("MSFT") > 0);
  assert.equal(seqBreak(w.msgs.get("MSFT")), null, "MSFT, in the same subscription, was not resynced");
  assert.equal(firstBreak(ticks), null, "ticks of the symbol go on, every seq once");
  assert.deepEqual([seen.gaps, seen.errors], [[], []]);

  // A second subscription of the held book gets the copy at once, as a snapshot.
  const joined = [];
  tg.subscribe(["AAPL"], { stream: "book" }, (m, b) => joined.push([m, b]));
  await waitFor(() => joined.length > 0, 5000, "the joiner got nothing");
  assert.equal(joined[0][0].type, "book");
  assert.equal(joined[0][1], tg.book("AAPL"));
  assert.equal(joined[0][0].checksum, bookChecksum(joined[0][0].bids, joined[0][0].asks));
});

test("status: each symbol's status first, every change after, kept per symbol; halts come with a reason and end", { timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_HALTS_PER_HOUR: "900", TICKGATE_FEED_SIM_HALT_DURATION: "2s" });
  const { tg, seen } = open(t, gw.ws);
  const syms = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM"];
  const got = [];
  const sub = tg.subscribe(syms, { stream: "status" }, (s) => got.push(s));
  await sub.ready;
  await waitFor(() => syms.every((s) => got.some((x) => x.sym === s)), 10000, "not every symbol's status came first");
  const halted = () => got.find((x) => x.status === "halted");
  await waitFor(halted, 30000, "no halt in 30 s");
  const h = halted();
  assert.match(h.reason, /^(LUDP|T1)$/);
  await waitFor(() => got.some((x) => x.sym === h.sym && x.status === "open" && x.ts > h.ts), 30000, `${h.sym} never reopened`);
  for (const s of syms) assert.deepEqual(tg.status(s), got.findLast((x) => x.sym === s), `${s}: the last status kept`);
  assert.deepEqual(seen.statuses, got, "the client's status event saw each one");
  assert.ok(got.every((x) => ["open", "halted", "auction", "closed", "stale"].includes(x.status)));

  // A second subscription gets each held symbol's status now, from the client: the gateway sends no second one.
  const joined = [];
  tg.subscribe(["AAPL", "MSFT"], { stream: "status" }, (s) => joined.push(s));
  await waitFor(() => joined.length === 2, 5000, "the joiner did not get the current statuses");
  assert.deepEqual(joined.map((x) => x.sym).sort(), ["AAPL", "MSFT"]);
  assert.deepEqual(joined.find((x) => x.sym === "AAPL"), tg.status("AAPL"));
  await sub.close();
  assert.equal(tg.status("NVDA"), undefined, "a status no one holds is forgotten");
  assert.deepEqual([seen.gaps, seen.errors], [[], []]);
});

test("the README's book example runs as written: AAPL's status, then its book, each line proved", { timeout: 60000 }, async (t) => {
  const gw = await withGateway(t);
  const dir = fileURLToPath(new URL("..", import.meta.url));
  const readme = readFileSync(dir + "README.md", "utf8");
  const code = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("## Books and status")))?.[1];
  assert.ok(code?.includes("ws://localhost:8080/ws"), "no example under 'Books and status' in README.md");
  // Run from clients/js, as the README says: "./tickgate.js" and "ws" resolve there.
  const proc = spawn(process.execPath, ["--input-type=module", "-e", code.replace("ws://localhost:8080/ws", gw.ws)], { cwd: dir });
  t.after(() => proc.kill());
  let out = "", err = "";
  proc.stdout.on("data", (b) => { out += b; });
  proc.stderr.on("data", (b) => { err += b; });
  const lines = () => out.split("\n").filter((l) => /^AAPL book seq \d+( \(\d+ merged\))?: \d+ @ [\d.]+ \| \d+ @ [\d.]+, checksum \d+ proved$/.test(l));
  await waitFor(() => lines().length >= 4 && /^AAPL is (open|halted|auction|closed|stale)/m.test(out), 20000, () => `the example printed:\n${out}\n${err}`);
  assert.equal(err, "", "no resync, no error");
});
