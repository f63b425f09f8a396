// app.js: the watchlist page at /, built on the @tickgate/client module the
// gateway serves at /tickgate.js. The client owns the connection,
// reconnects, recovery and gaps; auth.js the token, status.js what the
// header says about the link; this file owns the watchlist and its
// rendering: ticks are stored as they come and drawn once per animation
// frame, so a busy symbol costs one DOM update per frame, not per tick.
// Beside the chart, ladder.js draws the selected symbol's order book;
// trading.js puts each symbol's trading status (halted, ...) on its row.
// While the page cannot vouch for its prices (no connection, the feed
// down, the token refused) the watchlist is dimmed and each price shows
// its age.

import { connect } from "/tickgate.js";
import { Spark } from "./spark.js";
import { ChartPanel, STREAMS } from "./chartpanel.js";
import { Auth, refusal } from "./auth.js";
import { Ladder } from "./ladder.js";
import { Trading } from "./trading.js";
import { FeedClock, Link } from "./status.js";
import { fmtAge, fmtPx, gapCause, gapLabel, signed } from "./format.js";

const DEFAULTS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM"];
const LIST_KEY = "tickgate.watchlist";
const RATE_KEY = "tickgate.maxRate";
const CHART_KEY = "tickgate.chart"; // {sym, stream}
const FLASH_EVERY_MS = 700; // a busy row flashes at most this often, so each flash fades out fully
const STALE_MS = 5000;
const SAY_MS = { ok: 6000, warn: 12000, err: 20000, "": 8000 }; // how long a message stays
const BADGE_MS = 60000; // how long a row keeps its gap badge

const $ = (id) => document.getElementById(id);

const page = {
  known: new Set(), universe: [], prevClose: null, // Map sym -> previous close, or null: use first price seen
  rows: new Map(), dirty: new Set(), watch: [], rate: 10, gaps: new Map(), // sym -> {at, reason} of its last gap
  msgs: 0, frame: 0, tg: null, sub: null, chart: null, // ChartPanel
  ladder: null, trading: null, // Ladder, Trading
  auth: null, link: null, clock: new FeedClock(), sayTimer: 0,
};

// ---- messages ----

/**
 * say shows one message on the line above the chart: a line of its own
 * height, whatever the text (the whole of it is the title), so a message
 * never moves the chart; it goes away by itself.
 */
function say(text, kind = "") {
  const m = $("msg");
  m.textContent = text;
  m.title = text;
  m.className = "msg " + kind;
  clearTimeout(page.sayTimer);
  if (text) page.sayTimer = setTimeout(() => say(""), SAY_MS[kind] ?? SAY_MS[""]);
}

// ---- rows ----

function rowFor(sym) {
  let row = page.rows.get(sym);
  if (row) return row;
  const el = document.createElement("div");
  el.className = "row pending";
  el.setAttribute("role", "row");
  el.dataset.sym = sym;
  const cells = {};
  for (const k of ["sym", "last", "chg", "pct", "bid", "ask", "sz", "spark", "age", "quote", "x"]) {
    const c = document.createElement("span");
    c.className = "c-" + k;
    c.textContent = k === "sym" ? sym : k === "spark" || k === "x" ? "" : "—";
    cells[k] = c;
    el.append(c);
  }
  const px = document.createElement("span");
  px.className = "px";
  px.textContent = "—";
  cells.last.replaceChildren(px);
  cells.px = px;
  const canvas = document.createElement("canvas");
  cells.spark.append(canvas);
  const gap = document.createElement("span");
  gap.className = "gap";
  gap.hidden = true;
  cells.sym.append(gap);
  const x = document.createElement("button");
  x.type = "button";
  x.textContent = "×";
  x.title = "remove " + sym;
  x.onclick = () => removeSymbol(sym);
  cells.x.append(x);
  el.onclick = (e) => { if (!e.target.closest(".c-x")) select(sym); };
  row = { sym, el, cells, canvas, gap, tick: null, first: null, spark: new Spark(), gaps: 0, gapAt: 0, flashAt: 0, flashRef: null };
  page.rows.set(sym, row);
  $("rows").append(el);
  $("empty").hidden = true;
  return row;
}

