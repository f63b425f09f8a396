// @tickgate/client: a WebSocket client for the tickgate market-data gateway.
//
// One ES module, no runtime dependencies, no build step. It runs in browsers,
// in Node 22+ on the global WebSocket, and in Node 20 with a WebSocket
// constructor passed in (for example from the `ws` package).
//
// It owns what every dashboard otherwise writes by hand: splitting frames on
// "\n", tracking the last seq per (stream, symbol) (a conflated jump is not
// a gap), reconnecting with exponential backoff and full jitter,
// resubscribing every live subscription with `since` so the gateway replays
// what was missed, and a `gap` event when it could not. Streams are "ticks"
// (the default) and the bar streams "bars.1s" and "bars.1m". The wire
// protocol is docs/protocol.md.

/** @typedef {"connecting"|"open"|"reconnecting"|"closed"} State */

/**
 * @typedef {object} Tick
 * @property {string} type always "tick"
 * @property {string} sym
 * @property {number} seq per-symbol sequence number
 * @property {number} px
 * @property {number} sz
 * @property {number} bid
 * @property {number} ask
 * @property {number} ts feed time, Unix nanoseconds (as a double: ~256 ns precision)
 * @property {number} [n] present when the tick stands for n > 1 feed ticks (conflation)
 */

/**
 * @typedef {object} Bar
 * @property {string} type always "bar"
 * @property {string} stream "bars.1s" or "bars.1m"
 * @property {string} sym
 * @property {number} t bucket start, Unix nanoseconds (a whole second: exact as a double)
 * @property {number} o open
 * @property {number} h high
 * @property {number} l low
 * @property {number} c close
 * @property {number} v summed trade size
 * @property {number} n trade count
 * @property {number} seq per (stream, symbol) count of final bars; a partial has the seq it will have when final
 * @property {boolean} [partial] a progress update of the forming bar
 * @property {boolean} [delayed] delayed tier
 * @property {number} [span] present when the final bar stands for span > 1 bar seqs (conflation)
 */

/**
 * @typedef {object} SubscribeOptions
 * @property {string} [stream] "ticks" (default), "bars.1s" or "bars.1m"
 * @property {number} [maxRate] updates/s per symbol; 0 or absent: every message
 * @property {number} [history] the gateway sends the last N final messages of each newly held symbol instead of the
 *   snapshot; joining a topic this client already holds, the client hands over the ones it kept
 * @property {boolean} [partial] bar streams only: also deliver progress updates of the forming bar
 */

/**
 * @typedef {object} Options
 * @property {typeof WebSocket} [WebSocket] constructor to use; default globalThis.WebSocket
 * @property {string} [token] sent as the `token` query parameter on every connect
 * @property {() => Promise<string>|string} [onToken] asked for a new token on close 4003
 *   and shortly before the `exp` of a JWT token, which an open connection then sends as
 *   an `auth` message
 * @property {{base?: number, cap?: number}} [backoff] reconnect delays in ms (default 500, 30000)
 */

/** Close code of a gateway that is draining or shutting down. */
const GOING_AWAY = 1001;
/** Close code for a token that is missing, invalid or expired. */
const UNAUTHORIZED = 4003;
/** A connection open this long counts as healthy: the backoff starts over. */
const STABLE_MS = 10000;
/** No reconnect is ever scheduled sooner than this. */
const MIN_DELAY_MS = 20;
/** After a rate_limited reply the same request is retried this much later. */
const RATE_LIMIT_RETRY_MS = 1000;
/**
 * The most history messages one subscribe may ask for (history × symbols):
 * the gateway's default fanout.conflate_at / 256. Bigger asks go in several
 * requests, as the gateway's invalid_request for them says to.
 */
const HISTORY_BUDGET = 1024;
/** The stream a subscription without one gets; requests for it carry no `stream` field, as before streams. */
const TICKS = "ticks";

