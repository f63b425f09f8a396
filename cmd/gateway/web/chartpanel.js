// chartpanel.js: the chart panel of the page at /. It holds one bar
// subscription at a time, for the selected symbol on bars.1m (the last 120
// minutes) or bars.1s (the last 120 seconds), with partial updates so the
// forming bar moves. The client (tickgate.js) keeps the bars' seq and
// recovers them after a reconnect; on a gap it could not repair, the panel
// asks the gateway for the history again. The panel's element carries what it
// drew as data- attributes (data-candles, data-final, data-forming,
// data-synthetic, data-slots), which the Chromium tests read.

import { Candles } from "./chart.js";
import { fmtPx, gapCause } from "./format.js";

export const HISTORY = 120;
export const STREAMS = {
  "bars.1m": { interval: 60000, fmt: (d) => d.toTimeString().slice(0, 5) },
  "bars.1s": { interval: 1000, fmt: (d) => d.toTimeString().slice(0, 8) },
};

/** ChartPanel draws the bars of one (stream, symbol) in the #chart section. */
export class ChartPanel {
  #tg; #el; #canvas; #sub = null; #gen = 0; #frame = 0; #hover = null;
  #about = false; // the note describes the chart, and is redrawn with it
  sym = null;
  stream = "bars.1m";
  candles = null;

  /** @param {import("/tickgate.js").Client} tg @param {HTMLElement} el */
  constructor(tg, el) {
    this.#tg = tg;
    this.#el = el;
    this.#canvas = el.querySelector("canvas");
    new ResizeObserver(() => this.#schedule()).observe(this.#canvas);
    this.#canvas.addEventListener("pointermove", (e) => { this.#hover = e.offsetX; this.#schedule(); });
    this.#canvas.addEventListener("pointerleave", () => { this.#hover = null; this.#schedule(); });
  }

  /** show charts sym on stream; the same pair again changes nothing. */
  show(sym, stream = this.stream) {
    if (sym === this.sym && stream === this.stream && this.#sub) return;
    this.sym = sym;
    this.stream = stream;
    this.#sub?.close(); // another topic: the new one need not wait for it
    this.#sub = null;
    this.#open();
  }

  /** clear stops charting (the selected symbol left the watchlist). */
  clear() {
    this.#about = false;
    this.#sub?.close();
    this.#sub = null;
    this.sym = null;
    this.candles = null;
    this.#gen++;
    this.#note("Select a symbol in the watchlist to chart it.");
    this.#schedule();
  }

  /**
   * reload handles a gap g of the charted subscription: bars were lost (a
   * feed that restarted, a gateway whose history no longer reached back, a
   * bar that did not come). The chart asks for the history again, once the
   * old subscription is gone, so the gateway sends it as for a new one; the
   * note names the cause.
   */
  #reload(g) {
    const closing = this.#sub.close();
    this.#sub = null;
    const why = gapCause(g, "bars");
    this.#open(closing, why[0].toUpperCase() + why.slice(1) + ": history reloaded.");
  }

  /** open subscribes to the current pair, after `before` (an unsubscribe) settles when given. */
  async #open(before, why = "") {
    const gen = ++this.#gen;
    const { sym, stream } = this;
    this.candles = new Candles(STREAMS[stream].interval, HISTORY);
    this.#el.dataset.sym = sym;
    this.#el.dataset.stream = stream;
    this.#mark(stream);
    this.#schedule();
    this.#about = false;
    this.#note("Loading " + stream + " of " + sym + "…");
    if (before) await before.catch(() => {});
    if (gen !== this.#gen) return;
    const sub = this.#tg.subscribe([sym], { stream, history: HISTORY, partial: true }, (bar) => {
      if (gen !== this.#gen) return;
      this.candles.put(bar);
      this.#schedule();
    });
    this.#sub = sub;
    sub.on("gap", (g) => { if (this.#sub === sub) this.#reload(g); });
    try {
      await sub.ready;
      if (gen !== this.#gen) return;
      this.#about = !why;
      this.#note(why || this.#describe());
    } catch (err) {
      if (gen === this.#gen) this.#note(`No ${stream} for ${sym}: ${err.message}`, "err");
    }
  }

  /** describe says what the chart shows, the synthetic past included. */
  #describe() {
    const { stream } = this;
    const synthetic = [...(this.candles?.bars.values() ?? [])].filter((b) => b.synthetic);
    const until = synthetic.length ? Math.max(...synthetic.map((b) => b.t / 1e6)) + STREAMS[stream].interval : 0;
    return `${stream}: up to the last ${HISTORY} bars, the forming one updated each second (dashed). No trades, no bar.` +
      (until ? ` Bars before ${STREAMS[stream].fmt(new Date(until))} (shaded) are synthetic: the simulator's made-up past, not trades.` : "");
  }

  #mark(stream) {
    for (const b of document.querySelectorAll("#span button")) b.setAttribute("aria-checked", String(b.dataset.stream === stream));
  }

  #note(text, kind = "") {
    const n = this.#el.querySelector(".chart-note");
    if (n.textContent !== text) n.textContent = text;
    n.className = "chart-note " + kind;
  }

  #schedule() {
    if (!this.#frame) this.#frame = requestAnimationFrame(() => { this.#frame = 0; this.#render(); });
  }

  #render() {
    const { fmt } = STREAMS[this.stream];
    let drawn = { candles: 0, final: 0, forming: 0, synthetic: 0, slots: 0 };
    if (this.candles) drawn = this.candles.draw(this.#canvas, (t) => fmt(new Date(t)), this.#hover);
    else this.#canvas.getContext("2d").clearRect(0, 0, this.#canvas.width, this.#canvas.height);
    this.#el.dataset.candles = String(drawn.candles);
    this.#el.dataset.final = String(drawn.final);
    this.#el.dataset.forming = String(drawn.forming);
    this.#el.dataset.synthetic = String(drawn.synthetic);
    this.#el.dataset.slots = String(drawn.slots);
    this.#el.dataset.lastSeq = String(this.sym ? this.#tg.lastSeq(this.sym, this.stream) ?? "" : "");
    this.#header();
    if (this.#about) this.#note(this.#describe());
  }

  /** header shows the hovered bar's OHLCV, or the newest bar's. */
  #header() {
    document.getElementById("chartSym").textContent = this.sym ?? "—";
    const out = document.getElementById("chartOhlc");
    const bar = (this.#hover !== null && this.candles?.at(this.#hover)) || this.candles?.latest();
    if (!bar) { out.replaceChildren(); return; }
    const cls = bar.c >= bar.o ? "up" : "down";
    const cells = [["", STREAMS[this.stream].fmt(new Date(bar.t / 1e6))], ["O", fmtPx(bar.o)], ["H", fmtPx(bar.h)],
      ["L", fmtPx(bar.l)], ["C", fmtPx(bar.c)], ["V", bar.v.toLocaleString("en-US")]];
    out.replaceChildren(...cells.map(([k, v]) => {
      const s = document.createElement("span");
      if (k) { const i = document.createElement("i"); i.textContent = k; s.append(i, " "); }
      const b = document.createElement("b");
      b.textContent = v;
      if (k && k !== "V") b.className = cls;
      s.append(b);
      return s;
    }));
    if (bar.partial) out.lastChild.after(Object.assign(document.createElement("small"), { textContent: "forming" }));
    if (bar.synthetic) out.lastChild.after(Object.assign(document.createElement("small"), { textContent: "synthetic" }));
  }
}