function dropRow(sym) {
  const row = page.rows.get(sym);
  if (!row) return;
  row.el.remove();
  page.rows.delete(sym);
  page.dirty.delete(row);
  $("empty").hidden = page.rows.size > 0;
}

function baseOf(row) {
  if (page.prevClose) return page.prevClose.get(row.sym) ?? null;
  return row.first;
}

function render() {
  page.frame = 0;
  const now = performance.now();
  for (const row of page.dirty) {
    const t = row.tick, c = row.cells;
    row.el.classList.remove("pending");
    c.px.textContent = fmtPx(t.px);
    const base = baseOf(row);
    if (base != null) {
      const d = t.px - base, cls = d > 0 ? "up" : d < 0 ? "down" : "";
      c.chg.textContent = signed(d, 2);
      c.pct.textContent = signed((d / base) * 100, 2) + "%";
      c.chg.className = "c-chg " + cls;
      c.pct.className = "c-pct " + cls;
    }
    c.bid.textContent = fmtPx(t.bid);
    c.ask.textContent = fmtPx(t.ask);
    c.sz.textContent = t.sz.toLocaleString("en-US");
    c.quote.textContent = `${fmtPx(t.bid)} × ${fmtPx(t.ask)}`;
    row.el.classList.toggle("synthetic", !!t.synthetic);
    row.el.title = t.synthetic ? "last price synthetic: the simulator's made-up past, not a trade" : "";
    flash(row, t.px, now);
  }
  page.dirty.clear();
}

/** flash colours the last price green or red and fades it; a busy row flashes at most every FLASH_EVERY_MS. */
function flash(row, px, now) {
  if (row.flashRef === null) { row.flashRef = px; return; }
  if (px === row.flashRef || now - row.flashAt < FLASH_EVERY_MS) return;
  const cls = px > row.flashRef ? "fu" : "fd";
  row.flashRef = px;
  row.flashAt = now;
  const el = row.cells.px;
  el.classList.remove("fu", "fd");
  void el.offsetWidth; // restart the animation
  el.classList.add(cls);
}

function onTick(t) {
  const now = Date.now();
  page.msgs++;
  page.clock.observe(t, now);
  const row = page.rows.get(t.sym);
  if (!row) return;
  row.tick = t;
  if (row.first === null) row.first = t.px;
  row.spark.push(now, t.px);
  page.dirty.add(row);
  if (!page.frame) page.frame = requestAnimationFrame(render);
}

// ---- the watchlist ----

function save() {
  page.watch = [...page.rows.keys()];
  localStorage.setItem(LIST_KEY, JSON.stringify(page.watch));
}

function parseSymbols(text) {
  return [...new Set(text.toUpperCase().split(/[\s,;]+/).filter(Boolean))];
}

/** addSymbols subscribes; the gateway takes a subscribe whole or not at all, and the page says which. */
async function addSymbols(syms) {
  syms = syms.filter((s) => !page.rows.has(s));
  if (!syms.length) return;
  syms.forEach(rowFor);
  save();
  try {
    await page.sub.add(syms);
    page.trading.add(syms);
    say("Added " + syms.join(", "), "ok");
    if (!page.chart.sym) select(syms[0]);
  } catch (err) {
    syms.forEach(dropRow);
    save();
    const bad = page.known.size ? syms.filter((s) => !page.known.has(s)) : [];
    const good = syms.filter((s) => page.known.has(s) && !bad.includes(s));
    if (err.code === "unknown_symbol" && bad.length && good.length) {
      await addSymbols(good);
      say(`Added ${good.join(", ")}. Not added: ${bad.join(", ")} (gateway: ${err.message})`, "err");
    } else {
      say(`Not added: ${syms.join(", ")} (gateway: ${err.message})`, "err");
    }
  }
}

