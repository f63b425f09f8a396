// chart.js: the candlestick chart of the selected symbol, drawn on a canvas
// from the bars of one stream (bars.1m or bars.1s). Bars are keyed by their
// bucket start t: a partial update replaces the forming bar with that t, a
// final bar fixes it. The x axis is time, one slot per interval, so an
// interval with no trades (the gateway sends no bar for it) is an empty slot,
// not a squeezed-out one. The axis spans the bars held (at least
// MIN_SLOTS intervals), not a fixed window: a young chart is not a sliver at
// the right of an empty one. Synthetic bars (the simulator's made-up past)
// are drawn over a shaded band labelled as such.

import { DOWN, fit, UP } from "./canvas.js";
import { fmtPx } from "./format.js";

const AXIS_W = 62; // px on the right for price labels
const TIME_H = 20; // px at the bottom for time labels
const MIN_SLOT = 5; // px per candle at least: a narrow screen shows fewer, not thinner, candles
const MIN_SLOTS = 12; // a young chart (few bars yet) spans at least this many intervals

/** Candles holds the bars of one (stream, symbol) and draws them. */
export class Candles {
  bars = new Map(); // t (ms) -> bar, final or forming
  keep; // most bars held
  interval; // ms per bar
  layout = null; // {from, slots, slotW} of the last draw, for at()

  /** @param {number} interval ms per bar @param {number} keep most bars held */
  constructor(interval, keep) {
    this.interval = interval;
    this.keep = keep;
  }

  /**
   * put records a bar: a final one fixes its bucket, a partial replaces the
   * forming bar of its bucket unless that bucket is already final.
   */
  put(bar) {
    const t = bar.t / 1e6;
    const held = this.bars.get(t);
    if (bar.partial && held && !held.partial) return;
    this.bars.set(t, bar);
    if (this.bars.size > this.keep + 8) this.#trim();
  }

  #trim() {
    const ts = [...this.bars.keys()].sort((a, b) => a - b);
    for (const t of ts.slice(0, ts.length - this.keep)) this.bars.delete(t);
  }

  /** latest is the newest bar held, final or forming, or undefined. */
  latest() {
    let best;
    for (const [t, b] of this.bars) if (!best || t > best[0]) best = [t, b];
    return best?.[1];
  }

  /** at is the bar drawn at x (CSS px from the canvas's left edge) by the last draw, or undefined. */
  at(x) {
    const L = this.layout;
    if (!L) return undefined;
    const slot = Math.floor(x / L.slotW);
    return slot >= 0 && slot < L.slots ? this.bars.get(L.from + slot * this.interval) : undefined;
  }

  /**
   * visible lays out the last `slots` intervals ending at the newest bar:
   * [{slot, bar}] oldest first, with the first slot's time.
   */
  visible(slots) {
    const last = this.latest();
    if (!last) return { from: 0, items: [] };
    const from = last.t / 1e6 - (slots - 1) * this.interval;
    const items = [];
    for (const [t, bar] of this.bars) {
      if (t < from) continue;
      items.push({ slot: Math.round((t - from) / this.interval), bar });
    }
    items.sort((a, b) => a.slot - b.slot);
    return { from, items };
  }

  /** span is the number of intervals from the oldest bar held to the newest, both included. */
  span() {
    let lo = Infinity, hi = -Infinity;
    for (const t of this.bars.keys()) { lo = Math.min(lo, t); hi = Math.max(hi, t); }
    return this.bars.size ? Math.round((hi - lo) / this.interval) + 1 : 0;
  }

  /**
   * draw paints the chart on canvas at its CSS size, with a crosshair at
   * hoverX (CSS px) when given, and returns what it drew: {candles, final,
   * forming, synthetic, slots}.
   */
  draw(canvas, fmtTime, hoverX = null) {
    const drawn = { candles: 0, final: 0, forming: 0, synthetic: 0, slots: 0 };
    const box = fit(canvas);
    if (!box) return drawn;
    const g = canvas.getContext("2d");
    g.setTransform(box.dpr, 0, 0, box.dpr, 0, 0);
    const w = box.width, h = box.height;
    g.clearRect(0, 0, w, h);
    const plotW = w - AXIS_W;
    const room = Math.max(MIN_SLOTS, Math.min(this.keep, Math.floor(plotW / MIN_SLOT)));
    const slots = Math.min(room, Math.max(MIN_SLOTS, this.span()));
    const { from, items } = this.visible(slots);
    if (!items.length) return drawn;
    const slotW = plotW / slots;
    this.layout = { from, slots, slotW };
    drawn.slots = slots;
    const priceH = (h - TIME_H) * 0.76, volTop = priceH + 8, volH = h - TIME_H - volTop;
    let lo = Infinity, hi = -Infinity, vmax = 0;
    for (const { bar } of items) { lo = Math.min(lo, bar.l); hi = Math.max(hi, bar.h); vmax = Math.max(vmax, bar.v); }
    if (hi - lo < lo * 1e-4) { hi += lo * 5e-5; lo -= lo * 5e-5; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const y = (p) => 6 + (1 - (p - lo) / (hi - lo)) * (priceH - 12);
    const x = (slot) => slot * slotW + slotW / 2;
    drawSynthetic(g, items, { slotW, h: h - TIME_H });
    drawGrid(g, { plotW, priceH, lo, hi, y, tagY: y(items[items.length - 1].bar.c) });
    drawTimes(g, { from, slots, slotW, plotW, interval: this.interval, h, fmtTime });
    const bodyW = Math.max(1, Math.min(18, slotW * 0.7));
    for (const { slot, bar } of items) {
      const up = bar.c >= bar.o, rgb = up ? UP : DOWN, cx = Math.round(x(slot)) + 0.5;
      const a = bar.partial ? 0.55 : 1;
      g.strokeStyle = g.fillStyle = `rgba(${rgb}, ${a})`;
      g.lineWidth = 1;
      g.beginPath(); g.moveTo(cx, y(bar.h)); g.lineTo(cx, y(bar.l)); g.stroke();
      const top = y(Math.max(bar.o, bar.c)), bot = y(Math.min(bar.o, bar.c));
      g.fillRect(cx - bodyW / 2, top, bodyW, Math.max(1, bot - top));
      if (bar.partial) {
        g.setLineDash([2, 2]);
        g.strokeRect(cx - bodyW / 2 - 1.5, top - 1.5, bodyW + 3, Math.max(1, bot - top) + 3);
        g.setLineDash([]);
      }
      if (vmax > 0) {
        const vh = (bar.v / vmax) * volH;
        g.fillStyle = `rgba(${rgb}, ${bar.partial ? 0.25 : 0.45})`;
        g.fillRect(cx - bodyW / 2, volTop + volH - vh, bodyW, vh);
      }
      drawn.candles++;
      if (bar.partial) drawn.forming++; else drawn.final++;
      if (bar.synthetic) drawn.synthetic++;
    }
    drawLast(g, items[items.length - 1].bar, { plotW, y });
    if (hoverX !== null && hoverX < plotW) {
      const hx = Math.round(x(Math.floor(hoverX / slotW))) + 0.5;
      g.strokeStyle = "rgba(230, 237, 243, .25)";
      g.beginPath(); g.moveTo(hx, 0); g.lineTo(hx, h - TIME_H); g.stroke();
    }
    return drawn;
  }
}

