// The depth ladder and the trading-status badges of the page at /, in a
// real Chromium (Debian's, driven by playwright-core) against the real
// gateway: the ladder renders the selected symbol's book and updates it,
// each drawn book proved (its levels' checksum is the one it names, and
// the one a client of its own that takes every message had at that seq),
// at 1280 and 390 px, and again after a gateway restart; a halt shows as a
// badge on its row and on the chart; a token whose grant has no book stream
// leaves the page working without a ladder, saying why. Screenshots go to
// clients/js/test-output/.

import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { bookChecksum, connect } from "../tickgate.js";
import { mintToken, startGateway, waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip, watchErrors } from "./chromium.js";

/** ladder reads the ladder as drawn: its data- attributes and each level's raw price and size. */
const ladder = (page) => page.locator("#ladder").evaluate((el) => {
  const side = (cls) => [...el.querySelectorAll(`.ladder-body .${cls}[data-px]`)].map((c) => [Number(c.dataset.px), Number(c.dataset.sz)]);
  return {
    sym: el.dataset.sym, state: el.dataset.state, seq: Number(el.dataset.seq), checksum: Number(el.dataset.checksum),
    bids: side("bid"), asks: side("ask"), note: el.querySelector(".ladder-note").textContent, stale: el.classList.contains("stale"),
  };
});

/**
 * reference is a client of the test's own that takes every book message of
 * syms: the checksum of each book seq, by symbol, of the gateway's current run.
 */
function reference(t, url, syms) {
  const tg = connect(url, { WebSocket, backoff: { base: 100, cap: 500 } });
  t.after(() => tg.close());
  const sums = new Map(syms.map((s) => [s, new Map()]));
  tg.subscribe(syms, { stream: "book" }, (m) => sums.get(m.sym).set(m.seq, m.checksum));
  tg.on("gap", (g) => { for (const s of g.symbols) sums.get(s)?.clear(); }); // a new run numbers afresh
  return sums;
}

/**
 * proves samples the ladder until it has drawn `times` different seqs of
 * sym, each a live book whose levels give the checksum it names, in price
 * order and not crossed, of which at least one the reference had at the
 * same seq, with the same checksum. It returns the last sample.
 */
async function proves(page, ref, sym, times = 3) {
  const seqs = new Set();
  let matched = 0, l;
  await waitFor(async () => {
    l = await ladder(page);
    if (l.sym !== sym || l.state !== "live" || l.stale) return false;
    assert.equal(bookChecksum(l.bids, l.asks), l.checksum, `the drawn levels of ${sym} at seq ${l.seq} are not the book they name`);
    assert.ok(l.bids.length > 0 && l.asks.length > 0 && l.bids[0][0] < l.asks[0][0], "a two-sided book, not crossed");
    assert.ok(l.bids.every((b, i) => i === 0 || l.bids[i - 1][0] > b[0]), "bids best first");
    assert.ok(l.asks.every((a, i) => i === 0 || l.asks[i - 1][0] < a[0]), "asks best first");
    const want = ref.get(sym).get(l.seq);
    if (want !== undefined) {
      assert.equal(l.checksum, want, `${sym} seq ${l.seq}: the page's book is not the reference's`);
      matched++;
    }
    seqs.add(l.seq);
    return seqs.size >= times && matched > 0;
  }, 30000, () => `${sym}: ${seqs.size} seqs drawn, ${matched} matched the reference; last ${JSON.stringify(l)}`);
  return l;
}

test("the depth ladder: renders the selected symbol's book beside the chart, updates it, each drawn book proved, at 1280 and 390 px, and after a gateway restart", { skip, timeout: 150000 }, async (t) => {
  let gw = await startGateway();
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const ref = reference(t, gw.ws, ["AAPL", "MSFT"]);
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = watchErrors(page);
  await page.goto(gw.http + "/?symbols=AAPL,MSFT,NVDA");

  await proves(page, ref, "AAPL", 5);
  const chart = await page.locator("#chart").boundingBox(), box = await page.locator("#ladder").boundingBox();
  assert.ok(box.x >= chart.x + chart.width && Math.abs(box.y - chart.y) < 2, "beside the chart at 1280 px");
  assert.ok(box.x + box.width <= 1280, "within the page");
  const l = await ladder(page);
  assert.ok(l.bids.length >= 5 && l.bids.length <= 10 && l.asks.length >= 5 && l.asks.length <= 10, "up to book.depth levels a side");
  assert.match(l.note, /Checksum verified at seq \d+/);
  await page.screenshot({ path: screenshot("ladder-1280.png") });

  // Another symbol selected: its book, proved.
  await page.click('#rows [data-sym="MSFT"]');
  await proves(page, ref, "MSFT");

  // Phone width: under the chart, inside the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await proves(page, ref, "MSFT");
  const narrow = await page.locator("#ladder").evaluate((el) => {
    const r = el.getBoundingClientRect(), c = document.getElementById("chart").getBoundingClientRect();
    return { below: r.top >= c.bottom, inside: r.left >= 0 && r.right <= 390, fits: [...el.querySelectorAll(".lv > span")].every((s) => s.scrollWidth <= s.clientWidth + 1) };
  });
  assert.deepEqual(narrow, { below: true, inside: true, fits: true });
  await page.locator("#ladder").scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot("ladder-390.png") });
  await page.setViewportSize({ width: 1280, height: 800 });

  // A restart: the ladder is dimmed while the page reconnects, then the new run's book, proved, and the cause said.
  await gw.stop("SIGTERM");
  await waitFor(async () => (await ladder(page)).stale, 10000, "the ladder was not dimmed while the gateway was away");
  gw = await startGateway({}, port);
  const back = await proves(page, ref, "MSFT");
  assert.match(back.note, /restarted/, "the ladder says why its book was taken afresh");
  await page.screenshot({ path: screenshot("ladder-restart-1280.png") });
  assert.deepEqual(errors, []);
});

