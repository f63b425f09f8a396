// The page at / in a real Chromium (Debian's, driven by playwright-core)
// against the real gateway: add a symbol, see it tick, survive a restart.
// Screenshots at 1280 px and 390 px go to clients/js/test-output/.

import assert from "node:assert/strict";
import { test } from "node:test";
import { playEpochs } from "./epochs.js";
import { startGateway, startProxy, waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip } from "./chromium.js";

/** lastOf reads a row's last price as the page shows it. */
const lastOf = (page, sym) => page.locator(`#rows [data-sym="${sym}"] .c-last .px`).textContent();

async function seesTicks(page, sym, timeout = 20000) {
  const first = await waitFor(async () => { const v = await lastOf(page, sym); return v !== "—" && v; }, timeout, `${sym} never priced`);
  await waitFor(async () => (await lastOf(page, sym)) !== first, timeout, `${sym} price never moved from ${first}`);
}

test("the watchlist page: add a symbol, see it tick, say no to a bad one, recover from a restart", { skip, timeout: 120000 }, async (t) => {
  let gw = await startGateway({ TICKGATE_FEED_SIM_RATE: "3000" });
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const browser = await launch(t);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // Chromium logs each refused WebSocket connect while the gateway is down;
  // that is the restart under test, not a page error.
  page.on("console", (m) => {
    if (m.type() === "error" && !/WebSocket connection to .* failed/.test(m.text())) pageErrors.push(m.text());
  });
  await page.goto(gw.http + "/");

  // Default list: only symbols the gateway carries (no SPY).
  const carried = await (await fetch(gw.http + "/symbols")).json();
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "open", 30000, "page never connected");
  const defaults = await page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.sym));
  assert.ok(defaults.length >= 4, "a default watchlist");
  for (const s of defaults) assert.ok(carried.includes(s), `default ${s} is not carried`);
  await seesTicks(page, "AAPL");

  // Search with suggestions, then add.
  await page.fill("#q", "NF");
  await waitFor(async () => (await page.locator("#sugg li").allTextContents()).some((s) => s.startsWith("NFLX")), 5000, "no NFLX suggestion");
  await page.screenshot({ path: screenshot("search-1280.png") });
  await page.press("#q", "Enter");
  await seesTicks(page, "NFLX");

  // A mixed subscribe with one bad symbol: the gateway rejects it whole; the page says so.
  await page.fill("#q", "AMD, ZZZZ");
  await page.press("#q", "Enter");
  await waitFor(async () => /Not added: ZZZZ/.test(await page.locator("#msg").textContent()), 10000, "bad symbol not reported");
  assert.match(await page.locator("#msg").textContent(), /Not added: ZZZZ.*unknown/);
  assert.equal(await page.locator('#rows [data-sym="ZZZZ"]').count(), 0);
  await seesTicks(page, "AMD");

  // Change is against a stated basis: previous close when /symbols?detail=1 serves it.
  const detail = await fetch(gw.http + "/symbols?detail=1").then((r) => (r.ok ? r.json() : null)).catch(() => null);
  const servesPrev = Array.isArray(detail) && typeof detail[0]?.prev_close === "number";
  assert.equal(await page.locator("#basis").getAttribute("data-basis"), servesPrev ? "prev_close" : "first_seen");
  assert.match(await page.locator('#rows [data-sym="AAPL"] .c-pct').textContent(), /^[+−]?\d+\.\d\d%$/);

  // The flash is coloured and fades: a busy row is not lit all the time.
  const bgs = await page.evaluate(async () => {
    const el = document.querySelector('#rows [data-sym="AAPL"] .c-last .px');
    const seen = [];
    for (let i = 0; i < 60; i++) { seen.push(getComputedStyle(el).backgroundColor); await new Promise((r) => setTimeout(r, 40)); }
    return seen;
  });
  const lit = bgs.filter((c) => c !== "rgba(0, 0, 0, 0)");
  assert.ok(lit.length > 0, "AAPL never flashed");
  assert.ok(lit.length < bgs.length, "AAPL's flash never faded");
  assert.ok(lit.some((c) => /rgba\((47, 191, 113|242, 85, 90)/.test(c)), "flash is green or red: " + lit.slice(0, 3));

  // The watchlist survives a reload (localStorage), removal too.
  await page.click('#rows [data-sym="NFLX"] .c-x button');
  await page.reload();
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "open", 15000, "no reconnect after reload");
  const kept = await page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.sym));
  assert.ok(kept.includes("AMD") && !kept.includes("NFLX"), "kept: " + kept);
  await page.click('#rate button[data-rate="4"]');
  assert.equal(await page.locator('#rate button[data-rate="4"]').getAttribute("aria-checked"), "true");
  await seesTicks(page, "AMD");
  await new Promise((r) => setTimeout(r, 3000)); // a few seconds of sparkline for the screenshots
  await page.screenshot({ path: screenshot("watchlist-1280.png") });

  // Restart the gateway on the same port: the page reconnects, resubscribes and shows the gap.
  await gw.stop("SIGTERM");
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "reconnecting", 10000, "page did not notice the restart");
  // The restarted gateway's simulator is a new run (a new epoch): the
  // page's resubscribe is answered with snapshots, a gap per symbol.
  gw = await startGateway({ TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_HISTORY: "0" }, port);
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "open", 20000, "page did not reconnect");
  await seesTicks(page, "AAPL");
  await seesTicks(page, "AMD");
  await waitFor(async () => page.locator('#rows [data-sym="AAPL"] .gap').isVisible(), 10000, "gap not shown after a restart without history");

  await page.setViewportSize({ width: 390, height: 844 });
  await new Promise((r) => setTimeout(r, 1000));
  await page.screenshot({ path: screenshot("watchlist-390.png") });
  assert.deepEqual(pageErrors, []);
});

test("the watchlist page names a gap's cause: a feed reset, an upstream gap", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  // The page connects to the host it came from: serve it through the proxy that plays epochs.
  const proxy = await startProxy(gw.port);
  t.after(() => proxy.close());
  const run = playEpochs(proxy);
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${proxy.port}/`);
  await seesTicks(page, "AAPL");
  await seesTicks(page, "MSFT");
  const msg = () => page.locator("#msg").textContent();

  run.reset("AAPL", "q7m2c0d9e8f1");
  await waitFor(async () => /Gap in AAPL: the feed restarted.*\(reset\)/.test(await msg()), 10000, async () => "no reset banner: " + await msg());
  assert.equal(await page.locator('#rows [data-sym="AAPL"] .gap').textContent(), "reset");
  assert.match(await page.locator('#rows [data-sym="AAPL"] .gap').getAttribute("title"), /restarted/);
  await seesTicks(page, "AAPL"); // the new run is drawn, not dropped

  run.hole("MSFT", 30);
  await waitFor(async () => /MSFT.*: upstream gap: seqs \d+–\d+ never reached the gateway/.test(await msg()), 10000, async () => "no upstream banner: " + await msg());
  assert.match(await page.locator('#rows [data-sym="MSFT"] .gap').getAttribute("title"), /upstream gap/);
  await page.screenshot({ path: screenshot("watchlist-gaps-1280.png") });
  assert.deepEqual(pageErrors, []);
});
