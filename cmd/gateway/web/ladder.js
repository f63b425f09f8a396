// ladder.js: the depth ladder of the selected symbol, beside the chart:
// its order book from the "book" stream, the best bids and asks side by
// side, best first, each level with a bar sized to the largest one shown.
// The client (tickgate.js) keeps the book, proves it by its checksum after
// every message and resyncs a copy that went wrong; the ladder draws the
// client's copy once per animation frame, and says when it cannot vouch
// for it (a snapshot on its way, the link down) or cannot have it (a token
// whose grant has no book stream). The panel carries what it drew as data-
// attributes (data-sym, data-state, data-seq, data-checksum, and each
// level's data-px and data-sz), which the Chromium tests read.

import { grants } from "./auth.js";
import { fmtPx, gapCause } from "./format.js";

const CAUSE_MS = 8000; // how long the ladder says why it took its book afresh, once it has

/** Ladder draws the book of one symbol in the #ladder section. */
export class Ladder {
  #tg; #el; #body; #sub = null; #gen = 0; #frame = 0;
  #rate; #live = true;
  #state = "off"; // off, loading, live, waiting (a snapshot on its way), forbidden, error
  #why = ""; // why there is no ladder (forbidden), or what went wrong (error)
  #cause = null; // {text, at}: why the copy was last taken afresh (a resync, a gap)
  sym = null;

