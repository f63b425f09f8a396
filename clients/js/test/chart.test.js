// The chart on the page at / in a real Chromium (Debian's, driven by
// playwright-core) against the real gateway: bars.1m with its forming bar,
// the bars.1s toggle with history, a symbol switch, and the page at 1280 px
// and 390 px. Screenshots go to clients/js/test-output/.

import assert from "node:assert/strict";
import { test } from "node:test";
import { startGateway, waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip, watchErrors } from "./chromium.js";

/** chart reads what the chart panel says it drew. */
const chart = (page) => page.locator("#chart").evaluate((el) => ({
  sym: el.dataset.sym, stream: el.dataset.stream, candles: Number(el.dataset.candles),
  final: Number(el.dataset.final), forming: Number(el.dataset.forming), lastSeq: el.dataset.lastSeq,
  synthetic: Number(el.dataset.synthetic), slots: Number(el.dataset.slots),
}));

/**
 * inked counts the canvas pixels in the candle colours (green up, red
 * down): a chart whose data- attributes claim candles but whose canvas is
 * blank fails here.
 */
const inked = (page) => page.locator("#chartCanvas").evaluate((c) => {
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let up = 0, down = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] < 200) continue;
    if (Math.abs(d[i] - 47) < 12 && Math.abs(d[i + 1] - 191) < 12 && Math.abs(d[i + 2] - 113) < 12) up++;
    if (Math.abs(d[i] - 242) < 12 && Math.abs(d[i + 1] - 85) < 12 && Math.abs(d[i + 2] - 90) < 12) down++;
  }
  return { up, down };
});