function removeSymbol(sym) {
  dropRow(sym);
  save();
  if (page.chart.sym === sym) {
    const next = page.rows.keys().next().value;
    if (next) select(next); else { page.chart.clear(); page.ladder.clear(); page.trading.chart(null); }
  }
  page.sub.remove([sym]).catch((err) => say(`Remove ${sym}: ${err.message}`, "err"));
  page.trading.remove([sym]);
}

// ---- search with suggestions ----

function suggestions(q) {
  if (!q) return [];
  const free = page.universe.filter((s) => !page.rows.has(s));
  const starts = free.filter((s) => s.startsWith(q));
  const has = free.filter((s) => !s.startsWith(q) && s.includes(q));
  return starts.concat(has).slice(0, 8);
}

function wireSearch() {
  const q = $("q"), list = $("sugg");
  let items = [], sel = -1;
  const show = () => {
    list.replaceChildren(...items.map((s, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === sel));
      li.append(s);
      const pc = page.prevClose?.get(s);
      if (pc != null) { const sm = document.createElement("small"); sm.textContent = "prev " + fmtPx(pc); li.append(sm); }
      li.onmousedown = (e) => { e.preventDefault(); pick(s); };
      return li;
    }));
    list.hidden = !items.length;
    q.setAttribute("aria-expanded", String(items.length > 0));
  };
  const pick = (s) => { q.value = ""; items = []; show(); addSymbols([s]); };
  q.addEventListener("input", () => {
    items = suggestions(q.value.trim().toUpperCase());
    sel = items.length ? 0 : -1;
    show();
  });
  q.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!items.length) return;
      e.preventDefault();
      sel = (sel + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      show();
    } else if (e.key === "Escape") { items = []; show(); }
  });
  q.addEventListener("blur", () => { items = []; show(); });
  $("add").addEventListener("submit", (e) => {
    e.preventDefault();
    const typed = parseSymbols(q.value);
    // A single partial word with a suggestion picks it; anything else is sent as typed.
    if (typed.length === 1 && sel >= 0 && items[sel] && !page.known.has(typed[0])) pick(items[sel]);
    else { q.value = ""; items = []; show(); addSymbols(typed); }
  });
}

// ---- the chart ----

/** select charts sym: its row is marked, the choice is kept for the next visit. */
function select(sym, stream = page.chart.stream) {
  for (const row of page.rows.values()) {
    row.el.classList.toggle("sel", row.sym === sym);
    row.el.setAttribute("aria-selected", String(row.sym === sym));
  }
  localStorage.setItem(CHART_KEY, JSON.stringify({ sym, stream }));
  page.chart.show(sym, stream);
  page.ladder.show(sym);
  page.trading.chart(sym);
}

function wireChart(list) {
  page.chart = new ChartPanel(page.tg, $("chart"));
  page.ladder = new Ladder(page.tg, $("ladder"), { rate: page.rate, token: page.auth.token });
  page.ladder.live(page.link.live);
  for (const b of document.querySelectorAll("#span button")) {
    b.setAttribute("role", "radio");
    b.onclick = () => page.chart.sym && select(page.chart.sym, b.dataset.stream);
  }
  let kept = {};
  try { kept = JSON.parse(localStorage.getItem(CHART_KEY)) || {}; } catch { /* first visit */ }
  const stream = STREAMS[kept.stream] ? kept.stream : "bars.1m";
  page.chart.stream = stream;
  const sym = list.includes(kept.sym) ? kept.sym : list[0];
  if (sym) select(sym, stream);
}

// ---- the bar ----

