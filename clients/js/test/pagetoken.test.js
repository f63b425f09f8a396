// The page at / against a gateway with auth.mode jwt, in a real Chromium
// (Debian's, driven by playwright-core): no token, a refused one, a good
// one from the field and from ?token=, and one that expires while the page
// is open. Tokens come from `gateway token` (the command a user runs), or
// are signed here where the command will not make them (expired, forged,
// seconds long). Screenshots go to clients/js/test-output/.

import assert from "node:assert/strict";
import { test } from "node:test";
import { hs256, mintToken, waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip, watchErrors } from "./chromium.js";

const secret = "0123456789abcdef0123456789abcdef";
const now = () => Math.floor(Date.now() / 1000);

/** watch collects a page's errors; the 401s and refused connects a token test causes on purpose are not errors. */
const watch = (page) => watchErrors(page, /status of 401|WebSocket connection to .* failed/);

/** conn is what the connection pill says: its state, its text, and the delivery pill. */
const conn = (page) => page.evaluate(() => ({
  state: document.getElementById("conn").dataset.state,
  text: document.getElementById("connText").textContent,
  why: document.getElementById("connWhy").textContent,
  mode: document.getElementById("mode").textContent,
}));

/** pricedRows is the symbols whose row shows a price. */
const pricedRows = (page) => page.locator("#rows .row").evaluateAll((els) =>
  els.filter((e) => e.querySelector(".c-last .px").textContent !== "—").map((e) => e.dataset.sym));

async function ticking(page, sym) {
  const px = () => page.locator(`#rows [data-sym="${sym}"] .c-last .px`).textContent();
  const first = await waitFor(async () => { const v = await px(); return v !== "—" && v; }, 15000, `${sym} never priced`);
  await waitFor(async () => (await px()) !== first, 15000, `${sym} never moved from ${first}`);
}

test("the page with tokens: none, refused, pasted, from ?token=, forged", { skip, timeout: 120000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_AUTH_MODE: "jwt", TICKGATE_AUTH_HMAC_SECRET: secret, TICKGATE_FEED_SIM_RATE: "3000" });
  const browser = await launch(t);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const errors = watch(page);

  // No token: refused, and nothing that looks live or empty.
  await page.goto(gw.http + "/");
  await waitFor(async () => (await conn(page)).state === "refused", 10000, "no refused state without a token");
  assert.deepEqual(await conn(page), { state: "refused", text: "refused", why: "token missing", mode: "—" });
  assert.ok(await page.locator("#tokenForm").isVisible());
  assert.match(await page.locator("#tokenMsg").textContent(), /needs a token/);
  assert.equal(await page.locator("#empty").isVisible(), false, "no empty-watchlist note");
  assert.equal(await page.locator("#list").isVisible(), false, "no watchlist to stand empty");
  assert.equal(await page.locator("#basis").textContent(), "", "no note about previous closes it could not ask for");
  await page.screenshot({ path: screenshot("token-missing-1280.png") });

  // An expired token in the field: not taken, and the page says why.
  await page.fill("#tokenInput", hs256(secret, { sub: "alice", syms: ["*"], tier: "realtime", exp: now() - 60 }));
  await page.click("#tokenForm button[type=submit]");
  await waitFor(async () => /Not taken: it has expired \(expired\)/.test(await page.locator("#tokenMsg").textContent()), 5000,
    async () => "expired token not refused: " + await page.locator("#tokenMsg").textContent());
  assert.equal((await conn(page)).state, "refused");

  // A good one: live, its subject and expiry shown, only its symbols.
  const good = mintToken(secret, ["--sub", "alice", "--syms", "AAPL,MSFT,NVDA", "--tier", "realtime", "--ttl", "10m"]);
  await page.fill("#tokenInput", good);
  await page.click("#tokenForm button[type=submit]");
  await waitFor(async () => (await conn(page)).state === "open", 10000, "not live with a good token");
  await ticking(page, "AAPL");
  const c = await conn(page);
  assert.deepEqual([c.text, c.mode], ["live", "live"]);
  assert.equal(await page.locator("#tokenForm").isVisible(), false);
  assert.equal(await page.locator("#tokenSub").textContent(), "alice");
  assert.match(await page.locator("#tokenExp").textContent(), /^expires .* \(in (9|10) m\)$/);
  assert.deepEqual((await pricedRows(page)).sort(), ["AAPL", "MSFT", "NVDA"], "the defaults the grant covers");
  // Kept for this tab only, and never in a URL.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("tickgate.token")), good);
  assert.ok(!(await page.evaluate(() => JSON.stringify(localStorage))).includes(good), "not in localStorage");
  await page.screenshot({ path: screenshot("token-live-1280.png") });

  // From ?token=, in a fresh tab: taken, and out of the address bar at once.
  const fresh = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const freshErrors = watch(fresh);
  await fresh.goto(`${gw.http}/?symbols=MSFT&token=${good}`);
  await waitFor(async () => (await conn(fresh)).state === "open", 10000, "not live from ?token=");
  assert.equal(new URL(fresh.url()).search, "?symbols=MSFT", "the token left the URL");
  await ticking(fresh, "MSFT");
  assert.equal(await fresh.locator("#tokenSub").textContent(), "alice");

  // A forged one from ?token=: refused, the reason in words.
  const forged = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  watch(forged);
  await forged.goto(`${gw.http}/?token=${hs256("not-the-gateways-secret-not-it-xx", { sub: "mallory", syms: ["*"], exp: now() + 600 })}`);
  await waitFor(async () => (await conn(forged)).state === "refused", 10000, "forged token not refused");
  assert.equal((await conn(forged)).why, "token bad signature");
  assert.match(await forged.locator("#tokenMsg").textContent(), /Token refused: it is not signed with this gateway's key \(bad_signature\)/);
  assert.equal(new URL(forged.url()).search, "", "the token left the URL");
  assert.deepEqual(errors, []);
  assert.deepEqual(freshErrors, []);
});

