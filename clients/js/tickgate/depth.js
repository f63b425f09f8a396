// What the client keeps of the two streams whose messages are state, not
// events: a Book per book topic (book.js), applied message by message and
// proved by its checksum, and the last trading status per status topic.
// A subscription that joins a topic the connection already holds gets it
// at once (current), since the gateway sends a snapshot only to a new
// subscription; it is forgotten once the connection lets the topic go.
//
// A book message is judged by its topic's seq (seq.js), the one record of
// where each topic stands: a snapshot always replaces the copy; an update
// must follow it exactly (seq - n == last), or the copy is lost.

import { Book } from "./book.js";
import { splitTopic, STATUS } from "./topic.js";

/**
 * @typedef {"applied"|"drop"|"seq"|"checksum"} Verdict applied: deliver
 *   it; drop: a repeat, or an update while the copy waits for a snapshot;
 *   seq: an update that does not follow the copy; checksum: the copy with
 *   the message applied is not the gateway's. After seq and checksum the
 *   copy waits for a snapshot, which the caller asks for.
 */

/** Depth is one client's book copies and statuses, by topic. */
export class Depth {
  #seqs;
  #books = new Map(); // topic -> Book
  #status = new Map(); // topic -> the last status message

  /** @param {import("./seq.js").Seqs} seqs */
  constructor(seqs) { this.#seqs = seqs; }

  /** book is topic tp's copy, or undefined (no snapshot yet since the connection took the topic). */
  book(tp) { return this.#books.get(tp); }

  /** status is topic tp's last status message, or undefined. */
  status(tp) { return this.#status.get(tp); }

  /**
   * take applies book message m of topic tp and judges the result.
   * @returns {Verdict}
   */
  take(tp, m) {
    let book = this.#books.get(tp);
    if (m.type === "book") {
      if (!book) this.#books.set(tp, (book = new Book(m.sym)));
      book.replace(m);
    } else {
      if (!book?.synced) return "drop";
      const last = this.#seqs.last(tp);
      const verdict = this.#seqs.judge(tp, m.seq, m.n);
      if (verdict === "drop") return "drop";
      if (verdict !== "next" || m.seq - (m.n || 1) !== last) return this.#lost(book, "seq");
      book.update(m);
    }
    this.#seqs.advance(tp, m.seq);
    if (book.checksum !== m.checksum) return this.#lost(book, "checksum");
    book.synced = true;
    return "applied";
  }

  #lost(book, why) {
    book.synced = false;
    return why;
  }

  /** wait marks topic tp's copy as waiting for a snapshot: a gap, a reset, a recovery the gateway answered with one. */
  wait(tp) {
    const book = this.#books.get(tp);
    if (book) book.synced = false;
  }

  /** keepStatus records status message m of topic tp: the whole state, the newest one standing (never judged by seq). */
  keepStatus(tp, m) { this.#status.set(tp, m); }

  /**
   * current is the message that gives a subscription joining topic tp its
   * state now: the copy as a snapshot (if it is synced), the last status.
   */
  current(tp) {
    if (splitTopic(tp)[0] === STATUS) return this.#status.get(tp);
    const book = this.#books.get(tp);
    return book?.synced ? book.snapshot() : undefined;
  }

  /** drop forgets topic tp: the connection no longer holds it. */
  drop(tp) {
    this.#books.delete(tp);
    this.#status.delete(tp);
  }

  /** dropAll forgets every topic: the client closed. */
  dropAll() {
    this.#books.clear();
    this.#status.clear();
  }
}