function wireRate() {
  const seg = $("rate");
  const mark = () => {
    for (const b of seg.querySelectorAll("button")) b.setAttribute("aria-checked", String(Number(b.dataset.rate) === page.rate));
  };
  for (const b of seg.querySelectorAll("button")) {
    b.setAttribute("role", "radio");
    b.onclick = async () => {
      page.rate = Number(b.dataset.rate);
      localStorage.setItem(RATE_KEY, String(page.rate));
      mark();
      page.ladder.setRate(page.rate);
      try {
        const r = await page.sub.setMaxRate(page.rate);
        if (page.rate && r?.max_rate && r.max_rate !== page.rate) say(`Gateway rate class: ${r.max_rate}/s`, "warn");
      } catch (err) { say("Rate change failed: " + err.message, "err"); }
    };
  }
  mark();
}

/** tickStats writes the latency and each price's age, on the feed's clock (status.js). */
function tickStats() {
  const now = Date.now();
  page.clock.show(now, page.link.live);
  for (const row of page.rows.values()) {
    if (!row.tick) continue;
    const age = page.clock.age(row.tick.ts, now);
    row.cells.age.textContent = fmtAge(age);
    row.cells.age.classList.toggle("stale", age > STALE_MS);
    if (row.gapAt && now - row.gapAt > BADGE_MS) { row.gap.hidden = true; row.gapAt = 0; row.gaps = 0; }
  }
}

// ---- start ----

/**
 * fetchSymbols asks /symbols (?detail=1 with detail) with token, if any:
 * {list} when answered, {refused} with the gateway's reason on a 401, or
 * {} when the gateway could not be asked.
 */
async function fetchSymbols(token, detail = false) {
  try {
    const r = await fetch("/symbols" + (detail ? "?detail=1" : ""), { headers: token ? { Authorization: "Bearer " + token } : {} });
    if (r.status === 401) return { refused: (await r.json().catch(() => ({}))).error || "missing" };
    return r.ok ? { list: await r.json() } : {};
  } catch { return {}; }
}

/** checkToken says whether the gateway takes token, as the token field asks before using it. */
async function checkToken(token) {
  const r = await fetchSymbols(token);
  return r.refused ? { ok: false, reason: r.refused } : { ok: true };
}

/** loadSymbols learns the symbols and previous closes; it returns the refusal reason when the gateway wants a (better) token. */
async function loadSymbols() {
  const token = page.auth.token;
  const got = await fetchSymbols(token);
  if (got.refused) return got.refused;
  page.universe = Array.isArray(got.list) ? got.list : [];
  page.known = new Set(page.universe);
  const d = (await fetchSymbols(token, true)).list;
  if (Array.isArray(d) && d.length && d.every((x) => typeof x?.sym === "string" && typeof x.prev_close === "number")) {
    page.prevClose = new Map(d.map((x) => [x.sym, x.prev_close]));
  }
  // Said only once the gateway answered: a page it refused has no basis to state.
  $("basis").textContent = page.prevClose
    ? "Change is against each symbol's previous close."
    : "Change is against the first price this page saw: this gateway serves no previous close.";
  $("basis").dataset.basis = page.prevClose ? "prev_close" : "first_seen";
  return null;
}

/** askToken waits for a token the gateway takes, saying why one is wanted. */
function askToken(reason) {
  page.link.refuse(reason);
  const why = reason === "missing" ? "This gateway (auth.mode jwt) needs a token to show prices."
    : `Token refused: ${refusal(reason)}. Paste another one.`;
  return page.auth.ask(why, checkToken);
}

/**
 * renewToken is the client's onToken: after a 4003 (the link says why) and
 * shortly before the token's exp, it asks for a fresh one and waits for it.
 * A gateway that does not check tokens (its authenticated reply names no
 * expiry) keeps the one it has.
 */
function renewToken() {
  if (page.auth.unchecked) return page.auth.token;
  if (page.link.state === "refused") return page.auth.ask(`Token refused: ${page.link.why}. Paste a fresh one to go on.`, checkToken);
  return page.auth.ask("The token is about to expire: paste a fresh one to stay connected.", checkToken);
}