test("the page with a token that expires: asks for a fresh one, says it expired, dims its prices, goes on with the next", { skip, timeout: 90000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_AUTH_MODE: "jwt", TICKGATE_AUTH_HMAC_SECRET: secret, TICKGATE_AUTH_LEEWAY: "0s", TICKGATE_FEED_SIM_RATE: "3000" });
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const errors = watch(page);
  const exp = now() + 8;
  await page.goto(`${gw.http}/?symbols=AAPL,MSFT&token=${hs256(secret, { sub: "bob", syms: ["*"], tier: "realtime", exp })}`);
  await waitFor(async () => (await conn(page)).state === "open", 10000, "not live");
  await ticking(page, "AAPL");
  // The client asks for a fresh token before exp: the page asks the user.
  await waitFor(async () => page.locator("#tokenForm").isVisible(), 10000, "no ask before exp");
  assert.match(await page.locator("#tokenMsg").textContent(), /about to expire/);
  assert.ok(now() < exp, "asked before exp");
  // Nobody answers: at exp the gateway closes with 4003, and the page says so.
  await waitFor(async () => (await conn(page)).state === "refused", 10000, "no refused state at exp");
  assert.equal((await conn(page)).why, "token expired");
  assert.equal((await conn(page)).mode, "—", "no live pill");
  await waitFor(async () => /Token refused: it has expired \(expired\)/.test(await page.locator("#tokenMsg").textContent()), 5000,
    async () => "the panel does not say it expired: " + await page.locator("#tokenMsg").textContent());
  await waitFor(async () => (await page.locator("#lat").textContent()) === "—", 3000, "a latency shown with nothing live");
  assert.match(await page.locator("#tokenExp").textContent(), /^expired/);
  assert.equal(await page.locator("#tokenChip").getAttribute("data-expired"), "true");
  assert.ok(await page.locator("#list").evaluate((el) => el.classList.contains("stale")), "prices dimmed");
  assert.ok(Number(await page.locator('#rows [data-sym="AAPL"] .c-last').evaluate((el) => getComputedStyle(el).opacity)) < 0.6);
  await page.screenshot({ path: screenshot("token-expired-1280.png") });

  // A fresh token: the same page goes on, nothing reloaded.
  await page.fill("#tokenInput", mintToken(secret, ["--sub", "bob", "--syms", "*", "--tier", "realtime", "--ttl", "1h"]));
  await page.click("#tokenForm button[type=submit]");
  await waitFor(async () => (await conn(page)).state === "open", 15000, "not live with the fresh token");
  await ticking(page, "MSFT");
  assert.ok(!(await page.locator("#list").evaluate((el) => el.classList.contains("stale"))), "prices no longer dimmed");
  assert.match(await page.locator("#tokenExp").textContent(), /^expires/);
  assert.deepEqual(errors, []);
});