test("trading status: a halt shows as a badge on its row and on the chart, and goes when the symbol reopens; at 1280 and 390 px", { skip, timeout: 120000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_HALTS_PER_HOUR: "1800", TICKGATE_FEED_SIM_HALT_DURATION: "6s" });
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors = watchErrors(page);
  await page.goto(gw.http + "/");
  const badges = () => page.locator("#rows .row").evaluateAll((rows) => rows.map((r) => {
    const b = r.querySelector(".badge");
    return { sym: r.dataset.sym, text: b && !b.hidden ? b.textContent : "", title: b?.title ?? "" };
  }));
  const halted = async () => (await badges()).find((b) => b.text === "HALTED");

  const h = await waitFor(halted, 40000, "no HALTED badge in 40 s");
  assert.match(h.title, /^halted \((LUDP|T1): /, "the reason, in words");
  await page.screenshot({ path: screenshot("status-1280.png") });
  // The chart shows the status of the symbol it charts: the same badge as its row.
  await page.click(`#rows [data-sym="${h.sym}"] .c-sym`);
  await waitFor(() => page.evaluate((sym) => {
    const row = document.querySelector(`#rows [data-sym="${sym}"] .badge`), chart = document.getElementById("chartBadge");
    return document.getElementById("chartSym").textContent === sym && row.hidden === chart.hidden && row.textContent === chart.textContent && !chart.hidden;
  }, h.sym), 5000, `the chart's badge is not ${h.sym}'s`);
  await page.screenshot({ path: screenshot("status-chart-1280.png") });
  await waitFor(async () => (await badges()).find((b) => b.sym === h.sym).text === "", 40000, `${h.sym} never reopened`);
  assert.equal(await page.locator("#chartBadge").isHidden(), true, "the chart's badge goes with the row's");

  await page.setViewportSize({ width: 390, height: 844 });
  const h2 = await waitFor(halted, 40000, "no HALTED badge at 390 px");
  const fits = await page.locator(`#rows [data-sym="${h2.sym}"] .badge`).evaluate((b) => b.getBoundingClientRect().right <= 390 && b.getBoundingClientRect().width > 0);
  assert.ok(fits, "the badge is shown within the row");
  await page.screenshot({ path: screenshot("status-390.png"), fullPage: true });
  assert.deepEqual(errors, []);
});

test("a token whose grant has no book stream: the page works without a ladder and says why; one with every stream has it", { skip, timeout: 90000 }, async (t) => {
  const secret = "0123456789abcdef0123456789abcdef";
  const gw = await withGateway(t, { TICKGATE_AUTH_MODE: "jwt", TICKGATE_AUTH_HMAC_SECRET: secret });
  const browser = await launch(t);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const noDepth = mintToken(secret, ["--sub", "ann", "--syms", "*", "--streams", "ticks,bars.1s,bars.1m,status", "--tier", "realtime", "--ttl", "10m"]);
  const page = await ctx.newPage();
  const errors = watchErrors(page);
  await page.goto(`${gw.http}/?symbols=AAPL,MSFT&token=${noDepth}`);
  const px = () => page.locator('#rows [data-sym="AAPL"] .c-last .px').textContent();
  const first = await waitFor(async () => { const v = await px(); return v !== "—" && v; }, 15000, "AAPL never priced");
  await waitFor(async () => (await px()) !== first, 15000, "AAPL never moved");
  await waitFor(async () => Number(await page.locator("#chart").getAttribute("data-candles")) > 0, 15000, "the chart drew nothing");
  const l = await ladder(page);
  assert.equal(l.state, "forbidden");
  assert.match(l.note, /No depth ladder: this token's grant has no book stream/);
  assert.deepEqual([l.bids, l.asks], [[], []]);
  assert.equal(await page.locator("#ladder .ladder-body").isVisible(), false);
  const chart = await page.locator("#chart").boundingBox();
  assert.ok(chart.width > 1000, "the chart takes the ladder's place");
  await page.click('#rows [data-sym="MSFT"]');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await ladder(page)).state, "forbidden", "another symbol asks for no book either");
  assert.doesNotMatch(await page.locator("#msg").textContent(), /forbidden/, "no error for a stream the token does not have");
  await page.screenshot({ path: screenshot("ladder-nogrant-1280.png") });
  assert.deepEqual(errors, []);

  // The same gateway, a token without a streams claim (every stream): the ladder is there.
  const every = mintToken(secret, ["--sub", "bob", "--syms", "*", "--tier", "realtime", "--ttl", "10m"]);
  const other = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await other.goto(`${gw.http}/?symbols=AAPL&token=${every}`);
  await waitFor(async () => { const x = await ladder(other); return x.state === "live" && x.bids.length > 0; }, 20000, "no ladder with every stream");
});
