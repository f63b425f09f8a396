// The connection and its backoff: one WebSocket at a time, dialled again
// after every close until the client closes, with exponential backoff and
// full jitter. It splits frames into messages and knows nothing of
// subscriptions: what a connection's opening, messages and end mean is
// the client's (client.js), told through hooks.

import { TickgateError } from "./errors.js";

/** Close code of a gateway that is draining or shutting down. */
const GOING_AWAY = 1001;
/** Close code for a token that is missing, invalid or expired. */
const UNAUTHORIZED = 4003;
/** A connection open this long counts as healthy: the backoff starts over. */
const STABLE_MS = 10000;
/** A drain (1001) of a connection open this long means "go elsewhere now", not "back off". */
const SETTLED_MS = 1000;
/** No reconnect is ever scheduled sooner than this. */
const MIN_DELAY_MS = 20;
/**
 * The default backoff: base and cap in ms. A refused connect fails at once,
 * so the doubling ceiling reaches the cap within a few seconds of any
 * outage, and the cap is then the longest a client stays away from a
 * gateway that is back: it is kept short.
 */
const BASE_MS = 500, CAP_MS = 5000;

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
 * @typedef {object} Hooks
 * @property {(state: string, info: object) => void} state a state change, as the client's "state" event
 * @property {() => void} open the socket opened
 * @property {(m: object) => void} message one decoded message
 * @property {() => void} lost the socket closed; what it held is gone
 * @property {(err: TickgateError) => void} error something to report; the connection goes on
 * @property {(err: TickgateError, info: {code: number, reason: string}) => void} fail the connection
 *   cannot go on (4003 and no onToken); info is the close that ended it
 */

/** Connection is the WebSocket of one client, redialled until close(). */
export class Connection {
  #url; #WS; #token; #tokenInQuery; #base; #cap; #hooks;
  #ws = null;
  #next = null; // the reconnect the timer will run, until it runs
  #state = "connecting";
  #attempt = 0;
  #openedAt = 0;
  #timer = null;
  #closed = false;

  /**
   * @param {string} url
   * @param {{WebSocket?: Function, tokenIn?: string, backoff?: {base?: number, cap?: number}}} options
   * @param {import("./token.js").Token} token
   * @param {Hooks} hooks
   */
  constructor(url, options, token, hooks) {
    this.#url = url;
    this.#WS = options.WebSocket || globalThis.WebSocket;
    if (typeof this.#WS !== "function") {
      throw new TypeError("tickgate: no WebSocket: pass options.WebSocket (e.g. from the ws package) on Node < 22");
    }
    this.#token = token;
    if (options.tokenIn !== undefined && options.tokenIn !== "query" && options.tokenIn !== "message") {
      throw new RangeError(`tickgate: tokenIn must be "query" or "message", not ${JSON.stringify(options.tokenIn)}`);
    }
    this.#tokenInQuery = options.tokenIn !== "message";
    this.#base = options.backoff?.base ?? BASE_MS;
    this.#cap = options.backoff?.cap ?? CAP_MS;
    this.#hooks = hooks;
    queueMicrotask(() => this.#dial());
  }

  /** @returns {string} "connecting", "open", "reconnecting" or "closed" */
  get state() { return this.#state; }

  /** @returns {boolean} whether requests can be sent now */
  get open() { return this.#ws !== null && this.#state === "open"; }

  /** @returns {boolean} whether close() was called */
  get closed() { return this.#closed; }

  /** send writes one message; call it only while open. */
  send(msg) { this.#ws.send(JSON.stringify(msg)); }

  /**
   * retry runs the planned reconnect now instead of when its wait ends, and
   * reports whether there was one to run (not while a dial is under way).
   * The wait after it, should it fail too, is the next on the ladder.
   */
  retry() {
    if (this.#closed || !this.#next) return false;
    clearTimeout(this.#timer);
    this.#reconnect();
    return true;
  }

  /**
   * close ends the connection for good, with 1000, and stops redialling;
   * info is told with the "closed" state (the close that ended it, if any).
   */
  close(info = {}) {
    if (this.#closed) return;
    this.#closed = true;
    this.#next = null;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      detach(ws);
      ws.close(1000);
    }
    this.#setState("closed", info);
  }

  async #dial() {
    if (this.#closed) return;
    if (this.#attempt === 0) this.#hooks.state("connecting", {});
    if (this.#token.expiring) await this.#token.refresh();
    if (this.#closed) return;
    let url = this.#url;
    const token = this.#token.value;
    if (token && this.#tokenInQuery) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
    let ws;
    try {
      ws = new this.#WS(url);
    } catch (err) {
      this.#hooks.error(new TickgateError("connect", String(err && err.message || err)));
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
    this.#hooks.open();
  }

  /** frame splits one WebSocket frame into messages. */
  #frame(data) {
    if (typeof data !== "string") return; // the gateway sends text frames only
    for (const line of data.split("\n")) {
      if (!line) continue;
      let m;
      try { m = JSON.parse(line); } catch {
        this.#hooks.error(new TickgateError("bad_message", line.slice(0, 80)));
        continue;
      }
      this.#hooks.message(m);
    }
  }

  /** lost handles the end of a connection: the client forgets what it held, and the next dial is planned. */
  #lost(code, reason) {
    const openFor = this.#openedAt ? Date.now() - this.#openedAt : -1;
    this.#openedAt = 0;
    this.#hooks.lost();
    if (this.#closed) return;
    if (code === UNAUTHORIZED && !this.#token.renewable) {
      // Refused, and nobody to ask for another token: the client stops
      // rather than announce a retry that would be refused again.
      const why = reason ? ` (${reason})` : "";
      this.#hooks.fail(new TickgateError("unauthorized", `closed with 4003${why} and no onToken to renew the token`), { code, reason });
      return;
    }
    if (openFor >= STABLE_MS) this.#attempt = 0;
    // A drain (1001) of a connection that had settled means "go elsewhere
    // now"; anything else, or a 1001 right after connecting, backs off.
    const ceiling = code === GOING_AWAY && openFor >= SETTLED_MS
      ? this.#base
      : Math.min(this.#cap, this.#base * 2 ** Math.min(this.#attempt, 30));
    const delay = backoffDelay(0, ceiling, ceiling);
    const attempt = this.#attempt++;
    const renew = code === UNAUTHORIZED;
    this.#next = async () => {
      if (renew) await this.#token.refresh();
      this.#dial();
    };
    this.#timer = setTimeout(() => this.#reconnect(), delay);
    this.#setState("reconnecting", { code, reason, delay, ceiling, attempt });
  }

  /** reconnect runs the planned reconnect, once. */
  #reconnect() {
    const next = this.#next;
    this.#next = null;
    next?.();
  }

  #setState(state, info) {
    if (state === this.#state && state !== "reconnecting") return; // each retry is news
    this.#state = state;
    this.#hooks.state(state, info);
  }
}

/** detach stops a socket's events reaching the client; errors still need a listener (ws throws without one). */
function detach(ws) {
  ws.onopen = ws.onmessage = ws.onclose = null;
  ws.onerror = () => {};
}
