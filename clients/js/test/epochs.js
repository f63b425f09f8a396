// Test kit: the test proxy (gateway.js) plays the gateway's side of stream
// integrity on the real stream of the real gateway: epochs in `subscribed`,
// `since` with an epoch, `reset` and upstream `gap` notices, bars with
// bucket seqs and `prev` (docs/protocol.md). The binary the tests build may
// not have them yet; one that has them is played over the same way (its
// own epochs and notices give way to the proxy's), so the tests hold on
// either.
//
// The proxy turns the client's `since` into the bare form every gateway
// takes: a position of the current epoch becomes the gateway's seq, one of
// another epoch a seq past the gateway's latest, which every gateway
// answers with `snapshot`.

import { intervalOf } from "./gateway.js";

/** Past every seq the gateway has: a `since` it answers with `snapshot`. */
const BEYOND = Number.MAX_SAFE_INTEGER;

/**
 * playEpochs makes proxy play epochs, starting in epoch first. With
 * buckets, bars of a gateway that counts them get bucket seqs and prev.
 * @param {Awaited<ReturnType<import("./gateway.js").startProxy>>} proxy
 * @param {{first?: string, buckets?: boolean}} [opts]
 */
export function playEpochs(proxy, { first = "k3x9f0a1b2c4", buckets = false } = {}) {
  const epochs = new Map(); // sym -> current epoch
  const offset = new Map(); // sym -> the gateway's tick seq less the one shown: a run after a reset starts again
  const latest = new Map(); // sym -> the gateway's latest tick seq seen
  const resets = new Map(); // topic -> epoch: a reset notice to send before the topic's next message
  const holes = new Map(); // sym -> {left, notice, from}: ticks to drop, then the notice
  const toBucket = new Map(); // topic -> Map counted seq -> bucket
  const toCounted = new Map(); // topic -> Map bucket -> counted seq
  const drops = new Map(); // topic -> {quiet}: the next final bar does not come
  const quietPrev = new Map(); // topic -> prev the bar after a quiet bucket names
  const epochOf = (sym) => epochs.get(sym) ?? first;
  const mapOf = (m, tp) => m.get(tp) || m.set(tp, new Map()).get(tp);

  /** real is the gateway's seq for a position shown to the client. */
  const real = (stream, sym, seq) => stream === "ticks"
    ? seq + (offset.get(sym) || 0)
    : (toCounted.get(stream + " " + sym)?.get(seq) ?? seq);

  proxy.up((m) => {
    if (m.op !== "subscribe" || !m.since) return undefined;
    const stream = m.stream || "ticks";
    const since = {};
    for (const [s, pos] of Object.entries(m.since)) {
      if (typeof pos === "number") since[s] = real(stream, s, pos); // the legacy form: no epoch to check
      else since[s] = pos.epoch === epochOf(s) ? real(stream, s, pos.seq) : BEYOND;
    }
    return { ...m, since };
  });

  /** notice is the reset notice owed before the next message of topic tp, if any. */
  const notice = (tp, m) => {
    const epoch = resets.get(tp);
    if (epoch === undefined) return [];
    resets.delete(tp);
    const n = { type: "notice", code: "reset", sym: m.sym, epoch };
    if (m.type === "bar") n.stream = m.stream;
    return [n];
  };

  const tick = (m) => {
    latest.set(m.sym, m.seq);
    const out = notice("ticks " + m.sym, m);
    const shown = { ...m, seq: m.seq - (offset.get(m.sym) || 0) };
    const h = holes.get(m.sym);
    if (h && h.left > 0) {
      h.from ??= shown.seq - (shown.n || 1) + 1; // a conflated tick stands for n seqs
      h.left--;
      return out;
    }
    if (h) {
      holes.delete(m.sym);
      if (h.notice) out.push({ type: "notice", code: "gap", sym: m.sym, from: h.from, to: shown.seq - (shown.n || 1) });
    }
    out.push(shown);
    return out;
  };

  const bar = (m) => {
    const tp = m.stream + " " + m.sym;
    const out = notice(tp, m);
    const bucket = m.t / intervalOf(m.stream);
    let b = m;
    if (buckets && m.seq !== bucket) {
      b = { ...m, seq: bucket };
      if (!m.partial) {
        mapOf(toBucket, tp).set(m.seq, bucket);
        mapOf(toCounted, tp).set(bucket, m.seq);
        const prev = toBucket.get(tp).get(m.seq - (m.span || 1));
        if (prev !== undefined) b.prev = prev;
      }
    }
    if (!b.partial && drops.has(tp)) {
      if (drops.get(tp).quiet) quietPrev.set(tp, b.prev);
      drops.delete(tp);
      return out;
    }
    if (!b.partial && quietPrev.has(tp)) {
      b = { ...b, prev: quietPrev.get(tp) };
      quietPrev.delete(tp);
    }
    out.push(b);
    return out;
  };

  proxy.down((m) => {
    switch (m.type) {
      case "subscribed": return { ...m, epochs: Object.fromEntries(m.symbols.map((s) => [s, epochOf(s)])) };
      case "tick": return tick(m);
      case "bar": return bar(m);
      case "notice": return m.code === "reset" || m.code === "gap" ? null : undefined; // the proxy's epochs stand
    }
    return undefined;
  });

  return {
    epoch: epochOf,
    /**
     * reset starts a new run of sym's seqs in epoch, as a restarted
     * publisher does: ticks from now on count from 1, and the next message
     * of each of streams goes after a reset notice.
     */
    reset(sym, epoch, streams = ["ticks"]) {
      epochs.set(sym, epoch);
      offset.set(sym, latest.get(sym) || 0);
      for (const s of streams) resets.set(s + " " + sym, epoch);
    },
    /** hole drops sym's next count ticks, as a publisher cut off from NATS does; with notice, the gap notice follows. */
    hole(sym, count, notice = true) { holes.set(sym, { left: count, notice, from: undefined }); },
    /** dropBar drops the next final bar of (stream, sym); quiet: as if its bucket had no trades (the bar after names the one before as prev). */
    dropBar(stream, sym, quiet) { drops.set(stream + " " + sym, { quiet }); },
  };
}
