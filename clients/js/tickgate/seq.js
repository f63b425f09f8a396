// Seq, span and gap tracking: what the client knows of each topic's
// position. A final message (a tick, a final bar) moves its topic's seq; a
// jump past what its n (a bar's span) covers is a gap; a partial bar never
// moves it. The final messages delivered are also kept, bounded, for a
// subscription that joins a topic later and asks for history.

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

/** Seqs holds every topic's last seq, its resumed mark and its kept messages. */
export class Seqs {
  #last = new Map(); // topic -> last seq delivered (final bars only on bar streams)
  #resumed = new Set(); // topics resubscribed with since, nothing yet: a lower seq means the feed restarted
  #kept = new Map(); // topic -> final messages delivered, oldest first

  /** last is the last seq delivered on topic tp, or undefined. */
  last(tp) { return this.#last.get(tp); }

  /**
   * judge applies the seq rule to a final message of topic tp: "drop" if
   * seq <= last; "seq" (a gap) iff seq - n > last; otherwise "next". The
   * one exception is the first message after a resubscribe with since: a
   * seq below last there means the gateway's feed restarted its seqs, a
   * gap of reason "reset", not a duplicate. A gap drops the kept messages,
   * so a newcomer's history never spans one. Only advance moves the seq.
   * @returns {"drop"|"next"|"seq"|"reset"}
   */
  judge(tp, seq, n) {
    switch (seqStep(this.#last.get(tp), seq, n)) {
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
  }

  /** partialDue says whether a partial bar of seq belongs to a bar not yet final. */
  partialDue(tp, seq) {
    const last = this.#last.get(tp);
    return last === undefined || seq > last || this.#resumed.has(tp);
  }

  /**
   * recovered reads a resubscribe's reply for stream: symbols of since the
   * reply lists under snapshot are lost (their seqs are forgotten, and
   * returned, for a gap); the others are resumed until their next message.
   * @param {string} stream
   * @param {Record<string, number>} since
   * @param {string[]} [snapshot]
   * @returns {string[]} the lost symbols
   */
  recovered(stream, since, snapshot = []) {
    const lost = new Set(snapshot);
    for (const s of Object.keys(since)) if (!lost.has(s)) this.#resumed.add(topicOf(stream, s));
    for (const s of lost) this.forget(topicOf(stream, s));
    return [...lost];
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

  /** forget drops what is known of topic tp's seqs: it is no longer held, or it has a gap. */
  forget(tp) {
    this.#last.delete(tp);
    this.#kept.delete(tp);
  }

  /** unsubscribed forgets topic tp altogether. */
  unsubscribed(tp) {
    this.forget(tp);
    this.#resumed.delete(tp);
  }

  /** disconnected clears the resumed marks: the next connection resubscribes afresh. */
  disconnected() { this.#resumed.clear(); }
}
