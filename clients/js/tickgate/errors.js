// The one error type the client rejects with and emits.

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