/** topicOf is the key of a (stream, symbol) pair: neither may contain a space. */
const topicOf = (stream, sym) => stream + " " + sym;
/** splitTopic is the inverse of topicOf. */
const splitTopic = (topic) => { const i = topic.indexOf(" "); return [topic.slice(0, i), topic.slice(i + 1)]; };
/** samePolicy says whether the policy held on the connection is the one wanted. */
const samePolicy = (held, want) => held !== undefined && held.rate === want.rate && held.partial === want.partial;

/** TickgateError is an error reply from the gateway, or the client giving up on a request. */
export class TickgateError extends Error {
  /**
   * @param {string} code the gateway's error code ("unknown_symbol", ...) or "closed"
   * @param {string} message
   * @param {number} [id] id of the request it answers
   */
  constructor(code, message, id) {
    super(message ? code + ": " + message : code);
    this.name = "TickgateError";
    this.code = code;
    this.id = id;
  }
}

/**
 * connect opens a client to the gateway at url (ws:// or wss://, path /ws).
 * It connects at once and keeps reconnecting until close() is called.
 * @param {string} url
 * @param {Options} [options]
 * @returns {Client}
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

/**
 * jwtExp returns the `exp` claim (Unix seconds) of a JWT, or undefined if
 * token is not a JWT with a numeric exp.
 * @param {string} [token]
 * @returns {number|undefined}
 */
export function jwtExp(token) {
  const part = typeof token === "string" ? token.split(".")[1] : undefined;
  if (!part) return undefined;
  try {
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(b64 + "===".slice((b64.length + 3) % 4))).exp;
    return typeof exp === "number" ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * backoffDelay is the wait before reconnect attempt number `attempt` (0 is
 * the first): full jitter, a uniform draw from [0, min(cap, base·2^attempt)),
 * never below MIN_DELAY_MS.
 * @param {number} attempt
 * @param {number} base
 * @param {number} cap
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, base, cap, random = Math.random) {
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.max(MIN_DELAY_MS, random() * ceiling);
}

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

/** Client is one logical connection to the gateway; see connect(). */
export class Client {
  // configuration
  #url; #WS; #onToken; #base; #cap;
  #token;

  // connection
  #ws = null;
  #state = /** @type {State} */ ("connecting");
  #attempt = 0;
  #openedAt = 0;
  #timer = null;
  #tokenTimer = null;
  #closed = false;

  // requests: id -> {kind, symbols, rate, since, resolve, reject}
  #nextId = 1;
  #pending = new Map();
  #lists = []; // list() calls waiting for a connection

  // subscriptions and what the server holds on this connection, by topic (stream + " " + sym)
  #subs = new Set();
  #sent = new Map(); // topic -> {rate, partial} asked on this connection
  #inflight = new Map(); // topic -> requests in flight that carry it
  #ops = new Set(); // user operations waiting for the server's word
  #solo = new Map(); // topic -> key: after a rejected batch, topics go in one request per key
  #soloSeq = 0;
  #flushQueued = false;
  #retryTimer = null;

  // per-topic sequence state
  #last = new Map(); // topic -> last seq delivered (final bars only on bar streams)
  #resumed = new Set(); // topics resubscribed with since, nothing yet: a lower seq means the feed restarted
  #kept = new Map(); // topic -> final messages delivered, oldest first, for subscriptions that join later with history

  #listeners = new Map();