function initialList() {
  const q = new URLSearchParams(location.search).get("symbols");
  let list = q ? parseSymbols(q) : null;
  if (!list) try { list = JSON.parse(localStorage.getItem(LIST_KEY)); } catch { list = null; }
  if (!Array.isArray(list)) {
    list = DEFAULTS.filter((s) => page.known.has(s));
    if (!list.length) list = page.universe.slice(0, 8);
  }
  if (!page.known.size) return list;
  const gone = list.filter((s) => !page.known.has(s));
  if (gone.length) say(`Not carried by this gateway, left out: ${gone.join(", ")}`, "warn");
  return list.filter((s) => page.known.has(s));
}

function wireClient() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const token = page.auth.token || undefined;
  const tg = connect(url, { token, tokenIn: "message", onToken: token ? renewToken : undefined });
  page.tg = tg;
  page.link.watch(tg);
  let lost = false;
  tg.on("state", (s, info = {}) => {
    if (info.code === 4003 && /expired/.test(info.reason ?? "")) page.auth.expired();
    if (s === "reconnecting") lost = true;
    if (s === "open" && lost) { lost = false; say("Reconnected " + new Date().toLocaleTimeString() + "; resubscribed with recovery.", "ok"); }
  });
  tg.on("authenticated", (m) => page.auth.authenticated(m));
  tg.on("error", (e) => say(e.message, "err"));
  tg.on("gap", onGap);
}

/**
 * onGap marks the rows of a ticks gap and says its cause once for the
 * symbols that gapped for the same cause in the last few seconds (a
 * restart gaps them all, one event at a time); the chart's subscription
 * hears its own.
 */
function onGap(g) {
  if (g.stream && g.stream !== "ticks") return;
  const why = gapCause(g), now = Date.now();
  for (const sym of g.symbols) {
    const row = page.rows.get(sym);
    if (!row) continue;
    row.gaps++;
    row.gapAt = now;
    row.gap.hidden = false;
    row.gap.textContent = gapLabel(g) + (row.gaps > 1 ? " ×" + row.gaps : "");
    row.gap.title = why;
    row.spark.clear();
    row.flashRef = null;
  }
  for (const sym of g.symbols) page.gaps.set(sym, { at: now, reason: g.reason });
  for (const [sym, x] of page.gaps) if (x.at < now - 5000) page.gaps.delete(sym);
  const same = [...page.gaps].filter(([, x]) => x.reason === g.reason).map(([sym]) => sym);
  const named = same.length > 4 ? same.slice(0, 3).join(", ") + ` and ${same.length - 3} more` : same.join(", ");
  say(`Gap in ${named}: ${why}.`, "warn");
}

async function start() {
  $("hint").textContent = `npx --yes wscat -c 'ws://${location.host}/ws?symbols=AAPL'`;
  page.auth = new Auth();
  page.link = new Link((live) => { $("list").classList.toggle("stale", !live); page.ladder?.live(live); });
  for (let refused = await loadSymbols(); refused; refused = await loadSymbols()) {
    document.body.dataset.waiting = "token"; // nothing to show until the gateway takes the page's token
    await askToken(refused);
  }
  delete document.body.dataset.waiting;
  const stored = Number(localStorage.getItem(RATE_KEY));
  page.rate = [0, 10, 4, 1].includes(stored) && localStorage.getItem(RATE_KEY) !== null ? stored : 10;
  wireClient();
  const list = initialList();
  list.forEach(rowFor);
  $("empty").hidden = list.length > 0;
  save();
  page.sub = page.tg.subscribe(list, { maxRate: page.rate }, onTick);
  page.sub.ready.catch((err) => say("Subscribe failed: " + err.message, "err"));
  page.trading = new Trading(page.tg, list, page.auth.token);
  wireChart(list);
  wireSearch();
  wireRate();
  setInterval(tickStats, 250);
  setInterval(() => { $("mps").textContent = page.msgs + "/s"; page.msgs = 0; }, 1000);
  setInterval(() => {
    const now = Date.now();
    for (const row of page.rows.values()) row.spark.draw(row.canvas, now, baseOf(row));
  }, 500);
}

start();
