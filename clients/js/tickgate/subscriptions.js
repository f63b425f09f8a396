// Subscriptions and their replies: the holders of one client (what each
// Subscription asked for), the user operations waiting for the gateway's
// word, delivery of messages to the holders of their topic, and the
// per-subscription events. Several holders may share a topic: the gateway
// holds it once, at the merged policy (want), through Sync (sync.js); what
// the client keeps of a held topic (depth.js) goes once the gateway lets it go.

import { TickgateError } from "./errors.js";
import { holderOf, newSubscription } from "./subscription.js";
import { Sync } from "./sync.js";
import { splitTopic, topicOf } from "./topic.js";

/** Subscriptions is every holder of one client, and the operations on them. */
export class Subscriptions {
  #conn; #requests; #seqs; #depth; #sync;
  #holders = new Set();
  #ops = new Set(); // user operations waiting for the gateway's word
  #closed = false;

  /**
   * @param {import("./connection.js").Connection} conn
   * @param {import("./requests.js").Requests} requests
   * @param {import("./seq.js").Seqs} seqs
   * @param {import("./depth.js").Depth} depth
   */
  constructor(conn, requests, seqs, depth) {
    this.#conn = conn;
    this.#seqs = seqs;
    this.#depth = depth;
    this.#requests = requests;
    this.#sync = new Sync(conn, requests, seqs, () => this.flush(), (tp, again) => this.#forget(tp, again));
  }