  /**
   * @param {import("/tickgate.js").Client} tg
   * @param {HTMLElement} el the #ladder section
   * @param {{rate: number, token: string|null}} opts the page's max rate; its token, whose grant may leave out book
   */
  constructor(tg, el, { rate, token }) {
    this.#tg = tg;
    this.#el = el;
    this.#body = el.querySelector(".ladder-body");
    this.#rate = rate;
    tg.on("notice", (n) => { if (n.code === "revoked" && n.stream === "book") this.#forbid("the gateway revoked it: the token's grant no longer covers book"); });
    if (token && !grants(token, "book")) this.#forbid("this token's grant has no book stream");
  }

  /** show draws sym's book; the same symbol again changes nothing. */
  show(sym) {
    if (sym === this.sym && (this.#sub || this.#state === "forbidden")) return;
    this.sym = sym;
    this.#el.dataset.sym = sym;
    this.#sub?.close().catch(() => {});
    this.#sub = null;
    if (this.#state === "forbidden") return this.#schedule();
    this.#open();
  }

  /** clear stops drawing (the selected symbol left the watchlist). */
  clear() {
    this.#sub?.close().catch(() => {});
    this.#sub = null;
    this.sym = null;
    this.#gen++;
    this.#el.dataset.sym = "";
    if (this.#state !== "forbidden") this.#state = "off";
    this.#schedule();
  }

  /** setRate follows the page's max rate (0: every message). */
  setRate(rate) {
    this.#rate = rate;
    this.#sub?.setMaxRate(rate).catch(() => {});
  }

  /** live says whether the link is live (open, feed up): while it is not, the ladder is dimmed. */
  live(on) {
    this.#live = on;
    this.#schedule();
  }

  #open() {
    const gen = ++this.#gen;
    const sym = this.sym;
    this.#state = "loading";
    this.#cause = null;
    const sub = this.#tg.subscribe([sym], { stream: "book", maxRate: this.#rate }, () => {
      if (gen !== this.#gen) return;
      this.#state = "live";
      this.#schedule();
    });
    this.#sub = sub;
    sub.on("resync", (r) => {
      if (gen === this.#gen) this.#lost(`Checksum differed at seq ${r.seq}`);
    });
    sub.on("gap", (g) => {
      if (gen !== this.#gen || g.reason === "seq") return; // a seq gap comes with its resync
      const why = gapCause(g, "book updates");
      this.#lost(why[0].toUpperCase() + why.slice(1));
    });
    sub.ready.catch((err) => {
      if (gen !== this.#gen) return;
      if (err.code === "forbidden") return this.#forbid("the gateway refused it (" + err.message + ")");
      this.#state = "error";
      this.#why = `No book for ${sym}: ${err.message}`;
      this.#schedule();
    });
    this.#schedule();
  }

  /** forbid leaves the page without a ladder, saying why. */
  #forbid(why) {
    this.#sub?.close().catch(() => {});
    this.#sub = null;
    this.#gen++;
    this.#state = "forbidden";
    this.#why = `No depth ladder: ${why}. Depth is licensed apart from trades; the rest of the page is unaffected.`;
    this.#schedule();
  }

  /** lost takes the copy as waiting for a fresh snapshot, for cause. */
  #lost(cause) {
    this.#state = "waiting";
    this.#cause = { text: cause, at: 0 };
    this.#schedule();
  }

  #schedule() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => { this.#frame = 0; this.#render(); });
  }

  #render() {
    const book = this.#state === "forbidden" || !this.sym ? undefined : this.#tg.book(this.sym);
    if (book && !book.synced && this.#state === "live") this.#state = "waiting";
    const d = this.#el.dataset;
    d.state = this.#state;
    d.seq = book ? String(book.seq) : "";
    d.checksum = book ? String(book.checksum) : "";
    this.#el.classList.toggle("stale", !this.#live || this.#state === "waiting");
    this.#el.querySelector(".ladder-sym").textContent = this.sym ?? "—";
    this.#levels(book);
    this.#head(book);
    this.#describe(book);
  }

  /** levels writes one row per level pair: the i-th best bid beside the i-th best ask. */
  #levels(book) {
    const bids = book?.bids ?? [], asks = book?.asks ?? [];
    const n = Math.max(bids.length, asks.length);
    let max = 0;
    for (const side of [bids, asks]) for (const [, s] of side) if (s > max) max = s;
    while (this.#body.children.length < n) this.#body.append(levelRow());
    while (this.#body.children.length > n) this.#body.lastChild.remove();
    for (let i = 0; i < n; i++) {
      const [bid, ask] = this.#body.children[i].children;
      fill(bid, bids[i], max);
      fill(ask, asks[i], max);
    }
  }

  /** head writes the spread of the copy, to the decimals of its prices, and its mid as the title. */
  #head(book) {
    const out = this.#el.querySelector(".ladder-spread");
    const bid = book?.bids[0]?.[0], ask = book?.asks[0]?.[0];
    const both = bid !== undefined && ask !== undefined;
    out.textContent = both ? "spread " + (ask - bid).toFixed(bid < 1 ? 4 : 2) : "";
    out.title = both ? "mid " + fmtPx((ask + bid) / 2) : "";
  }

  /**
   * describe says what the ladder shows: why there is none; that the copy
   * waits for a snapshot, and why; for CAUSE_MS once it came, why it was
   * taken afresh; else what the levels are, and the seq its checksum proved.
   */
  #describe(book) {
    const n = this.#el.querySelector(".ladder-note");
    const cause = this.#cause, now = Date.now();
    let text, kind = "";
    if (this.#state === "forbidden") text = this.#why;
    else if (this.#state === "error") [text, kind] = [this.#why, "err"];
    else if (!this.sym) text = "Select a symbol to see its order book.";
    else if (this.#state === "loading" || !book) text = `Loading the book of ${this.sym}…`;
    else if (!book.synced) [text, kind] = [`${cause?.text ?? "A gap"}: waiting for a fresh snapshot; the levels shown may be out of date.`, "warn"];
    else if (cause && (!cause.at || now - cause.at < CAUSE_MS)) {
      if (!cause.at) { cause.at = now; setTimeout(() => this.#schedule(), CAUSE_MS + 50); }
      [text, kind] = [`${cause.text}: book taken afresh, checksum verified at seq ${book.seq}.`, "warn"];
    } else text = `Best ${Math.max(book.bids.length, book.asks.length)} levels a side; bars to the largest shown. Checksum verified at seq ${book.seq}.`;
    if (n.textContent !== text) n.textContent = text;
    n.className = "ladder-note " + kind;
  }
}

/** levelRow makes a row of the ladder: a bid cell (size, price) and an ask cell (price, size), each with its bar. */
function levelRow() {
  const row = document.createElement("div");
  row.className = "lv";
  for (const side of ["bid", "ask"]) {
    const cell = document.createElement("span");
    cell.className = side;
    const bar = document.createElement("i");
    const px = document.createElement("b"), sz = document.createElement("b");
    px.className = "px";
    sz.className = "sz";
    cell.append(bar, ...(side === "bid" ? [sz, px] : [px, sz]));
    row.append(cell);
  }
  return row;
}

/** fill writes one level (or none) into its cell, its bar a share of max. */
function fill(cell, level, max) {
  const [bar, a, b] = cell.children;
  const [px, sz] = cell.className === "bid" ? [b, a] : [a, b];
  if (!level) {
    cell.removeAttribute("data-px");
    cell.removeAttribute("data-sz");
    px.textContent = sz.textContent = "";
    bar.style.width = "0";
    return;
  }
  const [p, s] = level;
  cell.dataset.px = String(p);
  cell.dataset.sz = String(s);
  px.textContent = fmtPx(p);
  sz.textContent = s.toLocaleString("en-US");
  bar.style.width = (max ? (100 * s) / max : 0).toFixed(1) + "%";
}
