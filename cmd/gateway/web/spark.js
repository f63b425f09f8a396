// spark.js: the per-row sparkline of the last two minutes, drawn on a
// canvas. Points are kept one per STEP ms (the last price in each step), so
// a row costs at most WINDOW/STEP points whatever the tick rate.

import { DOWN, fit, UP } from "./canvas.js";

export const WINDOW = 120000;
const STEP = 250;

/** Spark holds one symbol's recent prices. */
export class Spark {
  pts = []; // [time ms, price], oldest first

  /** push records price px at time now (ms). */
  push(now, px) {
    const last = this.pts[this.pts.length - 1];
    if (last && Math.floor(last[0] / STEP) === Math.floor(now / STEP)) last[1] = px;
    else this.pts.push([now, px]);
    let drop = 0;
    while (drop < this.pts.length && this.pts[drop][0] < now - WINDOW) drop++;
    if (drop) this.pts.splice(0, drop);
  }

  /** clear forgets the history (after a gap the old line would lie). */
  clear() { this.pts = []; }

  /**
   * draw paints the line on canvas for the window ending at now; base
   * (previous close or first price) is a dashed line when in range, and
   * picks the colour: green above it, red below.
   */
  draw(canvas, now, base) {
    const box = fit(canvas);
    if (!box) return;
    const { dpr } = box, w = canvas.width, h = canvas.height;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, w, h);
    const pts = this.pts;
    if (pts.length < 2) return;
    let lo = Infinity, hi = -Infinity;
    for (const [, p] of pts) { if (p < lo) lo = p; if (p > hi) hi = p; }
    if (hi - lo < lo * 1e-5) { hi += lo * 5e-6; lo -= lo * 5e-6; }
    const pad = 3 * dpr;
    // The x axis spans the history held, up to WINDOW: a young row fills the
    // width instead of squeezing into its right edge.
    const from = Math.max(now - WINDOW, pts[0][0]), span = Math.max(now - from, 1);
    const x = (t) => ((t - from) / span) * w;
    const y = (p) => pad + (1 - (p - lo) / (hi - lo)) * (h - 2 * pad);
    const lastPx = pts[pts.length - 1][1];
    const up = base == null ? lastPx >= pts[0][1] : lastPx >= base;
    const colour = up ? UP : DOWN;
    if (base != null && base > lo && base < hi) {
      g.strokeStyle = "rgba(139, 150, 165, .45)";
      g.lineWidth = dpr;
      g.setLineDash([2 * dpr, 3 * dpr]);
      g.beginPath(); g.moveTo(0, y(base)); g.lineTo(w, y(base)); g.stroke();
      g.setLineDash([]);
    }
    g.beginPath();
    pts.forEach(([t, p], i) => (i ? g.lineTo(x(t), y(p)) : g.moveTo(x(t), y(p))));
    g.strokeStyle = `rgb(${colour})`;
    g.lineWidth = 1.5 * dpr;
    g.lineJoin = "round";
    g.stroke();
    g.lineTo(x(pts[pts.length - 1][0]), h);
    g.lineTo(x(pts[0][0]), h);
    g.closePath();
    const fill = g.createLinearGradient(0, 0, 0, h);
    fill.addColorStop(0, `rgba(${colour}, .22)`);
    fill.addColorStop(1, `rgba(${colour}, 0)`);
    g.fillStyle = fill;
    g.fill();
  }
}
