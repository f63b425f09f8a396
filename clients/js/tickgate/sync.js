// Bringing the gateway in line with the subscriptions: what the gateway
// holds on this connection (the policy asked per topic), and the subscribe
// and unsubscribe requests that close the difference. Requests wait for
// nothing but the welcome: a history ask is split by the budget the
// gateway tells in it (history.js). A topic to resync (a book copy that
// went wrong) is dropped and taken again: the gateway sends a snapshot only
// to a new subscription.

import { budgetOf, DEFAULT_BUDGET, historyBatches } from "./history.js";
import { splitTopic, TICKS, topicOf } from "./topic.js";

/** After a rate_limited reply the same request is retried this much later. */
const RATE_LIMIT_RETRY_MS = 1000;
/**
 * How long a history ask waits for the welcome before it is split by
 * DEFAULT_BUDGET: the gateway sends the welcome as it accepts, so it comes
 * with the handshake; a gateway before the welcome sends none.
 */
const WELCOME_WAIT_MS = 250;

/** @typedef {{rate: number, partial: boolean, history: number}} Want */

/** samePolicy says whether the policy held on the connection is the one wanted. */
const samePolicy = (held, want) => held !== undefined && held.rate === want.rate && held.partial === want.partial;

/** Sync is one client's record of what its connection holds, and the requests that change it. */
export class Sync {
  #conn; #requests; #seqs; #refresh; #forget;
  #sent = new Map(); // topic -> {rate, partial} asked on this connection
  #again = new Set(); // topics to unsubscribe and subscribe again at the next flush
  #solo = new Map(); // topic -> key: after a rejected batch, topics go in one request per key
  #soloSeq = 0;
  #flushQueued = false;
  #retryTimer = null;
  #budget = DEFAULT_BUDGET;
  #told = false; // the welcome came, or the wait for it ended
  #welcomeTimer = null;

  /**
   * @param {import("./connection.js").Connection} conn
   * @param {import("./requests.js").Requests} requests
   * @param {import("./seq.js").Seqs} seqs
   * @param {() => void} refresh flushes: computes what is wanted and calls send with it
   * @param {(tp: string, again: boolean) => void} forget told when the connection lets a topic go (again: to
   *   take it again at once): what is known of its seqs is void
   */
  constructor(conn, requests, seqs, refresh, forget) {
    this.#conn = conn;
    this.#requests = requests;
    this.#seqs = seqs;
    this.#refresh = refresh;
    this.#forget = forget;
  }

