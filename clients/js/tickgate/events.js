// The event surface a Client and each Subscription share, so both read the
// same way: on(name, fn) returns the function that removes fn.

/** Emitter holds the listeners of one client or one subscription. */
export class Emitter {
  #listeners = new Map();

  /** on registers fn for the event name and returns a function that removes it. */
  on(name, fn) {
    if (!this.#listeners.has(name)) this.#listeners.set(name, new Set());
    this.#listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /** off removes a listener added with on(). */
  off(name, fn) { this.#listeners.get(name)?.delete(fn); }

  /**
   * emit calls every listener of name. One that throws is rethrown from a
   * microtask, so it is reported without stopping the others or the client.
   */
  emit(name, ...args) {
    for (const fn of this.#listeners.get(name) || []) {
      try { fn(...args); } catch (err) { queueMicrotask(() => { throw err; }); }
    }
  }
}