  /** @param {string} url @param {Options} options */
  constructor(url, options) {
    this.#url = url;
    this.#WS = options.WebSocket || globalThis.WebSocket;
    if (typeof this.#WS !== "function") {
      throw new TypeError("tickgate: no WebSocket: pass options.WebSocket (e.g. from the ws package) on Node < 22");
    }
    this.#token = options.token;
    this.#onToken = options.onToken;
    this.#base = options.backoff?.base ?? 500;
    this.#cap = options.backoff?.cap ?? 30000;
    queueMicrotask(() => this.#dial());
  }

  /** @returns {State} */
  get state() { return this.#state; }

  /**
   * on registers fn for an event: "state" (state, info), "gap" ({stream,
   * symbols, reason}), "notice" ({code, msg}), "error" (TickgateError). It
   * returns a function that removes fn.
   * @param {string} name
   * @param {Function} fn
   * @returns {() => void}
   */
  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** off removes a listener added with on(). */
  off(name, fn) { this.#listeners.get(name)?.delete(fn); }

  /**
   * subscribe asks for a stream of symbols (opts.stream, default "ticks");
   * onData gets each tick, or each final bar, once, in seq order per
   * symbol, and with opts.partial the forming bar's progress updates too.
   * opts.maxRate caps updates per second per symbol (0 or absent: every
   * one); opts.history asks for the last N final messages of each newly
   * held symbol before live ones. Made while disconnected, it is sent on
   * connect.
   * @param {string[]} symbols
   * @param {SubscribeOptions|((m: Tick) => void)} [opts]
   * @param {(m: Tick|Bar) => void} [onData]
   * @returns {Subscription}
   */
  subscribe(symbols, opts, onData) {
    if (typeof opts === "function") [opts, onData] = [{}, opts];
    const sub = new Subscription(this, opts || {}, onData || (() => {}));
    this.#subs.add(sub);
    sub.ready = sub.add(symbols);
    return sub;
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
      if (this.#isOpen()) this.#send(req, {});
      else this.#lists.push(req);
    });
  }

  /**
   * lastSeq is the last seq delivered for sym on stream (default "ticks";
   * on a bar stream, of a final bar), or undefined.
   * @param {string} sym
   * @param {string} [stream]
   */
  lastSeq(sym, stream = TICKS) { return this.#last.get(topicOf(stream, sym)); }

  /** close ends the connection for good; waiting requests reject with code "closed". */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#tokenTimer);
    clearTimeout(this.#retryTimer);
    const err = new TickgateError("closed", "client closed");
    for (const req of this.#pending.values()) req.reject?.(err); // list(); subscribe requests answer through ops
    for (const req of this.#lists) req.reject(err);
    for (const op of this.#ops) op.reject(err);
    this.#pending.clear();
    this.#lists = [];
    this.#ops.clear();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      detach(ws);
      ws.close(1000);
    }
    this.#setState("closed", {});
  }

  // ---- subscription bookkeeping (called by Subscription) ----

  /** @internal track registers a user operation on symbols and schedules a flush. */
  _track(sub, kind, symbols, prevRate) {
    return new Promise((resolve, reject) => {
      const topics = new Set(symbols.map((s) => topicOf(sub.stream, s)));
      const op = { sub, kind, symbols, topics, resolve, reject, reply: undefined };
      if (this.#closed) return reject(new TickgateError("closed", "client closed"));
      if (kind === "rate") op.prevRate = prevRate;
      if (kind === "add") this.#replay(sub, topics);
      if (kind === "remove") {
        for (const tp of topics) if (this.#want(tp) === undefined && !this.#sent.has(tp)) this.#forget(tp);
        if (!this.#isOpen()) return resolve(settled(op));
      }
      this.#ops.add(op);
      this.#scheduleFlush();
    });
  }

  /**
   * replay gives a subscription that joins topics another one holds the
   * history the gateway sent before it joined: the gateway sends history
   * only when a connection starts holding a topic. It has what the client
   * kept, at most the largest history a holder of the topic asked for, and
   * runs before any later message, so the seqs continue.
   */
  #replay(sub, topics) {
    if (!sub.history) return;
    const backlog = [];
    for (const tp of topics) for (const m of (this.#kept.get(tp) || []).slice(-sub.history)) backlog.push(m);
    if (backlog.length) queueMicrotask(() => { for (const m of backlog) if (sub._has(m.sym)) sub._deliver(m); });
  }

  /** keep records a delivered final message of a topic for later joiners, bounded by history. */
  #keep(tp, m, history) {
    let kept = this.#kept.get(tp);
    if (!kept) this.#kept.set(tp, (kept = []));
    kept.push(m);
    if (kept.length >= 2 * history) kept.splice(0, kept.length - history);
  }

  /** forget drops what the client knows of a topic's seqs: it is no longer held, or it has a gap. */
  #forget(tp) {
    this.#last.delete(tp);
    this.#kept.delete(tp);
  }

  /** @internal drop forgets a closed subscription. */
  _drop(sub) { this.#subs.delete(sub); }

  #scheduleFlush() {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  /**
   * want is the policy a topic should be held at, merged over the
   * subscriptions that hold it (fastest rate wins, 0 = every message;
   * partial if any asks; the largest history), or undefined.
   * @returns {{rate: number, partial: boolean, history: number}|undefined}
   */
  #want(topic) {
    const [stream, sym] = splitTopic(topic);
    let want;
    for (const sub of this.#subs) {
      if (sub.stream !== stream || !sub._has(sym)) continue;
      const r = sub.maxRate;
      want ??= { rate: r, partial: false, history: 0 };
      if (r === 0 || (want.rate !== 0 && r > want.rate)) want.rate = r;
      want.partial ||= sub.partial;
      want.history = Math.max(want.history, sub.history);
    }
    return want;
  }

  /**
   * flush brings the server in line with the subscriptions: per stream, one
   * subscribe per policy (with `since` for topics already seen) and one
   * unsubscribe. With history asked, topics that recover with `since` go
   * apart from those that take the history, and those go in requests of at
   * most HISTORY_BUDGET messages of history. Topics with a solo key (their
   * batch was rejected) go one request per key, so a bad symbol fails only
   * the call that named it.
   */
  #flush() {
    if (!this.#isOpen()) return;
    const groups = new Map(); // stream, solo key, policy, recovering -> {stream, want, syms}
    const unsub = new Map(); // stream -> syms
    const topics = new Set(this.#sent.keys());
    for (const sub of this.#subs) for (const s of sub.symbols) topics.add(topicOf(sub.stream, s));
    for (const tp of topics) {
      const [stream, sym] = splitTopic(tp);
      const want = this.#want(tp);
      if (want === undefined) {
        if (this.#sent.has(tp)) (unsub.get(stream) || unsub.set(stream, []).get(stream)).push(sym);
        continue;
      }
      if (samePolicy(this.#sent.get(tp), want)) continue;
      const solo = this.#solo.get(tp);
      this.#solo.delete(tp);
      const recovering = want.history > 0 && this.#last.has(tp) && !this.#sent.has(tp);
      const key = [stream, solo ?? "", want.rate, want.partial, want.history, recovering].join("/");
      if (!groups.has(key)) groups.set(key, { stream, want, syms: [] });
      groups.get(key).syms.push(sym);
    }
    for (const { stream, want, syms } of groups.values()) {
      const per = want.history > 0 ? Math.max(1, Math.floor(HISTORY_BUDGET / want.history)) : syms.length;
      for (let i = 0; i < syms.length; i += per) this.#sendSubscribe(stream, syms.slice(i, i + per), want);
    }
    for (const [stream, syms] of unsub) this.#sendUnsubscribe(stream, syms);
    this.#settleOps();
  }

  #sendSubscribe(stream, syms, want) {
    const topics = syms.map((s) => topicOf(stream, s));
    const since = {};
    let withSince = false;
    topics.forEach((tp, i) => {
      const seq = this.#last.get(tp);
      if (seq !== undefined && !this.#sent.has(tp)) { since[syms[i]] = seq; withSince = true; }
    });
    const prev = new Map(topics.map((tp) => [tp, this.#sent.get(tp)]));
    const change = topics.some((tp) => this.#sent.has(tp));
    for (const tp of topics) this.#sent.set(tp, { rate: want.rate, partial: want.partial });
    const body = { symbols: syms };
    if (stream !== TICKS) body.stream = stream;
    if (want.rate > 0 || change) body.max_rate = want.rate; // an explicit 0 takes a held symbol back to every message
    if (stream !== TICKS && (want.partial || change)) body.partial = want.partial;
    if (withSince) body.since = since;
    else if (want.history > 0) body.history = want.history;
    const req = { kind: "subscribe", stream, symbols: syms, topics, since: withSince ? since : undefined, prev };
    this.#send(req, body);
  }

  #sendUnsubscribe(stream, syms) {
    const topics = syms.map((s) => topicOf(stream, s));
    const prev = new Map(topics.map((tp) => [tp, this.#sent.get(tp)]));
    for (const tp of topics) { this.#sent.delete(tp); this.#forget(tp); this.#resumed.delete(tp); }
    const body = { symbols: syms };
    if (stream !== TICKS) body.stream = stream;
    this.#send({ kind: "unsubscribe", stream, symbols: syms, topics, prev }, body);
  }

  /** send writes one request; request replies are matched by id. */
  #send(req, body) {
    const id = this.#nextId++;
    req.id = id;
    this.#pending.set(id, req);
    for (const tp of req.topics || []) this.#inflight.set(tp, (this.#inflight.get(tp) || 0) + 1);
    this.#ws.send(JSON.stringify({ op: req.kind, id, ...body }));
  }

  /** settleOps resolves every op whose topics the server has confirmed. */
  #settleOps() {
    if (!this.#isOpen()) return;
    for (const op of this.#ops) {
      let done = true;
      for (const tp of op.topics) {
        if (this.#inflight.get(tp)) { done = false; break; }
        const want = this.#want(tp);
        if (want !== undefined && !samePolicy(this.#sent.get(tp), want)) { done = false; break; }
      }
      if (done) {
        this.#ops.delete(op);
        op.resolve(settled(op));
      }
    }
  }

  // ---- connection ----

  #isOpen() { return this.#ws !== null && this.#state === "open"; }

  async #dial() {
    if (this.#closed) return;
    if (this.#attempt === 0) this.#emit("state", "connecting", {});
    const exp = jwtExp(this.#token);
    if (this.#onToken && exp !== undefined && exp * 1000 - Date.now() < 1000) await this.#refreshToken();
    if (this.#closed) return;
    let url = this.#url;
    if (this.#token) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(this.#token);
    let ws;
    try {
      ws = new this.#WS(url);
    } catch (err) {
      this.#emit("error", new TickgateError("connect", String(err && err.message || err)));
      this.#lost(1006, "");
      return;
    }
    this.#ws = ws;
    ws.onopen = () => this.#opened();
    ws.onmessage = (ev) => this.#frame(ev.data);
    ws.onclose = (ev) => { if (this.#ws === ws) { this.#ws = null; this.#lost(ev.code, ev.reason); } };
    ws.onerror = () => {}; // a close event always follows
  }

  #opened() {
    this.#openedAt = Date.now();
    this.#setState("open", {});
    this.#scheduleTokenRefresh();
    for (const req of this.#lists.splice(0)) this.#send(req, {});
    this.#flush();
  }

  /** lost handles the end of a connection: forget what it held, plan the next. */
  #lost(code, reason) {
    const openFor = this.#openedAt ? Date.now() - this.#openedAt : -1;
    this.#openedAt = 0;
    clearTimeout(this.#tokenTimer);
    clearTimeout(this.#retryTimer);
    this.#sent.clear();
    this.#inflight.clear();
    this.#resumed.clear();
    this.#solo.clear();
    for (const req of this.#pending.values()) if (req.kind === "list") this.#lists.push(req);
    this.#pending.clear(); // subscribe ops stay in #ops: the resubscribe answers them
    if (this.#closed) return;
    if (openFor >= STABLE_MS) this.#attempt = 0;
    // A drain (1001) of a connection that had settled means "go elsewhere
    // now"; anything else, or a 1001 right after connecting, backs off.
    const ceiling = code === GOING_AWAY && openFor >= 1000
      ? this.#base
      : Math.min(this.#cap, this.#base * 2 ** Math.min(this.#attempt, 30));
    const delay = backoffDelay(0, ceiling, ceiling);
    const attempt = this.#attempt++;
    this.#setState("reconnecting", { code, reason, delay, ceiling, attempt });
    if (code === UNAUTHORIZED && !this.#onToken) {
      this.#emit("error", new TickgateError("unauthorized", "closed with 4003 and no onToken to renew the token"));
      this.close();
      return;
    }
    const renew = code === UNAUTHORIZED;
    this.#timer = setTimeout(async () => {
      if (renew) await this.#refreshToken();
      this.#dial();
    }, delay);
  }

  async #refreshToken() {
    try {
      const t = await this.#onToken();
      if (typeof t === "string" && t) this.#token = t;
    } catch (err) {
      this.#emit("error", new TickgateError("token", String(err && err.message || err)));
    }
  }

  /**
   * scheduleTokenRefresh asks onToken for a new token before a JWT expires.
   * An open connection gets it at once as {"op":"auth"}, so the gateway
   * extends the session instead of closing it with 4003 at exp; the next
   * connect carries it too.
   */
  #scheduleTokenRefresh() {
    clearTimeout(this.#tokenTimer);
    const exp = jwtExp(this.#token);
    if (!this.#onToken || exp === undefined) return;
    const left = exp * 1000 - Date.now();
    const wait = Math.max(0, left - Math.min(30000, left / 5));
    this.#tokenTimer = setTimeout(async () => {
      const before = this.#token;
      await this.#refreshToken();
      if (this.#closed || this.#token === before) return;
      if (this.#isOpen()) this.#send({ kind: "auth" }, { token: this.#token });
      this.#scheduleTokenRefresh();
    }, wait);
  }

  #setState(state, info) {
    if (state === this.#state && state !== "reconnecting") return; // each retry is news
    this.#state = state;
    this.#emit("state", state, info);
  }

  #emit(name, ...args) {
    for (const fn of this.#listeners.get(name) || []) {
      try { fn(...args); } catch (err) { queueMicrotask(() => { throw err; }); }
    }
  }

  // ---- inbound ----

  /** frame splits one WebSocket frame into messages. */
  #frame(data) {
    if (typeof data !== "string") return; // the gateway sends text frames only
    for (const line of data.split("\n")) {
      if (!line) continue;
      let m;
      try { m = JSON.parse(line); } catch {
        this.#emit("error", new TickgateError("bad_message", line.slice(0, 80)));
        continue;
      }
      this.#message(m);
    }
  }

  #message(m) {
    switch (m.type) {
      case "tick": return this.#tick(m);
      case "bar": return this.#bar(m);
      case "subscribed": case "unsubscribed": case "list": case "authenticated": return this.#reply(m);
      case "error": return this.#error(m);
      case "notice": return this.#emit("notice", m);
    }
  }

  /** tick takes a tick through the seq rule of its (ticks, sym) topic. */
  #tick(t) { this.#final(TICKS, t, t.n); }

  /**
   * bar takes a final bar through the seq rule, span playing the part of a
   * tick's n. A partial never moves seq: it goes to the subscriptions that
   * asked for partials unless its bar is already final (seq <= last).
   */
  #bar(b) {
    if (!b.partial) return this.#final(b.stream, b, b.span);
    const tp = topicOf(b.stream, b.sym);
    if (!this.#sent.has(tp)) return;
    const last = this.#last.get(tp);
    if (last !== undefined && b.seq <= last && !this.#resumed.has(tp)) return;
    for (const sub of this.#subs) if (sub.partial && sub.stream === b.stream && sub._has(b.sym)) sub._deliver(b);
  }

  /**
   * final applies the seq rule to a message of a topic and hands it to every
   * subscription that holds the topic: drop if seq <= last; a real gap iff
   * seq - (n || 1) > last; otherwise contiguous. The one exception is the
   * first message after a resubscribe with since: a seq below last there
   * means the gateway's feed restarted its seqs (a gap), not a duplicate.
   */
  #final(stream, m, n) {
    const tp = topicOf(stream, m.sym);
    const want = this.#sent.has(tp) ? this.#want(tp) : undefined;
    if (want === undefined) return;
    const last = this.#last.get(tp);
    switch (seqStep(last, m.seq, n)) {
      case "duplicate": return;
      case "behind":
        if (!this.#resumed.has(tp)) return;
        this.#kept.delete(tp);
        this.#emit("gap", { stream, symbols: [m.sym], reason: "reset", last, seq: m.seq });
        break;
      case "gap":
        this.#kept.delete(tp);
        this.#emit("gap", { stream, symbols: [m.sym], reason: "seq", last, seq: m.seq });
    }
    this.#resumed.delete(tp);
    this.#last.set(tp, m.seq);
    if (want.history > 0) this.#keep(tp, m, want.history);
    for (const sub of this.#subs) if (sub.stream === stream && sub._has(m.sym)) sub._deliver(m);
  }

  #reply(m) {
    const req = this.#pending.get(m.id);
    if (!req) return;
    this.#pending.delete(m.id);
    this.#done(req);
    if (req.kind === "subscribe" && req.since) this.#recovery(req, m);
    for (const op of this.#ops) if (req.topics?.some((tp) => op.topics.has(tp))) op.reply = m;
    req.resolve?.(m);
    this.#settleOps();
  }

  /**
   * recovery reads a resubscribe's answer. snapshot: the gateway no longer
   * had the missed ticks, a gap. recovered: they follow. Neither (a gateway
   * without recovery): the seqs will tell. Until its first tick, a
   * recovered or unanswered symbol is "resumed", see tick.
   */
  #recovery(req, m) {
    const lost = new Set(m.snapshot || []);
    for (const s of Object.keys(req.since)) if (!lost.has(s)) this.#resumed.add(topicOf(req.stream, s));
    for (const s of lost) this.#forget(topicOf(req.stream, s));
    if (lost.size) this.#emit("gap", { stream: req.stream, symbols: [...lost], reason: "snapshot" });
  }

  #done(req) {
    for (const tp of req.topics || []) {
      const n = (this.#inflight.get(tp) || 1) - 1;
      if (n) this.#inflight.set(tp, n); else this.#inflight.delete(tp);
    }
  }

  /** error rejects the request it answers and undoes what that request assumed. */
  #error(m) {
    const err = new TickgateError(m.code, m.msg, m.id);
    this.#emit("error", err);
    const req = m.id !== undefined ? this.#pending.get(m.id) : undefined;
    if (!req) return;
    this.#pending.delete(m.id);
    this.#done(req);
    if (req.kind === "list") return req.reject(err);
    if (req.kind === "auth") return; // the current token stands until exp; 4003 then renews it
    if (m.code === "rate_limited") {
      for (const [tp, p] of req.prev) if (p === undefined) this.#sent.delete(tp); else this.#sent.set(tp, p);
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => this.#flush(), RATE_LIMIT_RETRY_MS);
      return;
    }
    if (req.kind === "unsubscribe") return this.#settleOps(); // not held, as far as we can act on it
    for (const [tp, p] of req.prev) if (p === undefined) this.#sent.delete(tp); else this.#sent.set(tp, p);
    this.#narrow(req.topics, err);
    this.#flush();
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
    if (byKey.size > 1) {
      for (const tps of byKey.values()) {
        const key = ++this.#soloSeq;
        for (const tp of tps) this.#solo.set(tp, key);
      }
      return;
    }
    const [key] = byKey.keys();
    if (typeof key === "string") {
      for (const tp of topics) {
        const [stream, sym] = splitTopic(tp);
        for (const sub of this.#subs) if (sub.stream === stream) sub._forget([sym]);
      }
      return;
    }
    this.#ops.delete(key);
    if (key.kind === "rate") key.sub._setRate(key.prevRate); // keep the rate the gateway holds
    else key.sub._forget([...key.symbols]);
    key.reject(err);
  }
}

/**
 * Subscription is a set of symbols of one stream, at one max rate, with
 * one callback; see Client.subscribe.
 */
export class Subscription {
  #client; #syms = new Set(); #rate; #onData; #closed = false;
  #stream; #history; #partial;

  /** @type {Promise<object>} resolves with the `subscribed` reply; rejects with a TickgateError */
  ready;

  /** @param {Client} client @param {SubscribeOptions} opts @param {(m: Tick|Bar) => void} onData */
  constructor(client, opts, onData) {
    const { stream = TICKS, maxRate = 0, history = 0, partial = false } = opts;
    if (!(maxRate >= 0)) throw new RangeError("tickgate: maxRate must be a number >= 0");
    if (typeof stream !== "string" || !/^\S+$/.test(stream)) throw new RangeError("tickgate: stream must be a name such as \"bars.1m\"");
    if (!(Number.isInteger(history) && history >= 0)) throw new RangeError("tickgate: history must be an integer >= 0");
    if (typeof partial !== "boolean") throw new RangeError("tickgate: partial must be a boolean");
    if (partial && stream === TICKS) throw new RangeError("tickgate: partial applies to bar streams only");
    this.#client = client;
    this.#rate = maxRate;
    this.#stream = stream;
    this.#history = history;
    this.#partial = partial;
    this.#onData = onData;
  }

  /** @returns {string[]} the symbols this subscription holds */
  get symbols() { return [...this.#syms]; }

  /** @returns {number} updates/s per symbol asked for; 0 = every message */
  get maxRate() { return this.#rate; }

  /** @returns {string} the stream: "ticks", "bars.1s" or "bars.1m" */
  get stream() { return this.#stream; }

  /** @returns {number} final messages asked for per newly held symbol (0: the snapshot) */
  get history() { return this.#history; }

  /** @returns {boolean} whether progress updates of the forming bar are delivered */
  get partial() { return this.#partial; }

  /**
   * add subscribes to more symbols. All or nothing, like the gateway: if
   * it rejects (e.g. unknown_symbol), none of them is added.
   * @param {string[]} symbols
   */
  add(symbols) {
    const fresh = [...new Set(symbols)].filter((s) => !this.#syms.has(s));
    const p = this.#closed ? Promise.reject(new TickgateError("closed", "subscription closed"))
      : (fresh.forEach((s) => this.#syms.add(s)), this.#client._track(this, "add", fresh));
    p.catch(() => {}); // reported through "error" too; an unawaited add must not crash Node
    return p;
  }

  /** remove unsubscribes from symbols (the gateway is told once no subscription holds them). */
  remove(symbols) {
    const gone = symbols.filter((s) => this.#syms.delete(s));
    return this.#client._track(this, "remove", gone);
  }

  /** setMaxRate changes the rate of every symbol of this subscription; no snapshot is resent. */
  setMaxRate(rate) {
    if (!(rate >= 0)) return Promise.reject(new RangeError("tickgate: maxRate must be a number >= 0"));
    const prev = this.#rate;
    this.#rate = rate;
    return this.#client._track(this, "rate", [...this.#syms], prev);
  }

  /** close removes every symbol and stops the callback. */
  close() {
    if (this.#closed) return Promise.resolve();
    const p = this.remove([...this.#syms]);
    this.#closed = true;
    this.#client._drop(this);
    return p;
  }

  /** @internal */ _has(sym) { return this.#syms.has(sym); }
  /** @internal */ _forget(symbols) { for (const s of symbols) this.#syms.delete(s); }
  /** @internal */ _deliver(m) { this.#onData(m); }
  /** @internal */ _setRate(rate) { this.#rate = rate; }
}

/** settled is what an operation's promise resolves with: the gateway's reply, or the state reached. */
function settled(op) {
  return op.reply || { type: op.kind === "remove" ? "unsubscribed" : "subscribed", stream: op.sub.stream, symbols: [...op.symbols] };
}

/** detach stops a socket's events reaching the client; errors still need a listener (ws throws without one). */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}
