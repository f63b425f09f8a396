// canvas.js: what the sparklines and the chart draw alike: the up and down
// colours (the tests find candles by them) and a canvas sized to its CSS
// box at the screen's pixel ratio, so lines stay sharp.

/** UP and DOWN are the rgb of a rising and a falling price, for rgb() and rgba(). */
export const UP = "47, 191, 113";
export const DOWN = "242, 85, 90";

/**
 * fit sizes canvas's backing store to its CSS box times the device pixel
 * ratio, and returns that box (CSS px) with the ratio, or null while the
 * canvas has no size (hidden, or not laid out yet).
 * @returns {{width: number, height: number, dpr: number}|null}
 */
export function fit(canvas) {
  const r = canvas.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(r.width * dpr), h = Math.round(r.height * dpr);
  if (!w || !h) return null;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  return { width: r.width, height: r.height, dpr };
}
