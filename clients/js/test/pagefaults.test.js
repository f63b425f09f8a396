// The page at / when things go wrong, in a real Chromium (Debian's, driven
// by playwright-core) against the real gateway: the gateway killed (the
// page counts down to its next attempt, offers "retry now", dims its
// prices and shows their age), the gateway back (live again at the first
// attempt after it, the client's backoff the only wait), the gap that
// restart leaves (named, the chart not moved, gone by itself), and a
// replay on recorded timestamps (no latency, an Age that fits).
// Screenshots go to clients/js/test-output/.

import assert from "node:assert/strict";
import { test } from "node:test";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway, startProxy, waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip, watchErrors } from "./chromium.js";

/** link is what the header says about the connection. */
const link = (page) => page.evaluate(() => {
  const c = document.getElementById("conn");
  return {
    state: c.dataset.state, attempt: Number(c.dataset.attempt ?? -1), text: document.getElementById("connText").textContent,
    retry: !document.getElementById("retry").hidden, mode: document.getElementById("mode").textContent,
    stale: document.getElementById("list").classList.contains("stale"),
  };
});

/** row reads a watchlist row: its price, the price's opacity, and its age in seconds as shown. */
const row = (page, sym) => page.locator(`#rows [data-sym="${sym}"]`).evaluate((el) => {
  const age = el.querySelector(".c-age");
  const m = /^([\d.]+) (s|m|h|d|y)$/.exec(age.textContent);
  return {
    px: el.querySelector(".c-last .px").textContent,
    opacity: Number(getComputedStyle(el.querySelector(".c-last")).opacity),
    age: m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, y: 31557600 }[m[2]] : NaN,
    ageFits: age.scrollWidth <= age.clientWidth,
  };
});