  /**
   * forget drops what is known of topic tp, which the connection no longer
   * holds; a book copy stays through a resync (again), waiting for its snapshot.
   */
  #forget(tp, again = false) {
    this.#seqs.unsubscribed(tp);
    if (!again) this.#depth.drop(tp);
  }

  /** subscribe makes a holder and its Subscription, and asks for symbols. */
  subscribe(symbols, opts, onData) {
    const h = holderOf(opts, onData);
    const sub = newSubscription(this, h);
    this.#holders.add(h);
    sub.ready = this.add(h, symbols);
    return sub;
  }

  /** add holds more symbols on h, all or nothing. */
  add(h, symbols) {
    const fresh = [...new Set(symbols)].filter((s) => !h.syms.has(s));
    const p = h.closed ? Promise.reject(new TickgateError("closed", "subscription closed"))
      : (fresh.forEach((s) => h.syms.add(s)), this.#track(h, "add", fresh));
    p.catch(() => {}); // reported through "error" too; an unawaited add must not crash Node
    return p;
  }

  /** remove lets go of symbols of h. */
  remove(h, symbols) {
    const gone = symbols.filter((s) => h.syms.delete(s));
    return this.#track(h, "remove", gone);
  }

  /** setRate changes the rate of every symbol of h. */
  setRate(h, rate) {
    if (!(rate >= 0)) return Promise.reject(new RangeError("tickgate: maxRate must be a number >= 0"));
    const prev = h.rate;
    h.rate = rate;
    return this.#track(h, "rate", [...h.syms], prev);
  }

  /** close removes every symbol of h and forgets it. */
  close(h) {
    if (h.closed) return Promise.resolve();
    const p = this.remove(h, [...h.syms]);
    h.closed = true;
    this.#holders.delete(h);
    return p;
  }

  /** track registers a user operation on symbols and schedules a flush. */
  #track(h, kind, symbols, prevRate) {
    return new Promise((resolve, reject) => {
      const topics = new Set(symbols.map((s) => topicOf(h.stream, s)));
      const op = { h, kind, symbols, topics, resolve, reject, reply: undefined };
      if (this.#closed) return reject(new TickgateError("closed", "client closed"));
      if (kind === "rate") op.prevRate = prevRate;
      if (kind === "add") this.#replay(h, topics);
      if (kind === "remove") {
        for (const tp of topics) if (this.#want(tp) === undefined && !this.#sync.has(tp)) this.#forget(tp);
        if (!this.#conn.open) return resolve(settled(op));
      }
      this.#ops.add(op);
      this.#sync.schedule();
    });
  }

  /**
   * replay gives a holder that joins topics another one holds the history
   * the gateway sent before it joined, or on a book or status topic the
   * state now: the gateway sends history and snapshots only when a
   * connection starts holding a topic. It has what the client kept, at
   * most the largest history a holder of the topic asked for, and runs
   * before any later message, so the seqs continue.
   */
  #replay(h, topics) {
    const backlog = [];
    for (const tp of topics) {
      if (h.history) backlog.push(...this.#seqs.kept(tp, h.history));
      const now = this.#depth.current(tp);
      if (now) backlog.push(now);
    }
    if (backlog.length) queueMicrotask(() => { for (const m of backlog) if (h.syms.has(m.sym)) h.onData(m, this.#depth.book(topicOf(h.stream, m.sym))); });
  }

  /**
   * want is the policy a topic should be held at, merged over the holders
   * of it (fastest rate wins, 0 = every message; partial if any asks; the
   * largest history), or undefined.
   * @returns {import("./sync.js").Want|undefined}
   */
  #want(tp) {
    const [stream, sym] = splitTopic(tp);
    let want;
    for (const h of this.#holders) {
      if (h.stream !== stream || !h.syms.has(sym)) continue;
      want ??= { rate: h.rate, partial: false, history: 0 };
      if (h.rate === 0 || (want.rate !== 0 && h.rate > want.rate)) want.rate = h.rate;
      want.partial ||= h.partial;
      want.history = Math.max(want.history, h.history);
    }
    return want;
  }

  /** held is the policy of a topic the connection holds, or undefined: its messages are for nobody. */
  held(tp) { return this.#sync.has(tp) ? this.#want(tp) : undefined; }

  /** holdsPartials says whether partial bars of topic tp may be wanted: the connection holds it. */
  holdsPartials(tp) { return this.#sync.has(tp); }

  /**
   * deliver hands m to every holder of its topic, with book (a book
   * message's copy, after m); a partial only to those that asked for partials.
   */
  deliver(stream, m, book) {
    for (const h of this.#holders) {
      if (h.stream === stream && h.syms.has(m.sym) && (h.partial || !m.partial)) h.onData(m, book);
    }
  }

  /** tell emits event name (gap, resync) of e to each holder of e's symbols, with its own symbols only. */
  tell(name, e) {
    for (const h of this.#holders) {
      if (h.stream !== e.stream) continue;
      const symbols = e.symbols.filter((s) => h.syms.has(s));
      if (symbols.length) h.events.emit(name, { ...e, symbols });
    }
  }

  /** resync asks the gateway for a fresh snapshot of topic tp (sync.js). */
  resync(tp) { this.#sync.resync(tp); }

  /** flush brings the connection in line with the holders, then settles what it can. */
  flush() {
    if (!this.#conn.open) return;
    const wants = new Map();
    for (const h of this.#holders) {
      for (const s of h.syms) {
        const tp = topicOf(h.stream, s);
        if (!wants.has(tp)) wants.set(tp, this.#want(tp));
      }
    }
    this.#sync.send(wants);
    this.settle();
  }

  /** opened resubscribes on a new connection, and waits for its welcome. */
  opened() {
    this.#sync.opened();
    this.flush();
  }

  /** welcome takes what the gateway told at the start of this connection. */
  welcome(m) { this.#sync.welcome(m); }

  /** lost forgets what the connection held; the operations stay, for the resubscribe to answer. */
  lost() { this.#sync.lost(); }

  /** shut rejects every waiting operation with err: the client closed. */
  shut(err) {
    this.#closed = true;
    this.#sync.stop();
    for (const op of this.#ops) op.reject(err);
    this.#ops.clear();
  }

  /** settle resolves every operation whose topics the gateway has confirmed. */
  settle() {
    if (!this.#conn.open) return;
    for (const op of this.#ops) {
      let done = true;
      for (const tp of op.topics) {
        if (this.#requests.busy(tp)) { done = false; break; }
        const want = this.#want(tp);
        if (want !== undefined && !this.#sync.holds(tp, want)) { done = false; break; }
      }
      if (done) {
        this.#ops.delete(op);
        op.resolve(settled(op));
      }
    }
  }

  /** replied records the reply to req on the operations it answers, and tells the holders of its topics. */
  replied(req, m) {
    if (!req.topics) return;
    for (const op of this.#ops) if (req.topics.some((tp) => op.topics.has(tp))) op.reply = m;
    if (m.type !== "subscribed") return;
    const syms = new Set(req.symbols);
    for (const h of this.#holders) {
      if (h.stream === req.stream && [...h.syms].some((s) => syms.has(s))) h.events.emit("subscribed", m);
    }
  }

  /** failed undoes what a rejected request assumed: retry, or find whom it rejects. */
  failed(req, err) {
    if (err.code === "rate_limited") {
      this.#sync.undo(req);
      this.#sync.retryLater();
      return;
    }
    if (req.kind === "unsubscribe") return this.settle(); // not held, as far as we can act on it
    this.#sync.undo(req);
    this.#narrow(req.topics, err);
    this.flush();
  }

  /**
   * narrow finds who a rejected subscribe belongs to. The gateway rejects a
   * request whole, so a batch of several calls is split into one request
   * per call (and symbols of no pending call, as after a reconnect, into one
   * each); a request of one call rejects that call and drops its symbols;
   * a lone symbol of no call is dropped from every subscription of its stream.
   */
  #narrow(topics, err) {
    const byKey = new Map();
    for (const tp of topics) {
      const op = [...this.#ops].find((o) => o.kind !== "remove" && o.topics.has(tp));
      const key = op || "topic:" + tp;
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(tp);
    }
    if (byKey.size > 1) return this.#sync.split(byKey.values());
    const [key] = byKey.keys();
    if (typeof key === "string") {
      const [stream, sym] = splitTopic(topics[0]);
      for (const h of this.#holders) if (h.stream === stream && h.syms.delete(sym)) h.events.emit("error", err);
      return;
    }
    this.#ops.delete(key);
    if (key.kind === "rate") key.h.rate = key.prevRate; // keep the rate the gateway holds
    else for (const s of key.symbols) key.h.syms.delete(s);
    key.h.events.emit("error", err);
    key.reject(err);
  }
}

/** settled is what an operation's promise resolves with: the gateway's reply, or the state reached. */
function settled(op) {
  return op.reply || { type: op.kind === "remove" ? "unsubscribed" : "subscribed", stream: op.h.stream, symbols: [...op.symbols] };
}
