// The Client: one logical connection to the gateway, made with connect().
// It composes the pieces: the connection and its backoff (connection.js),
// the token (token.js), the requests in flight (requests.js), the
// subscriptions (subscriptions.js), the seqs (seq.js) and the book copies
// and statuses (depth.js), and routes each message the gateway sends to
// the one that owns it.

import { Connection } from "./connection.js";
import { Depth } from "./depth.js";
import { TickgateError } from "./errors.js";
import { Emitter } from "./events.js";
import { Requests } from "./requests.js";
import { Seqs } from "./seq.js";
import { Subscriptions } from "./subscriptions.js";
import { Token } from "./token.js";
import { BOOK, STATUS, TICKS, topicOf } from "./topic.js";

/** viaConnect is the proof, never exported, that a Client comes from connect(): one way to make one. */
const viaConnect = Symbol("tickgate.connect");

/**
 * connect opens a client to the gateway at url (ws:// or wss://, path /ws).
 * It connects at once and keeps reconnecting until close() is called.
 * @param {string} url
 * @param {import("../tickgate.js").Options} [options]
 * @returns {Client}
 */
export function connect(url, options = {}) {
  return new Client(viaConnect, url, options);
}

/** Client is one logical connection to the gateway; see connect(). */
export class Client {
  #events = new Emitter();
  #requests = new Requests();
  #seqs = new Seqs();
  #depth = new Depth(this.#seqs);
  #token; #conn; #subs; #tokenInMessage;
  #lists = []; // list() calls waiting for a connection
  #closed = false;

