// A Subscription is what Client.subscribe returns: a view of one holder (a
// set of symbols of one stream, with one policy and one callback) and its
// own events. The holder belongs to the client's Subscriptions
// (subscriptions.js), which alone changes it; every method here asks it to.

import { Emitter } from "./events.js";
import { TICKS } from "./topic.js";

/** made is the proof, never exported from the package, that a Subscription comes from Client.subscribe. */
const made = Symbol("tickgate.subscription");

/**
 * @typedef {object} Holder
 * @property {string} stream
 * @property {number} rate updates/s per symbol; 0 = every message
 * @property {number} history
 * @property {boolean} partial
 * @property {Set<string>} syms
 * @property {(m: object) => void} onData
 * @property {Emitter} events "subscribed", "gap", "retired", "error"
 * @property {boolean} closed
 */

/**
 * holderOf checks a subscribe call's options and makes its holder.
 * @param {import("../tickgate.js").SubscribeOptions} opts
 * @param {(m: object) => void} onData
 * @returns {Holder}
 */
export function holderOf(opts, onData) {
  const { stream = TICKS, maxRate = 0, history = 0, partial = false } = opts;
  if (!(maxRate >= 0)) throw new RangeError("tickgate: maxRate must be a number >= 0");
  if (typeof stream !== "string" || !/^\S+$/.test(stream)) throw new RangeError("tickgate: stream must be a name such as \"bars.1m\"");
  if (!(Number.isInteger(history) && history >= 0)) throw new RangeError("tickgate: history must be an integer >= 0");
  if (typeof partial !== "boolean") throw new RangeError("tickgate: partial must be a boolean");
  if (partial && stream === TICKS) throw new RangeError("tickgate: partial applies to bar streams only");
  return { stream, rate: maxRate, history, partial, syms: new Set(), onData, events: new Emitter(), closed: false };
}

/** newSubscription is how Subscriptions makes the view of a holder. */
export function newSubscription(subs, holder) { return new Subscription(made, subs, holder); }

/**
 * Subscription is a set of symbols of one stream, at one max rate, with
 * one callback; see Client.subscribe.
 */
export class Subscription {
  #subs; #h;

  /** @type {Promise<object>} resolves with the `subscribed` reply; rejects with a TickgateError */
  ready;

  /** @param {symbol} key @param {import("./subscriptions.js").Subscriptions} subs @param {Holder} holder */
  constructor(key, subs, holder) {
    if (key !== made) throw new TypeError("tickgate: a Subscription comes from client.subscribe()");
    this.#subs = subs;
    this.#h = holder;
  }

  /** @returns {string[]} the symbols this subscription holds */
  get symbols() { return [...this.#h.syms]; }

  /** @returns {number} updates/s per symbol asked for; 0 = every message */
  get maxRate() { return this.#h.rate; }

  /** @returns {string} the stream: "ticks", "bars.1s" or "bars.1m" */
  get stream() { return this.#h.stream; }

  /** @returns {number} final messages asked for per newly held symbol (0: the snapshot) */
  get history() { return this.#h.history; }

  /** @returns {boolean} whether progress updates of the forming bar are delivered */
  get partial() { return this.#h.partial; }

  /**
   * on registers fn for an event of this subscription: "subscribed" (the
   * gateway's reply to each request that carried its symbols, reconnects
   * included), "gap" ({stream, symbols, reason}, its symbols only),
   * "retired" ({stream, symbols, reason}: the gateway retired them, and
   * the subscription no longer holds them), "error" (a TickgateError that
   * rejected its call or dropped its symbols). It returns a function that
   * removes fn.
   * @param {"subscribed"|"gap"|"retired"|"error"} name
   * @param {Function} fn
   * @returns {() => void}
   */
  on(name, fn) { return this.#h.events.on(name, fn); }

  /** off removes a listener added with on(). */
  off(name, fn) { this.#h.events.off(name, fn); }

  /**
   * add subscribes to more symbols. All or nothing, like the gateway: if
   * it rejects (e.g. unknown_symbol), none of them is added.
   * @param {string[]} symbols
   */
  add(symbols) { return this.#subs.add(this.#h, symbols); }

  /** remove unsubscribes from symbols (the gateway is told once no subscription holds them). */
  remove(symbols) { return this.#subs.remove(this.#h, symbols); }

  /** setMaxRate changes the rate of every symbol of this subscription; no snapshot is resent. */
  setMaxRate(rate) { return this.#subs.setRate(this.#h, rate); }

  /** close removes every symbol and stops the callback. */
  close() { return this.#subs.close(this.#h); }
}