/** drawSynthetic shades the slots of synthetic bars, each run of them labelled "synthetic". */
function drawSynthetic(g, items, { slotW, h }) {
  let start = -1;
  const flush = (end) => {
    g.fillStyle = "rgba(139, 150, 165, .08)";
    g.fillRect(start * slotW, 0, (end - start) * slotW, h);
    g.fillStyle = "#8b96a5";
    g.font = "600 10px system-ui, sans-serif";
    g.textBaseline = "top";
    if ((end - start) * slotW > 110) g.fillText("SYNTHETIC: SIMULATED PAST", start * slotW + 6, 6);
    start = -1;
  };
  for (let i = 0; i < items.length; i++) {
    const { slot, bar } = items[i];
    if (bar.synthetic && start < 0) start = slot;
    if (!bar.synthetic && start >= 0) flush(slot);
  }
  if (start >= 0) flush(items[items.length - 1].slot + 1);
}

/** drawGrid paints horizontal price lines with their labels on the right, but for one under the last-price tag at tagY. */
function drawGrid(g, { plotW, priceH, lo, hi, y, tagY }) {
  const step = niceStep((hi - lo) / 5);
  const digits = Math.max(0, Math.min(4, -Math.floor(Math.log10(step))));
  g.font = "11px ui-monospace, 'DejaVu Sans Mono', monospace";
  g.textBaseline = "middle";
  g.lineWidth = 1;
  for (let p = Math.ceil(lo / step) * step; p <= hi; p += step) {
    const py = Math.round(y(p)) + 0.5;
    if (py < 6 || py > priceH - 4) continue;
    g.strokeStyle = "rgba(139, 150, 165, .12)";
    g.beginPath(); g.moveTo(0, py); g.lineTo(plotW, py); g.stroke();
    g.fillStyle = "#8b96a5";
    if (Math.abs(py - tagY) > 14) g.fillText(p.toFixed(digits), plotW + 8, py); // the last-price tag covers it
  }
  g.strokeStyle = "rgba(139, 150, 165, .25)";
  g.beginPath(); g.moveTo(plotW + 0.5, 0); g.lineTo(plotW + 0.5, priceH); g.stroke();
}

/** drawTimes labels the time axis every few slots, at round times. */
function drawTimes(g, { from, slots, slotW, plotW, interval, h, fmtTime }) {
  const every = [1, 2, 5, 10, 15, 30, 60, 120].find((k) => k * slotW >= 70) || 240;
  g.fillStyle = "#5b6675";
  g.textBaseline = "alphabetic";
  g.textAlign = "center";
  for (let s = 0; s < slots; s++) {
    const t = from + s * interval;
    if (Math.round(t / interval) % every !== 0) continue;
    const label = fmtTime(t), x = s * slotW + slotW / 2, half = g.measureText(label).width / 2;
    if (x - half >= 0 && x + half <= plotW) g.fillText(label, x, h - 5); // no label cut at an edge
  }
  g.textAlign = "start";
}

/** drawLast marks the newest close with a dashed line and a price tag. */
function drawLast(g, bar, { plotW, y }) {
  const py = Math.round(y(bar.c)) + 0.5, rgb = bar.c >= bar.o ? UP : DOWN;
  g.strokeStyle = `rgba(${rgb}, .7)`;
  g.setLineDash([3, 3]);
  g.beginPath(); g.moveTo(0, py); g.lineTo(plotW, py); g.stroke();
  g.setLineDash([]);
  g.fillStyle = `rgb(${rgb})`;
  g.fillRect(plotW + 1, py - 9, AXIS_W - 1, 18);
  g.fillStyle = "#0d1117";
  g.textBaseline = "middle";
  g.fillText(fmtPx(bar.c), plotW + 8, py);
}

/** niceStep rounds a raw grid step to 1, 2 or 5 times a power of ten. */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}
