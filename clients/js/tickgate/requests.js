// The requests in flight on the current connection, matched to their
// replies by id. Per topic it counts the requests that carry it: an
// operation on a topic settles only once none does.

/** Requests is the table of one connection's unanswered requests. */
export class Requests {
  #nextId = 1;
  #pending = new Map(); // id -> request: {kind, topics?, resolve?, reject?, ...}
  #inflight = new Map(); // topic -> requests in flight that carry it

  /**
   * send numbers req, records it until its reply and writes it, with body,
   * on conn. Ids keep counting across connections, so a late reply of an
   * old connection never answers a new request.
   */
  send(conn, req, body) {
    const id = this.#nextId++;
    req.id = id;
    this.#pending.set(id, req);
    for (const tp of req.topics || []) this.#inflight.set(tp, (this.#inflight.get(tp) || 0) + 1);
    conn.send({ op: req.kind, id, ...body });
  }

  /** take removes and returns the request a reply of id answers, or undefined. */
  take(id) {
    const req = this.#pending.get(id);
    if (!req) return undefined;
    this.#pending.delete(id);
    for (const tp of req.topics || []) {
      const n = (this.#inflight.get(tp) || 1) - 1;
      if (n) this.#inflight.set(tp, n); else this.#inflight.delete(tp);
    }
    return req;
  }

  /** busy says whether a request that carries topic tp is in flight. */
  busy(tp) { return this.#inflight.has(tp); }

  /** reset forgets every request (their connection is gone) and returns them, for the caller to ask again what must be. */
  reset() {
    const reqs = [...this.#pending.values()];
    this.#pending.clear();
    this.#inflight.clear();
    return reqs;
  }
}