test("the chart: bars.1m with a forming bar, bars.1s with history, a symbol switch, at 1280 and 390 px", { skip, timeout: 120000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  const browser = await launch(t);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const pageErrors = watchErrors(page); // not the refused connects while the gateway restarts
  await page.goto(gw.http + "/?symbols=AAPL,MSFT,NVDA");
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "open", 30000, "page never connected");

  // Default: the first symbol on bars.1m. A fresh gateway without the
  // simulator's past has no final minute yet, so what shows is the forming
  // bar from partial updates, on an axis sized to it, not to two hours.
  await waitFor(async () => (await chart(page)).forming === 1, 15000, async () => "no forming 1m bar: " + JSON.stringify(await chart(page)));
  let c = await chart(page);
  assert.equal(c.sym, "AAPL");
  assert.equal(c.stream, "bars.1m");
  assert.ok(c.slots <= 12, `${c.slots} minutes of axis for one bar`);
  assert.equal(c.synthetic, 0);
  assert.equal(await page.locator('#rows [data-sym="AAPL"]').getAttribute("aria-selected"), "true");
  assert.match(await page.locator("#chartOhlc").textContent(), /O\s*\d+\.\d\d.*C\s*\d+\.\d\d/);
  assert.match(await page.locator("#chartOhlc").textContent(), /forming/);
  await page.screenshot({ path: screenshot("chart-1m-1280.png") });

  // Let bars.1s build up, then toggle to it: the history draws at once.
  await new Promise((r) => setTimeout(r, 8000));
  await page.click('#span button[data-stream="bars.1s"]');
  assert.equal(await page.locator('#span button[data-stream="bars.1s"]').getAttribute("aria-checked"), "true");
  await waitFor(async () => (await chart(page)).final >= 6, 5000, async () => "no 1s history drawn: " + JSON.stringify(await chart(page)));
  c = await chart(page);
  assert.equal(c.stream, "bars.1s");
  assert.equal(c.candles, c.final + c.forming);
  assert.ok(Number(c.lastSeq) >= c.final, `last seq ${c.lastSeq} below the ${c.final} final bars drawn`);
  const ink = await inked(page);
  assert.ok(ink.up + ink.down > 200, "candles drawn on the canvas: " + JSON.stringify(ink));
  // Live bars keep coming after the history.
  const before = Number(c.lastSeq);
  await waitFor(async () => Number((await chart(page)).lastSeq) >= before + 2, 10000, "no live 1s bars after the history");
  await page.screenshot({ path: screenshot("chart-1s-1280.png") });

  // Another symbol: its row is selected, its history arrives.
  await page.click('#rows [data-sym="MSFT"] .c-sym');
  await waitFor(async () => { const x = await chart(page); return x.sym === "MSFT" && x.final >= 6; }, 5000, "no MSFT history");
  assert.equal(await page.locator('#rows [data-sym="AAPL"]').getAttribute("aria-selected"), "false");
  assert.equal(await page.locator('#rows [data-sym="MSFT"]').getAttribute("aria-selected"), "true");

  // A restarted gateway cannot recover the page's bars: their seqs are above
  // its own (counted seqs) or of another epoch (a new run per start), so it
  // answers the resubscribe with a snapshot; the chart reloads its history.
  const oldSeq = Number((await chart(page)).lastSeq);
  await gw.stop("SIGKILL");
  const gw2 = await startGateway({ TICKGATE_FEED_SIM_RATE: "3000" }, gw.port);
  t.after(() => gw2.stop("SIGKILL"));
  await waitFor(async () => /history reloaded/.test(await page.locator("#chartNote").textContent()), 20000, "the chart did not reload after the gap");
  await waitFor(async () => { const x = await chart(page); return x.final >= 1 && Number(x.lastSeq) !== oldSeq; }, 10000,
    async () => "no bars of the new run: " + JSON.stringify(await chart(page)) + " vs seq " + oldSeq);

  // Phone width: fewer, not thinner, candles, and nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await waitFor(async () => (await chart(page)).candles < c.candles + 30, 5000, "the chart did not redraw");
  await waitFor(async () => (await chart(page)).final >= 6, 15000, async () => "too few bars at 390 px: " + JSON.stringify(await chart(page)));
  assert.ok((await inked(page)).up + (await inked(page)).down > 100, "candles drawn at 390 px");
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), "the page scrolls sideways at 390 px");
  const box = await page.locator("#chartCanvas").boundingBox();
  assert.ok(box.width > 300 && box.x >= 0 && box.x + box.width <= 390, JSON.stringify(box));
  await page.screenshot({ path: screenshot("chart-1s-390.png") });
  await page.click('#span button[data-stream="bars.1m"]');
  await waitFor(async () => (await chart(page)).stream === "bars.1m" && (await chart(page)).candles >= 1, 10000, "no 1m bar at 390 px");
  await page.screenshot({ path: screenshot("chart-1m-390.png") });
  assert.deepEqual(pageErrors, []);
});

test("the chart on a fresh simulated gateway: a 1m chart full at once, its made-up past marked", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FEED_SIM_BACKFILL: "2h" });
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  await page.goto(gw.http + "/?symbols=AAPL,MSFT");
  // 120 minutes of synthetic bars, up to the minute the gateway started in.
  await waitFor(async () => (await chart(page)).synthetic >= 110, 15000, async () => "no synthetic past drawn: " + JSON.stringify(await chart(page)));
  const c = await chart(page);
  assert.equal(c.stream, "bars.1m");
  assert.ok(c.final >= 110, JSON.stringify(c));
  assert.ok(c.slots <= c.candles + 2, `an axis of ${c.slots} minutes for ${c.candles} bars`);
  assert.match(await page.locator("#chartNote").textContent(), /Bars before \d\d:\d\d \(shaded\) are synthetic/);
  const ink = await inked(page);
  assert.ok(ink.up + ink.down > 2000, "candles drawn on the canvas: " + JSON.stringify(ink));
  // Hovering a bar of the past says what it is.
  const box = await page.locator("#chartCanvas").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await waitFor(async () => /synthetic/.test(await page.locator("#chartOhlc").textContent()), 5000, "the hovered bar is not called synthetic");
  await page.screenshot({ path: screenshot("chart-1m-backfill-1280.png") });
  assert.deepEqual(pageErrors, []);
});
