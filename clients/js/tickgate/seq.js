// Seq, epoch and gap tracking: what the client knows of each topic's
// position, the (seq, epoch) pair a resubscribe sends as `since`. A final
// message (a tick, a final bar) moves its topic's seq; a tick's jump past
// what its n covers is a gap, and so is a final bar whose prev is not the
// last bar seen; a partial bar never moves it. An upstream gap notice moves
// the seq past the hole it names; a reset starts the topic's seqs again
// under a new epoch. The final messages delivered are also kept, bounded,
// for a subscription that joins a topic later and asks for history.

import { topicOf } from "./topic.js";

/**
 * seqStep judges a tick of seq (standing for n feed ticks, default 1)
 * against the last seq seen: "first" (none seen), "duplicate" (seq ==
 * last), "behind" (seq < last), "gap" (seq - n > last: ticks were lost) or
 * "next" (contiguous; a conflated jump covered by n is not a gap).
 * @param {number|undefined} last
 * @param {number} seq
 * @param {number} [n]
 * @returns {"first"|"duplicate"|"behind"|"gap"|"next"}
 */
export function seqStep(last, seq, n = 1) {
  if (last === undefined) return "first";
  if (seq <= last) return seq === last ? "duplicate" : "behind";
  return seq - n > last ? "gap" : "next";
}

/**
 * barStep judges a final bar of seq (its bucket number) that names prev,
 * the seq of the final bar before it on the gateway, against the last bar
 * seen: "gap" iff prev > last (a bar between them was not delivered). A
 * bucket with no trades has no bar, so a seq jump alone is no gap; a prev
 * below last is none either (nothing lies between last and seq). A bar
 * with span > 1 stands for bars conflated away: "next", as a tick's n.
 * Without prev (a gateway before bucket seqs) it is seqStep with span.
 * @param {number|undefined} last
 * @param {number} seq
 * @param {number|undefined} prev
 * @param {number} [span]
 * @returns {"first"|"duplicate"|"behind"|"gap"|"next"}
 */
export function barStep(last, seq, prev, span = 1) {
  if (prev === undefined || last === undefined || seq <= last) return seqStep(last, seq, span);
  return prev > last && !(span > 1) ? "gap" : "next";
}

/** At most this many upstream holes wait per topic for the seq to reach them. */
const MAX_HOLES = 16;

/** Seqs holds every topic's last seq and epoch, its resumed mark, upstream holes and kept messages. */
export class Seqs {
  #last = new Map(); // topic -> last seq delivered (final bars only on bar streams)
  #epoch = new Map(); // topic -> epoch of its seqs, as the gateway told it
  #holes = new Map(); // topic -> upstream holes [{from, to}] beyond last: a conflated tick may come before them
  #resumed = new Set(); // topics resubscribed with since, nothing yet: a lower seq means the feed restarted
  #kept = new Map(); // topic -> final messages delivered, oldest first

