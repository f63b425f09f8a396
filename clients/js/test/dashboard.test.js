// clients/js/README.md's "dashboard in 20 lines", as written there, in a
// real Chromium: the page comes from a second local HTTP server (another
// origin than the gateway's), imports the client from the gateway and
// shows ticks. The only change made to it is the gateway's port (a free
// one here, 8080 in the README).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { waitFor, withGateway } from "./gateway.js";
import { launch, screenshot, skip } from "./chromium.js";

const readme = join(dirname(fileURLToPath(import.meta.url)), "..", "README.md");

/** snippet is the README's html block under "A dashboard in 20 lines". */
function snippet() {
  const text = readFileSync(readme, "utf8");
  const section = text.slice(text.indexOf("## A dashboard in 20 lines"));
  const m = /```html\n([\s\S]*?)```/.exec(section);
  assert.ok(m, "no html block under 'A dashboard in 20 lines' in clients/js/README.md");
  return m[1];
}

/** servePage serves html at /dashboard.html from a server of its own on a free port, until t ends. */
async function servePage(t, html) {
  const server = http.createServer((req, res) => {
    if (req.url === "/favicon.ico") { res.writeHead(204).end(); return; } // a browser asks; not the page's doing
    if (req.url !== "/dashboard.html") { res.writeHead(404).end(); return; }
    res.writeHead(200, { "Content-Type": "text/html" }).end(html); // no charset: the page's <meta> must say it
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => server.close());
  return `http://localhost:${server.address().port}/dashboard.html`;
}

/** openDashboard opens the README's page, pointed at gw, and collects what the console says. */
async function openDashboard(t, gw) {
  const html = snippet();
  assert.match(html, /<meta charset="utf-8">/);
  assert.equal(html.split("\n").filter(Boolean).length <= 22, true, "the dashboard is no longer about 20 lines");
  const url = await servePage(t, html.replaceAll("localhost:8080", `localhost:${gw.port}`));
  const browser = await launch(t);
  const page = await (await browser.newContext({ viewport: { width: 800, height: 400 } })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url);
  return { page, errors };
}

test("the README's dashboard, served from a second origin, shows ticks", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_FEED_SIM_RATE: "3000" });
  const { page, errors } = await openDashboard(t, gw);
  await waitFor(async () => (await page.locator("#state").textContent()) === "open", 15000, () => "never open: " + errors.join("; "));
  await waitFor(async () => (await page.locator("#rows tr").count()) === 3, 15000, "three rows never filled");
  const priceOf = (sym) => page.locator("#rows tr", { hasText: sym }).locator("td").nth(1).textContent();
  for (const sym of ["AAPL", "MSFT", "NVDA"]) assert.match(await priceOf(sym), /^\d+\.\d\d$/, `${sym} price`);
  const first = await priceOf("AAPL");
  await waitFor(async () => (await priceOf("AAPL")) !== first, 15000, `AAPL stayed at ${first}`);
  // The × in the template is read as UTF-8, which only the <meta> says.
  assert.match(await page.locator("#rows tr").first().locator("td").nth(2).textContent(), /^\d+(\.\d+)? × \d+(\.\d+)?$/);
  await page.screenshot({ path: screenshot("dashboard-readme.png") });
  assert.deepEqual(errors, []);
});

test("without Access-Control-Allow-Origin for its origin, the same page cannot load the client", { skip, timeout: 60000 }, async (t) => {
  const gw = await withGateway(t, { TICKGATE_SERVER_JS_CLIENT_ORIGINS: "dashboards.example.com" });
  const res = await fetch(gw.http + "/tickgate.js", { headers: { Origin: "http://localhost:1234" } });
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  const { page, errors } = await openDashboard(t, gw);
  await waitFor(() => errors.some((e) => /CORS|Access-Control-Allow-Origin/.test(e)), 15000, () => "no CORS error: " + errors.join("; "));
  assert.equal(await page.locator("#rows tr").count(), 0);
});
