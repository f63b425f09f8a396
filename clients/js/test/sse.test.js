// Server-Sent Events in a real Chromium (Debian's, driven by
// playwright-core): the browser's own EventSource against the real
// gateway's /sse, through the TCP proxy of gateway.js, which cuts the
// network as a failing link would. EventSource then reconnects by itself
// with Last-Event-ID, and the gateway must answer it as since: every
// symbol recovered, every seq once.

import assert from "node:assert/strict";
import { test } from "node:test";
import { firstBreak, startGateway, startProxy, waitFor, withGateway } from "./gateway.js";
import { launch, skip } from "./chromium.js";

/** openStream opens an EventSource on url in page and records what it sees in window.seen. */
async function openStream(page, url) {
  await page.evaluate((url) => {
    const seen = { ticks: [], replies: [], ids: [], opens: 0, errors: 0, closes: [], state: [] };
    const es = new EventSource(url);
    es.onopen = () => { seen.opens++; };
    es.onerror = () => { seen.errors++; seen.state.push(es.readyState); };
    es.onmessage = (e) => {
      seen.ids.push(e.lastEventId);
      for (const line of e.data.split("\n")) {
        const m = JSON.parse(line);
        if (m.type === "tick") seen.ticks.push({ sym: m.sym, seq: m.seq, n: m.n });
        else seen.replies.push(m);
      }
    };
    es.addEventListener("close", (e) => { seen.closes.push(JSON.parse(e.data)); });
    window.seen = seen;
    window.es = es;
  }, url);
}

const seen = (page) => page.evaluate(() => window.seen);
const ticksOf = (s, sym) => s.ticks.filter((x) => x.sym === sym);

test("EventSource: the gateway's messages, resumed after a network cut with Last-Event-ID, every seq once", { skip, timeout: 90000 }, async (t) => {
  // EventSource waits about 3 s before it reconnects: a feed slow enough
  // that fanout.history still holds what the page missed by then.
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "500" });
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const browser = await launch(t);
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${proxy.port}/healthz`); // the stream's own origin
  await openStream(page, "/sse?symbols=AAPL,MSFT");

  await waitFor(async () => { const s = await seen(page); return ticksOf(s, "AAPL").length >= 100 && ticksOf(s, "MSFT").length >= 20; }, 20000, "no ticks");
  let s = await seen(page);
  assert.equal(s.replies[0].type, "welcome");
  assert.equal(s.replies[1].type, "subscribed");
  assert.deepEqual(s.replies[1].symbols, ["AAPL", "MSFT"]);
  const epoch = s.replies[1].epochs.AAPL;
  assert.match(s.ids.at(-1), new RegExp(`^@${epoch},AAPL:\\d+,MSFT:\\d+$`), "each event's id: every symbol's position");

  proxy.drop(); // EventSource sees the stream fail and reconnects by itself
  const cut = s.ticks.length;
  await waitFor(async () => { const x = await seen(page); return x.opens >= 2 && x.ticks.length >= cut + 200; }, 30000, "EventSource did not come back");
  s = await seen(page);
  const again = s.replies.filter((m) => m.type === "subscribed")[1];
  assert.deepEqual(again.recovered, ["AAPL", "MSFT"], "Last-Event-ID answered as since: both recovered");
  assert.deepEqual(again.snapshot, []);
  for (const sym of ["AAPL", "MSFT"]) {
    assert.equal(firstBreak(ticksOf(s, sym)), null, `${sym}: every seq once across the cut`);
  }
  assert.ok(s.errors >= 1, "the cut was seen");
  assert.deepEqual(pageErrors, []);
});

test("EventSource: a refused stream fails for good; a draining gateway's close event reaches the page", { skip, timeout: 60000 }, async (t) => {
  const gw = await startGateway();
  t.after(() => gw.stop("SIGKILL"));
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(gw.http + "/healthz");

  await openStream(page, "/sse?symbols=ZZZZ");
  await waitFor(async () => (await seen(page)).errors >= 1, 10000, "no error for an unknown symbol");
  assert.equal(await page.evaluate(() => window.es.readyState), 2, "CLOSED: EventSource does not retry a 400");
  const res = await fetch(gw.http + "/sse?symbols=ZZZZ");
  assert.equal(res.status, 400);
  assert.match(await res.text(), /^unknown_symbol: unknown symbols \["ZZZZ"\]/);

  await openStream(page, "/sse?symbols=AAPL");
  await waitFor(async () => (await seen(page)).ticks.length >= 5, 20000, "no ticks");
  await page.evaluate(() => { window.seen.closes.length = 0; });
  gw.stop("SIGTERM"); // drains: a close event, then the connection ends
  await waitFor(async () => (await seen(page)).closes.length >= 1, 10000, "no close event");
  assert.deepEqual((await seen(page)).closes[0], { type: "close", code: 1001, reason: "server shutting down" });
});