  /** last is the last seq delivered on topic tp (or the end of an upstream hole after it), or undefined. */
  last(tp) { return this.#last.get(tp); }

  /** epoch is the epoch of topic tp's seqs, or undefined (not told: a gateway before epochs, or no tick yet). */
  epoch(tp) { return this.#epoch.get(tp); }

  /** since is topic tp's recovery point: {seq, epoch}, a bare seq when the epoch is unknown, or undefined. */
  since(tp) {
    const seq = this.#last.get(tp), epoch = this.#epoch.get(tp);
    if (seq === undefined) return undefined;
    return epoch === undefined ? seq : { seq, epoch };
  }

  /** told records the epochs a subscribed reply gives for symbols of stream. */
  told(stream, epochs) {
    for (const [s, e] of Object.entries(epochs || {})) this.#epoch.set(topicOf(stream, s), e);
  }

  /**
   * judge applies the seq rule to a final message of topic tp: "drop" if
   * seq <= last; "seq" (a gap) iff seq - n > last; otherwise "next". The
   * one exception is the first message after a resubscribe with since: a
   * seq below last there means the gateway's feed restarted its seqs, a
   * gap of reason "reset", not a duplicate. A final bar with prev is judged
   * by barStep. A gap drops the kept messages, so a newcomer's history
   * never spans one. Only advance moves the seq.
   * @returns {"drop"|"next"|"seq"|"reset"}
   */
  judge(tp, seq, n, prev) {
    const last = this.#last.get(tp);
    switch (prev === undefined ? seqStep(last, seq, n) : barStep(last, seq, prev, n)) {
      case "duplicate": return "drop";
      case "behind":
        if (!this.#resumed.has(tp)) return "drop";
        this.#kept.delete(tp);
        return "reset";
      case "gap":
        this.#kept.delete(tp);
        return "seq";
    }
    return "next";
  }

  /** advance records seq as topic tp's last, once judge let its message through. */
  advance(tp, seq) {
    this.#resumed.delete(tp);
    this.#last.set(tp, seq);
    this.#skipHoles(tp);
  }

  /**
   * upstream takes a gap notice: seqs from..to of topic tp never reached
   * the gateway, so no one has them. Once the seq reaches from - 1 it moves
   * to `to`, and the tick after the hole is contiguous: the gap is told
   * once, by the notice. The kept messages are dropped.
   */
  upstream(tp, from, to) {
    this.#kept.delete(tp);
    if (this.#last.get(tp) === undefined) return;
    const holes = this.#holes.get(tp) || [];
    holes.push({ from, to });
    if (holes.length > MAX_HOLES) holes.shift();
    this.#holes.set(tp, holes);
    this.#skipHoles(tp);
  }

  /** skipHoles moves topic tp's seq past the upstream holes it has reached, and drops those behind it. */
  #skipHoles(tp) {
    const holes = this.#holes.get(tp);
    if (!holes) return;
    let last = this.#last.get(tp);
    for (const h of [...holes].sort((a, b) => a.from - b.from)) if (last >= h.from - 1 && h.to > last) last = h.to;
    this.#last.set(tp, last);
    const left = holes.filter((h) => h.to > last);
    if (left.length) this.#holes.set(tp, left); else this.#holes.delete(tp);
  }

  /**
   * reset starts topic tp's seqs again under epoch (a reset notice): the
   * feed's numbering began anew. It returns the last seq of the run before,
   * for the gap, or undefined when nothing was lost: no seq seen yet, or
   * the epoch is the one already known (the subscribed reply told it).
   */
  reset(tp, epoch) {
    if (this.#epoch.get(tp) === epoch) return undefined;
    const last = this.#last.get(tp);
    this.#epoch.set(tp, epoch);
    this.forget(tp);
    this.#resumed.delete(tp);
    return last;
  }

  /** partialDue says whether a partial bar of seq belongs to a bar not yet final. */
  partialDue(tp, seq) {
    const last = this.#last.get(tp);
    return last === undefined || seq > last || this.#resumed.has(tp);
  }

  /**
   * recovered reads a resubscribe's reply m for stream: symbols of since
   * the reply lists under snapshot are lost (their seqs are forgotten, and
   * returned, for a gap); the others are resumed until their next message.
   * A lost symbol whose since named an epoch other than the one the reply
   * gives lost its run ("epoch": the feed restarted); any other, the
   * gateway's history ("history": it no longer reached back, or had a hole).
   * @param {string} stream
   * @param {Record<string, number|{seq: number, epoch: string}>} since
   * @param {{snapshot?: string[], epochs?: Record<string, string>}} m
   * @returns {{history: string[], epoch: string[]}} the lost symbols, by cause
   */
  recovered(stream, since, m) {
    const lost = new Set(m.snapshot || []);
    const out = { history: [], epoch: [] };
    for (const s of Object.keys(since)) if (!lost.has(s)) this.#resumed.add(topicOf(stream, s));
    for (const s of lost) {
      const sent = since[s]?.epoch, now = m.epochs?.[s];
      out[sent !== undefined && now !== undefined && sent !== now ? "epoch" : "history"].push(s);
      this.forget(topicOf(stream, s));
    }
    return out;
  }

  /** keep records a delivered final message of topic tp for later joiners, at most about history of them. */
  keep(tp, m, history) {
    let kept = this.#kept.get(tp);
    if (!kept) this.#kept.set(tp, (kept = []));
    kept.push(m);
    if (kept.length >= 2 * history) kept.splice(0, kept.length - history);
  }

  /** kept is the last n final messages kept for topic tp, oldest first. */
  kept(tp, n) { return (this.#kept.get(tp) || []).slice(-n); }

  /** forget drops what is known of topic tp's seqs, not its epoch: it has a gap. */
  forget(tp) {
    this.#last.delete(tp);
    this.#kept.delete(tp);
    this.#holes.delete(tp);
  }

  /** unsubscribed forgets topic tp altogether. */
  unsubscribed(tp) {
    this.forget(tp);
    this.#epoch.delete(tp);
    this.#resumed.delete(tp);
  }

  /** disconnected clears the resumed marks: the next connection resubscribes afresh. */
  disconnected() { this.#resumed.clear(); }
}
