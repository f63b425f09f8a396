// format.js: how the page writes numbers, the same in the watchlist and
// the chart: prices to 2 decimals (4 under 1), signed changes with a true
// minus sign, durations in ms or s, the cause of a gap in words.

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

/** gapCause names the cause of a client gap event (its reason), for a banner: what = "ticks" or "bars". */
export function gapCause(g, what = "ticks") {
  switch (g.reason) {
    case "reset": return "the feed restarted: its seqs begin again (reset)";
    case "epoch": return `the feed restarted while disconnected: the missed ${what} were of the old run`;
    case "upstream": return `upstream gap: seqs ${g.from}–${g.to} never reached the gateway`;
    case "history": return `history too short: the gateway no longer had the missed ${what}`;
    case "seq": return `missed ${what} (seq ${g.last} → ${g.seq})`;
    default: return `missed ${what} could not be recovered`;
  }
}