test("the page when the gateway goes away and comes back: countdown, retry now, dimmed prices, live again, a gap named and gone", { skip, timeout: 150000 }, async (t) => {
  let gw = await startGateway({ TICKGATE_FEED_SIM_RATE: "3000" });
  const port = gw.port;
  t.after(() => gw.stop("SIGKILL"));
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const errors = watchErrors(page);
  await page.goto(gw.http + "/?symbols=AAPL,MSFT,NVDA");
  await waitFor(async () => (await link(page)).state === "open", 15000, "never live");
  await waitFor(async () => (await row(page, "AAPL")).px !== "—", 15000, "AAPL never priced");
  let l = await link(page);
  assert.deepEqual([l.text, l.mode, l.retry, l.stale], ["live", "live", false, false]);
  assert.equal((await row(page, "AAPL")).opacity, 1);
  const chartY = (await page.locator("#chart").boundingBox()).y;

  await gw.stop("SIGKILL");
  await waitFor(async () => (await link(page)).state === "reconnecting", 10000, "the page did not notice");
  l = await link(page);
  assert.match(l.text, /^reconnecting in \d+\.\d s$|^reconnecting…$/);
  assert.equal(l.mode, "—", "no live delivery pill while disconnected");
  assert.ok(l.retry, "retry now offered");
  assert.ok(l.stale, "prices marked stale");
  assert.ok((await row(page, "AAPL")).opacity < 0.6, "prices dimmed");

  // The countdown counts down (a new attempt may start it again, higher on the ladder).
  const countdown = async () => { const x = await link(page); return { attempt: x.attempt, left: Number(/in ([\d.]+) s/.exec(x.text)?.[1]) }; };
  await waitFor(async () => (await countdown()).left >= 1, 20000, "never a wait of a second to watch");
  const a = await countdown();
  await new Promise((r) => setTimeout(r, 400));
  const b = await countdown();
  assert.ok(b.attempt !== a.attempt || b.left < a.left, `the countdown stood still: ${JSON.stringify([a, b])}`);
  // Prices keep their age while nothing comes.
  const age1 = (await row(page, "AAPL")).age;
  await new Promise((r) => setTimeout(r, 1200));
  assert.ok((await row(page, "AAPL")).age > age1, "the age of a stale price grows");
  await page.screenshot({ path: screenshot("faults-down-1280.png") });

  // "retry now" makes an attempt at once: refused, it is the next one on the ladder.
  await waitFor(async () => (await countdown()).left >= 2, 30000, "no wait to cut short");
  const before = (await link(page)).attempt;
  await page.click("#retry");
  await waitFor(async () => (await link(page)).attempt > before, 900, "retry now made no attempt");
  let longest = 0;
  for (let i = 0; i < 20; i++) {
    longest = Math.max(longest, (await countdown()).left || 0);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(longest <= 5, `a wait of ${longest} s: past the client's 5 s cap`);

  // Back: live again at the first attempt after the gateway returns.
  gw = await startGateway({ TICKGATE_FEED_SIM_RATE: "3000" }, port);
  const back = (await link(page)).attempt;
  await waitFor(async () => (await link(page)).state === "open", 15000, "not live again");
  assert.ok((await link(page)).attempt <= back + 1, "attempts failed after the gateway was back");
  l = await link(page);
  assert.deepEqual([l.text, l.mode, l.retry, l.stale], ["live", "live", false, false]);

  // The restart is a gap of a new run: said so, without moving the chart, then gone.
  const msg = () => page.locator("#msg").textContent();
  await waitFor(async () => /^Gap in .*AAPL.*: the feed restarted while this page was away/.test(await msg()), 15000, async () => "no restart notice: " + await msg());
  assert.equal(await page.locator('#rows [data-sym="AAPL"] .gap').textContent(), "restart");
  assert.equal((await page.locator("#chart").boundingBox()).y, chartY, "the notice moved the chart");
  await waitFor(async () => (await row(page, "AAPL")).opacity === 1, 5000, "prices still dimmed");
  await page.screenshot({ path: screenshot("faults-back-1280.png") });
  await waitFor(async () => (await msg()) === "", 20000, async () => "the notice stayed: " + await msg());
  assert.deepEqual(errors, []);
});

test("the page after a network drop its gateway's history cannot cover: the gap named as history too short", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000", TICKGATE_FANOUT_HISTORY: "0" });
  const proxy = await startProxy(gw.port); // the page connects to the host it came from
  t.after(() => proxy.close());
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = watchErrors(page);
  await page.goto(`http://127.0.0.1:${proxy.port}/?symbols=AAPL,MSFT`);
  await waitFor(async () => (await row(page, "MSFT")).px !== "—", 15000, "MSFT never priced");
  proxy.drop();
  const msg = () => page.locator("#msg").textContent();
  await waitFor(async () => /^Gap in (AAPL, MSFT|MSFT, AAPL): history too short: the gateway no longer had the missed ticks/.test(await msg()), 15000,
    async () => "no history notice: " + await msg());
  assert.equal(await page.locator('#rows [data-sym="AAPL"] .gap').textContent(), "gap");
  assert.equal((await link(page)).state, "open");
  assert.deepEqual(errors, []);
});

const fixture = join(dirname(fileURLToPath(import.meta.url)), "../../../cmd/gateway/testdata/bars.ndjson");

test("a replay on recorded timestamps: no latency, ages on the feed's clock that fit their column", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, {
    TICKGATE_FEED_SOURCE: "replay", TICKGATE_FEED_REPLAY_PATH: fixture, TICKGATE_FEED_REPLAY_TIMESTAMPS: "recorded",
    TICKGATE_FEED_REPLAY_LOOP: "true",
  });
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = watchErrors(page);
  await page.goto(gw.http + "/?symbols=AAPL,MSFT");
  await waitFor(async () => (await row(page, "AAPL")).px !== "—", 15000, "AAPL never priced");
  await waitFor(async () => (await page.locator("#lat").textContent()) === "n/a", 5000,
    async () => "a latency of a recording: " + await page.locator("#lat").textContent());
  assert.match(await page.locator("#lat").getAttribute("title"), /behind this page's clock: a replay on recorded timestamps/);
  const r = await row(page, "AAPL");
  assert.ok(r.age < 60, `an age on the recording's clock, not years: ${r.age} s`);
  assert.ok(r.ageFits, "the Age column cuts its text");
  await page.screenshot({ path: screenshot("faults-replay-1280.png") });
  assert.deepEqual(errors, []);
});