  /** schedule flushes once at the end of this turn, so the calls of one turn go as one request per policy. */
  schedule() {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#refresh();
    });
  }

  /** has says whether the connection holds topic tp (or a request for it is out). */
  has(tp) { return this.#sent.has(tp); }

  /** holds says whether the connection holds topic tp at the policy wanted. */
  holds(tp, want) { return samePolicy(this.#sent.get(tp), want); }

  /** opened starts the wait for the welcome of a new connection. */
  opened() {
    clearTimeout(this.#welcomeTimer);
    this.#welcomeTimer = setTimeout(() => { this.#told = true; this.#refresh(); }, WELCOME_WAIT_MS);
  }

  /** welcome takes the budget the gateway told, and sends the history asks that waited for it. */
  welcome(m) {
    clearTimeout(this.#welcomeTimer);
    this.#budget = budgetOf(m);
    this.#told = true;
    this.#refresh();
  }

  /**
   * resync has topic tp unsubscribed and subscribed again, without `since`,
   * at the next flush, for the snapshot a new subscription gets. The caller
   * forgets tp's seq first, so a resubscribe after a reconnect does not
   * recover the copy that went wrong either.
   */
  resync(tp) {
    this.#again.add(tp);
    this.schedule();
  }

  /** lost forgets what the connection held: the next one holds nothing and tells its own budget. */
  lost() {
    this.stop();
    this.#sent.clear();
    this.#again.clear(); // the next connection subscribes afresh: a snapshot
    this.#solo.clear();
    this.#budget = DEFAULT_BUDGET;
    this.#told = false;
  }

  /** stop cancels the timers. */
  stop() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#welcomeTimer);
  }

  /**
   * send brings the connection in line with wants (topic -> policy): per
   * stream, one subscribe per policy (with `since` for topics already
   * seen: {seq, epoch}, or the bare seq where no epoch was told) and one
   * unsubscribe. With history asked, topics that recover
   * with `since` go apart from those that take the history, and those go
   * in requests within the budget, once the welcome has told it. Topics
   * with a solo key (their batch was rejected) go one request per key, so
   * a bad symbol fails only the call that named it.
   * @param {Map<string, Want>} wants
   */
  send(wants) {
    this.#dropAgain(wants);
    const groups = new Map(); // stream, solo key, policy, recovering -> {stream, want, syms}
    const unsub = new Map(); // stream -> syms
    for (const tp of new Set([...this.#sent.keys(), ...wants.keys()])) {
      const [stream, sym] = splitTopic(tp);
      const want = wants.get(tp);
      if (want === undefined) {
        if (this.#sent.has(tp)) bucket(unsub, stream).push(sym);
        continue;
      }
      if (samePolicy(this.#sent.get(tp), want)) continue;
      const recovering = want.history > 0 && this.#seqs.last(tp) !== undefined && !this.#sent.has(tp);
      if (want.history > 0 && !recovering && !this.#told) continue; // welcome() sends it
      const solo = this.#solo.get(tp);
      this.#solo.delete(tp);
      const key = [stream, solo ?? "", want.rate, want.partial, want.history, recovering].join("/");
      if (!groups.has(key)) groups.set(key, { stream, want, syms: [] });
      groups.get(key).syms.push(sym);
    }
    for (const { stream, want, syms } of groups.values()) {
      for (const batch of historyBatches(syms, want.history, this.#budget)) this.#subscribe(stream, batch, want);
    }
    for (const [stream, syms] of unsub) this.#unsubscribe(stream, syms);
  }

  /**
   * dropAgain unsubscribes the topics to resync that are still wanted, so
   * the rest of send subscribes them again. Whether the connection holds
   * them or not: after a rate-limited retry that is not known for sure, and
   * an unsubscribe of a topic not held is no error.
   */
  #dropAgain(wants) {
    const again = new Map(); // stream -> syms
    for (const tp of this.#again) {
      const [stream, sym] = splitTopic(tp);
      if (wants.has(tp)) bucket(again, stream).push(sym);
    }
    this.#again.clear();
    for (const [stream, syms] of again) this.#unsubscribe(stream, syms, true);
  }

  #subscribe(stream, syms, want) {
    const topics = syms.map((s) => topicOf(stream, s));
    const since = {};
    let withSince = false;
    topics.forEach((tp, i) => {
      const pos = this.#seqs.since(tp); // {seq, epoch}; a bare seq where no epoch was told
      if (pos !== undefined && !this.#sent.has(tp)) { since[syms[i]] = pos; withSince = true; }
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
    this.#requests.send(this.#conn, req, body);
  }

  /** unsubscribe lets syms of stream go; again: to take them again at once (resync). */
  #unsubscribe(stream, syms, again = false) {
    const topics = syms.map((s) => topicOf(stream, s));
    const prev = new Map(topics.map((tp) => [tp, this.#sent.get(tp)]));
    for (const tp of topics) { this.#sent.delete(tp); this.#forget(tp, again); }
    const body = { symbols: syms };
    if (stream !== TICKS) body.stream = stream;
    this.#requests.send(this.#conn, { kind: "unsubscribe", stream, symbols: syms, topics, prev, again }, body);
  }

  /**
   * undo puts back what a rejected request changed: the gateway rejects a
   * request whole. A resync's unsubscribe that was rejected is asked again.
   */
  undo(req) {
    for (const [tp, p] of req.prev) if (p === undefined) this.#sent.delete(tp); else this.#sent.set(tp, p);
    if (req.again) for (const tp of req.topics) this.#again.add(tp);
  }

  /** retryLater flushes again after a rate_limited reply, once the gateway's limit has room. */
  retryLater() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#refresh(), RATE_LIMIT_RETRY_MS);
  }

  /** split gives each group of topics its own solo key: the next flush sends each group as its own request. */
  split(groups) {
    for (const tps of groups) {
      const key = ++this.#soloSeq;
      for (const tp of tps) this.#solo.set(tp, key);
    }
  }
}

/** bucket is the list m holds under key, made empty at the first ask. */
function bucket(m, key) {
  if (!m.has(key)) m.set(key, []);
  return m.get(key);
}
