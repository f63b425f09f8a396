// trading.js: each watched symbol's trading status, from the "status"
// stream: a badge on its watchlist row and, for the charted symbol, on the
// chart: HALTED, AUCTION or CLOSED (the feed's word) and STALE (the
// gateway's: no tick for status.stale_after while the feed is up). An open
// symbol shows none. The badge's title says the reason code in words. The
// client keeps each symbol's last status (tg.status), and the gateway sends
// the current one again on every resubscribe, so a reconnect repaints them.

import { grants } from "./auth.js";

/** LABELS are the statuses a badge shows; open has none. */
const LABELS = { halted: "HALTED", auction: "AUCTION", closed: "CLOSED", stale: "STALE" };

/** REASONS are the feed's reason codes in words (the simulator's; others are shown as they come). */
const REASONS = { LUDP: "limit up-limit down pause", T1: "news pending" };

/** titleOf says what a status means, for the badge's title. */
function titleOf(s) {
  const why = s.reason ? ` (${s.reason}${REASONS[s.reason] ? ": " + REASONS[s.reason] : ""})` : "";
  if (s.status === "stale") return "stale: the gateway has had no trade for this symbol for a while, though the feed is up";
  return `${s.status}${why}, since ${new Date(s.ts / 1e6).toLocaleTimeString()}`;
}

/** Trading holds one status subscription for the watchlist and paints the badges. */
export class Trading {
  #tg; #sub = null; #charted = null;

  /**
   * @param {import("/tickgate.js").Client} tg
   * @param {string[]} syms the watchlist
   * @param {string|null} token the page's token: a grant without status leaves the badges out
   */
  constructor(tg, syms, token) {
    this.#tg = tg;
    if (token && !grants(token, "status")) return;
    this.#sub = tg.subscribe(syms, { stream: "status" }, (s) => this.#paint(s.sym));
    this.#sub.ready.catch(() => {}); // the client's error event says why
  }

  /** add follows symbols added to the watchlist. */
  add(syms) { this.#sub?.add(syms).catch(() => {}); }

  /** remove follows a symbol that left the watchlist. */
  remove(syms) { this.#sub?.remove(syms).catch(() => {}); }

  /** chart names the charted symbol, whose status the chart's badge shows. */
  chart(sym) {
    this.#charted = sym;
    this.#paint(sym);
  }

  /** paint sets sym's badges, on its row and, if charted, on the chart. */
  #paint(sym) {
    const s = this.#tg.status(sym);
    const row = document.querySelector(`#rows [data-sym="${CSS.escape(sym)}"] .c-sym`);
    if (row) set(row.querySelector(".badge") || row.appendChild(badgeEl()), s);
    if (sym === this.#charted) set(document.getElementById("chartBadge"), s);
  }
}

function badgeEl() {
  const b = document.createElement("span");
  b.className = "badge";
  b.hidden = true;
  return b;
}

/** set shows status s on badge b, or hides it (open, or no status known). */
function set(b, s) {
  const label = s && LABELS[s.status];
  b.hidden = !label;
  b.dataset.status = s?.status ?? "";
  b.textContent = label || "";
  b.title = label ? titleOf(s) : "";
}
