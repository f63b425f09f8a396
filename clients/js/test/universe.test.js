// The page at / against a whole market, in a real Chromium: its symbol
// search asks the gateway (GET /symbols?q=...&limit=...) instead of
// downloading 10,000 symbols, and a symbol the gateway retires leaves the
// watchlist.

import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip } from "./chromium.js";

/** openPage opens the page of gw at query, recording its /symbols requests and their sizes. */
async function openPage(t, gw, query = "") {
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = [], asked = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", async (r) => {
    const u = new URL(r.url());
    if (u.pathname === "/symbols") asked.push({ query: u.search, bytes: (await r.body().catch(() => Buffer.alloc(0))).length });
  });
  await page.goto(gw.http + "/" + query);
  await waitFor(async () => (await page.locator("#conn").getAttribute("data-state")) === "open", 15000, "page never connected");
  return { page, errors, asked };
}

const rowsOf = (page) => page.locator("#rows .row").evaluateAll((els) => els.map((e) => e.dataset.sym));

test("the page's search against a 10,000-symbol gateway asks by prefix, never for the whole list", { skip, timeout: 90000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_UNIVERSE: "10000", TICKGATE_FEED_SIM_RATE: "4000" });
  const all = await (await fetch(gw.http + "/symbols")).json();
  assert.equal(all.length, 10000);
  const target = all[100]; // the first made-up ticker: hot enough to tick in the test
  const { page, errors, asked } = await openPage(t, gw);
  await waitFor(async () => (await rowsOf(page)).length > 0, 10000, "no default watchlist");

  await page.fill("#q", target.slice(0, 2).toLowerCase()); // a prefix, in any case
  await waitFor(async () => (await page.locator("#sugg li").count()) > 0, 10000, "no suggestions");
  const shown = await page.locator("#sugg li").evaluateAll((els) => els.map((e) => e.firstChild.textContent));
  assert.ok(shown.length <= 8, `${shown.length} suggestions, at most 8`);
  for (const s of shown) assert.ok(s.startsWith(target.slice(0, 2)), `suggestion ${s} does not start with ${target.slice(0, 2)}`);
  await page.screenshot({ path: screenshot("search-10000-1280.png") });

  await page.fill("#q", target);
  await waitFor(async () => (await page.locator("#sugg li").allTextContents()).some((s) => s.startsWith(target)), 10000, `no suggestion ${target}`);
  await page.press("#q", "Enter");
  await waitFor(async () => (await rowsOf(page)).includes(target), 10000, `${target} not added`);
  await waitFor(async () => (await page.locator(`#rows [data-sym="${target}"] .c-last .px`).textContent()) !== "—", 20000, `${target} never priced`);
  // The generated market serves previous closes: the change is against them.
  assert.equal(await page.locator("#basis").getAttribute("data-basis"), "prev_close");
  assert.match(await page.locator(`#rows [data-sym="${target}"] .c-pct`).textContent(), /^[+−]?\d+\.\d\d%$/);

  const whole = asked.filter((a) => !/[?&](q|symbols|limit)=/.test(a.query));
  assert.deepEqual(whole, [], "the page downloaded the whole universe");
  assert.ok(asked.length >= 3, "searches went to the gateway: " + JSON.stringify(asked));
  const biggest = Math.max(...asked.map((a) => a.bytes));
  assert.ok(biggest < 4096, `a /symbols answer of ${biggest} bytes: the page asked for more than it shows`);
  assert.deepEqual(errors, []);
});

test("a symbol the gateway retires leaves the watchlist, and the page says why", { skip, timeout: 90000 }, async (t) => {
  // The simulator delists from the quieter half of its four symbols every
  // 3s, listing a new one in its place. The page watches the two of that
  // half listed when it loads: at most one goes before it subscribes, and
  // the one it holds goes soon after.
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_SYMBOLS: "AAA,BBB,CCC,DDD", TICKGATE_FEED_SIM_RELIST_EVERY: "3s" });
  const quiet = (await (await fetch(gw.http + "/symbols")).json()).slice(2);
  const { page, errors } = await openPage(t, gw, "?symbols=" + ["AAA", ...quiet].join(","));
  const msg = () => page.locator("#msg").textContent();
  const removed = new RegExp(`Removed (${quiet.join("|")}): delisted`);
  await waitFor(async () => removed.test(await msg()), 45000, "no removal message");
  const gone = removed.exec(await msg())[1];
  const left = await rowsOf(page);
  assert.ok(!left.includes(gone), `${gone} still in the watchlist: ${left}`);
  assert.ok(left.includes("AAA"), "the hot symbol stays: " + left);
  assert.ok(!JSON.parse(await page.evaluate(() => localStorage.getItem("tickgate.watchlist"))).includes(gone), "the kept watchlist still names it");
  assert.deepEqual(errors, []);
});
