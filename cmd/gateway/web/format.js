// format.js: how the page writes numbers, the same in the watchlist and
// the chart: prices to 2 decimals (4 under 1), signed changes with a true
// minus sign, durations in ms or s, ages in the largest unit that fits
// (a column's width whatever the age), the cause of a gap in words.

/** fmtPx writes a price; a missing one is a dash. */
export const fmtPx = (x) => (x == null ? "—" : x.toFixed(x < 1 ? 4 : 2));

/** signed writes x with d decimals and its sign (+, −, or none for 0). */
export const signed = (x, d) => (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(d);

/** fmtMs writes a duration in ms: tenths under 10 ms, whole ms under 1 s, then seconds. */
export function fmtMs(ms) {
  if (!isFinite(ms)) return "—";
  if (ms < 0) ms = 0;
  if (ms < 10) return ms.toFixed(1) + " ms";
  if (ms < 1000) return Math.round(ms) + " ms";
  return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + " s";
}

/** fmtAge writes an age in ms in at most 5 characters: 0.4 s, 12 s, 3 m, 5 h, 2 d, 2.0 y. */
export function fmtAge(ms) {
  if (!isFinite(ms)) return "—";
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return s.toFixed(1) + " s";
  if (s < 60) return Math.floor(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " m";
  if (s < 86400) return Math.floor(s / 3600) + " h";
  if (s < 365 * 86400) return Math.floor(s / 86400) + " d";
  return (s / (365.25 * 86400)).toFixed(1) + " y";
}

/** gapCause names the cause of a client gap event (its reason), for a notice: what = "ticks" or "bars". */
export function gapCause(g, what = "ticks") {
  switch (g.reason) {
    case "reset": return "the feed restarted (reset): its seqs begin again";
    case "epoch": return `the feed restarted while this page was away: the missed ${what} were of the old run`;
    case "upstream": return `upstream gap: seqs ${g.from}–${g.to} never reached the gateway`;
    case "history": return `history too short: the gateway no longer had the missed ${what}`;
    case "seq": return `missed ${what} (seq ${g.last} → ${g.seq})`;
    default: return `missed ${what} could not be recovered`;
  }
}

/** gapLabel is a gap's short name, for a row's badge: restart, reset, gap. */
export function gapLabel(g) {
  return g.reason === "epoch" ? "restart" : g.reason === "reset" ? "reset" : "gap";
}