  /** @param {symbol} key @param {string} url @param {import("../tickgate.js").Options} options */
  constructor(key, url, options) {
    if (key !== viaConnect) throw new TypeError("tickgate: make a client with connect(url, options)");
    const report = (err) => this.#events.emit("error", err);
    this.#token = new Token(options.token, options.onToken, report);
    this.#tokenInMessage = options.tokenIn === "message";
    this.#conn = new Connection(url, options, this.#token, {
      state: (state, info) => this.#events.emit("state", state, info),
      open: () => this.#opened(),
      message: (m) => this.#message(m),
      lost: () => this.#lost(),
      error: report,
      fail: (err, info) => { report(err); this.#shut(info); },
    });
    this.#subs = new Subscriptions(this.#conn, this.#requests, this.#seqs, this.#depth);
  }

  /** @returns {import("../tickgate.js").State} */
  get state() { return this.#conn.state; }

  /**
   * on registers fn for an event: "state" (state, info), "gap" ({stream,
   * symbols, reason, ...}), "resync" ({stream: "book", symbols, reason:
   * "checksum"|"seq", seq, ...}: a book copy went wrong and the client asked
   * for a fresh snapshot), "status" (each status message of a held symbol),
   * "notice" ({code, msg}; the gateway's reset and gap notices come as
   * "gap"), "authenticated" (the gateway's reply to a token sent as a
   * message: {tier, expires}), "error" (TickgateError). It returns a
   * function that removes fn.
   * @param {string} name
   * @param {Function} fn
   * @returns {() => void}
   */
  on(name, fn) { return this.#events.on(name, fn); }

  /** off removes a listener added with on(). */
  off(name, fn) { this.#events.off(name, fn); }

  /**
   * subscribe asks for a stream of symbols (opts.stream, default "ticks");
   * onData gets each tick, or each final bar, once, in seq order per
   * symbol, and with opts.partial the forming bar's progress updates too.
   * On "book" it gets each book message once applied and proved by its
   * checksum, with the symbol's Book (book(sym)); on "status" each status.
   * opts.maxRate caps updates per second per symbol (0 or absent: every
   * one); opts.history asks for the last N final messages of each newly
   * held symbol before live ones. Made while disconnected, it is sent on
   * connect.
   * @param {string[]} symbols
   * @param {import("../tickgate.js").SubscribeOptions|((m: object) => void)} [opts]
   * @param {(m: object) => void} [onData]
   * @returns {import("./subscription.js").Subscription}
   */
  subscribe(symbols, opts, onData) {
    if (typeof opts === "function") [opts, onData] = [{}, opts];
    return this.#subs.subscribe(symbols, opts || {}, onData || (() => {}));
  }

  /**
   * list asks the gateway which symbols this connection holds on stream
   * (default "ticks").
   * @param {string} [stream]
   * @returns {Promise<string[]>}
   */
  list(stream = TICKS) {
    return new Promise((resolve, reject) => {
      const pick = (m) => m.streams?.[stream] ?? (stream === TICKS ? m.symbols : []);
      const req = { kind: "list", resolve: (m) => resolve(pick(m)), reject };
      if (this.#conn.open) this.#requests.send(this.#conn, req, {});
      else this.#lists.push(req);
    });
  }

  /**
   * lastSeq is the last seq delivered for sym on stream (default "ticks";
   * on a bar stream, of a final bar; past an upstream gap, its `to`), or
   * undefined (none yet, or a reset since).
   * @param {string} sym
   * @param {string} [stream]
   */
  lastSeq(sym, stream = TICKS) { return this.#seqs.last(topicOf(stream, sym)); }

  /**
   * epoch is the epoch of sym's seqs on stream (default "ticks"), as the
   * gateway told it (subscribed reply, reset notice), or undefined.
   * @param {string} sym
   * @param {string} [stream]
   */
  epoch(sym, stream = TICKS) { return this.#seqs.epoch(topicOf(stream, sym)); }

  /**
   * book is the client's copy of sym's order book, kept while a "book"
   * subscription holds it: its sides sorted best first, `synced` while the
   * last message's checksum proved it; undefined before its first snapshot.
   * @param {string} sym
   * @returns {import("./book.js").Book|undefined}
   */
  book(sym) { return this.#depth.book(topicOf(BOOK, sym)); }

  /**
   * status is sym's last status message ({status, reason, seq, ts}) while
   * a "status" subscription holds it, or undefined.
   * @param {string} sym
   */
  status(sym) { return this.#depth.status(topicOf(STATUS, sym)); }

  /**
   * retry skips the wait before the next reconnect: while the client is
   * reconnecting it dials at once. It reports whether it did (false while
   * open, closed, or a dial is already under way).
   * @returns {boolean}
   */
  retry() { return this.#conn.retry(); }

  /** close ends the connection for good; waiting requests reject with code "closed". */
  close() { this.#shut({}); }

  /** shut closes the client, telling info (the close that ended it) with the "closed" state. */
  #shut(info) {
    if (this.#closed) return;
    this.#closed = true;
    this.#token.stop();
    const err = new TickgateError("closed", "client closed");
    for (const req of this.#requests.reset()) req.reject?.(err); // list(); subscribe requests answer through their operations
    for (const req of this.#lists.splice(0)) req.reject(err);
    this.#subs.shut(err);
    this.#depth.dropAll();
    this.#conn.close(info);
  }

  #opened() {
    // The token as the first message: before any subscribe, which the
    // gateway would otherwise take for a missing token.
    if (this.#tokenInMessage && this.#token.value) this.#requests.send(this.#conn, { kind: "auth" }, { token: this.#token.value });
    this.#token.schedule((token) => {
      if (this.#closed) return false;
      if (this.#conn.open) this.#requests.send(this.#conn, { kind: "auth" }, { token });
      return true;
    });
    for (const req of this.#lists.splice(0)) this.#requests.send(this.#conn, req, {});
    this.#subs.opened();
  }

  /** lost forgets what the connection held; list() calls wait for the next one, subscribe operations for the resubscribe. */
  #lost() {
    this.#token.stop();
    this.#subs.lost();
    this.#seqs.disconnected();
    for (const req of this.#requests.reset()) if (req.kind === "list") this.#lists.push(req);
  }

  #message(m) {
    switch (m.type) {
      case "tick": return this.#final(TICKS, m, m.n);
      case "bar": return m.partial ? this.#partial(m) : this.#final(m.stream, m, m.span);
      case "book": case "book_update": return this.#book(m);
      case "status": return this.#status(m);
      case "subscribed": case "unsubscribed": case "list": case "authenticated": return this.#reply(m);
      case "error": return this.#error(m);
      case "notice": return this.#notice(m);
      case "welcome": return this.#subs.welcome(m);
    }
  }

  /**
   * final takes a tick or final bar (n: a tick's n, a bar's span) through
   * the seq rule of its topic (seq.js) and hands it to every subscription
   * that holds the topic.
   */
  #final(stream, m, n) {
    const tp = topicOf(stream, m.sym);
    const want = this.#subs.held(tp);
    if (want === undefined) return;
    const verdict = this.#seqs.judge(tp, m.seq, n, m.type === "bar" ? m.prev : undefined);
    if (verdict === "drop") return;
    if (verdict !== "next") {
      const g = { stream, symbols: [m.sym], reason: verdict, last: this.#seqs.last(tp), seq: m.seq };
      if (m.prev !== undefined) g.prev = m.prev;
      this.#gap(g);
    }
    this.#seqs.advance(tp, m.seq);
    if (want.history > 0) this.#seqs.keep(tp, m, want.history);
    this.#subs.deliver(stream, m);
  }

  /**
   * book applies a book message to the symbol's copy (depth.js) and hands
   * it on once its checksum proved the copy. An update that does not follow
   * the copy is a gap (reason "seq"); it, or a checksum that differs, has
   * the client ask for a fresh snapshot, told as "resync".
   */
  #book(m) {
    const tp = topicOf(BOOK, m.sym);
    if (this.#subs.held(tp) === undefined) return;
    const last = this.#seqs.last(tp);
    const verdict = this.#depth.take(tp, m);
    if (verdict === "drop") return;
    if (verdict === "applied") return this.#subs.deliver(BOOK, m, this.#depth.book(tp));
    if (verdict === "seq") this.#gap({ stream: BOOK, symbols: [m.sym], reason: "seq", last, seq: m.seq });
    const r = { stream: BOOK, symbols: [m.sym], reason: verdict, seq: m.seq, checksum: m.checksum };
    if (verdict === "checksum") r.computed = this.#depth.book(tp).checksum;
    this.#seqs.forget(tp);
    this.#subs.resync(tp);
    this.#events.emit("resync", r);
    this.#subs.tell("resync", r);
  }

  /** status keeps a status message of a held symbol and hands it on: each is the symbol's whole state. */
  #status(m) {
    const tp = topicOf(STATUS, m.sym);
    if (this.#subs.held(tp) === undefined) return;
    this.#depth.keepStatus(tp, m);
    this.#events.emit("status", m);
    this.#subs.deliver(STATUS, m);
  }

  /** partial hands a progress update to the subscriptions that asked for partials, unless its bar is already final. */
  #partial(b) {
    const tp = topicOf(b.stream, b.sym);
    if (this.#subs.holdsPartials(tp) && this.#seqs.partialDue(tp, b.seq)) this.#subs.deliver(b.stream, b);
  }

  /**
   * notice routes the gateway's notices: a reset (the feed's seqs began
   * again under a new epoch) and an upstream gap (seqs that never reached
   * the gateway) are gaps of one topic; an epoch notice names the epoch a
   * subscribed reply could not (the symbol had not ticked yet), as told()
   * takes it from a reply, and is no gap; the others are the "notice" event.
   */
  #notice(m) {
    if (m.code === "epoch") return this.#seqs.told(m.stream || TICKS, { [m.sym]: m.epoch });
    if (m.code !== "reset" && m.code !== "gap") return this.#events.emit("notice", m);
    const stream = m.stream || TICKS;
    const tp = topicOf(stream, m.sym);
    if (this.#subs.held(tp) === undefined) return;
    if (m.code === "gap") {
      this.#seqs.upstream(tp, m.from, m.to);
      return this.#gap({ stream, symbols: [m.sym], reason: "upstream", from: m.from, to: m.to });
    }
    const last = this.#seqs.reset(tp, m.epoch);
    if (last !== undefined) this.#gap({ stream, symbols: [m.sym], reason: "reset", epoch: m.epoch, last });
  }

  /** gap tells g; a book's copy then waits for the snapshot the gateway sends. */
  #gap(g) {
    if (g.stream === BOOK) for (const s of g.symbols) this.#depth.wait(topicOf(BOOK, s));
    this.#events.emit("gap", g);
    this.#subs.tell("gap", g);
  }

  #reply(m) {
    if (m.type === "authenticated") this.#events.emit("authenticated", m);
    const req = this.#requests.take(m.id);
    if (!req) return;
    if (m.type === "subscribed" && req.stream) this.#seqs.told(req.stream, m.epochs);
    if (req.kind === "subscribe" && req.since) {
      // snapshot: the gateway could not replay the missed messages, a gap
      // ("epoch" if its run is not the one since named, else "history");
      // recovered: they follow; neither (a gateway without recovery): the seqs will tell.
      const lost = this.#seqs.recovered(req.stream, req.since, m);
      for (const reason of ["epoch", "history"]) {
        if (lost[reason].length) this.#gap({ stream: req.stream, symbols: lost[reason], reason });
      }
    }
    this.#subs.replied(req, m);
    req.resolve?.(m);
    this.#subs.settle();
  }

  /** error rejects the request it answers and undoes what that request assumed. */
  #error(m) {
    const err = new TickgateError(m.code, m.msg, m.id);
    this.#events.emit("error", err);
    const req = this.#requests.take(m.id);
    if (!req) return;
    if (req.kind === "list") return req.reject(err);
    if (req.kind === "auth") return; // the current token stands until exp; 4003 then renews it
    this.#subs.failed(req, err);
  }
}
